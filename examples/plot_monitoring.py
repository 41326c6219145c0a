"""
Monitoring a machine: scores as recordings arrive, alerts and drift
===================================================================

Condition monitoring is continuous: a recorder beside a machine drops a clip into a
folder every few minutes, for months. ``sklasd watch`` scores each recording once, as
soon as its file is complete, appends one line per recording to a log, raises alerts
and keeps ``trend.html`` up to date::

    sklasd fit recordings/normal -o pump.joblib
    sklasd watch incoming/ -m pump.joblib -o pump_log/ --alert-after 3

Here :class:`sklasd.monitor.Monitor`, which the command runs for every file, scores a
stream of generated motor recordings in which a high whine slowly grows (a bearing
starting to wear), and :func:`sklasd.monitor.plot_trend` draws what ``trend.html``
shows: single recordings cross the threshold now and then (about one in ten normal
ones does, by the threshold's definition, which is why ``--alert-after`` waits for
several in a row), while the machine is reported as *changing* (the median of its
latest 20 scores rises above a level set from its training scores) well before the
alert.
"""

# %%
# A model of the normal sound
# ---------------------------
# The default pipeline (``knn``: log-mel, GWRP pooling, nearest neighbour) fitted on
# normal recordings, as ``sklasd fit`` does.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from sklasd.datasets import make_machine_sounds
from sklasd.models import make_model
from sklasd.monitor import Monitor, plot_trend

bunch = make_machine_sounds(n_normal=40, n_anomalous=1, machine_ids=("id_00",),
                            duration=1.0, random_state=0)
normal = bunch.data[bunch.target == 0]
train, fresh = normal[:30], normal[30:]
model = make_model("knn").fit(train)
print(f"threshold {model[-1].threshold_:.2f}")

# %%
# A stream of recordings, one at a time
# -------------------------------------
# 100 recordings, 10 minutes apart; from the 20th on, a 3 kHz whine grows steadily.
# ``check`` returns one event row per recording, as ``sklasd watch`` writes it to
# its log.
monitor = Monitor({"pump": model}, alert_after=3)
t = np.arange(bunch.data.shape[1]) / bunch.sr
rows = []
for i in range(100):
    level = 0.0 if i < 20 else 1e-4 * (i - 20)
    clip = fresh[i % len(fresh)] + level * np.sin(2 * np.pi * 3000 * t)
    row = monitor.check(clip.astype(np.float32), name=f"recording {i:02d}")
    row["time"] = (pd.Timestamp("2026-12-01 08:00", tz="UTC")
                   + pd.Timedelta(minutes=10 * i)).isoformat()
    rows.append(row)

first = {key: next(i for i, r in enumerate(rows) if r[key]) for key in ("changing",
                                                                       "alert")}
crossed = [i for i, r in enumerate(rows) if r["decision"] == "anomalous"]
print(f"recordings above the threshold: {crossed}")
print(f"changing from recording {first['changing']}, alert at recording "
      f"{first['alert']}")

# %%
# The trend
# ---------
# Scores over time with the threshold (dashed), the drift level (dotted) and the
# median of the last 20 scores; the alert and the span during which the machine is
# changing are marked. ``trend.html`` shows this figure per machine type with the
# spectrograms, anomaly maps and players of the latest anomalous recordings.
fig, ax = plt.subplots(figsize=(9, 3.5), layout="constrained")
plot_trend(pd.DataFrame(rows), threshold=model[-1].threshold_,
           drift_level=monitor.drift_levels_["pump"], ax=ax)
ax.set_title("pump: anomaly scores as recordings arrive")
plt.show()
