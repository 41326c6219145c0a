"""Heteroskedastic variational autoencoder (Daniluk et al., DCASE 2020 Task 2, section 2)."""
import numbers

import torch

from ._windows import BaseNeuralDetector
from ._layers import dense_blocks, positive
from ..utils._sklearn_compat import Interval


def weighted_mse(x_hat, precision, X):
    """Per-unit precision-weighted MSE, ``mean_i precision_i * (x_i - x_hat_i) ** 2``.

    Parameters
    ----------
    x_hat, precision, X : torch.Tensor of shape (batch, n_features)
        Reconstruction, its per-feature precision (positive) and the input.

    Returns
    -------
    wmse : torch.Tensor of shape (batch,)

    Examples
    --------
    >>> import torch
    >>> from sklasd.detectors.hvae import weighted_mse
    >>> weighted_mse(torch.zeros(1, 2), torch.tensor([[1.0, 4.0]]), torch.ones(1, 2))
    tensor([2.5000])
    """
    return (precision * (X - x_hat).square()).mean(dim=1)


def gaussian_kl(mu, sigma):
    """Per-unit ``KL(N(mu, diag(sigma ** 2)) || N(0, I))``, summed over latent dimensions.

    Parameters
    ----------
    mu, sigma : torch.Tensor of shape (batch, latent_dim)
        Mean and standard deviation (positive) of the approximate posterior.

    Returns
    -------
    kl : torch.Tensor of shape (batch,)
        ``0.5 * sum_k (sigma_k ** 2 + mu_k ** 2 - 1 - 2 log sigma_k)``.

    Examples
    --------
    >>> import torch
    >>> from sklasd.detectors.hvae import gaussian_kl
    >>> gaussian_kl(torch.zeros(1, 3), torch.ones(1, 3))
    tensor([0.])
    """
    return 0.5 * (sigma.square() + mu.square() - 1 - 2 * sigma.log()).sum(dim=1)


class HeteroskedasticLoss(torch.nn.Module):
    """Per-unit HVAE loss: ``KL + beta * (n * wMSE - sum_i log precision_i)``.

    Parameters
    ----------
    beta : float, default=1.0
        Weight of the reconstruction likelihood against the KL term.

    Notes
    -----
    ``forward(y_pred, X)`` takes the module output ``y_pred = (x_hat, precision,
    mu, sigma)`` and returns shape ``(batch,)``. ``n * wMSE = sum_i precision_i *
    (x_i - x_hat_i) ** 2``, so the bracket is twice the negative log-likelihood of
    ``X`` under ``N(x_hat, diag(1 / precision))`` up to a constant.
    """

    def __init__(self, beta=1.0):
        super().__init__()
        self.beta = beta

    def forward(self, y_pred, X):
        x_hat, precision, mu, sigma = y_pred
        nll = X.shape[1] * weighted_mse(x_hat, precision, X) - precision.log().sum(dim=1)
        return gaussian_kl(mu, sigma) + self.beta * nll


class _HVAEModule(torch.nn.Module):
    """Encoder to ``(mu, sigma)``, decoder to ``(x_hat, precision)``."""

    def __init__(self, n_features, hidden_layer_sizes, latent_dim, big_precision,
                 dropout):
        super().__init__()
        body, n = dense_blocks(n_features, hidden_layer_sizes, activation=torch.nn.ELU,
                               dropout=dropout)
        self.encoder = torch.nn.Sequential(body, torch.nn.Linear(n, 2 * latent_dim))

        def decoder(n_out):
            body, n = dense_blocks(latent_dim, hidden_layer_sizes[::-1],
                                   activation=torch.nn.ELU, dropout=dropout)
            return torch.nn.Sequential(body, torch.nn.Linear(n, n_out))

        # Big Precision: a second decoder for the precision; else a doubled output
        self.decoder = decoder(n_features if big_precision else 2 * n_features)
        self.precision_decoder = decoder(n_features) if big_precision else None

    def forward(self, X):
        mu, s = self.encoder(X).chunk(2, dim=1)
        sigma = positive(s)
        # the posterior mean at scoring time: deterministic scores
        z = mu + sigma * torch.randn_like(mu) if self.training else mu
        if self.precision_decoder is None:
            x_hat, p = self.decoder(z).chunk(2, dim=1)
        else:
            x_hat, p = self.decoder(z), self.precision_decoder(z)
        return x_hat, positive(p), mu, sigma


