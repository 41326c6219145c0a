"""The frame-based neural detectors' base: unit scores aggregated per clip.

:class:`BaseNeuralDetector` adds to the training and threshold core
(:class:`~sklasd.detectors._core.BaseSkorchDetector`) the window layout
``(n_clips, n_windows, n_features)`` and the per-clip aggregation of unit scores (``aggregation``,
``agg_window``). The autoencoder, the HVAE and the ID-conditioned autoencoder derive
from it; a subclass supplies the network and, where it differs from the window MSE,
the per-unit loss.
"""
import numbers

import numpy as np
import torch
from skorch.utils import to_tensor
from sklearn.utils.validation import validate_data

from .._interrupt import check_interrupted
from ._core import SCORE_UNITS, BaseSkorchDetector
from ..utils._sklearn_compat import Interval, StrOptions

AGGREGATIONS = ("mean", "median", "max", "winmed", "meancap")


def aggregate(frame_scores, aggregation="mean", agg_window=94, cap=None):
    """Aggregate per-unit scores into one score per clip.

    Parameters
    ----------
    frame_scores : list of ndarray of shape (n_windows_i,)
        Scores of the units (windows, frames) of each clip.
    aggregation : {"mean", "median", "max", "winmed", "meancap"}, default="mean"
        Rule, see Notes.
    agg_window : int, default=94
        Units per median window of ``"winmed"`` (94 frames = 3 s at 16 kHz, hop 512).
    cap : float, default=None
        Cap of ``"meancap"``: the training frame scores' mean + 3 standard deviations.

    Returns
    -------
    scores : ndarray of shape (n_clips,), dtype float64

    Notes
    -----
    ``winmed`` splits each clip's unit scores into consecutive, non-overlapping
    windows of ``agg_window`` units (the last one may be shorter), takes the median
    of each and returns the mean of the medians. ``meancap`` returns
    ``mean(minimum(s, cap))``.

    References
    ----------
    Daniluk et al., DCASE 2020 Task 2, section 2.3: mean, median, winmed.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.detectors._windows import aggregate
    >>> aggregate([np.array([1.0, 2.0, 6.0])], "max")
    array([6.])
    """
    if aggregation == "winmed":
        reduce = lambda s: np.mean(  # noqa: E731
            [np.median(s[i:i + agg_window]) for i in range(0, len(s), agg_window)]
        )
    elif aggregation == "meancap":
        reduce = lambda s: np.minimum(s, cap).mean()  # noqa: E731
    else:
        reduce = getattr(np, aggregation)
    return np.array([reduce(s) for s in frame_scores], dtype=np.float64)


