"""The training and threshold core of the skorch-trained detectors.

:class:`BaseSkorchDetector` validates input, samples training units (windows,
excerpts) from clips, hands skorch whole batches, seeds the run and fits the
decision threshold to the training clips' scores. How
units are cut from a clip and how a clip's score is made are the subclass's:
:class:`~sklasd.detectors._windows.BaseNeuralDetector` scores units and aggregates them
per clip (the frame-based detectors), ``WaveNetPredictor`` scores excerpts its own
way.
"""
import contextlib
import numbers
import warnings

import numpy as np
import torch
from skorch import NeuralNet
from skorch.helper import predefined_split
from skorch.utils import to_tensor
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from sklasd._ragged import ragged_fit, ragged_scores
from sklasd._skorch import SkorchEstimatorMixin, batch_bounds, make_batch_net, seeded
from sklasd.base import AnomalyDetectorMixin

from ..utils._sklearn_compat import Interval, StrOptions

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


class BaseSkorchDetector(AnomalyDetectorMixin, SkorchEstimatorMixin, BaseEstimator):
    """Training and threshold core of the skorch-trained detectors.

    Not used directly. ``fit`` validates ``X`` (``_validate_X``), trains the
    network (``_build_module``) on units drawn from the clips (``_n_units``,
    ``_gather``, ``_make_batch``) and fits the threshold to
    ``_fit_clip_scores``; ``anomaly_score`` returns ``_clip_scores`` and
    ``frame_scores`` returns ``_frame_scores`` of validated input.

    Parameters
    ----------
    max_epochs : int, default=100
        Training epochs.
    lr : float, default=1e-3
        Learning rate of ``optimizer``.
    batch_size : int, default=512
        Training units (windows, excerpts) per batch.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Optimizer class; skorch builds it with ``lr``.
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks (early stopping, LR schedules, checkpoints). They are
        deep-copied at fit, so the given objects are not changed.
    validation_fraction : float in [0, 1) or None, default=0.1
        Fraction of the training clips held out for skorch's ``valid_loss``; ``None``
        or 0 trains on everything.
    windows_per_clip : int or None, default=None
        Training units drawn from every clip, without replacement, afresh at every
        epoch; ``None`` uses all units every epoch.
    threshold_quantile : float in (0, 1), default=0.9
        Quantile of the gamma distribution fitted to the training clip scores that
        becomes ``threshold_``.
    device : str, default="cpu"
        torch device for training and scoring (``"cuda"`` when asked).
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of the scoring forward passes (training is float32 either
        way): ``"bfloat16"`` runs them under ``torch.autocast`` in bfloat16, about
        twice as fast on CPUs with native bfloat16 (AVX512-BF16, AMX) and on
        recent GPUs, and changes scores slightly (see the detector's Notes); where
        the device lacks it, a warning says so and scoring stays float32.
    random_state : int, RandomState instance or None, default=None
        Seeds torch (weights, dropout) and the unit sampler. Two fits with the same
        integer seed on CPU give identical scores.
    verbose : int, default=0
        0 is silent; 1 shows skorch's per-epoch progress bar and epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained skorch net (``net_.module_`` is the torch module,
        ``net_.history`` the epoch table).
    threshold_ : float
        Clip score above which a clip is anomalous.
    offset_ : float
        ``-threshold_``, so that ``decision_function = score_samples - offset_``.

    Notes
    -----
    Subclass extension points (all private):

    - ``_validate_X(X, reset)``, ``_n_units(X)``, ``_gather(X, clips, units)``
      (required): input layout and unit extraction.
    - ``_frame_scores(X, meta)``, ``_clip_scores(X, meta)``,
      ``_fit_clip_scores(X, meta)`` (required): per-unit scores, per-clip scores of
      validated input, and those of the training clips after training (storing
      what scoring needs).
    - ``_unit_maps(X, meta)`` (required): the per-cell errors of validated input,
      an array of its shape, behind ``anomaly_map``.
    - ``_build_module()`` (required): the torch module; what ``_validate_X`` and
      ``_check_metadata`` stored at fit is available.
    - ``_build_criterion()``: per-unit loss module returning shape ``(batch,)``;
      training minimizes its batch mean. Default :class:`WindowMSE`.
    - ``_make_batch(units, metadata, training)``: ``(Xi, yi)`` for skorch from a
      float32 unit batch and the per-unit metadata; ``Xi`` may be a dict, passed to
      the module's ``forward`` as keyword arguments. Default ``(units, units)``.
    - ``_check_metadata(metadata, n_clips, reset)``: validate metadata passed to
      ``fit`` / ``anomaly_score`` ... and return a dict of per-clip arrays. Default
      ignores it.
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
        "threshold_quantile": [Interval(numbers.Real, 0, 1, closed="neither")],
        "device": [str, torch.device],
        "precision": [StrOptions({"float32", "bfloat16"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, *, max_epochs=100, lr=1e-3, batch_size=512,
                 optimizer=torch.optim.Adam, callbacks=None, validation_fraction=0.1,
                 windows_per_clip=None, threshold_quantile=0.9, device="cpu",
                 precision="float32", random_state=None, verbose=0):
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.validation_fraction = validation_fraction
        self.windows_per_clip = windows_per_clip
        self.threshold_quantile = threshold_quantile
        self.device = device
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- hooks
    def _build_module(self):
        raise NotImplementedError

    def _build_criterion(self):
        return WindowMSE()

    def _make_batch(self, windows, metadata, training):
        windows = torch.from_numpy(windows)
        return windows, windows

    def _check_metadata(self, metadata, n_clips, reset):
        return {}

    def _default_callbacks(self):
        return []

    def _net_params(self):
        return {}

    # ------------------------------------------------------------- training
    @ragged_fit
    def fit(self, X, y=None, **metadata):
        """Train on units (windows, excerpts) of normal clips and fit the threshold.

        Parameters
        ----------
        X : array-like
            Normal clips in the detector's input layout: windows
            ``(n_clips, n_windows, n_features)`` (``FrameStacker`` output) or
            spectrograms ``(n_clips, n_mels, n_frames)``; a 2-D array is one row per
            clip. float32 (float64 is converted batch by batch).
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
            Wrong rank, NaN or infinite values (naming the clip), fewer than 2 units.
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

    def _batch_for(self, X, clips, units, meta, training):
        """Gather the units ``X[clips, units]`` and their metadata into a batch."""
        unit_meta = {name: values[clips] for name, values in meta.items()}
        return self._make_batch(self._gather(X, clips, units), unit_meta, training)

    # -------------------------------------------------------------- scoring
    def _scoring(self):
        """The context of every scoring forward pass: inference mode, plus bfloat16
        autocast with ``precision="bfloat16"`` where the device has bfloat16."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.inference_mode())
        device_type = torch.device(self.device).type
        if self.precision == "bfloat16" and _has_bfloat16(device_type):
            stack.enter_context(torch.autocast(device_type, dtype=torch.bfloat16))
        return stack

    @ragged_scores
    def frame_scores(self, X, **metadata):
        """Anomaly score of every unit (window, predicted frame) of every clip.

        Parameters
        ----------
        X : array-like
            Clips in the detector's input layout (windows
            ``(n_clips, n_windows, n_features)``, spectrograms
            ``(n_clips, n_mels, n_frames)``, or a 2-D array, one row per clip).
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata for detectors that use it.

        Returns
        -------
        frame_scores : list of n_clips ndarray of shape (n_units,), dtype float64
            Unit scores (for the autoencoder the reconstruction MSE of each window,
            for the WaveNet the prediction error of each frame), higher = more
            anomalous.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._frame_scores(X, self._check_metadata(metadata, X.shape[0], False))

    @ragged_scores
    def anomaly_score(self, X, **metadata):
        """Per-clip anomaly score, higher = more anomalous (DCASE result files).

        Parameters
        ----------
        X : array-like
            Clips in the detector's input layout (as for :meth:`frame_scores`).
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata for detectors that use it.

        Returns
        -------
        scores : ndarray of shape (n_clips,), dtype float64
            The detector's clip score (see its Notes).

        Raises
        ------
        ValueError
            Wrong rank or feature count, NaN or infinite values, or metadata the
            detector cannot use.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._clip_scores(X, self._check_metadata(metadata, X.shape[0], False))

    def _clip_maps(self, X, **metadata):
        """Per-cell errors of validated ``X`` (``_unit_maps``), each of its clip's shape."""
        clip_shape = np.shape(X)[1:]
        X = self._validate_X(X, reset=False)
        maps = self._unit_maps(X, self._check_metadata(metadata, X.shape[0], False))
        return np.reshape(maps, (X.shape[0], *clip_shape))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


def _has_bfloat16(device_type):
    """Whether ``device_type`` computes in bfloat16 natively; warns where it does not."""
    try:
        if device_type == "cpu":
            native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
        else:
            native = torch.cuda.is_bf16_supported() if device_type == "cuda" else True
    except (AttributeError, RuntimeError):  # a torch without the check
        native = False
    if not native:
        warnings.warn(f"precision='bfloat16': the {device_type} device has no native "
                      "bfloat16 arithmetic (it would be slower); scoring in float32",
                      stacklevel=4)
    return native
