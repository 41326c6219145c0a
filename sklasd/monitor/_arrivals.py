"""Which recordings under the watched folders are complete and not yet scored (private).

A file is complete when

- the kernel says its writer closed it (inotify ``IN_CLOSE_WRITE``, watchdog's
  ``on_closed``) or it was renamed to its audio name (a writer that writes
  ``clip.wav.part`` or ``.clip.wav`` and renames it when done): watchdog's inotify
  observer reports both, so such a file is taken as soon as it is complete. A file
  seen opened or written waits for its close, however long the writer pauses;
- otherwise (files found at start or by a rescan, files moved or linked in from
  outside the folders, which arrive whole, and every file under watchdog's polling
  observer, which sees no closes: network shares) when its size and modification
  time have stayed unchanged for ``settle`` seconds, or it was last modified more
  than ``settle`` seconds ago.

Only names that :func:`sklasd.datasets.list_audio` would list are recordings (an
audio suffix, no hidden part), so temporary names such as ``clip.wav.part`` or
``.clip.wav.tmp`` are ignored until renamed.
"""

import os
import queue
import time
from pathlib import Path

__all__ = ["Arrivals"]


def _handler(put):
    """A watchdog event handler that hands ``(kind, path)`` to the main thread."""
    from watchdog.events import FileSystemEventHandler

    class Handler(FileSystemEventHandler):
        def on_any_event(self, event):
            kind = event.event_type
            if kind == "events_lost":
                put(("rescan", None))
            elif event.is_directory:
                if kind in ("created", "moved"):
                    put(("scan", os.fsdecode(getattr(event, "dest_path", "") or
                                             event.src_path)))
            elif kind == "moved":
                put(("complete", os.fsdecode(event.dest_path)))
            elif kind == "closed":
                put(("complete", os.fsdecode(event.src_path)))
            elif kind == "created":  # written here (opened next) or moved in whole
                put(("arrived", os.fsdecode(event.src_path)))
            elif kind in ("opened", "modified"):
                put(("writing", os.fsdecode(event.src_path)))

    return Handler()


def _modified(path):
    try:
        return os.stat(path).st_mtime_ns, path
    except OSError:
        return 0, path


