"""The neural-detector base: skorch-trained detectors that score windows of clips.

Every unsupervised neural detector of sklasd derives from :class:`BaseNeuralDetector`.
The base validates input, samples training units (windows) from clips, hands skorch whole batches, scores units in evaluation mode,
aggregates unit scores per clip and fits the decision threshold. A subclass supplies
the network and, where it differs from the window MSE, the per-unit loss.
"""
import numbers

import numpy as np
import torch
from skorch import NeuralNet
from skorch.helper import predefined_split
from skorch.utils import to_tensor
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted, validate_data

from sklasd.base import AnomalyDetectorMixin
from sklasd._ragged import ragged_fit, ragged_scores
from sklasd._skorch import SkorchEstimatorMixin, batch_bounds, make_batch_net, seeded

from ..utils._sklearn_compat import Interval, StrOptions

AGGREGATIONS = ("mean", "median", "max", "winmed", "meancap")

# Units (windows) per forward pass when scoring: whole clips are batched together
# up to this many windows (a 10 s DCASE clip has 309).
SCORE_UNITS = 8192


class WindowMSE(torch.nn.Module):
    """Per-unit mean squared error: ``mean((y_pred - y_true) ** 2)`` over features.

    Returns one value per unit (shape ``(batch,)``), so the same module is the
    training loss (its batch mean) and the anomaly score of each window.
    """

    def forward(self, y_pred, y_true):
        return (y_pred - y_true).square().flatten(1).mean(dim=1)


