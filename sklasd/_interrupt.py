"""Ctrl-C and SIGTERM for the ``sklasd`` command (private).

skorch catches ``KeyboardInterrupt`` in its training loop, ends training early and
returns normally, so a Ctrl-C would leave a half-trained model that looks complete.
While :func:`signals_interrupt` is active, SIGINT and SIGTERM raise
:class:`Interrupted` instead, which is not a ``KeyboardInterrupt`` (nothing on the
way catches it), and the signal is remembered: :func:`check_interrupted`, called
before any output is published, raises again should some code have swallowed it.
"""

import contextlib
import signal
import threading

__all__ = ["Interrupted", "signals_interrupt", "check_interrupted"]

_received = []


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


def _raise(signum, frame):
    _received.append(signum)
    raise Interrupted(signum)


def check_interrupted():
    """Raise :class:`Interrupted` if a signal arrived since the handlers were installed."""
    if _received:
        raise Interrupted(_received[0])


@contextlib.contextmanager
def signals_interrupt():
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted`.

    Outside the main thread (where handlers cannot be installed) nothing changes.
    The previous handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _received.clear()