class BaseNeuralDetector(BaseSkorchDetector):
    """Base of the skorch-trained detectors that score windows and aggregate per clip.

    Not used directly: subclasses supply the network (``_build_module``) and, where
    needed, the per-unit loss and score. The base implements the detector contract
    (:class:`~sklasd.base.AnomalyDetectorMixin`) on the window layout (``FrameStacker``).

    Parameters
    ----------
    aggregation : {"mean", "median", "max", "winmed", "meancap"}, default="mean"
        How window scores become one clip score (:func:`aggregate`).
    agg_window : int, default=94
        Windows per median window of ``"winmed"``.
    max_epochs, lr, batch_size, optimizer, callbacks, validation_fraction, \
windows_per_clip, threshold_quantile, device, precision, random_state, verbose
        As in :class:`~sklasd.detectors._core.BaseSkorchDetector`; the training
        units are windows (with 2-D input a clip is one window).

    Attributes
    ----------
    n_features_in_ : int
        Features per window.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a 2-D DataFrame given to ``fit``.
    frame_score_mean_, frame_score_std_ : float
        Mean and standard deviation of the window scores of the training clips.
    net_, threshold_, offset_
        As in :class:`~sklasd.detectors._core.BaseSkorchDetector`.

    Notes
    -----
    Subclass extension points: those of the core (``_build_module`` required;
    ``_build_criterion``, ``_make_batch``, ``_check_metadata``,
    ``_default_callbacks``, ``_net_params``), plus ``_unit_scores(y_pred, y_true)``,
    the per-unit anomaly scores at scoring time (default: the criterion), and
    ``_unit_errors(y_pred, y_true)``, the per-feature errors whose mean over the
    features is the unit score (default: the squared error). Windows are
    validated, cut and scored here; a clip's score is its windows' scores
    aggregated by ``aggregation``, and its ``anomaly_map`` is
    ``(n_windows, n_features)``, the per-feature errors of every window
    (``FrameStacker.inverse_map`` puts them back on the frames).
    """

    _parameter_constraints = {
        **BaseSkorchDetector._parameter_constraints,
        "aggregation": [StrOptions(set(AGGREGATIONS))],
        "agg_window": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, *, max_epochs=100, lr=1e-3, batch_size=512,
                 optimizer=torch.optim.Adam, callbacks=None, validation_fraction=0.1,
                 windows_per_clip=None, aggregation="mean", agg_window=94,
                 threshold_quantile=0.9, device="cpu", precision="float32",
                 random_state=None, verbose=0):
        super().__init__(
            max_epochs=max_epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
            callbacks=callbacks, validation_fraction=validation_fraction,
            windows_per_clip=windows_per_clip, threshold_quantile=threshold_quantile,
            device=device, precision=precision, random_state=random_state,
            verbose=verbose)
        self.aggregation = aggregation
        self.agg_window = agg_window

    # ------------------------------------------------------- windows as units
    def _validate_X(self, X, reset):
        """Validate ``X`` and return it as a 3-D window array, without copying."""
        X = validate_data(self, X, reset=reset, dtype=[np.float32, np.float64],
                          allow_nd=True, ensure_2d=False, ensure_all_finite=False)
        if X.ndim not in (2, 3):
            raise ValueError(
                "Expected windows of shape (n_clips, n_windows, n_features) or "
                f"(n_samples, n_features); got an array of shape {X.shape}. Reshape "
                "your data (a single window: X.reshape(1, -1))."
            )
        if reset:
            self.n_features_in_ = X.shape[-1]
        elif X.shape[-1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[-1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input: expected windows of shape "
                f"(n_clips, n_windows, {self.n_features_in_}), got {X.shape}."
            )
        X = X[:, None, :] if X.ndim == 2 else X
        _check_finite(X)
        return X

    def _n_units(self, X):
        return X.shape[1]

    def _gather(self, X, clips, units):
        # fancy indexing copies, so a read-only strided view of X is never written
        return X[clips, units].astype(np.float32, copy=False)

    # ------------------------------------------------- scores and aggregation
    def _unit_scores(self, y_pred, y_true):
        return self.net_.criterion_(y_pred, y_true)

    def _unit_errors(self, y_pred, y_true):
        """``(batch, n_features)`` errors whose mean over features is the unit score."""
        return (y_pred - y_true).square().flatten(1)

    def _per_unit(self, X, meta, function):
        """``function(y_pred, y_true)`` of every unit: float64 ``(n_clips, n_units, ...)``."""
        n_units = self._n_units(X)
        # whole clips per forward pass; a long recording's units in blocks (each
        # unit's score depends on that unit only)
        clips_per_batch = max(1, SCORE_UNITS // n_units)
        units_per_batch = min(n_units, SCORE_UNITS)
        self.net_.criterion_.train(False)
        out = []
        with self._scoring():
            for c0 in range(0, X.shape[0], clips_per_batch):
                clips = np.arange(c0, min(c0 + clips_per_batch, X.shape[0]))
                blocks = []
                for u0 in range(0, n_units, units_per_batch):
                    check_interrupted()
                    units = np.arange(u0, min(u0 + units_per_batch, n_units))
                    c, u = np.repeat(clips, len(units)), np.tile(units, len(clips))
                    Xi, yi = self._batch_for(X, c, u, meta, training=False)
                    y_pred = self.net_.evaluation_step((Xi, yi), training=False)
                    s = function(y_pred, to_tensor(yi, device=self.net_.device))
                    s = s.double().cpu().numpy()
                    blocks.append(s.reshape(len(clips), len(units), *s.shape[1:]))
                out.append(np.concatenate(blocks, axis=1))
        return np.concatenate(out)

    def _frame_scores(self, X, meta):
        return list(self._per_unit(X, meta, self._unit_scores))

    def _unit_maps(self, X, meta):
        return self._per_unit(X, meta, self._unit_errors)

    def _aggregate(self, frames):
        cap = getattr(self, "frame_score_mean_", 0.0) + 3 * getattr(
            self, "frame_score_std_", 0.0)
        return aggregate(frames, self.aggregation, self.agg_window, cap)

    def _fit_clip_scores(self, X, meta):
        """Scores of the training clips, storing the statistics scoring needs."""
        frames = self._frame_scores(X, meta)
        flat = np.concatenate(frames)
        self.frame_score_mean_ = float(flat.mean())
        self.frame_score_std_ = float(flat.std())
        return self._aggregate(frames)

    def _clip_scores(self, X, meta):
        """Per-clip scores of validated ``X``: unit scores aggregated per clip."""
        return self._aggregate(self._frame_scores(X, meta))



def _check_finite(X):
    """Raise a ValueError naming the first clip with a NaN or infinite value."""
    with np.errstate(all="ignore"):
        # per-clip sums in float64 are finite iff the clip is (up to overflow,
        # which the exact check below rules out)
        suspects = np.flatnonzero(~np.isfinite(X.sum(axis=(1, 2), dtype=np.float64)))
    for i in suspects:
        if not np.isfinite(X[i]).all():
            raise ValueError(
                f"Input X contains NaN or infinity in sample (clip) {i}; expected finite "
                "log-mel values."
            )
