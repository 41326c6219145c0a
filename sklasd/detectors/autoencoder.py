"""Dense autoencoder on stacked log-mel frames (ToyADMOS / DCASE 2020 Task 2 baseline)."""
import numbers

import numpy as np
import torch
from sklearn.covariance import EmpiricalCovariance

from ._windows import BaseNeuralDetector
from ._layers import dense_blocks
from ..utils._sklearn_compat import Interval, StrOptions

# Windows per forward pass when computing reconstruction-error vectors.
_ERROR_BATCH = 8192

_ACTIVATIONS = {
    "relu": torch.nn.ReLU,
    "elu": torch.nn.ELU,
    "leaky_relu": torch.nn.LeakyReLU,
    "tanh": torch.nn.Tanh,
    "sigmoid": torch.nn.Sigmoid,
}


def _dense_autoencoder(n_features, hidden_layer_sizes, bottleneck, activation, batch_norm):
    """``Dense -> [BatchNorm] -> activation`` blocks, mirrored, then a linear output."""
    sizes = [*hidden_layer_sizes, bottleneck, *reversed(hidden_layer_sizes)]
    # Keras' BatchNormalization defaults: momentum 0.99, eps 1e-3
    norm = {"eps": 1e-3, "momentum": 0.01} if batch_norm else False
    blocks, n_in = dense_blocks(n_features, sizes, activation=_ACTIVATIONS[activation],
                                batch_norm=norm)
    module = torch.nn.Sequential(*blocks, torch.nn.Linear(n_in, n_features))
    for layer in module:  # Keras' Dense init: Glorot uniform weights, zero biases
        if isinstance(layer, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(layer.weight)
            torch.nn.init.zeros_(layer.bias)
    return module


class AutoencoderDetector(BaseNeuralDetector):
    """Dense autoencoder anomaly detector on windows of stacked log-mel frames.

    The autoencoder is trained to reconstruct the windows of normal clips; the
    anomaly score of a window is its reconstruction mean squared error and a clip's
    score aggregates its windows' scores (``aggregation``). The defaults reproduce the
    DCASE 2020 Task 2 baseline with ``LogMelTransformer(n_mels=64)`` and
    ``FrameStacker(n_frames=5)`` in front (320 inputs).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(128, 128, 128, 128)
        Encoder layer widths; the decoder mirrors them.
    bottleneck : int, default=8
        Width of the code layer between encoder and decoder.
    activation : {"relu", "elu", "leaky_relu", "tanh", "sigmoid"}, default="relu"
        Activation after every layer but the output.
    batch_norm : bool, default=True
        Batch normalization between every layer (but the output) and its activation.
    score_mode : {"mse", "selective_mahalanobis"}, default="mse"
        Window score: the reconstruction mean squared error, or the DCASE 2023-2025
        baseline's "selective Mahalanobis" mode (Notes), which takes ``domain``
        metadata at fit.
    max_epochs : int, default=100
        Training epochs.
    lr : float, default=1e-3
        Learning rate.
    batch_size : int, default=512
        Training windows per batch.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Optimizer class.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks (``EarlyStopping``, ``LRScheduler``, ...).
    validation_fraction : float or None, default=0.1
        Fraction of training clips held out for skorch's ``valid_loss``.
    windows_per_clip : int or None, default=None
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
        Seeds weights and window sampling.
    verbose : int, default=0
        1 shows a progress bar and the epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        Trained net; ``net_.module_`` is the ``torch.nn.Sequential`` autoencoder and
        ``net_.history`` holds ``train_loss`` / ``valid_loss`` per epoch.
    n_features_in_ : int
        Features per window (``n_frames * n_mels``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a 2-D DataFrame given to ``fit``.
    frame_score_mean_, frame_score_std_ : float
        Mean and standard deviation of the training window scores.
    error_precisions_ : ndarray of shape (n_domains, n_features_in_, n_features_in_)
        ``score_mode="selective_mahalanobis"`` only: inverse covariance of the
        training windows' reconstruction-error vectors, per domain of
        ``error_domains_``.
    error_domains_ : ndarray of shape (n_domains,)
        The sorted domains seen at fit (``array([None])`` without ``domain``).
    threshold_ : float
        Clip score above which a clip is predicted anomalous.
    offset_ : float
        ``-threshold_``.

    See Also
    --------
    sklasd.features.FrameStacker : Produces the window layout.
    sklasd.pipeline.make_pipeline : Chains features and detector.

    Notes
    -----
    Window score: ``e(x) = mean_j (x_j - AE(x)_j) ** 2`` over the ``n_features``
    inputs, also the training loss (its batch mean). The clip score with the default
    ``aggregation="mean"`` is ``mean_t e(x_t)`` over the clip's windows, as the
    baseline computes it; the ToyADMOS paper flags a clip when any frame exceeds the
    threshold, i.e. ``aggregation="max"``. ``anomaly_map`` gives each window's
    squared errors ``(x_j - AE(x)_j) ** 2`` (in both score modes).

    The module follows the Keras baseline: Glorot-uniform weights and zero biases,
    batch normalization with Keras' momentum (0.99, torch ``momentum=0.01``) and
    epsilon (1e-3). Keras' ``validation_split=0.1`` holds out the last 10 % of the
    window array, i.e. the windows of the last clips; here 10 % of the clips are
    held out at random (seeded).

    Selective Mahalanobis (``score_mode="selective_mahalanobis"``), the second
    scoring mode of the DCASE 2023-2025 Task 2 baselines: after training, the
    reconstruction-error vectors ``e = x - AE(x)`` of all training windows give one
    covariance ``Sigma_d`` per domain ``d`` (from ``fit(X, domain=...)``; one
    covariance without it). A window's score against ``d`` is ``e^T Sigma_d^-1 e``
    (``e`` not centred, as in the baseline), a clip's score against ``d`` is the
    ``aggregation`` of its windows' scores, and the clip score is the smaller
    over the domains, so a clip needs no domain at scoring time. ``domain`` is
    requested for ``fit`` under metadata routing (ignored by the ``"mse"`` mode).
    The precision is a pseudo-inverse where the covariance is singular.

    Parameter settings of the published systems:

    - DCASE 2020 Task 2 baseline: the defaults, with 64 mels x 5 frames.
    - DCASE 2021-2024 baselines: the defaults with 128 mels x 5 frames (640 inputs).
    - ToyADMOS paper: 64 mels x 21 frames, ``hidden_layer_sizes=(512,) * 4``,
      ``bottleneck=128``, ``batch_norm=False``, ``lr=1e-4`` for 100 epochs then a
      linear decay to 1e-6 by epoch 200 (an ``LRScheduler`` callback),
      ``aggregation="max"``; see ``examples/toyadmos_autoencoder.py``.

    References
    ----------
    .. [1] Y. Koizumi et al., "ToyADMOS: A dataset of miniature-machine operating
       sounds for anomalous sound detection", WASPAA 2019, section 4
       (Koizumi et al., WASPAA 2019).
    .. [2] DCASE 2020 Task 2 baseline, ``keras_model.py`` and ``baseline.yaml``,
       https://github.com/y-kawaguchi/dcase2020_task2_baseline
    .. [3] N. Harada, D. Niizumi, Y. Ohishi, D. Takeuchi, M. Yasuda, "First-shot
       anomaly detection for machine condition monitoring: a domain
       generalization baseline", EUSIPCO 2023, section 3 (selective Mahalanobis);
       code https://github.com/nttcslab/dcase2023_task2_baseline_ae

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.detectors import AutoencoderDetector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(20, 30, 10)).astype(np.float32)  # 20 clips, 30 windows
    >>> ae = AutoencoderDetector(hidden_layer_sizes=(16,), bottleneck=4, max_epochs=2,
    ...                          random_state=0).fit(X)
    >>> ae.anomaly_score(X).shape
    (20,)
    >>> ae.predict(X + 10).tolist()[:3]
    [-1, -1, -1]
    """

    _parameter_constraints = {
        **BaseNeuralDetector._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
        "bottleneck": [Interval(numbers.Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(_ACTIVATIONS))],
        "batch_norm": ["boolean"],
        "score_mode": [StrOptions({"mse", "selective_mahalanobis"})],
    }
    __metadata_request__fit = {"domain": True}

    def __init__(self, hidden_layer_sizes=(128, 128, 128, 128), bottleneck=8,
                 activation="relu", batch_norm=True, score_mode="mse", *, max_epochs=100,
                 lr=1e-3,
                 batch_size=512, optimizer=torch.optim.Adam, callbacks=None,
                 validation_fraction=0.1, windows_per_clip=None, aggregation="mean",
                 agg_window=94, threshold_quantile=0.9, device="cpu", precision="float32",
                 random_state=None, verbose=0):
        super().__init__(
            max_epochs=max_epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
            callbacks=callbacks, validation_fraction=validation_fraction,
            windows_per_clip=windows_per_clip, aggregation=aggregation,
            agg_window=agg_window, threshold_quantile=threshold_quantile,
            device=device, precision=precision, random_state=random_state,
            verbose=verbose,
        )
        self.hidden_layer_sizes = hidden_layer_sizes
        self.bottleneck = bottleneck
        self.activation = activation
        self.batch_norm = batch_norm
        self.score_mode = score_mode

    def _build_module(self):
        return _dense_autoencoder(self.n_features_in_, self.hidden_layer_sizes,
                                  self.bottleneck, self.activation, self.batch_norm)

    # --------------------------------------------------- selective Mahalanobis
    def _check_metadata(self, metadata, n_clips, reset):
        domain = metadata.get("domain")
        if not reset or domain is None:
            return {}
        domain = np.asarray(domain)
        if domain.shape != (n_clips,):
            raise ValueError(f"domain must hold one label per clip, shape ({n_clips},); "
                             f"got shape {domain.shape}.")
        return {"domain": domain}

    def _error_vectors(self, X):
        """Reconstruction errors ``x - AE(x)`` of every window: float64, X's shape."""
        module = self.net_.module_
        module.eval()
        flat = X.reshape(-1, X.shape[-1])
        errors = np.empty(flat.shape, dtype=np.float64)
        with self._scoring():
            for start in range(0, len(flat), _ERROR_BATCH):
                w = torch.from_numpy(flat[start:start + _ERROR_BATCH].astype(np.float32))
                w = w.to(self.net_.device)
                errors[start:start + len(w)] = (w - module(w)).double().cpu().numpy()
        return errors.reshape(X.shape)

    def _mahalanobis_windows(self, errors):
        """``(n_domains, n_clips, n_windows)`` window scores ``e^T P_d e``."""
        return np.stack([((errors @ precision) * errors).sum(axis=-1)
                         for precision in self.error_precisions_])

    def _fit_clip_scores(self, X, meta):
        scores = super()._fit_clip_scores(X, meta)
        if self.score_mode == "mse":
            return scores
        errors = self._error_vectors(X)
        domain = meta.get("domain")
        if domain is None:
            self.error_domains_ = np.array([None], dtype=object)
            groups = [errors]
        else:
            self.error_domains_ = np.unique(domain)
            groups = [errors[domain == d] for d in self.error_domains_]
        self.error_precisions_ = np.stack([
            EmpiricalCovariance().fit(e.reshape(-1, X.shape[-1])).precision_
            for e in groups])
        windows = self._mahalanobis_windows(errors).min(axis=0)
        self.frame_score_mean_ = float(windows.mean())
        self.frame_score_std_ = float(windows.std())
        return self._mahalanobis_clip_scores(errors)

    def _mahalanobis_clip_scores(self, errors):
        per_domain = self._mahalanobis_windows(errors)
        return np.min([self._aggregate(list(w)) for w in per_domain], axis=0)

    def _clip_scores(self, X, meta):
        if self.score_mode == "mse":
            return super()._clip_scores(X, meta)
        return self._mahalanobis_clip_scores(self._error_vectors(X))
