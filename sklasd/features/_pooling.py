"""Temporal pooling of log-mel spectrograms (public through :mod:`sklasd.features`)."""
import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import check_spectrograms as _check_spectrograms

__all__ = ["TemporalPooling", "gwrp_weights"]

_POOLINGS = ("gwrp", "max", "mean")


def gwrp_weights(n_frames, decay):
    """Weights of global weighted rank pooling over ``n_frames`` sorted frames.

    Parameters
    ----------
    n_frames : int
        Frames of the clip.
    decay : float in [0, 1]
        ``r``: the k-th largest frame gets weight ``r ** k`` (``0 ** 0 = 1``).

    Returns
    -------
    weights : ndarray of shape (n_frames,), dtype float64
        ``r ** k / sum_j r ** j``: ``[1, 0, ...]`` at ``r = 0`` (max pooling),
        uniform at ``r = 1`` (mean pooling).

    Examples
    --------
    >>> from sklasd.features import gwrp_weights
    >>> gwrp_weights(3, 0.5).round(3).tolist()
    [0.571, 0.286, 0.143]
    """
    weights = np.float64(decay) ** np.arange(n_frames)
    return weights / weights.sum()


#: Values of a clip's spectrogram sorted at a time: a long recording's sorted copies
#: stay bounded (a 10 s clip's 128 mels x 313 frames are one group).
SORT_VALUES = 2 ** 20


