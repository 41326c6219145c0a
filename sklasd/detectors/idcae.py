"""ID Conditioned Auto-Encoder (Daniluk et al., DCASE 2020 Task 2, section 3)."""
import numbers
import warnings

import numpy as np
import torch
from skorch.callbacks import LRScheduler
from torch.nn import functional as F

from ._windows import BaseNeuralDetector
from ._core import WindowMSE
from ._layers import dense_blocks
from ..utils._sklearn_compat import Interval, StrOptions

# Width of the hidden layer of the conditioning networks H_gamma, H_beta (Table 2).
_CONDITIONING_UNITS = 16


class WindowMAE(torch.nn.Module):
    """Per-unit mean absolute error: ``mean(|y_pred - y_true|)`` over features."""

    def forward(self, y_pred, y_true):
        return (y_pred - y_true).abs().flatten(1).mean(dim=1)


_LOSSES = {"l1": WindowMAE, "l2": WindowMSE}


class _IDCAEModule(torch.nn.Module):
    """``D(H_gamma(l) * E(X) + H_beta(l))`` with ``l`` the one-hot machine ID."""

    def __init__(self, n_features, n_ids, encoder_layer_sizes, latent_dim,
                 decoder_layer_sizes):
        super().__init__()
        self.n_ids = n_ids
        self.encoder, _ = dense_blocks(n_features, [*encoder_layer_sizes, latent_dim],
                                       batch_norm=True)
        body, n = dense_blocks(latent_dim, decoder_layer_sizes, batch_norm=True)
        self.decoder = torch.nn.Sequential(body, torch.nn.Linear(n, n_features))
        self.h_gamma, self.h_beta = (
            torch.nn.Sequential(torch.nn.Linear(n_ids, _CONDITIONING_UNITS),
                                torch.nn.Sigmoid(),
                                torch.nn.Linear(_CONDITIONING_UNITS, latent_dim))
            for _ in range(2)
        )

    def forward(self, X, label):
        onehot = F.one_hot(label, self.n_ids).to(X.dtype)
        return self.decoder(self.h_gamma(onehot) * self.encoder(X) + self.h_beta(onehot))


