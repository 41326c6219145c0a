"""Ctrl-C and SIGTERM for the ``sklasd`` command (private).

The handlers only record the signal; nothing is raised where it lands. An exception
raised by a handler can land inside third-party code that swallows it (numba's and
llvmlite's compile callbacks do: a SIGTERM there let a run train all its epochs) or
print an "Exception ignored" traceback. Instead the work checks the record between
batches (``sklasd._skorch.StopOnSignal``, a skorch callback), chunks of clips and files
(:func:`check_interrupted` raises :class:`Interrupted`, which is not a
``KeyboardInterrupt``, so skorch's loop does not catch it).

Where no check comes soon enough (an import, a compile, one long computation), the
command's watcher thread, started by :func:`install` and woken through
:func:`signal.set_wakeup_fd` even while the main thread is inside C code, ends the
process itself ``DEADLINE`` seconds after the signal: it runs the clean-ups
registered with :func:`on_abort` (the staged outputs), writes the same one line and
exits with the same status. Publishing the results (:func:`publishing`) and that
forced exit exclude each other: a command either puts all its results in place and
succeeds, or writes nothing.
"""

import contextlib
import os
import signal
import threading

__all__ = ["Interrupted", "install", "signals_interrupt", "check_interrupted",
           "publishing", "on_abort", "DEADLINE"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)

#: Seconds from a signal to the forced exit when no check has ended the command.
DEADLINE = 0.5
#: Seconds more once a check raised :class:`Interrupted` (the command is cleaning up).
CLEANUP_DEADLINE = 10.0

_received = []  # signal numbers, first first; appending is atomic under the GIL
_lock = threading.Lock()  # held while publishing, and by the forced exit
_state = {"installed": False, "claimed": False, "published": False}
_ended = threading.Event()  # the command returned: the watcher has nothing to do
_cleanups = []


class Interrupted(BaseException):
    """A SIGINT or SIGTERM received by the command.

    Parameters
    ----------
    signum : int
        The signal number.

    Attributes
    ----------
    exit_status : int
        ``128 + signum``, the shell's convention: 130 for Ctrl-C, 143 for SIGTERM.
    """

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum
        self.exit_status = 128 + signum

    def __str__(self):
        return "interrupted" if self.signum == signal.SIGINT else "terminated"


def _record(signum, frame=None):
    _received.append(signum)


def check_interrupted():
    """Raise :class:`Interrupted` if a signal arrived since the handlers were installed.

    Cheap (a list test): called between batches, chunks and files.
    """
    if _received:
        _state["claimed"] = True
        raise Interrupted(_received[0])


@contextlib.contextmanager
def publishing():
    """The block puts the command's results in place; a signal before it raises.

    The forced exit waits for the block, and a signal arriving during or after it
    comes too late: the command has succeeded.
    """
    with _lock:
        check_interrupted()
        yield
        _state["published"] = True


@contextlib.contextmanager
def on_abort(cleanup):
    """Within the block, a forced exit calls ``cleanup()`` first (it may run twice)."""
    _cleanups.append(cleanup)
    try:
        yield
    finally:
        _cleanups.remove(cleanup)


def _message(signum):
    return f"{Interrupted(signum)}: no results written"


def _abort(signum):
    """Remove what the command staged, write its one line and exit: 128 + signum."""
    for cleanup in reversed(list(_cleanups)):
        with contextlib.suppress(Exception):
            cleanup()
    import logging

    logger = logging.getLogger("sklasd")
    if logger.handlers:  # the command's stderr handler (sklasd._log)
        logger.error("%s", _message(signum))
    else:  # still importing: no logging set up yet
        os.write(2, f"sklasd: error: {_message(signum)}\n".encode())
    os._exit(128 + signum)


def _watch(fd, deadline):
    """The watcher thread: after a signal, give the checks ``deadline`` seconds."""
    while True:
        signums = [s for s in os.read(fd, 64) if s in SIGNALS]
        if signums:
            break
    _record(signums[0])
    if _ended.wait(deadline):
        return
    if _state["claimed"]:  # a check raised: the command is removing its outputs
        _ended.wait(CLEANUP_DEADLINE)
    with _lock:
        if not (_ended.is_set() or _state["published"]):
            _abort(_received[0])


def install(deadline=DEADLINE):
    """Record SIGINT and SIGTERM for the rest of the process, and end it if need be.

    Called first by the command's entry point, before the heavy imports, so that no
    signal ever meets Python's default handlers. Does nothing outside the main thread
    or when already installed.

    Parameters
    ----------
    deadline : float, default=DEADLINE
        Seconds from a signal to the forced exit when no check ended the command.
    """
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    for sig in SIGNALS:
        signal.signal(sig, _record)
    signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read_fd, deadline), daemon=True,
                     name="sklasd-signals").start()
    _state["installed"] = True


@contextlib.contextmanager
def signals_interrupt():
    """The command's block: a recorded signal makes the checks raise :class:`Interrupted`.

    After :func:`install` (the command), the block only marks the command's end, so
    that the watcher stands down. Without it (``main`` called in a Python process)
    the handlers are installed for the block only, with no forced exit, and the
    previous ones restored after it. Outside the main thread nothing changes.
    """
    if _state["installed"]:
        try:
            yield
        finally:
            _ended.set()
        return
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {sig: signal.signal(sig, _record) for sig in SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _received.clear()
        _state["claimed"] = _state["published"] = False