class _DetectorNet(NeuralNet):
    """skorch net whose loss is the batch mean of a per-unit criterion."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        self.criterion_.train(training)
        return self.criterion_(y_pred, y_true).mean()


class _UnitBatches(torch.utils.data.IterableDataset):
    """Whole batches of units sampled from clips, re-drawn at every iteration (epoch).

    skorch iterates it through a ``DataLoader(batch_size=None)``, so each item is a
    ready batch: no per-sample indexing and collation.
    """

    def __init__(self, detector, X, clips, metadata, *, batch_size, units_per_clip,
                 shuffle, rng, training):
        self.detector, self.X, self.clips, self.metadata = detector, X, clips, metadata
        self.batch_size, self.units_per_clip = batch_size, units_per_clip
        self.shuffle, self.rng, self.training = shuffle, rng, training
        self.n_units = detector._n_units(X)

    def _epoch_index(self):
        n, k = self.n_units, self.units_per_clip
        if k is None or k >= n:
            units = np.broadcast_to(np.arange(n), (len(self.clips), n))
        else:  # k windows per clip without replacement, drawn afresh
            units = self.rng.random((len(self.clips), n)).argsort(axis=1)[:, :k]
        clips = np.repeat(self.clips, units.shape[1])
        units = units.ravel()
        if self.shuffle:
            order = self.rng.permutation(len(clips))
            clips, units = clips[order], units[order]
        return clips, units

    def __iter__(self):
        clips, units = self._epoch_index()
        for start, stop in batch_bounds(len(clips), self.batch_size):
            c, u = clips[start:stop], units[start:stop]
            yield self.detector._batch_for(self.X, c, u, self.metadata, self.training)


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
    >>> from sklasd.detectors._base import aggregate
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


class BaseNeuralDetector(AnomalyDetectorMixin, SkorchEstimatorMixin, BaseEstimator):
    """Base of the skorch-trained detectors that score windows of clips.

    Not used directly: subclasses supply the network (``_build_module``) and, where
    needed, the per-unit loss and score. The base implements the detector contract
    (:class:`~sklasd.base.AnomalyDetectorMixin`) on the window layout (``FrameStacker``).

    Parameters
    ----------
    max_epochs : int, default=100
        Training epochs.
    lr : float, default=1e-3
        Learning rate of ``optimizer``.
    batch_size : int, default=512
        Training units (windows) per batch.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Optimizer class; skorch builds it with ``lr``.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks (early stopping, LR schedules, checkpoints). They are
        deep-copied at fit, so the given objects are not changed.
    validation_fraction : float in [0, 1) or None, default=0.1
        Fraction of the training clips held out for skorch's ``valid_loss``; ``None``
        or 0 trains on everything. With 2-D input a clip is one window.
    windows_per_clip : int or None, default=None
        Training windows drawn from every clip, without replacement, afresh at every
        epoch; ``None`` uses all windows every epoch.
    aggregation : {"mean", "median", "max", "winmed", "meancap"}, default="mean"
        How window scores become one clip score (:func:`aggregate`).
    agg_window : int, default=94
        Windows per median window of ``"winmed"``.
    threshold_quantile : float in (0, 1), default=0.9
        Quantile of the gamma distribution fitted to the training clip scores that
        becomes ``threshold_``.
    device : str, default="cpu"
        torch device for training and scoring (``"cuda"`` when asked).
    random_state : int, RandomState instance or None, default=None
        Seeds torch (weights, dropout) and the window sampler. Two fits with the same
        integer seed on CPU give identical scores.
    verbose : int, default=0
        0 is silent; 1 shows skorch's per-epoch progress bar and epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained skorch net (``net_.module_`` is the torch module,
        ``net_.history`` the epoch table).
    n_features_in_ : int
        Features per window.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a 2-D DataFrame given to ``fit``.
    frame_score_mean_, frame_score_std_ : float
        Mean and standard deviation of the window scores of the training clips.
    threshold_ : float
        Clip score above which a clip is anomalous.
    offset_ : float
        ``-threshold_``, so that ``decision_function = score_samples - offset_``.

    Notes
    -----
    Subclass extension points (all private, each with a default):

    - ``_build_module()`` (required): the torch module; ``n_features_in_`` and what
      ``_check_metadata`` stored are available.
    - ``_build_criterion()``: per-unit loss module returning shape ``(batch,)``;
      training minimizes its batch mean. Default :class:`WindowMSE`.
    - ``_unit_scores(y_pred, y_true)``: per-unit anomaly scores at scoring time;
      default the criterion.
    - ``_make_batch(windows, metadata, training)``: ``(Xi, yi)`` for skorch from a
      float32 window batch and the per-unit metadata; ``Xi`` may be a dict, passed to
      the module's ``forward`` as keyword arguments. Default ``(windows, windows)``.
    - ``_check_metadata(metadata, n_clips, reset)``: validate metadata passed to
      ``fit`` / ``anomaly_score`` ... and return a dict of per-clip arrays. Default
      ignores it.
    - ``_validate_X``, ``_n_units``, ``_gather``: input layout and unit extraction
      (windows by default; excerpts for sequence models).
    - ``_clip_scores(X, meta)`` / ``_fit_clip_scores(X, meta)``: per-clip scores of
      validated input at scoring time / of the training clips after training (where
      the latter also stores what scoring needs). Default: ``_frame_scores``
      aggregated by ``aggregation``; a detector whose clip score is not an
      aggregate of unit scores (``WaveNetPredictor``'s percentiles) overrides both.
    - ``_default_callbacks()``, ``_net_params()``: extra skorch callbacks and
      ``NeuralNet`` arguments (``optimizer__betas``, ...).
    """

    _parameter_constraints = {
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "optimizer": [type],
        "callbacks": [list, tuple, None],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="left"), None],
        "windows_per_clip": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "aggregation": [StrOptions(set(AGGREGATIONS))],
        "agg_window": [Interval(numbers.Integral, 1, None, closed="left")],
        "threshold_quantile": [Interval(numbers.Real, 0, 1, closed="neither")],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, *, max_epochs=100, lr=1e-3, batch_size=512,
                 optimizer=torch.optim.Adam, callbacks=None, validation_fraction=0.1,
                 windows_per_clip=None, aggregation="mean", agg_window=94,
                 threshold_quantile=0.9, device="cpu", random_state=None, verbose=0):
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.windows_per_clip = windows_per_clip
        self.aggregation = aggregation
        self.agg_window = agg_window
        self.threshold_quantile = threshold_quantile
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- hooks
    def _build_module(self):
        raise NotImplementedError

    def _build_criterion(self):
        return WindowMSE()

    def _unit_scores(self, y_pred, y_true):
        return self.net_.criterion_(y_pred, y_true)

    def _make_batch(self, windows, metadata, training):
        windows = torch.from_numpy(windows)
        return windows, windows

    def _check_metadata(self, metadata, n_clips, reset):
        return {}

    def _default_callbacks(self):
        return []

    def _net_params(self):
        return {}

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

    # ------------------------------------------------------------- training
    @ragged_fit
    def fit(self, X, y=None, **metadata):
        """Train on the windows of normal clips and fit the decision threshold.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_windows, n_features) or (n_samples, n_features)
            Windows of normal clips (``FrameStacker`` output); a 2-D array is one
            window per clip. float32 (float64 is converted batch by batch).
        y : None
            Ignored; accepted for ``Pipeline`` and ``GridSearchCV``.
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata (``machine_id``, ``domain``) for detectors that use it;
            ignored by the others.

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            Wrong rank, NaN or infinite values (naming the clip), fewer than 2 windows.
        """
        self._validate_params()
        X = self._validate_X(X, reset=True)
        if X.shape[0] * self._n_units(X) < 2:
            raise ValueError(
                f"fit needs at least 2 windows; got 1 sample of shape {X.shape}."
            )
        meta = self._check_metadata(metadata, X.shape[0], reset=True)
        with seeded(self.random_state, self.device) as rng:
            self.net_ = self._train(X, meta, rng)
        self._fit_threshold(self._fit_clip_scores(X, meta))
        return self

    def _train(self, X, meta, rng):
        train, valid = self._split_clips(X.shape[0], rng)
        train_set = _UnitBatches(
            self, X, train, meta, batch_size=self.batch_size,
            units_per_clip=self.windows_per_clip, rng=rng, shuffle=True, training=True)
        split = None
        if valid.size:  # all windows of the held-out clips, in order
            split = predefined_split(_UnitBatches(
                self, X, valid, meta, batch_size=self.batch_size, units_per_clip=None,
                rng=rng, shuffle=False, training=False))
        net = self._build_net(split)
        net.fit(train_set, None)
        net.train_split = None  # the split holds the training data: don't keep it
        return net

    def _split_clips(self, n_clips, rng):
        """Training and validation clip indices (validation: whole clips, seeded)."""
        n_valid = int(np.ceil((self.validation_fraction or 0) * n_clips))
        if n_valid >= n_clips:
            n_valid = 0
        order = rng.permutation(n_clips)
        return np.sort(order[n_valid:]), np.sort(order[:n_valid])

    def _build_net(self, train_split):
        return make_batch_net(_DetectorNet, self, module=self._build_module(),
                              criterion=self._build_criterion(), train_split=train_split)

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

    def _batch_for(self, X, clips, units, meta, training):
        """Gather the units ``X[clips, units]`` and their metadata into a batch."""
        unit_meta = {name: values[clips] for name, values in meta.items()}
        return self._make_batch(self._gather(X, clips, units), unit_meta, training)

    # -------------------------------------------------------------- scoring
    @ragged_scores
    def frame_scores(self, X, **metadata):
        """Anomaly score of every window of every clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_windows, n_features) or (n_samples, n_features)
            Windows of the clips to score.
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata for detectors that use it.

        Returns
        -------
        frame_scores : list of n_clips ndarray of shape (n_windows,), dtype float64
            Window scores (for the autoencoder the reconstruction MSE), higher = more
            anomalous.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._frame_scores(X, self._check_metadata(metadata, X.shape[0], False))

    def _frame_scores(self, X, meta):
        n_units = self._n_units(X)
        clips_per_batch = max(1, SCORE_UNITS // n_units)
        self.net_.criterion_.train(False)
        scores = []
        with torch.inference_mode():
            for c0 in range(0, X.shape[0], clips_per_batch):
                clips = np.arange(c0, min(c0 + clips_per_batch, X.shape[0]))
                c, u = np.repeat(clips, n_units), np.tile(np.arange(n_units), len(clips))
                Xi, yi = self._batch_for(X, c, u, meta, training=False)
                y_pred = self.net_.evaluation_step((Xi, yi), training=False)
                s = self._unit_scores(y_pred, to_tensor(yi, device=self.net_.device))
                scores.extend(s.double().cpu().numpy().reshape(len(clips), n_units))
        return scores

    def _aggregate(self, frames):
        cap = getattr(self, "frame_score_mean_", 0.0) + 3 * getattr(
            self, "frame_score_std_", 0.0)
        return aggregate(frames, self.aggregation, self.agg_window, cap)

    @ragged_scores
    def anomaly_score(self, X, **metadata):
        """Per-clip anomaly score, higher = more anomalous (DCASE result files).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_windows, n_features) or (n_samples, n_features)
            Windows of the clips to score.
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata for detectors that use it.

        Returns
        -------
        scores : ndarray of shape (n_clips,), dtype float64
            ``frame_scores`` aggregated per clip by ``aggregation``.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._clip_scores(X, self._check_metadata(metadata, X.shape[0], False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


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
