"""Messages of the ``sklasd`` command (private).

Results go to stdout; everything else goes through the ``sklasd`` logger to stderr:
notes at INFO, each distinct warning once at WARNING (Python warnings are captured),
the per-epoch training rows at DEBUG (shown with ``-v``). A single progress line
(``[3/6] fan: training 45/100``) is drawn only when stderr is a terminal and is
erased before every message, so a redirected log holds messages only. ANSI escape
codes reach stderr only when it is a terminal and ``NO_COLOR`` is unset or empty
(https://no-color.org).
"""

import contextlib
import logging
import os
import re
import sys
import warnings

__all__ = ["LOGGER", "PROGRESS", "logging_to_stderr", "use_colour", "quoted"]

LOGGER = logging.getLogger("sklasd")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
# a byte of a name that is not valid UTF-8, as Python decodes it (surrogateescape)
_UNDECODED = re.compile(r"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")


def quoted(path):
    """How a message names a file: its path quoted and escaped as ``repr`` does, with
    each byte that is not valid UTF-8 (a name need not be) as ``\\xNN``:
    ``'caf\\xe9.wav'``."""
    path = os.fspath(path)
    text = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    return _UNDECODED.sub(r"\1\\x\2", repr(text))


def use_colour(stream):
    """Whether escape codes may be written to ``stream``: a terminal, no NO_COLOR."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


class Progress:
    """The one progress line of a command: ``[step/n_steps] label: phase``.

    It writes only to a terminal (``stream`` None means nowhere); a message logged
    meanwhile erases it first and redraws it after.
    """

    def __init__(self):
        self.stream = None
        self.n_steps = 0
        self.step = 0
        self.label = ""
        self._shown = ""

    def plan(self, n_steps):
        """Start a run of ``n_steps`` steps (machine types)."""
        self.n_steps, self.step = n_steps, 0

    def begin(self, label):
        """Start the next step, named ``label``."""
        self.step += 1
        self.label = label
        self.phase("preparing")

    def phase(self, text):
        """Show what the current step is doing (``training 45/100``)."""
        if self.n_steps:
            self._draw(f"[{self.step}/{self.n_steps}] {self.label}: {text}")

    def _draw(self, line):
        if self.stream is None:
            return
        width = max(len(self._shown), len(line))
        self.stream.write("\r" + line.ljust(width))
        self.stream.flush()
        self._shown = line

    def erase(self):
        """Remove the line from the terminal (before a message, at the end)."""
        if self.stream is not None and self._shown:
            self.stream.write("\r" + " " * len(self._shown) + "\r")
            self.stream.flush()

    def redraw(self):
        if self._shown:
            self._draw(self._shown)

    def close(self):
        self.erase()
        self.__init__()


PROGRESS = Progress()


class _Formatter(logging.Formatter):
    def __init__(self, colour):
        super().__init__()
        self.colour = colour

    def format(self, record):
        text = record.getMessage()
        if record.levelno >= logging.ERROR:
            text = f"sklasd: error: {text}"
        elif record.levelno >= logging.WARNING:
            text = f"sklasd: warning: {text}"
        return text if self.colour else _ANSI.sub("", text)


class _Handler(logging.StreamHandler):
    """stderr, with the progress line erased under each message."""

    def emit(self, record):
        PROGRESS.erase()
        super().emit(record)
        PROGRESS.redraw()


def _level(verbosity):
    return {-1: logging.ERROR, 0: logging.INFO}.get(verbosity, logging.DEBUG)


@contextlib.contextmanager
def logging_to_stderr(verbosity=0, stream=None):
    """Within the block, the ``sklasd`` logger and Python warnings write to stderr.

    Parameters
    ----------
    verbosity : int, default=0
        -1 (``--quiet``): errors only, no progress line; 0: notes, warnings and the
        progress line; 1 (``-v``): also the training rows of every epoch.
    stream : file-like, default=None
        Where to write; None is ``sys.stderr`` at call time.
    """
    stream = sys.stderr if stream is None else stream
    handler = _Handler(stream)
    handler.setFormatter(_Formatter(use_colour(stream)))
    saved = LOGGER.level, LOGGER.propagate
    LOGGER.addHandler(handler)
    LOGGER.setLevel(_level(verbosity))
    LOGGER.propagate = False
    terminal = getattr(stream, "isatty", None)
    PROGRESS.stream = stream if verbosity >= 0 and terminal and terminal() else None
    seen = set()

    def show(message, category, filename, lineno, file=None, line=None):
        key = (category, str(message))
        if key not in seen:
            seen.add(key)
            LOGGER.warning("%s", message)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # deduplicated by message in show()
            warnings.showwarning = show
            yield LOGGER
    finally:
        PROGRESS.close()
        LOGGER.removeHandler(handler)
        LOGGER.setLevel(saved[0])
        LOGGER.propagate = saved[1]
