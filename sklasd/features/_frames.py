"""Context windows and spectrogram scaling (public through :mod:`sklasd.features`).

``FrameStacker`` turns the spectrogram layout ``(n_clips, n_mels, n_frames)`` into the
window layout ``(n_clips, n_windows, n_frames * n_mels)``; ``SpectrogramScaler``
standardizes per mel bin or normalizes loudness per clip.
"""
import numbers

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from sklasd._ragged import is_ragged, per_shape, shape_groups

from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import check_spectrograms as _check_spectrograms

__all__ = ["FrameStacker", "SpectrogramScaler"]


def _ragged_as_one(estimator, X):
    """Clips of unequal length as one clip of all their frames (for statistics)."""
    shape_groups(X)
    clips = [np.asarray(x, dtype=np.float32) for x in X]
    for i, clip in enumerate(clips):
        if clip.ndim != 2:
            raise ValueError(
                f"{type(estimator).__name__}: sample {i} has shape {clip.shape}, "
                "expected (n_mels, n_frames)")
        if not np.isfinite(clip).all():
            raise ValueError(f"{type(estimator).__name__}: sample {i} holds NaN or inf")
    return np.concatenate(clips, axis=1)[np.newaxis]


class FrameStacker(TransformerMixin, BaseEstimator):
    """Stack consecutive spectrogram frames into context windows.

    Turns the spectrogram layout ``(n_clips, n_mels, n_frames)`` into the window
    layout ``(n_clips, n_windows, n_frames * n_mels)`` in frame-major order: a window
    holds its first frame's ``n_mels`` values, then the second frame's, and so on.
    These are the DCASE 2020 Task 2 baseline's context vectors (5 frames).

    Parameters
    ----------
    n_frames : int, default=5
        Frames per window (the DCASE baselines: 5; the ToyADMOS baseline: 21, that
        is 10 before and 10 after the centre frame).
    hop : int, default=1
        Frames between the starts of consecutive windows.
    center : bool, default=False
        False: only whole windows inside the clip, ``n_windows = 1 + (T - n_frames)
        // hop`` (the DCASE baseline). True: the clip's first and last frames are
        repeated ``n_frames // 2`` times at its edges so that every frame ``t``
        (every ``hop``-th) is the centre of a window, ``n_windows = ceil(T / hop)``.

    Attributes
    ----------
    n_features_in_ : int
        ``n_mels`` seen in :meth:`fit`.

    Notes
    -----
    The result is a read-only strided view of one transposed copy of ``X`` (windows
    overlap in memory), so stacking costs one spectrogram's memory, not
    ``n_frames`` times it. Copy it (``np.array(W)``) before writing to it.

    References
    ----------
    DCASE 2020 Task 2 baseline ``common.py`` (``file_to_vector_array``);
    Koizumi et al., WASPAA 2019 section 4 (21-frame context).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.features import FrameStacker
    >>> S = np.arange(2 * 3 * 6, dtype="float32").reshape(2, 3, 6)
    >>> W = FrameStacker(n_frames=5).fit_transform(S)
    >>> W.shape
    (2, 2, 15)
    >>> W[0, 0, :6].tolist()  # frame 0's three mels, then frame 1's
    [0.0, 6.0, 12.0, 1.0, 7.0, 13.0]
    """

    _parameter_constraints = {
        "n_frames": [Interval(numbers.Integral, 1, None, closed="left")],
        "hop": [Interval(numbers.Integral, 1, None, closed="left")],
        "center": ["boolean"],
    }

    def __init__(self, n_frames=5, hop=1, center=False):
        self.n_frames = n_frames
        self.hop = hop
        self.center = center

    def fit(self, X, y=None):
        """Record ``n_mels``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_mels, n_frames), or list of (n_mels, n_frames_i)
        y : ignored

        Returns
        -------
        self : FrameStacker
        """
        self._validate_params()
        _check_spectrograms(self, _ragged_as_one(self, X) if is_ragged(X) else X,
                            reset=True)
        return self

    def transform(self, X):
        """Stack frames into windows.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_mels, n_frames), or list of (n_mels, n_frames_i)
            A 2-D ``(n_clips, n_features)`` input is one-mel spectrograms.

        Returns
        -------
        W : ndarray of shape (n_clips, n_windows, n_frames * n_mels), float32
            Read-only view (see Notes). For a list of clips of unequal lengths, a
            list of ``(n_windows_i, n_frames * n_mels)`` arrays.

        Raises
        ------
        ValueError
            If ``X`` has the wrong rank, a different ``n_mels`` than in ``fit``,
            fewer frames than ``n_frames`` (with ``center=False``), or NaN / inf.
        """
        check_is_fitted(self, "n_features_in_")
        if is_ragged(X):
            return per_shape(self.transform, X)
        X = _check_spectrograms(self, X, reset=False)
        n_clips, n_mels, n_total = X.shape
        frames = np.ascontiguousarray(X.transpose(0, 2, 1))  # (clip, frame, mel)
        if self.center:
            half = self.n_frames // 2
            edge = ((0, 0), (half, self.n_frames - 1 - half), (0, 0))
            frames = np.pad(frames, edge, mode="edge")
        elif n_total < self.n_frames:
            raise ValueError(
                f"FrameStacker needs at least n_frames={self.n_frames} frames per "
                f"clip, got shape {X.shape}"
            )
        n_windows = 1 + (frames.shape[1] - self.n_frames) // self.hop
        step = frames.strides[1]
        return np.lib.stride_tricks.as_strided(
            frames,
            shape=(n_clips, n_windows, self.n_frames * n_mels),
            strides=(frames.strides[0], self.hop * step, frames.strides[2]),
            writeable=False,
        )

    def inverse_map(self, maps, X):
        """Put window anomaly maps back on the frames of the clips they were cut from.

        Parameters
        ----------
        maps : list of ndarray of shape (n_windows_i, n_frames * n_mels)
            One map per clip in the window layout (a detector's ``anomaly_map``
            of ``transform(X)``).
        X : array-like of shape (n_clips, n_mels, n_frames_i), or list of them
            The spectrograms given to :meth:`transform`.

        Returns
        -------
        frame_maps : list of ndarray of shape (n_mels, n_frames_i), float64
            The shape of each clip of ``X``: a frame's value in a mel bin is the
            mean of that cell over the windows that contain the frame (a frame in
            no window, left over by ``hop``, gets 0; with ``center=True`` the
            repeated edge frames count as the edge frame).

        Raises
        ------
        ValueError
            If a map is not the shape :meth:`transform` gives that clip.

        Examples
        --------
        >>> import numpy as np
        >>> from sklasd.features import FrameStacker
        >>> S = np.zeros((1, 1, 4), dtype="float32")  # 1 clip, 1 mel, 4 frames
        >>> stacker = FrameStacker(n_frames=2).fit(S)
        >>> stacker.inverse_map([np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 4.0]])], S)[0]
        array([[1. , 0.5, 0. , 4. ]])
        """
        check_is_fitted(self, "n_features_in_")
        return [self._frames_map(np.asarray(m, dtype=np.float64), np.shape(x), i)
                for i, (m, x) in enumerate(zip(maps, X))]

    def _frames_map(self, windows, clip_shape, index):
        n_mels, n_total = self.n_features_in_, clip_shape[-1]
        half = self.n_frames // 2 if self.center else 0
        n_windows = (-(-n_total // self.hop) if self.center
                     else 1 + (n_total - self.n_frames) // self.hop)
        if windows.shape != (n_windows, self.n_frames * n_mels):
            raise ValueError(
                f"FrameStacker.inverse_map: the map of clip {index} has shape "
                f"{windows.shape}; windows of a clip of shape {clip_shape} have shape "
                f"{(n_windows, self.n_frames * n_mels)}.")
        frames = np.arange(n_windows)[:, None] * self.hop - half + np.arange(self.n_frames)
        frames = np.clip(frames, 0, n_total - 1).ravel()
        total = np.zeros((n_total, n_mels))
        np.add.at(total, frames, windows.reshape(-1, n_mels))
        count = np.bincount(frames, minlength=n_total)
        return (total / np.maximum(count, 1)[:, None]).T.reshape(clip_shape)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class SpectrogramScaler(TransformerMixin, BaseEstimator):
    """Standardize spectrograms per mel bin, or normalize their level or range per clip.

    Parameters
    ----------
    per : {"bin", "clip", "minmax"}, default="bin"
        ``"bin"``: subtract each mel bin's mean and divide by its standard
        deviation, both over all frames of all training clips (the per-bin
        standardization of Daniluk et al., DCASE 2020 Task 2 sections 3
        and 4). ``"clip"``: per-clip loudness normalization: subtract each clip's
        own mean over all bins and frames, so that a gain change of the recording
        (an offset in dB) leaves the features unchanged; nothing is learnt.
        ``"minmax"``: per-clip min-max normalization to [0, 1],
        ``(X - min) / (max - min)`` over each clip's bins and frames (0 for a
        constant clip), the input features of
        Kim et al., Interspeech 2020 section 4; nothing is learnt.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (n_mels,), float32
        Per-bin statistics (``per="bin"`` only); ``scale_`` is 1 where a bin is
        constant.
    n_features_in_ : int
        ``n_mels`` seen in :meth:`fit`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.features import SpectrogramScaler
    >>> S = np.random.default_rng(0).normal(-40, 5, (4, 8, 20)).astype("float32")
    >>> Z = SpectrogramScaler().fit_transform(S)
    >>> bool(abs(Z.mean()) < 1e-5)
    True
    >>> louder = SpectrogramScaler(per="clip").fit_transform(S + 6.0)
    >>> bool(np.allclose(louder, SpectrogramScaler(per="clip").fit_transform(S), atol=1e-4))
    True
    >>> M = SpectrogramScaler(per="minmax").fit_transform(S)
    >>> float(M.min()), float(M.max())
    (0.0, 1.0)
    """

    _parameter_constraints = {"per": [StrOptions({"bin", "clip", "minmax"})]}

    def __init__(self, per="bin"):
        self.per = per

    def fit(self, X, y=None):
        """Learn the per-bin statistics (``per="bin"``).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_mels, n_frames), or list of (n_mels, n_frames_i)
        y : ignored

        Returns
        -------
        self : SpectrogramScaler
        """
        self._validate_params()
        X = _check_spectrograms(self, _ragged_as_one(self, X) if is_ragged(X) else X,
                                reset=True)
        if self.per == "bin":
            # float64 accumulators: float32 sums over millions of frames drift.
            self.mean_ = X.mean(axis=(0, 2), dtype=np.float64).astype(np.float32)
            std = X.std(axis=(0, 2), dtype=np.float64)
            self.scale_ = np.where(std > 0, std, 1.0).astype(np.float32)
        return self

    def transform(self, X):
        """Scale ``X``; returns a new float32 array of the same shape.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_mels, n_frames), or list of (n_mels, n_frames_i)
            Spectrograms.

        Returns
        -------
        X_scaled : ndarray of the shape of ``X`` (list for a ragged list), float32
            The scaled spectrograms.

        Raises
        ------
        ValueError
            On a wrong rank, a different ``n_mels`` than in ``fit``, or NaN / inf.
        """
        check_is_fitted(self, "n_features_in_")
        if is_ragged(X):
            return per_shape(self.transform, X)
        X = _check_spectrograms(self, X, reset=False)
        if self.per == "clip":
            return X - X.mean(axis=(1, 2), keepdims=True, dtype=np.float64).astype(
                np.float32
            )
        if self.per == "minmax":
            low = X.min(axis=(1, 2), keepdims=True)
            span = X.max(axis=(1, 2), keepdims=True) - low
            return (X - low) / np.where(span > 0, span, np.float32(1))
        return (X - self.mean_[:, None]) / self.scale_[:, None]

    def inverse_map(self, maps, X):
        """Anomaly maps of the scaled clips are those of ``X``: scaling moves no cell.

        Parameters
        ----------
        maps : list of ndarray of shape (n_mels, n_frames_i)
            One map per clip (a detector's ``anomaly_map`` of ``transform(X)``).
        X : array-like of shape (n_clips, n_mels, n_frames_i), or list of them
            The spectrograms given to :meth:`transform` (unused).

        Returns
        -------
        maps : list of ndarray
            ``maps`` unchanged.

        Examples
        --------
        >>> import numpy as np
        >>> from sklasd.features import SpectrogramScaler
        >>> S = np.ones((1, 2, 3), dtype="float32")
        >>> SpectrogramScaler().fit(S).inverse_map([S[0] * 2], S)[0].shape
        (2, 3)
        """
        return list(maps)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
