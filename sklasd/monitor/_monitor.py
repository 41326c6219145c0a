"""Score recordings one at a time, with alerts and drift per machine (private)."""

import collections
import datetime
import functools
import json
import os
import re
import warnings
from pathlib import Path

import numpy as np

__all__ = ["Monitor", "load_watch_models"]

_SITE = re.compile(r"^(?P<name>.*) \((?P<above>.*)\)$")  # "pump (Site A, hall 2)"


def load_watch_models(path):
    """Load the fitted pipelines of a model file or of a ``sklasd run`` folder.

    Parameters
    ----------
    path : str or os.PathLike
        A model file of ``sklasd fit``, or the output folder of ``sklasd run`` (its
        ``model_<type>`` files, listed in its ``report_data.json``).

    Returns
    -------
    models : dict of str -> sklasd.pipeline.Pipeline
        The fitted pipelines by machine type.

    Raises
    ------
    ValueError
        If ``path`` is neither, or a model file is missing, damaged or not a sklasd
        model file (checked before anything is unpickled).

    Warnings
    --------
    Loading a model file runs code (its payload is a pickle): use only files you
    made or trust.
    """
    from sklasd.engine import load_models
    from sklasd.report import REPORT_DATA_NAME

    path = Path(path)
    if not path.is_dir():
        return load_models(path)
    data_file = path / REPORT_DATA_NAME
    if not data_file.is_file():
        raise ValueError(f"{str(path)!r} is neither a model file nor a folder written "
                         f"by `sklasd run` (no {REPORT_DATA_NAME})")
    models = {}
    for name in json.loads(data_file.read_text())["models"].values():
        models.update(load_models(path / name))
    return models


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def one_thread():
    """Within the block, one OpenMP / BLAS thread (threadpoolctl)."""
    return _controller().limit(limits=1)


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")


