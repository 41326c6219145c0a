"""The event log of a watch: one JSON line per recording, append-only (private).

``LOG_DIR/events.jsonl`` is both the record and the state of a watch: a recording
whose path has a line has been scored. Each line is written with one ``write`` on
a file opened for appending, then flushed to the disk (``os.fsync``) before the
next recording is taken, so a crash or ``kill -9`` loses at most the line being
written. A final line without its newline (a power cut during that write) is cut
off when the log is opened again, so that recording is scored again; nothing else
is ever rewritten. One watch at a time holds the log (``flock``, released by the
kernel when the process dies).
"""

import errno
import fcntl
import json
import os
from pathlib import Path

__all__ = ["EVENTS_NAME", "COLUMNS", "EventLog", "read_events"]

EVENTS_NAME = "events.jsonl"
#: The fields of a line, in order.
COLUMNS = ("time", "file", "machine_type", "machine_id", "score", "threshold",
           "decision", "notes", "alert", "changing")


def _parse(lines, path):
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            row = json.loads(line)
            row["file"]  # noqa: B018 - every line names its recording
        except (ValueError, TypeError, KeyError):
            raise ValueError(f"{path}: line {number} is not an event line written "
                             "by sklasd watch") from None
        rows.append(row)
    return rows


def read_events(log_dir):
    """The event lines of a watch's log, complete lines only.

    Parameters
    ----------
    log_dir : str or os.PathLike
        The ``LOG_DIR`` of ``sklasd watch``.

    Returns
    -------
    rows : list of dict
        One dict per recording, in the order scored, with the keys of
        :data:`COLUMNS`; an empty list where there is no log yet.

    Raises
    ------
    ValueError
        If a complete line is not an event line.
    """
    path = Path(log_dir) / EVENTS_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    complete = data[:data.rfind(b"\n") + 1].decode("utf-8")
    return _parse(complete.splitlines(), path)


class EventLog:
    """The open, locked log of one watch.

    Parameters
    ----------
    log_dir : path-like
        Created if needed.

    Attributes
    ----------
    rows : list of dict
        The lines already in the log when it was opened.

    Raises
    ------
    ValueError
        If another process holds the log, it cannot be opened, or a complete line
        is not an event line.
    """

    def __init__(self, log_dir):
        self.path = Path(log_dir) / EVENTS_NAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise ValueError(f"cannot open the log {str(self.path)!r}: "
                             f"{(exc.strerror or str(exc)).lower()}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(self._fd)
            if exc.errno in (errno.EAGAIN, errno.EACCES):
                raise ValueError(f"another sklasd watch is writing {str(self.path)!r}"
                                 ) from None
            raise
        try:
            self.rows = self._recover()
        except BaseException:
            self.close()
            raise

    def _recover(self):
        """The complete lines; a final line without its newline is cut off."""
        size = os.fstat(self._fd).st_size
        data = os.pread(self._fd, size, 0)
        end = data.rfind(b"\n") + 1
        if end < size:
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
        return _parse(data[:end].decode("utf-8").splitlines(), self.path)

    def append(self, row):
        """Write one line (the keys of :data:`COLUMNS`) and flush it to the disk."""
        line = json.dumps({key: row.get(key) for key in COLUMNS}, ensure_ascii=False)
        data = (line + "\n").encode("utf-8")
        written = os.write(self._fd, data)
        if written != len(data):  # a full disk: cut the fragment, say so
            os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
            raise OSError(errno.ENOSPC, f"{self.path}: only {written} of {len(data)} "
                          "bytes of a line could be written")
        os.fsync(self._fd)

    def close(self):
        if self._fd is not None:
            os.close(self._fd)  # also releases the lock
            self._fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