class IDConditionedAE(BaseNeuralDetector):
    """ID Conditioned Auto-Encoder (IDCAE): an autoencoder conditioned on the machine ID.

    The code of a window is modulated by the clip's machine ID before decoding.
    Trained to reconstruct a window under its own ID and to output the constant
    ``nonmatch_target`` under another ID, it flags a clip that reconstructs poorly
    or sounds like a different machine. The window score is the reconstruction
    error under the clip's own ID; a clip's score aggregates its windows' scores.

    Parameters
    ----------
    alpha : float in (0, 1], default=0.75
        Probability that a training window is conditioned on its own machine ID;
        otherwise on a uniformly drawn other ID, with target ``nonmatch_target``.
    nonmatch_target : float, default=5.0
        The constant ``C`` every feature of a non-matching window is trained to.
    loss : {"l1", "l2"}, default="l1"
        Per-window error: mean absolute error or mean squared error over features.
        Also the anomaly score of a window.
    encoder_layer_sizes : tuple of int, default=(128, 64, 32)
        Widths of the encoder's hidden dense blocks.
    latent_dim : int, default=16
        Width of the code (the encoder's last dense block).
    decoder_layer_sizes : tuple of int, default=(128, 128, 128, 128)
        Widths of the decoder's dense blocks, before its linear output layer.
    lr_decay : float in (0, 1], default=0.95
        Factor the learning rate is multiplied by every ``lr_decay_epochs`` epochs
        (a skorch ``LRScheduler`` callback named ``"lr_decay"``); 1 disables it.
    lr_decay_epochs : int, default=5
        Epochs between learning-rate decays.
    max_epochs : int, default=100
        Training epochs.
    lr : float, default=1e-3
        Learning rate of ``optimizer`` (Adam's default).
    batch_size : int, default=512
        Training windows per batch.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Optimizer class.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks, run before the ``"lr_decay"`` scheduler.
    validation_fraction : float or None, default=None
        Fraction of training clips held out for skorch's ``valid_loss`` (conditioned
        on their own IDs); the paper trains on all clips.
    windows_per_clip : int or None, default=300
        Windows drawn per clip afresh each epoch; ``None`` uses all.
    aggregation : {"mean", "median", "max", "winmed", "meancap"}, default="mean"
        Clip score from window scores.
    agg_window : int, default=94
        Windows per median window of ``"winmed"``.
    threshold_quantile : float, default=0.9
        Gamma quantile of the training clip scores used as ``threshold_``.
    device : str, default="cpu"
        torch device.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of scoring: ``"bfloat16"`` autocasts the scoring forward passes
        (faster where the hardware has bfloat16; training stays float32).
    random_state : int, RandomState instance or None, default=None
        Seeds weights, window sampling and the choice of non-matching IDs.
    verbose : int, default=0
        1 shows a progress bar and the epoch table.

    Attributes
    ----------
    machine_ids_ : ndarray of shape (n_machine_ids,)
        The sorted machine IDs seen in ``fit``; position ``j`` is one-hot unit ``j``.
        ``array([None])`` when fitted without ``machine_id``.
    net_ : skorch.NeuralNet
        Trained net; ``net_.module_`` has ``encoder``, ``decoder``, ``h_gamma`` and
        ``h_beta``; ``net_.history`` holds ``train_loss`` per epoch.
    n_features_in_ : int
        Features per window (``F * M``: ``n_frames * n_mels``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a 2-D DataFrame given to ``fit``.
    frame_score_mean_, frame_score_std_ : float
        Mean and standard deviation of the training window scores.
    threshold_ : float
        Clip score above which a clip is predicted anomalous.
    offset_ : float
        ``-threshold_``.

    Raises
    ------
    ValueError
        From ``fit`` and the scoring methods: ``machine_id`` not of shape
        ``(n_clips,)``; from the scoring methods: an ID not seen in ``fit`` (the
        message names it and its clip), or no ``machine_id`` for a model fitted
        with IDs.

    See Also
    --------
    AutoencoderDetector : the unconditioned autoencoder.
    sklasd.model_selection.NormalOnlyKFold : folds that keep every ID in training.

    Notes
    -----
    Model (Table 2): encoder ``E`` = dense blocks 128, 64, 32 and the latent block
    16, decoder ``D`` = 4 dense blocks of 128 and a linear dense layer of ``F * M``
    units, a dense block being Dense, BatchNorm, ReLU; ``H_gamma`` and ``H_beta``
    are each Dense 16, sigmoid, Dense ``latent_dim`` on the one-hot ID ``l``. The
    output is ``D(H_gamma(l) * E(x) + H_beta(l))``.

    Training: each window keeps its own ID with probability ``alpha``; otherwise
    ``l`` is one of the other fitted IDs, uniformly, and the target becomes the
    constant vector ``C`` (``nonmatch_target``). The per-window loss is
    ``mean_i |out_i - t_i|`` (``"l1"``) or ``mean_i (out_i - t_i) ** 2``
    (``"l2"``), with ``t = x`` for a matching ID and ``t = C`` otherwise (the
    paper's L1 and squared L2 norms, divided by the number of features). With a
    single machine ID every window matches. Scoring conditions every window on its
    clip's own ID and scores ``t = x``; ``anomaly_map`` gives each window's
    ``|out_i - x_i|`` (``"l1"``) or ``(out_i - x_i) ** 2`` (``"l2"``).

    Defaults are the paper's first submission (section 3.3): ``alpha = 0.75``,
    ``C = 5``, mean absolute error, Adam, 100 epochs, the learning rate times 0.95
    every 5 epochs, 300 random windows per clip per epoch. Its input is ``F = 10``
    frames of ``M = 128`` log-mel bins (STFT 1024 / 512) standardized per bin:
    ``LogMelTransformer(n_fft=1024, hop_length=512, n_mels=128)``,
    ``SpectrogramScaler(per="bin")``, ``FrameStacker(n_frames=10)``. The batch size
    is not given; 512 is this package's default.

    Machine IDs: ``machine_id`` (one hashable ID per clip) is requested by default
    for ``fit``, ``decision_function``, ``predict`` and ``score`` under
    scikit-learn's metadata routing (``sklasd.pipeline.Pipeline.anomaly_score``
    routes the ``decision_function`` request), and is a plain keyword argument
    otherwise. ``score_samples`` takes it too but is not a routed method of
    scikit-learn's ``Pipeline``. Fitting without ``machine_id`` warns and treats
    all clips as one machine (an autoencoder with a constant conditioning), so the
    estimator also works as a tabular detector (scikit-learn's estimator checks);
    such a model scores without ``machine_id``. A model fitted with IDs needs them
    at scoring time.

    References
    ----------
    .. [1] P. Daniluk, M. Gozdziewski, S. Kapka, M. Kosmider, "Ensemble of
       auto-encoder based and WaveNet like systems for unsupervised anomaly
       detection", DCASE 2020 Task 2 technical report, section 3 (3.1 method, 3.2
       architecture and training, Table 2, 3.3 settings)
       (Daniluk et al., DCASE 2020 Task 2).
    .. [2] P. Oza, V. M. Patel, "C2AE: Class conditioned auto-encoder for open-set
       recognition", CVPR 2019.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.detectors.idcae import IDConditionedAE
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 30, 8)).astype(np.float32)
    >>> ids = np.repeat(["id_00", "id_02"], 10)
    >>> idcae = IDConditionedAE(max_epochs=2, windows_per_clip=10, random_state=0)
    >>> idcae.fit(X, machine_id=ids).machine_ids_.tolist()
    ['id_00', 'id_02']
    >>> idcae.anomaly_score(X[:3], machine_id=ids[:3]).shape
    (3,)
    """

    __metadata_request__fit = {"machine_id": True}
    __metadata_request__decision_function = {"machine_id": True}
    __metadata_request__predict = {"machine_id": True}
    __metadata_request__score = {"machine_id": True}

    _parameter_constraints = {
        **BaseNeuralDetector._parameter_constraints,
        "alpha": [Interval(numbers.Real, 0, 1, closed="right")],
        "nonmatch_target": [numbers.Real],
        "loss": [StrOptions(set(_LOSSES))],
        "encoder_layer_sizes": [tuple, list],
        "latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "decoder_layer_sizes": [tuple, list],
        "lr_decay": [Interval(numbers.Real, 0, 1, closed="right")],
        "lr_decay_epochs": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, alpha=0.75, nonmatch_target=5.0, loss="l1",
                 encoder_layer_sizes=(128, 64, 32), latent_dim=16,
                 decoder_layer_sizes=(128, 128, 128, 128), lr_decay=0.95,
                 lr_decay_epochs=5, *, max_epochs=100, lr=1e-3, batch_size=512,
                 optimizer=torch.optim.Adam, callbacks=None, validation_fraction=None,
                 windows_per_clip=300, aggregation="mean", agg_window=94,
                 threshold_quantile=0.9, device="cpu", precision="float32",
                 random_state=None, verbose=0):
        super().__init__(
            max_epochs=max_epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
            callbacks=callbacks, validation_fraction=validation_fraction,
            windows_per_clip=windows_per_clip, aggregation=aggregation,
            agg_window=agg_window, threshold_quantile=threshold_quantile,
            device=device, precision=precision, random_state=random_state,
            verbose=verbose,
        )
        self.alpha = alpha
        self.nonmatch_target = nonmatch_target
        self.loss = loss
        self.encoder_layer_sizes = encoder_layer_sizes
        self.latent_dim = latent_dim
        self.decoder_layer_sizes = decoder_layer_sizes
        self.lr_decay = lr_decay
        self.lr_decay_epochs = lr_decay_epochs

    # ------------------------------------------------------------ base hooks
    def _build_module(self):
        return _IDCAEModule(self.n_features_in_, len(self.machine_ids_),
                            tuple(self.encoder_layer_sizes), self.latent_dim,
                            tuple(self.decoder_layer_sizes))

    def _build_criterion(self):
        return _LOSSES[self.loss]()

    def _unit_errors(self, y_pred, y_true):
        error = (y_pred - y_true).flatten(1)
        return error.abs() if self.loss == "l1" else error.square()

    def _default_callbacks(self):
        if self.lr_decay == 1:
            return []
        return [("lr_decay", LRScheduler("StepLR", step_size=self.lr_decay_epochs,
                                         gamma=self.lr_decay))]

    def _make_batch(self, windows, metadata, training):
        X = torch.from_numpy(windows)
        label = torch.from_numpy(metadata["machine_id"])
        target = X
        n_ids = len(self.machine_ids_)
        if training and n_ids > 1:  # torch's RNG: seeded by fit
            switch = torch.rand(len(label)) >= self.alpha
            other = (label + torch.randint(1, n_ids, label.shape)) % n_ids
            label = torch.where(switch, other, label)
            target = torch.where(switch[:, None],
                                 torch.tensor(self.nonmatch_target, dtype=X.dtype), X)
        return {"X": X, "label": label}, target

    def _check_metadata(self, metadata, n_clips, reset):
        ids = metadata.get("machine_id")
        if reset:
            self.machine_ids_ = self._fit_ids(ids, n_clips)
        if ids is None and self.machine_ids_[0] is not None:
            raise ValueError(
                f"{type(self).__name__} was fitted with machine IDs "
                f"{self.machine_ids_.tolist()}: pass machine_id (one ID per clip) to "
                "score (with metadata routing enabled, a Pipeline or GridSearchCV "
                "routes it)."
            )
        if ids is None:
            return {"machine_id": np.zeros(n_clips, dtype=np.int64)}
        return {"machine_id": self._encode_ids(_check_ids(ids, n_clips))}

    # ------------------------------------------------------------ machine IDs
    def _fit_ids(self, ids, n_clips):
        if ids is None:
            warnings.warn(
                f"{type(self).__name__} fitted without machine_id: all clips are "
                "treated as one machine ID, so no window is trained on a non-matching "
                "ID. Pass machine_id=... (one ID per clip) to condition on machine "
                "IDs; with metadata routing enabled, Pipeline and GridSearchCV route "
                "it.",
                UserWarning,
            )
            return np.array([None], dtype=object)
        return np.unique(_check_ids(ids, n_clips))

    def _encode_ids(self, ids):
        return _encode_ids(ids, self.machine_ids_, type(self).__name__)


def _encode_ids(ids, known, owner):
    """Positions of ``ids`` in the fitted IDs ``known``; an unknown ID is an error."""
    index = {k: j for j, k in enumerate(known.tolist())}
    codes = np.array([index.get(i, -1) for i in ids.tolist()], dtype=np.int64)
    if (codes < 0).any():
        clip = int(np.flatnonzero(codes < 0)[0])
        raise ValueError(
            f"Unknown machine_id {ids.tolist()[clip]!r} (clip {clip}): "
            f"{owner} was fitted on machine IDs {known.tolist()}."
        )
    return codes


def _check_ids(ids, n_clips):
    """``machine_id`` as a 1-D array with one ID per clip."""
    ids = np.asarray(ids)
    if ids.shape != (n_clips,):
        raise ValueError(
            f"machine_id must hold one ID per clip, shape ({n_clips},); got shape "
            f"{ids.shape}."
        )
    return ids
