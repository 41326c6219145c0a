"""The ``sklasd`` console command (private): signal handlers first, then the CLI.

The handlers are installed before numpy, torch and the rest are imported, so a
Ctrl-C or SIGTERM at any moment of the start-up ends the command with its one line
and exit status (sklasd._interrupt) instead of a ``KeyboardInterrupt`` traceback.
"""

import os
import sys

from sklasd._interrupt import install


def main(argv=None):
    """Run the ``sklasd`` command (:func:`sklasd.cli.main`) with the handlers installed."""
    install()
    from sklasd.cli import main as cli_main

    status = cli_main(argv)
    if status > 128:  # a signal: nothing is left to write, so skip the interpreter's
        sys.stdout.flush()  # teardown (torch's took up to a second on loaded cores)
        sys.stderr.flush()
        os._exit(status)
    return status