class HVAEDetector(BaseNeuralDetector):
    """Heteroskedastic variational autoencoder on windows of stacked log-mel frames.

    A VAE whose decoder outputs, besides the reconstruction ``x_hat``, a positive
    per-feature precision ``precision`` (the paper's sigma-hat), so that the
    reconstruction error is weighted by the model's own confidence. The anomaly
    score of a window is its precision-weighted MSE (wMSE); a clip's score
    aggregates its windows' scores (``aggregation``).

    Parameters
    ----------
    hidden_layer_sizes : tuple of int, default=(640, 512, 256)
        Encoder hidden layer widths; the decoder (and the precision decoder) mirror
        them.
    latent_dim : int, default=16
        Dimension ``k`` of the latent space.
    beta : float, default=1.0
        Weight of the likelihood term against the KL term (eq. 2).
    big_precision : bool, default=True
        ``True``: the precision comes from a separate decoder of the same
        architecture ("Big Precision"); ``False``: from a doubled output layer of
        the decoder.
    dropout : float in [0, 1), default=0.1
        Dropout rate after every hidden layer.
    max_epochs : int, default=200
        Training epochs.
    lr : float, default=1e-3
        Learning rate of ``optimizer``.
    batch_size : int, default=512
        Training windows per batch.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Optimizer class.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks (``EarlyStopping``, ``LRScheduler``, ...).
    validation_fraction : float or None, default=None
        Fraction of training clips held out for skorch's ``valid_loss``; the paper
        trains on all clips.
    windows_per_clip : int or None, default=None
        Windows drawn per clip afresh each epoch; ``None`` uses all.
    aggregation : {"mean", "median", "max", "winmed", "meancap"}, default="mean"
        Clip score from window scores.
    agg_window : int, default=94
        Windows per median window of ``"winmed"`` (94 frames = 3 s at hop 512).
    threshold_quantile : float, default=0.9
        Gamma quantile of the training clip scores used as ``threshold_``.
    device : str, default="cpu"
        torch device.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of scoring: ``"bfloat16"`` autocasts the scoring forward passes
        (faster where the hardware has bfloat16; training stays float32).
    random_state : int, RandomState instance or None, default=None
        Seeds weights, dropout, latent sampling and window sampling.
    verbose : int, default=0
        1 shows a progress bar and the epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        Trained net; ``net_.module_`` has ``encoder``, ``decoder`` and
        ``precision_decoder`` (``None`` without Big Precision); ``net_.history``
        holds ``train_loss`` per epoch.
    n_features_in_ : int
        Features per window (``n_frames * n_mels``).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a 2-D DataFrame given to ``fit``.
    frame_score_mean_, frame_score_std_ : float
        Mean and standard deviation of the training window scores.
    threshold_ : float
        Clip score above which a clip is predicted anomalous.
    offset_ : float
        ``-threshold_``.

    See Also
    --------
    AutoencoderDetector : the plain (homoskedastic, deterministic) autoencoder.
    sklasd.features.FrameStacker : Produces the window layout.

    Notes
    -----
    The encoder maps a window ``x`` (``n`` features) to ``mu`` and
    ``sigma = softplus(s) + 1e-6`` (``k`` each, from one output layer of ``2k``
    units); training decodes ``z = mu + sigma * eps``, ``eps ~ N(0, I)``, scoring
    decodes ``z = mu``. The decoder returns ``x_hat`` and
    ``precision = softplus(p) + 1e-6`` (softplus keeps it positive, the floor keeps
    ``log precision`` finite). Per window:

    - ``wMSE(x, x_hat, precision) = (1/n) sum_i precision_i (x_i - x_hat_i) ** 2``:
      the precision multiplies the squared error of its feature (it is an inverse
      variance, not a standard deviation);
    - ``KL = 0.5 sum_k (sigma_k ** 2 + mu_k ** 2 - 1 - 2 log sigma_k)``;
    - loss ``= KL + beta * (n * wMSE - sum_i log precision_i)``, the batch mean of
      which is minimized.

    The paper's eq. 2 writes ``wMSE - sum_i log sigma_hat_i``; the squared errors
    are summed here (``n * wMSE``) like the log-precisions, which makes the bracket
    twice the Gaussian negative log-likelihood (eq. 1), so that the optimal
    ``precision_i`` is ``1 / (x_i - x_hat_i) ** 2``, a true precision. With a mean
    in the loss the optimum would be ``n`` times that: the same model up to that
    rescaling. The window score is ``wMSE`` (eval mode: no dropout, ``z = mu``);
    ``anomaly_map`` gives each window's ``precision_i (x_i - x_hat_i) ** 2``.

    Defaults: the paper's log-mel models (Table 1) use 5 stacked frames (as the
    DCASE 2020 baseline: ``FrameStacker(n_frames=5)``), hidden layers
    ``[640, 512, 256]``, ``k = 16``, ``beta = 1``, mostly Big Precision and
    100-500 epochs (200 is the median). Its averaging is chosen per machine type:
    ``winmed`` (ToyCar), ``median`` / ``meancap`` (fan), ``mean`` (slider, valve).
    The learning rate, optimizer and batch size are not given; Adam at 1e-3 with
    batches of 512 windows are this package's defaults. The denoising U-Net and
    OpenL3 inputs of section 2.2 are not part of this estimator.

    References
    ----------
    .. [1] P. Daniluk, M. Gozdziewski, S. Kapka, M. Kosmider, "Ensemble of
       auto-encoder based and WaveNet like systems for unsupervised anomaly
       detection", DCASE 2020 Task 2 technical report, sections 2.1 (model, eqs. 1-2)
       and 2.3 (architecture, Table 1) (Daniluk et al., DCASE 2020 Task 2).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.detectors.hvae import HVAEDetector
    >>> X = np.random.default_rng(0).normal(size=(20, 30, 10)).astype(np.float32)
    >>> hvae = HVAEDetector(hidden_layer_sizes=(16,), latent_dim=2, max_epochs=2,
    ...                     random_state=0).fit(X)
    >>> hvae.anomaly_score(X).shape
    (20,)
    >>> bool(hvae.anomaly_score(X + 10).min() > hvae.anomaly_score(X).max())
    True
    """

    _parameter_constraints = {
        **BaseNeuralDetector._parameter_constraints,
        "hidden_layer_sizes": [tuple, list],
        "latent_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "beta": [Interval(numbers.Real, 0, None, closed="neither")],
        "big_precision": ["boolean"],
        "dropout": [Interval(numbers.Real, 0, 1, closed="left")],
    }

    def __init__(self, hidden_layer_sizes=(640, 512, 256), latent_dim=16, beta=1.0,
                 big_precision=True, dropout=0.1, *, max_epochs=200, lr=1e-3,
                 batch_size=512, optimizer=torch.optim.Adam, callbacks=None,
                 validation_fraction=None, windows_per_clip=None, aggregation="mean",
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
        self.latent_dim = latent_dim
        self.beta = beta
        self.big_precision = big_precision
        self.dropout = dropout

    def _build_module(self):
        return _HVAEModule(self.n_features_in_, tuple(self.hidden_layer_sizes),
                           self.latent_dim, self.big_precision, self.dropout)

    def _build_criterion(self):
        return HeteroskedasticLoss(self.beta)

    def _unit_scores(self, y_pred, y_true):
        x_hat, precision, _, _ = y_pred
        return weighted_mse(x_hat, precision, y_true)

    def _unit_errors(self, y_pred, y_true):
        x_hat, precision, _, _ = y_pred
        return precision * (y_true - x_hat).square()