class Arrivals:
    """Complete, unscored recordings under some folders, in the order they completed.

    Parameters
    ----------
    folders : list of path-like
        Existing folders, watched recursively.
    taken : set of str
        Absolute paths already scored: never handed out.
    polling : bool, default=False
        Use watchdog's polling observer (network shares) instead of inotify.
    settle : float, default=2.0
        Seconds a file's size and modification time must stay unchanged where no
        close event tells that it is complete.
    poll_interval : float, default=1.0
        Seconds between the polling observer's scans.
    rescan : float, default=300.0
        Seconds between rescans of the folders, a safety net for missed events.
    watch : bool, default=True
        Start an observer; False takes only what the folders hold (``--once``).
    """

    def __init__(self, folders, taken, *, polling=False, settle=2.0, poll_interval=1.0,
                 rescan=300.0, watch=True):
        # resolved, so that a restart through another path to the folders (a link,
        # another working directory) names every recording as its log does
        self.roots = [Path(os.path.realpath(f)) for f in folders]
        self.taken = set(taken)
        self.settle, self.rescan = settle, rescan
        self._events = queue.SimpleQueue()
        self._pending = {}   # path -> (size, mtime_ns, unchanged since: monotonic s)
        self._writing = set()  # seen written by inotify: complete at its close
        self._ready = {}     # insertion-ordered set
        self._observer = self._start(polling, poll_interval) if watch else None
        self.closes = type(self._observer).__name__ == "InotifyObserver"
        self._last_scan = time.monotonic()
        for root in self.roots:
            self._scan(root)

    # --- observer ----------------------------------------------------------------
    def _start(self, polling, poll_interval):
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        observer = PollingObserver(timeout=poll_interval) if polling else Observer()
        handler = _handler(self._events.put)
        try:
            for root in self.roots:
                observer.schedule(handler, str(root), recursive=True)
            observer.start()
        except OSError as exc:  # e.g. the inotify watch limit
            if polling:
                raise
            import warnings

            warnings.warn(f"the file system cannot be watched ({exc}); polling every "
                          f"{poll_interval:g} s instead", stacklevel=3)
            return self._start(True, poll_interval)
        return observer

    def stop(self):
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    # --- bookkeeping ---------------------------------------------------------------
    def _recording(self, path):
        from sklasd.datasets._layout import is_listed

        path = Path(path)
        for root in self.roots:
            if root == path or root in path.parents:
                return is_listed(path, root)
        return False

    def _scan(self, folder):
        """Every recording under ``folder`` not yet known, complete once settled;
        in the order of their modification times."""
        found = [os.path.join(parent, name) for parent, _, files in os.walk(folder)
                 for name in files]
        for path in sorted(found, key=_modified):
            if path not in self._writing:
                self._watch_size(path)

    def _watch_size(self, path):
        if path in self.taken or path in self._ready or not self._recording(path):
            return
        try:
            stat = os.stat(path)
        except OSError:
            return
        key = (stat.st_size, stat.st_mtime_ns)
        if self._pending.get(path, (None, None))[:2] != key:
            self._pending[path] = (*key, time.monotonic())

    def _complete(self, path):
        if path not in self.taken and self._recording(path) and os.path.isfile(path):
            self._pending.pop(path, None)
            self._writing.discard(path)
            self._ready[path] = None

    def _handle(self, kind, path):
        if kind == "complete":
            self._complete(path)
        elif kind == "writing" and self.closes:
            if path not in self.taken and path not in self._ready \
                    and self._recording(path):
                self._pending.pop(path, None)
                self._writing.add(path)
        elif kind in ("arrived", "writing"):
            self._watch_size(path)
        elif kind == "scan":
            self._scan(path)
        else:  # events lost: what was being written is judged by its size now
            self._pending.update(dict.fromkeys(self._writing, (None, None, 0.0)))
            self._writing.clear()
            for root in self.roots:
                self._scan(root)

    def _settled(self):
        """Move the pending files whose size and time stayed put to ready."""
        now, wall = time.monotonic(), time.time()
        for path, (size, mtime, since) in list(self._pending.items()):
            try:
                stat = os.stat(path)
            except OSError:
                del self._pending[path]
                continue
            if (stat.st_size, stat.st_mtime_ns) != (size, mtime):
                self._pending[path] = (stat.st_size, stat.st_mtime_ns, now)
            elif now - since >= self.settle or wall - mtime / 1e9 >= self.settle:
                self._complete(path)

    # --- the main thread's view ----------------------------------------------------
    def take(self, timeout):
        """Complete recordings not handed out before, waiting up to ``timeout`` s for
        one; each is handed out once."""
        deadline = time.monotonic() + timeout
        while True:
            self._drain(deadline)
            if self._pending:
                self._settled()
            if time.monotonic() - self._last_scan >= self.rescan:
                self._last_scan = time.monotonic()
                for root in self.roots:
                    self._scan(root)
            if self._ready or time.monotonic() >= deadline:
                break
        ready = list(self._ready)
        self._ready.clear()
        self.taken.update(ready)
        return ready

    def _drain(self, deadline):
        """Handle the observer's events, waiting for one until ``deadline`` (or a
        quarter second while files are settling)."""
        wait = max(0.0, deadline - time.monotonic())
        if self._pending:
            wait = min(wait, 0.25)
        try:
            self._handle(*self._events.get(timeout=wait))
            while True:
                self._handle(*self._events.get_nowait())
        except queue.Empty:
            pass

    @property
    def idle(self):
        """Nothing is waiting to be complete or handed out."""
        return not (self._pending or self._ready or self._writing)
