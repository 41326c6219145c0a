"""``LOG_DIR/trend.html``: each machine type's scores over time (private).

One self-contained page in the style of ``report.html``: a summary table, then per
machine type its scores over time with the threshold, the drift level and the
rolling median, alerts and "changing" spans marked, and its most recent anomalous
recordings, each with its spectrogram, anomaly map and player as in the report.
"""

import collections
import html
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ._events import COLUMNS

__all__ = ["TREND_NAME", "TrendPage", "plot_trend"]

TREND_NAME = "trend.html"


def plot_trend(rows, *, threshold, drift_level=None, drift_window=20, ax=None):
    """Draw one machine type's scores over time.

    Parameters
    ----------
    rows : pandas.DataFrame
        Its event rows (``time``, ``score``, ``decision``, ``alert``, ``changing``)
        in the order scored; rows without a score are left out.
    threshold : float
        Drawn as a dashed line.
    drift_level : float or None, default=None
        Drawn as a dotted line, with the rolling median of ``drift_window`` scores.
    drift_window : int, default=20
    ax : matplotlib Axes or None, default=None
        A new figure when None.

    Returns
    -------
    ax : matplotlib Axes
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    if ax is None:
        from matplotlib.figure import Figure

        ax = Figure(figsize=(9, 3.2), layout="constrained").subplots()
    rows = rows[rows["score"].notna()]
    when = pd.to_datetime(rows["time"], utc=True, format="ISO8601").dt.tz_localize(None)
    score = rows["score"].astype(float)
    anomalous = (rows["decision"] == "anomalous").to_numpy()
    ax.plot(when[~anomalous], score[~anomalous], ".", color="tab:blue", ms=4,
            label="normal")
    ax.plot(when[anomalous], score[anomalous], ".", color="tab:red", ms=6,
            label="anomalous")
    alert = rows["alert"].fillna(False).astype(bool).to_numpy()
    if alert.any():
        ax.plot(when[alert], score[alert], "v", color="darkred", ms=10, label="alert")
    ax.axhline(threshold, color="k", ls="--", lw=1, label="threshold")
    if drift_level is not None:
        median = score.rolling(drift_window).median()
        ax.plot(when, median, color="tab:orange", lw=1.5,
                label=f"median of last {drift_window}")
        ax.axhline(drift_level, color="tab:orange", ls=":", lw=1, label="drift level")
    changing = rows["changing"].fillna(False).astype(bool).to_numpy()
    for start, stop in _spans(changing):
        ax.axvspan(when.iloc[start], when.iloc[stop - 1], color="tab:orange", alpha=0.2,
                   lw=0, label="changing" if start == _spans(changing)[0][0] else None)
    ax.set_xlabel("Time scored (UTC)")
    ax.set_ylabel("Anomaly score")
    ax.legend(fontsize="small", loc="upper left", ncols=3)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    return ax


def _spans(flags):
    """``[(start, stop), ...]`` of the runs of True in a boolean array."""
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))


class TrendPage:
    """The trend page of a watch, rewritten at most every ``interval`` seconds.

    Parameters
    ----------
    log_dir : path-like
    monitor : Monitor
        Its pipelines, thresholds and drift levels.
    rows : list of dict
        The event rows so far (more are given to :meth:`add`); the page keeps
        counts, the latest ``max_points`` rows of each machine type and the latest
        20 error rows.
    info : dict
        ``key: value`` lines at the top (folders, model).
    interval : float, default=5.0
    n_recent : int, default=3
        Most recent anomalous recordings shown per machine type.
    max_points : int, default=10000
        Latest recordings drawn per machine type.
    """

    def __init__(self, log_dir, monitor, rows, info, *, interval=5.0, n_recent=3,
                 max_points=10_000):
        self.path = Path(log_dir) / TREND_NAME
        self.monitor, self.info = monitor, info
        self.interval, self.n_recent, self.max_points = interval, n_recent, max_points
        # bounded memory over months: the latest rows of each machine type, counts
        self._latest = collections.defaultdict(
            lambda: collections.deque(maxlen=max_points))
        self._errors = collections.deque(maxlen=20)
        self._counts = collections.defaultdict(collections.Counter)
        for row in rows:
            self.add(row)
        # a watch that scores nothing new leaves an existing page as it is
        self._written, self._dirty = -np.inf, not self.path.exists()
        self._clips, self._thread = {}, None
        for stale in self.path.parent.glob(f".{TREND_NAME}.*.tmp"):  # a killed watch's
            stale.unlink(missing_ok=True)

    def add(self, row):
        counts = self._counts[row["machine_type"]]
        counts["recordings"] += 1
        counts[row["decision"]] += 1
        counts["alerts"] += bool(row.get("alert"))
        counts["last"] = row["time"]
        if row["decision"] == "error":
            self._errors.append(row)
        else:
            self._latest[row["machine_type"]].append(row)
        self._dirty = True

    def update(self, force=False):
        """Rewrite the page if rows came and ``interval`` passed: in a background
        thread, so that scoring goes on meanwhile; with ``force``, now and waiting.
        """
        if self._thread is not None and (force or not self._thread.is_alive()):
            self._thread.join()
            self._thread = None
        if not self._dirty or (self._thread is not None and not force):
            return
        if not force and time.monotonic() - self._written < self.interval:
            return
        snapshot = ({t: pd.DataFrame(list(rows), columns=COLUMNS)
                     for t, rows in self._latest.items()},
                    pd.DataFrame(list(self._errors), columns=COLUMNS),
                    {t: dict(c) for t, c in self._counts.items()},
                    dict(self.monitor.changing_))
        self._written, self._dirty = time.monotonic(), False
        if force:
            self.write(*snapshot)
            return
        self._thread = threading.Thread(target=self._write_or_warn, args=snapshot,
                                        name="sklasd trend page", daemon=True)
        self._thread.start()

    def _write_or_warn(self, *snapshot):
        from sklasd._log import LOGGER

        try:
            self.write(*snapshot)
        except Exception as exc:  # the page is a view: the watch goes on
            LOGGER.warning("%s could not be written: %s", self.path, exc)

    def write(self, latest, errors, counts, changing):
        """Write the page, atomically: the latest rows of each machine type, the
        latest error rows, the counts and the drift states."""
        from sklasd.report import page_html

        from ._monitor import one_thread

        with one_thread():
            body = self._body(latest, errors, counts, changing)
        stage = self.path.with_name(f".{TREND_NAME}.{os.getpid()}.tmp")
        stage.write_text(page_html("sklasd watch: trend", self.info, body),
                         encoding="utf-8")
        os.replace(stage, self.path)

    def _body(self, latest, errors, counts, changing):
        from sklasd.report import CLIP_FIGURE_TEXT

        empty = pd.DataFrame(columns=COLUMNS)
        parts = ["<p>Scores: higher = more anomalous; a recording scoring above its "
                 "machine type's threshold is called anomalous. A machine type is "
                 "<i>changing</i> while the median of its latest scores is above its "
                 f"drift level. {CLIP_FIGURE_TEXT}</p>", self._summary(counts, changing)]
        shown = {}
        for machine_type in sorted(self.monitor.models):
            parts.append(self._section(machine_type, latest.get(machine_type, empty),
                                       shown))
        self._clips = shown  # the blocks of recordings no longer shown are dropped
        if len(errors):
            parts.append("<h2>Recordings that could not be scored (latest)</h2>"
                         + errors[["time", "file", "notes"]].to_html(index=False,
                                                                     border=0))
        return "".join(parts)

    def _summary(self, counts, changing):
        lines = []
        for machine_type in sorted(self.monitor.models):
            count = counts.get(machine_type, {})
            level = self.monitor.drift_levels_[machine_type]
            lines.append({
                "machine type": machine_type,
                **{k: count.get(k, 0) for k in ("recordings", "anomalous", "alerts")},
                "errors": count.get("error", 0),
                "threshold": float(self.monitor.models[machine_type][-1].threshold_),
                "drift level": np.nan if level is None else level,
                "state": "changing" if changing[machine_type] else "steady",
                "last recording": count.get("last", "")})
        return "<h2>Machines</h2>" + pd.DataFrame(lines).to_html(
            index=False, border=0, na_rep="-", float_format="{:.4g}".format)

    def _section(self, machine_type, rows, shown):
        from sklasd.report import clip_html, figure_uri

        name = html.escape(machine_type)
        parts = [f'<section class="type"><h2>{name}</h2>']
        scored = rows[rows["score"].notna()]
        if scored.empty:
            return "".join(parts) + "<p>No recording scored yet.</p></section>"
        model = self.monitor.models[machine_type]
        ax = plot_trend(scored, threshold=float(model[-1].threshold_),
                        drift_level=self.monitor.drift_levels_[machine_type],
                        drift_window=self.monitor.drift_window)
        ax.set_title(f"Anomaly scores over time: {machine_type}")
        parts.append(f'<img class="trend" alt="trend of {name}" '
                     f'src="{figure_uri(ax.figure)}">')
        recent = rows[rows["decision"] == "anomalous"].tail(self.n_recent).iloc[::-1]
        parts.append(f"<h3>Most recent anomalous recordings ({len(recent)} shown)</h3>")
        for row in recent.itertuples(index=False):
            if row.file not in self._clips:  # a recording's block never changes
                self._clips[row.file] = clip_html(model, {
                    "filename": row.file, "anomaly_score": row.score,
                    "machine_id": row.machine_id or "",
                    "notes": f"scored {row.time}" + (f"; {row.notes}" if row.notes
                                                      else "")},
                    base_dir=self.path.parent.resolve())
            shown[row.file] = self._clips[row.file]
            parts.append(shown[row.file])
        return "".join(parts) + "</section>"