def _gwrp(x, weights):
    """GWRP of each row of ``x`` ``(n_mels, n_frames)``: its values sorted in
    descending order, times ``weights``; rows in groups of ``SORT_VALUES`` values."""
    rows = max(1, SORT_VALUES // x.shape[1])
    out = np.empty(x.shape[0])
    for start in range(0, x.shape[0], rows):
        out[start:start + rows] = -np.sort(-x[start:start + rows], axis=1) @ weights
    return out


class TemporalPooling(TransformerMixin, BaseEstimator):
    """Pool every log-mel bin over time: spectrogram layout -> pooled layout.

    Each clip ``(n_mels, n_frames)`` becomes one vector of ``n_mels`` values per
    pooling statistic, so that a clip of any length is one row of a tabular
    detector (``GaussianMixtureDetector``, ``KNeighborsDetector``,
    ``MahalanobisDetector``).

    Parameters
    ----------
    method : {"gwrp", "max", "mean"} or sequence of them, default="gwrp"
        Statistic per bin. ``"gwrp"``: global weighted rank pooling (Notes);
        ``"max"``, ``"mean"``: the largest and the mean frame value. A sequence
        such as ``("gwrp", "mean")`` concatenates the statistics in that order.
    decay : float in [0, 1], default=0.46
        ``r`` of ``"gwrp"``: 0 is max pooling, 1 is mean pooling. The default is
        the value Guan et al. publish for valve, the machine type whose anomalies
        are short events; they publish 0.88 for slider, 0.90 for ToyTrain, 0.98
        for gearbox and 1.0 for fan, ToyCar and bearing.

    Attributes
    ----------
    n_features_in_ : int
        ``n_mels`` seen in :meth:`fit`.
    ranked_mean_ : ndarray of shape (n_mels, n_ranks), float64
        Mean over the clips seen in :meth:`fit` of each bin's frame values
        sorted in descending order, for the first ``n_ranks`` ranks (the
        shortest clip's frames): the normal level at each rank, against which
        :meth:`inverse_map` finds the frames that raised a pooled value.
    bin_mean_ : ndarray of shape (n_mels,), float64
        Mean value of each bin over the frames of the clips seen in :meth:`fit`.

    See Also
    --------
    LogMelTransformer : Produces the spectrogram layout.
    gwrp_weights : The GWRP weights.

    Notes
    -----
    GWRP of a bin with frame values sorted in descending order ``x_(0) >= x_(1)
    >= ...`` is ``sum_k r**k x_(k) / sum_k r**k``, so it weights the loudest
    frames of the bin most: a short event (a valve opening) raises it where a
    mean over a ten-second clip would hide it. Clips are pooled one by one at
    their own length (a list of ``(n_mels, n_frames_i)`` arrays of unequal
    ``n_frames_i`` is accepted), so a clip's vector never depends on the other
    clips. A 2-D array ``(n_clips, n_features)`` is read as one mel bin per clip
    (``(n_clips, 1, n_features)``), as the other spectrogram transformers do.

    References
    ----------
    .. [1] J. Guan, Y. Liu, Q. Kong, F. Xiao, Q. Zhu, J. Tian, W. Wang,
       "Time-weighted frequency domain audio representation with GMM estimator
       for anomalous sound detection", ICASSP 2023, sections 2.1-2.2 and
       Table 3 (decays per machine type in the authors' code, liuyoude/TWFR-GMM).
    .. [2] A. Kolesnikov, C. H. Lampert, "Seed, expand and constrain: three
       principles for weakly-supervised image segmentation", ECCV 2016 (GWRP).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.features import TemporalPooling
    >>> S = np.array([[[1.0, 3.0, 2.0]]], dtype=np.float32)  # 1 clip, 1 mel, 3 frames
    >>> TemporalPooling("max").fit_transform(S).tolist()
    [[3.0]]
    >>> TemporalPooling(("mean", "gwrp"), decay=0.0).fit_transform(S).tolist()
    [[2.0, 3.0]]
    """

    _parameter_constraints = {
        "method": [StrOptions(set(_POOLINGS)), tuple, list],
        "decay": [Interval(numbers.Real, 0, 1, closed="both")],
    }

    def __init__(self, method="gwrp", decay=0.46):
        self.method = method
        self.decay = decay

    def _methods(self):
        methods = [self.method] if isinstance(self.method, str) else list(self.method)
        bad = [m for m in methods if m not in _POOLINGS]
        if not methods or bad:
            raise ValueError(
                f"method must be one of {_POOLINGS} or a non-empty sequence of them; "
                f"got {self.method!r}."
            )
        return methods

    def _clips(self, X, reset):
        """``X`` as a float32 3-D array or a list of float32 2-D clips, validated."""
        name = type(self).__name__
        if isinstance(X, (list, tuple)) and any(np.ndim(x) != np.ndim(X[0]) or
                                                 np.shape(x) != np.shape(X[0]) for x in X):
            clips = []
            for i, x in enumerate(X):
                x = np.asarray(x, dtype=np.float32)
                if x.ndim != 2 or x.shape[1] == 0:
                    raise ValueError(f"{name}: clip {i} must be a (n_mels, n_frames) array "
                                     f"with at least one frame; got shape {x.shape}.")
                if not np.isfinite(x).all():
                    raise ValueError(f"{name}: sample {i} holds NaN or inf")
                clips.append(x)
            n_mels = {x.shape[0] for x in clips}
            if len(n_mels) > 1:
                raise ValueError(f"{name}: the clips have different n_mels {sorted(n_mels)}.")
            self._check_n_mels(clips[0].shape[0], reset)
            return clips
        return _check_spectrograms(self, X, reset=reset)

    def _check_n_mels(self, n_mels, reset):
        if reset:
            self.n_features_in_ = n_mels
        elif n_mels != self.n_features_in_:
            raise ValueError(f"X has {n_mels} mel bins, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} bins as input.")

    def fit(self, X, y=None):
        """Check the parameters, record ``n_mels`` and the normal levels by rank.

        The pooled features do not depend on what is learnt here; only
        :meth:`inverse_map` uses it.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_mels, n_frames) or list of (n_mels, n_frames_i)
            Spectrograms.
        y : None
            Ignored.

        Returns
        -------
        self : TemporalPooling
        """
        self._validate_params()
        self._methods()
        clips = self._clips(X, reset=True)
        n_ranks = min(clip.shape[-1] for clip in clips)
        self.ranked_mean_ = np.mean([-np.sort(-clip, axis=1)[:, :n_ranks] for clip in clips],
                                    axis=0, dtype=np.float64)
        self.bin_mean_ = np.mean([clip.mean(axis=1, dtype=np.float64) for clip in clips],
                                 axis=0)
        return self

    def transform(self, X):
        """Pool every bin of every clip over its frames.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_mels, n_frames) or list of (n_mels, n_frames_i)
            Spectrograms; the clips of a list may differ in length.

        Returns
        -------
        X_pooled : ndarray of shape (n_clips, n_methods * n_mels), dtype float32
            The statistics in the order of ``method``, each ``n_mels`` wide.

        Raises
        ------
        ValueError
            On a wrong rank, a clip without frames, NaN or inf (naming the clip) or
            another ``n_mels`` than in ``fit``.
        """
        check_is_fitted(self, "n_features_in_")
        clips = self._clips(X, reset=False)
        if isinstance(clips, list):
            return np.concatenate([self._pool(x[None]) for x in clips], axis=0)
        return self._pool(clips)

    def _pool(self, X):
        """Pool a ``(n_clips, n_mels, n_frames)`` array of equal-length clips."""
        methods = self._methods()
        weights = gwrp_weights(X.shape[2], self.decay)
        pooled = np.empty((X.shape[0], len(methods), X.shape[1]), dtype=np.float32)
        # clip by clip: sorted copies and a float64 cast of the whole batch would
        # take several times its memory, freshly allocated (page faults) every call
        for x, out in zip(X, pooled):
            for stat, method in zip(out, methods):
                if method == "max":
                    stat[:] = x.max(axis=1)
                elif method == "mean":
                    stat[:] = x.mean(axis=1, dtype=np.float64)
                else:
                    stat[:] = _gwrp(x, weights)
        return pooled.reshape(X.shape[0], -1)

    def inverse_map(self, maps, X):
        """Spread anomaly maps of pooled vectors over the frames each value pooled.

        Parameters
        ----------
        maps : list of ndarray of shape (n_methods * n_mels,)
            One map per clip in the pooled layout (a detector's ``anomaly_map`` of
            ``transform(X)``).
        X : array-like of shape (n_clips, n_mels, n_frames) or list of (n_mels, n_frames_i)
            The spectrograms given to :meth:`transform`.

        Returns
        -------
        frame_maps : list of ndarray of shape (n_mels, n_frames_i), float64
            The shape of each clip of ``X``: the value of each statistic of each
            bin shared among the bin's frames (Notes); the statistics add up, so
            a bin's total over its frames is its value in the map.

        Raises
        ------
        ValueError
            If a map does not hold ``n_methods * n_mels`` values.

        Notes
        -----
        A frame's share of a bin's value is its weight in the statistic (its GWRP
        weight ``w_k = r ** k / sum_j r ** j``, ``k`` the frame's rank in the
        bin, loudest first; 1 on the loudest frame for ``"max"``; ``1 / n_frames``
        for ``"mean"``) times its excess over the normal level at its rank,
        ``max(x_(k) - ranked_mean_[f, k], 0)`` (for ``"mean"`` over
        ``bin_mean_[f]``), normalized over the bin's frames; where no frame
        exceeds the normal level, the weights alone. So a bin raised by a short
        event puts its value on that event's frames, also when a louder normal
        event as loud in every normal clip holds the top rank. A normal event
        whose level varies from clip to clip still draws much of the value
        through its own fluctuations (``benchmarks/bench_maps.py
        --normal-events``: the peaks of the pooled pipelines' maps then fall on
        the anomaly no more often than chance).

        Examples
        --------
        >>> import numpy as np
        >>> from sklasd.features import TemporalPooling
        >>> S = np.array([[[1.0, 3.0, 2.0]]], dtype=np.float32)  # 1 clip, 1 mel, 3 frames
        >>> TemporalPooling("max").fit(S).inverse_map([np.array([6.0])], S)[0]
        array([[0., 6., 0.]])
        """
        check_is_fitted(self, "n_features_in_")
        methods = self._methods()
        n_values = len(methods) * self.n_features_in_
        frame_maps = []
        for i, (pooled, clip) in enumerate(zip(maps, X)):
            pooled, clip = np.asarray(pooled, dtype=np.float64), np.asarray(clip)
            if pooled.shape != (n_values,):
                raise ValueError(f"TemporalPooling.inverse_map: the map of clip {i} has "
                                 f"shape {pooled.shape}, expected ({n_values},).")
            S = clip.reshape(-1, clip.shape[-1])
            out = np.zeros(S.shape)
            for method, values in zip(methods, pooled.reshape(len(methods), -1)):
                out += values[:, None] * self._frame_weights(S, method)
            frame_maps.append(out.reshape(clip.shape))
        return frame_maps

    def _frame_weights(self, S, method):
        """``(n_mels, n_frames)`` share of each frame in its bin's statistic (Notes)."""
        if method == "mean":
            weights = np.full(S.shape, 1.0 / S.shape[1])
            excess = weights * np.maximum(S - self.bin_mean_[:, None], 0)
        else:
            order = np.argsort(-S, axis=1, kind="stable")
            ranks = np.argsort(order, axis=1)
            by_rank = gwrp_weights(S.shape[1], 0.0 if method == "max" else self.decay)
            normal = self.ranked_mean_[:, np.minimum(np.arange(S.shape[1]),
                                                     self.ranked_mean_.shape[1] - 1)]
            excess = by_rank * np.maximum(np.take_along_axis(S, order, axis=1) - normal, 0)
            weights, excess = by_rank[ranks], np.take_along_axis(excess, ranks, axis=1)
        total = excess.sum(axis=1, keepdims=True)
        return np.where(total > 0, excess / np.where(total > 0, total, 1.0), weights)

    def get_feature_names_out(self, input_features=None):
        """``"<method>_mel<j>"`` for every statistic and mel bin.

        Parameters
        ----------
        input_features : None
            Ignored.

        Returns
        -------
        names : ndarray of str, shape (n_methods * n_mels,)
        """
        check_is_fitted(self, "n_features_in_")
        return np.array([f"{m}_mel{j}" for m in self._methods()
                         for j in range(self.n_features_in_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
