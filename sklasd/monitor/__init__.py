"""Continuous monitoring: score recordings as they arrive, alert, follow each machine.

:class:`Monitor` scores one recording at a time with the fitted pipeline of its
machine type and returns an event row, remembering per machine type how many
recordings in a row were anomalous (alerts) and the median of its latest scores
(drift). :func:`watch` (``sklasd watch DIR... -m MODEL -o LOG_DIR``) runs it on
every recording that appears under some folders, exactly once and only when the
file is complete, with an append-only log that is also its state, so a restart,
a crash or ``kill -9`` neither scores a recording twice nor skips one.
:func:`read_events` reads that log and :func:`plot_trend` draws a machine type's
scores over time, as ``LOG_DIR/trend.html`` shows them.
"""

from ._events import COLUMNS, EVENTS_NAME, read_events
from ._monitor import Monitor, load_watch_models
from ._trend import TREND_NAME, plot_trend
from ._watch import watch

__all__ = ["Monitor", "watch", "read_events", "plot_trend", "load_watch_models"]
