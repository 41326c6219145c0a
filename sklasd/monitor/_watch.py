"""The watch loop: complete recordings in, one log line each, alerts, trend (private)."""

import os
import shlex
import shutil
import subprocess
import time

from sklasd._interrupt import check_interrupted
from sklasd._log import LOGGER

from ._arrivals import Arrivals
from ._events import EventLog
from ._monitor import Monitor, one_thread
from ._trend import TrendPage

__all__ = ["watch", "AlertCommand"]


class AlertCommand:
    """The ``--on-anomaly`` command, started for each alert without a shell.

    The command line is split as a shell would split it (:func:`shlex.split`), once;
    each alert appends four arguments, the file, machine type, score and threshold,
    and sets them in the environment as ``SKLASD_FILE``, ``SKLASD_MACHINE_TYPE``,
    ``SKLASD_SCORE`` and ``SKLASD_THRESHOLD``. File names never pass through a shell.
    The command runs beside the watch (not waited for); a failure is a warning.
    """

    def __init__(self, command):
        try:
            self.argv = shlex.split(command)
        except ValueError as exc:  # an unbalanced quote
            raise ValueError(f"--on-anomaly {command!r}: {exc}") from None
        if not self.argv or shutil.which(self.argv[0]) is None:
            raise ValueError(f"--on-anomaly {command!r}: no such command")
        self._running = []

    def run(self, row):
        values = {"FILE": row["file"], "MACHINE_TYPE": row["machine_type"],
                  "SCORE": repr(row["score"]), "THRESHOLD": repr(row["threshold"])}
        env = dict(os.environ, **{f"SKLASD_{k}": v for k, v in values.items()})
        try:
            process = subprocess.Popen([*self.argv, *values.values()], env=env,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            LOGGER.warning("--on-anomaly could not be started: %s", exc)
            return
        self._running.append(process)

    def reap(self, wait=0.0):
        """Collect the commands that ended; a non-zero exit status is a warning."""
        deadline = time.monotonic() + wait
        for process in list(self._running):
            try:
                status = process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                continue
            self._running.remove(process)
            if status:
                LOGGER.warning("--on-anomaly command for %s exited with status %d",
                               process.args[-4], status)


def _report(row, before, monitor):
    """Messages of one event: the line at -v, alerts and drift changes as warnings."""
    machine_type = row["machine_type"]
    if row["decision"] == "error":
        return  # Monitor.check warned
    LOGGER.debug("%s: %s %.4g (threshold %.4g) %s", machine_type, row["decision"],
                 row["score"], row["threshold"], row["file"])
    if row["alert"]:
        LOGGER.warning("ALERT %s: %d anomalous recording(s) in a row, the last %s "
                       "(score %.4g above the threshold %.4g)", machine_type,
                       monitor.alert_after, row["file"], row["score"], row["threshold"])
    if row["changing"] != before:
        level = monitor.drift_levels_[machine_type]
        LOGGER.warning("%s is %s: the median of its last %d scores is %s its drift "
                       "level %.4g", machine_type,
                       "changing" if row["changing"] else "steady again",
                       monitor.drift_window, "above" if row["changing"] else "back under",
                       level)


def watch(folders, models, log_dir, *, once=False, polling=False, settle=2.0,
          poll_interval=1.0, on_anomaly=None, trend_interval=5.0, info=None,
          **monitor_params):
    """Score every recording that appears under ``folders`` once, as it completes.

    The loop of ``sklasd watch``: it runs until interrupted (or, with ``once``,
    until what the folders hold is scored). Each recording gets one line in
    ``LOG_DIR/events.jsonl``; alerts and drift are warnings of the ``sklasd``
    logger; ``LOG_DIR/trend.html`` is rewritten at most every ``trend_interval``
    seconds.

    Parameters
    ----------
    folders : list of path-like
        Existing folders, watched recursively.
    models : dict of str -> Pipeline
        As for :class:`Monitor`.
    log_dir : path-like
        Where the log and the trend page are (created if needed).
    once : bool, default=False
        Score what is there (waiting for files still being written) and return.
    polling : bool, default=False
        Poll the folders (network shares) instead of inotify.
    settle : float, default=2.0
        Seconds unchanged after which a file whose close was not seen is complete.
    poll_interval : float, default=1.0
        Seconds between polls with ``polling``.
    on_anomaly : str or None, default=None
        A command run at each alert (:class:`AlertCommand`).
    trend_interval : float, default=5.0
        Least seconds between two writes of the trend page.
    info : dict or None, default=None
        ``key: value`` lines at the top of the trend page.
    **monitor_params
        ``alert_after``, ``drift_window``, ``drift_quantile`` of :class:`Monitor`.

    Returns
    -------
    n_scored : int
        Recordings logged by this call.
    """
    for folder in folders:
        if not os.path.isdir(folder):
            raise ValueError(f"{str(folder)!r} is not an existing folder")
    monitor = Monitor(models, **monitor_params)
    alerts = AlertCommand(on_anomaly) if on_anomaly else None
    with EventLog(log_dir) as events:
        for row in events.rows:
            monitor.update(row)
        trend = TrendPage(log_dir, monitor, events.rows, dict(info or {}),
                          interval=trend_interval)
        arrivals = Arrivals(folders, {row["file"] for row in events.rows},
                            polling=polling, settle=settle, poll_interval=poll_interval,
                            watch=not once)
        events.rows = None  # replayed: memory stays bounded over months
        try:
            LOGGER.info("%s %s: %d recording(s) already in the log %s",
                        "scoring" if once else "watching",
                        ", ".join(str(f) for f in folders), len(arrivals.taken),
                        events.path)
            # one thread for the whole watch: the page's thread and the scoring
            # then never restore each other's thread counts
            with one_thread():
                n_scored = _loop(arrivals, monitor, events, trend, alerts, once)
        finally:
            arrivals.stop()
        trend.update(force=True)
        if alerts is not None:
            alerts.reap(wait=5.0)
    LOGGER.info("%d recording(s) scored into %s", n_scored, events.path)
    return n_scored


def _loop(arrivals, monitor, events, trend, alerts, once):
    n_scored = 0
    while not (once and arrivals.idle):
        check_interrupted()  # a signal is only recorded: the loop ends the watch
        # a short wait keeps a signal's end within the command's deadline
        for path in arrivals.take(timeout=0.25):
            check_interrupted()
            before = dict(monitor.changing_)
            row = monitor.check(path)
            events.append(row)
            n_scored += 1
            trend.add(row)
            _report(row, before.get(row["machine_type"], False), monitor)
            if row["alert"] and alerts is not None:
                alerts.run(row)
        trend.update()
        if alerts is not None:
            alerts.reap()
    return n_scored