class Monitor:
    """Score recordings as they arrive, one at a time, and follow each machine.

    For each recording, :meth:`check` scores it with its machine type's fitted
    pipeline and returns one event row; the monitor remembers, per machine type,
    how many recordings in a row were called anomalous (for alerts) and its
    latest scores (for drift). ``sklasd watch`` uses it for every file that
    arrives; use it directly to run your own loop.

    Parameters
    ----------
    models : dict of str -> sklasd.pipeline.Pipeline, or Pipeline
        Fitted pipelines by machine type (a model file's content,
        ``sklasd.engine.load_models``); one pipeline is machine type
        ``"machine"``. Each final step needs ``threshold_``.
    alert_after : int, default=1
        Raise an alert when this many recordings of one machine type in a row are
        called anomalous (one alert per run of anomalous recordings).
    drift_window : int, default=20
        Number of a machine type's latest scores whose median is followed.
    drift_quantile : float in (0, 1), default=0.8
        The drift level is this quantile of the pipeline's training scores
        (``training_scores_`` of its final step).

    Attributes
    ----------
    models : dict of str -> Pipeline
    drift_levels_ : dict of str -> float or None
        The drift level of each machine type; None where the final step has no
        ``training_scores_`` (a model fitted before sklasd recorded them): drift
        is then not followed for it.
    changing_ : dict of str -> bool
        Whether each machine type is "changing" now.

    Notes
    -----
    A recording is called anomalous when its score is above the threshold
    (``threshold_`` of the final step, as ``predict``). Drift rule: a machine type
    is *changing* while the median of its last ``drift_window`` scores is above
    its drift level, the ``drift_quantile`` quantile of the scores of its training
    clips. A median of recent scores rises with a machine's sound long before
    single recordings pass the threshold (about the training scores' 0.9
    quantile), while a run of a few odd recordings does not move it. For a
    machine that sounds like its training clips, the median of 20 scores exceeds
    the training scores' 0.8 quantile only when at least 10 of 20 do, which
    happens in about 3 of 1000 windows (binomial, p = 0.2). The rule follows the
    trend charts of condition monitoring (a level below the alarm level, crossed
    by a smoothed value) rather than a published ASD method. It assumes that new
    normal recordings score like the training clips: where they score higher (another
    recording set-up, a domain shift) the machine reads as changing from the start.

    Examples
    --------
    >>> from sklasd.datasets import make_machine_sounds
    >>> from sklasd.models import make_model
    >>> bunch = make_machine_sounds(n_normal=12, n_anomalous=2, duration=1.0,
    ...                             random_state=0)
    >>> normal = bunch.data[bunch.target == 0]
    >>> monitor = Monitor({"motor": make_model("knn").fit(normal[:10])},
    ...                   drift_window=3)
    >>> row = monitor.check(normal[10])
    >>> row["machine_type"], row["decision"], row["alert"]
    ('motor', 'normal', False)
    """

    def __init__(self, models, *, alert_after=1, drift_window=20, drift_quantile=0.8):
        if not isinstance(models, dict):
            models = {"machine": models}
        if not models:
            raise ValueError("Monitor needs at least one fitted pipeline")
        for machine_type, model in models.items():
            if not hasattr(model[-1], "threshold_"):
                raise ValueError(f"the pipeline of {machine_type!r} has no fitted "
                                 "threshold_ (fit it first)")
        if int(alert_after) < 1 or int(drift_window) < 1:
            raise ValueError("alert_after and drift_window must be at least 1, got "
                             f"{alert_after} and {drift_window}")
        if not 0 < drift_quantile < 1:
            raise ValueError(f"drift_quantile must be in (0, 1), got {drift_quantile}")
        self.models = models
        self.alert_after, self.drift_window = int(alert_after), int(drift_window)
        self.drift_quantile = drift_quantile
        self.drift_levels_ = {t: self._drift_level(m) for t, m in models.items()}
        self.changing_ = dict.fromkeys(models, False)
        self._streaks = dict.fromkeys(models, 0)
        self._recent = {t: collections.deque(maxlen=self.drift_window) for t in models}
        self._n_waveforms = 0

    def _drift_level(self, model):
        scores = getattr(model[-1], "training_scores_", None)
        return None if scores is None else float(np.quantile(scores, self.drift_quantile))

    def check(self, recording, *, machine_type=None, machine_id=None, name=None):
        """Score one recording and update the machine type's alert and drift state.

        Parameters
        ----------
        recording : str, os.PathLike or ndarray of shape (n_samples,)
            An audio file, or a waveform (float samples at the rate of the
            pipeline's first step).
        machine_type : str or None, default=None
            Which pipeline scores it. None: the only one, or for a file the machine
            type its folders name, read as ``sklasd run`` reads a folder of
            recordings (``Site A/pump/`` also matches ``"pump (Site A)"``).
        machine_id : str or None, default=None
            For pipelines that take machine IDs; None reads ``id_XX`` /
            ``section_XX`` from a file name.
        name : str or None, default=None
            The ``file`` of the row; default the absolute path, or
            ``"waveform <n>"``.

        Returns
        -------
        row : dict
            ``time`` (ISO 8601, UTC), ``file``, ``machine_type``, ``machine_id``,
            ``score`` (float, higher = more anomalous), ``threshold``,
            ``decision`` (``"normal"``, ``"anomalous"``, or ``"error"`` for a
            recording that could not be scored, with the reason in ``notes`` and
            ``score`` None), ``notes`` (warnings, such as an unusual duration),
            ``alert`` (bool: this recording completes ``alert_after`` anomalous
            recordings in a row) and ``changing`` (bool: the drift state after it).

        Warns
        -----
        UserWarning
            For a recording that cannot be scored (a corrupt, empty or too short
            file, no pipeline for its machine type); the monitor goes on.
        """
        is_file = isinstance(recording, (str, os.PathLike))
        if name is None:
            if is_file:
                name = os.path.abspath(recording)
            else:
                self._n_waveforms += 1
                name = f"waveform {self._n_waveforms}"
        row = {"time": _now(), "file": name, "machine_type": machine_type,
               "machine_id": machine_id, "score": None, "threshold": None,
               "decision": "error", "notes": ""}
        try:
            self._score(row, recording, is_file)
        except (ValueError, OSError) as exc:
            reason = str(exc)
            row["notes"] = reason if reason.startswith("file ") else f"{name}: {reason}"
            warnings.warn(row["notes"], stacklevel=2)
        return self.update(row)

    def _score(self, row, recording, is_file):
        from sklasd.utils._routing import call_with_metadata

        if is_file:
            row["machine_type"], found_id = self._file_labels(recording, row)
            row["machine_id"] = row["machine_id"] or found_id
        elif row["machine_type"] is None:
            row["machine_type"] = self._only_type()
        model = self.models[row["machine_type"]]
        clip = os.fspath(recording) if is_file else np.asarray(recording)
        # one thread: for one clip, waking OpenMP / BLAS threads costs more than they
        # save (a 1-NN search measured 130 ms per clip with 2 threads on 2 loaded
        # cores, 8 ms with one)
        with one_thread(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            features = model[:-1].transform([clip])
            score = call_with_metadata(model[-1], "anomaly_score", features,
                                       machine_id=[row["machine_id"] or ""])
        row["score"], row["threshold"] = float(score[0]), float(model[-1].threshold_)
        row["decision"] = "anomalous" if row["score"] > row["threshold"] else "normal"
        row["notes"] = "; ".join(dict.fromkeys(str(w.message) for w in caught))

    def _only_type(self):
        if len(self.models) > 1:
            raise ValueError(f"give the machine type (the model has {sorted(self.models)})")
        return next(iter(self.models))

    def _file_labels(self, path, row):
        """Machine type and ID of a file, as ``sklasd run`` reads its folders."""
        from sklasd.datasets import load_audio_files

        frame = load_audio_files([path]).frame
        found_type, found_id = frame["machine_type"][0], frame["machine_id"][0]
        given = row["machine_type"]
        if given is not None:
            if given not in self.models:
                raise ValueError(f"no model for machine type {given!r} (the model has "
                                 f"{sorted(self.models)})")
            return given, found_id
        if len(self.models) == 1:
            return next(iter(self.models)), found_id
        if found_type in self.models:
            return found_type, found_id
        parts = Path(os.path.abspath(path)).parent.parts
        for key in self.models:  # "pump (Site A)": Site A/pump/ among the folders
            match = _SITE.match(key)
            wanted = (*match["above"].split(", "), match["name"]) if match else ()
            if wanted and any(parts[i:i + len(wanted)] == wanted
                              for i in range(len(parts))):
                return key, found_id
        raise ValueError(f"no model for machine type {found_type!r}, the folder of "
                         f"{os.path.abspath(path)!r} (the model has "
                         f"{sorted(self.models)})")

    def update(self, row):
        """Follow a row already scored, as :meth:`check` follows its own rows.

        ``sklasd watch`` replays its log through this method at start, so the
        alert streaks and drift states go on where the last watch stopped.

        Parameters
        ----------
        row : dict
            An event row with at least ``machine_type``, ``score`` and
            ``decision``; rows of other machine types and ``"error"`` rows change
            nothing.

        Returns
        -------
        row : dict
            A copy with ``alert`` and ``changing`` set.
        """
        row = dict(row)
        machine_type = row.get("machine_type")
        if row.get("decision") not in ("normal", "anomalous") \
                or machine_type not in self.models:
            row.update(alert=False, changing=self.changing_.get(machine_type, False))
            return row
        anomalous = row["decision"] == "anomalous"
        self._streaks[machine_type] = self._streaks[machine_type] + 1 if anomalous else 0
        row["alert"] = anomalous and self._streaks[machine_type] == self.alert_after
        recent, level = self._recent[machine_type], self.drift_levels_[machine_type]
        recent.append(float(row["score"]))
        self.changing_[machine_type] = bool(
            level is not None and len(recent) == recent.maxlen
            and np.median(recent) > level)
        row["changing"] = self.changing_[machine_type]
        return row
