"""WaveNet-like next-frame predictor on log-mel spectrograms ("Freak", Daniluk et al.)."""
import inspect
import numbers

import numpy as np
import scipy.linalg
import torch
from torch.nn import functional as F

from ..features import SpectrogramScaler
from ._core import BaseSkorchDetector
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import check_spectrograms

SCORINGS = ("percentile", "gaussian")
# Frames per scoring forward pass (whole clips, at least one): with 640 hidden
# channels, 2048 frames keep each activation near 5 MB. Forward passes alone on 2
# cores: 8 ten-second clips per pass up to 1.2x faster than 26 (8192 frames), 64 clips
# 2x slower; end to end from wav the difference is within the noise. (Measured before
# the channels-last scoring layout; with it, on one thread, 2048 to 8192 frames are
# within 10 % of each other.)
SCORE_FRAMES = 2048
COVARIANCES = ("full", "diag", "identity")


def receptive_field(n_blocks, kernel_size):
    """Frames of input behind one prediction: ``1 + (kernel_size - 1) * (2 ** (n_blocks + 1) - 1)``.

    The residual blocks have dilations 1, 2, ..., ``2 ** (n_blocks - 1)`` and the
    output convolution ``2 ** n_blocks`` (Daniluk et al., DCASE 2020 Task 2,
    Table 5: 31 frames for 3 blocks of kernel 3).

    Examples
    --------
    >>> from sklasd.detectors.wavenet import receptive_field
    >>> receptive_field(3, 3)
    31
    """
    return 1 + (kernel_size - 1) * (2 ** (n_blocks + 1) - 1)


class _FrameNorm(torch.nn.Module):
    """GroupNorm with one group, its statistics taken over the channels of each frame.

    ``torch.nn.GroupNorm(1, C)`` on ``(batch, C, T)`` would pool the statistics over
    all ``T`` frames, so later frames would leak into earlier predictions; per frame
    the model stays causal (and GroupNorm(1) is LayerNorm over the channels).
    Takes ``(batch, C, T)`` or the channels-last ``(batch, C, 1, T)`` of scoring.
    """

    def __init__(self, n_channels, eps=1e-5):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(n_channels))
        self.bias = torch.nn.Parameter(torch.zeros(n_channels))
        self.eps = eps

    def forward(self, x):
        # normalized over self.weight.shape (= the channels): a constant shape, which
        # torch.onnx.export can trace (x.shape[-1:] it cannot, with dynamic axes)
        if x.dim() == 4:  # channels-last: the permuted view is contiguous, no copy
            x = x.permute(0, 2, 3, 1)
            return F.layer_norm(x, self.weight.shape, self.weight, self.bias,
                                self.eps).permute(0, 3, 1, 2)
        x = x.transpose(1, 2)
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias,
                            self.eps).transpose(1, 2)


def _conv(conv, x):
    """Apply the unpadded, stride-1 ``torch.nn.Conv1d`` ``conv`` to ``(batch, C, T)`` or
    ``(batch, C, 1, T)``.

    The 4-D input goes through ``conv2d`` with a ``(1, kernel_size)`` view of the same
    weight, which keeps a channels-last layout from layer to layer.
    """
    if x.dim() == 3:
        return conv(x)
    return F.conv2d(x, conv.weight.unsqueeze(2), conv.bias, dilation=(1, conv.dilation[0]),
                    groups=conv.groups)


class _ResidualBlock(torch.nn.Module):
    """Norm -> causal conv -> ReLU; gate (sigmoid) x value (ReLU); 1x1 output conv + ReLU.

    The shortcut goes through a 1x1 convolution without normalization or activation
    (it maps ``n_in`` to ``n_hidden`` channels in the first block).
    """

    def __init__(self, n_in, n_hidden, kernel_size, dilation, groups):
        super().__init__()

        def conv(n_from, kernel=1, dil=1):
            return torch.nn.Conv1d(n_from, n_hidden, kernel, dilation=dil, groups=groups)

        self.crop = (kernel_size - 1) * dilation
        self.causal_norm, self.causal = _FrameNorm(n_in), conv(n_in, kernel_size, dilation)
        self.gate_norm, self.gate = _FrameNorm(n_hidden), conv(n_hidden)
        self.value_norm, self.value = _FrameNorm(n_hidden), conv(n_hidden)
        self.out_norm, self.out = _FrameNorm(n_hidden), conv(n_hidden)
        self.skip = conv(n_in)

    def forward(self, x):
        # in place on convolution outputs, which no backward pass reads
        h = F.relu(_conv(self.causal, self.causal_norm(x)), inplace=True)
        h = _conv(self.gate, self.gate_norm(h)).sigmoid_() * F.relu(
            _conv(self.value, self.value_norm(h)), inplace=True)
        h = F.relu(_conv(self.out, self.out_norm(h)), inplace=True)
        return h + _conv(self.skip, x[..., self.crop:])


class _WaveNet(torch.nn.Module):
    """Residual blocks with dilations 1, 2, 4, ... and a causal conv to ``n_mels`` channels.

    Unpadded: an input of ``T`` frames gives ``T - receptive_field + 1`` outputs,
    output ``t`` depending on input frames ``t .. t + receptive_field - 1`` only.
    """

    def __init__(self, n_mels, n_hidden, n_blocks, kernel_size, groups):
        super().__init__()
        self.blocks = torch.nn.Sequential(*[
            _ResidualBlock(n_mels if i == 0 else n_hidden, n_hidden, kernel_size, 2 ** i,
                           groups)
            for i in range(n_blocks)
        ])
        n_in = n_hidden if n_blocks else n_mels
        self.head_norm = _FrameNorm(n_in)
        self.head = torch.nn.Conv1d(n_in, n_mels, kernel_size, dilation=2 ** n_blocks,
                                    groups=groups)

    def forward(self, x):
        if not torch.is_inference_mode_enabled():
            return self.head(self.head_norm(self.blocks(x)))
        # Scoring: (batch, C, 1, T) in channels-last memory, where the per-frame norms
        # read contiguous channels instead of copying two transposes each. Training
        # keeps (batch, C, T) and its exact numbers: the other layout rounds
        # differently, which ReLUs near zero amplify in the gradients.
        x = x.unsqueeze(2).contiguous(memory_format=torch.channels_last)
        return _conv(self.head, self.head_norm(self.blocks(x))).squeeze(2)


class _Welford:
    """Running mean and covariance (divisor ``n``) of vectors, batch by batch.

    Welford's online update generalized to batches (Chan, Golub and LeVeque's merge
    of partial means and co-moments); with batches of one vector it is Welford's.
    """

    def __init__(self, n_features):
        self.count = 0
        self.mean = np.zeros(n_features)
        self.comoment = np.zeros((n_features, n_features))

    def update(self, batch):
        batch = np.asarray(batch, dtype=np.float64)
        n, total = len(batch), self.count + len(batch)
        if n == 0:
            return
        batch_mean = batch.mean(axis=0)
        centred = batch - batch_mean
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.comoment += centred.T @ centred + np.outer(delta, delta) * (self.count * n / total)
        self.count = total

    @property
    def covariance(self):
        return self.comoment / max(self.count, 1)


class WaveNetPredictor(BaseSkorchDetector):
    """Anomaly detector that predicts the next log-mel frame with causal convolutions.

    A WaveNet-like network in the frequency domain ("Freak"): mel bins are the
    channels of dilated causal 1-D convolutions over time, split into ``n_bands``
    groups (bands) processed separately, and each frame is predicted from the
    ``receptive_field_`` frames before it. It is trained with the MSE of the
    predictions on excerpts of normal clips; a clip's anomaly score measures how
    badly its frames are predicted (``scoring``).

    Parameters
    ----------
    n_blocks : int, default=3
        Residual blocks; block ``i`` has dilation ``2 ** i``, the output
        convolution ``2 ** n_blocks``. 0 leaves the output convolution alone.
    channel_multiplier : int, default=5
        Hidden channels per input mel bin: the blocks have
        ``channel_multiplier * n_mels`` channels (the paper uses 5 or 6).
    kernel_size : int, default=3
        Kernel of the causal convolutions (all others are 1x1).
    n_bands : int, default=4
        Groups of every convolution; must divide ``n_mels``.
    excerpt_length : int, default=128
        Frames per training excerpt (its first ``receptive_field_`` frames are context,
        the others are predicted); clips shorter than that are used whole.
    scoring : {"percentile", "gaussian"}, default="percentile"
        Clip score, see Notes.
    q : float in [0, 100], default=95.0
        Percentile of ``scoring="percentile"``, over time and then over bins.
    covariance : {"full", "diag", "identity"}, default="full"
        Covariance of the normal distribution of ``scoring="gaussian"``.
    reg_covar : float, default=1e-6
        Added to the diagonal of the ``"full"`` and ``"diag"`` covariances so that
        they are invertible (fewer training clips than mel bins).
    standardize : bool, default=True
        Standardize every mel bin with its mean and standard deviation over the
        training clips' frames (a ``SpectrogramScaler(per="bin")``, ``scaler_``)
        before the network; predictions and scores are in these units.
    betas : tuple of float, default=(0.85, 0.999)
        Adam's ``betas`` (passed to any ``optimizer`` that takes ``betas``).
    max_epochs : int, default=100
        Training epochs.
    lr : float, default=1e-3
        Learning rate.
    batch_size : int, default=32
        Training excerpts per batch.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Optimizer class.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks.
    validation_fraction : float or None, default=0.1
        Fraction of training clips held out for skorch's ``valid_loss``.
    windows_per_clip : int or None, default=None
        Excerpts drawn per clip afresh each epoch; ``None`` uses all (they tile the
        clip's predicted frames, see Notes).
    threshold_quantile : float, default=0.9
        Gamma quantile of the training clip scores used as ``threshold_``.
    device : str, default="cpu"
        torch device.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of scoring: ``"bfloat16"`` autocasts the scoring forward passes
        (faster where the hardware has bfloat16; training stays float32).
    random_state : int, RandomState instance or None, default=None
        Seeds weights and excerpt sampling.
    verbose : int, default=0
        1 shows a progress bar and the epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        Trained net; ``net_.module_`` is the network.
    n_features_in_ : int
        ``n_mels`` (the ``n_features`` of a 2-D input, whose rows are 1-bin
        spectrograms of ``n_features`` frames).
    n_mels_ : int
        Mel bins (channels) of the network.
    receptive_field_ : int
        Input frames behind each prediction (31 with the defaults); the first
        ``receptive_field_`` frames of a clip are not predicted.
    scaler_ : SpectrogramScaler or None
        Per-bin standardization fitted on the training clips (``standardize=True``).
    diff_mean_ : ndarray of shape (n_mels_,)
        Mean over the training clips of the time-averaged prediction error
        ``d`` (Notes), accumulated with Welford's algorithm.
    diff_covariance_ : ndarray of shape (n_mels_, n_mels_)
        Its covariance (divisor ``n_clips``, the maximum-likelihood estimate).
    threshold_ : float
        Clip score above which a clip is predicted anomalous.
    offset_ : float
        ``-threshold_``.

    See Also
    --------
    sklasd.features.LogMelTransformer : Produces the spectrogram layout.

    Notes
    -----
    Network (Daniluk et al., DCASE 2020 Task 2, Table 5): residual blocks
    ``h = ReLU(conv_k,d(N(x)))``,
    ``g = sigmoid(conv_1(N(h))) * ReLU(conv_1(N(h)))``,
    ``block(x) = ReLU(conv_1(N(g))) + conv_1(x)`` (the shortcut 1x1 convolution has
    neither normalization nor activation), then an output causal convolution to
    ``n_mels`` channels without activation. ``N`` is GroupNorm with one group,
    computed per frame over the channels so that nothing flows backwards in time
    (the paper normalizes before every convolution). No padding: from frames
    ``x_1 .. x_T`` the network predicts ``x_{R+1} .. x_T`` (``R`` =
    ``receptive_field_``), ``T - R`` frames. Loss: the mean of
    ``(x_hat - x) ** 2`` over bins and predicted frames. Training units are
    excerpts of ``excerpt_length`` frames whose predicted parts tile the clip (the
    last one ends at the clip's end).

    With ``e[f, t] = (x_hat[f, t] - x[f, t]) ** 2`` over the predicted frames of a
    clip, ``frame_scores`` are ``mean_f e[f, t]``, ``anomaly_map`` is ``e`` on the
    clip's frames (0 on its first ``receptive_field_`` frames, which are not
    predicted) and the clip score is

    - ``"percentile"``: ``P_q over f of (P_q over t of e[f, t])``, ``P_q`` the
      ``q``-th percentile (numpy's linear interpolation);
    - ``"gaussian"``: ``-log N(d; mu, Sigma)`` with
      ``d = mean_t x_hat[:, t] - mean_t x[:, t]``, the difference of the predicted
      and actual spectra averaged over time. Our reading of the paper's "amplitude
      spectrum computed from the spectrogram averaged over time": the time average
      of the (standardized log-mel) spectrogram, so ``d`` has one entry per mel bin
      and symmetric noise averages out. ``mu`` and ``Sigma`` are the mean and
      covariance of ``d`` over the training clips, accumulated with Welford's
      online algorithm in one pass after the last epoch, with the final weights
      (accumulating while the weights still change would mix networks).
      ``Sigma`` is ``diff_covariance_ + reg_covar * I`` (``"full"``), its diagonal
      plus ``reg_covar`` (``"diag"``) or the identity (``"identity"``).

    The paper's settings: ``LogMelTransformer(n_fft=2048, hop_length=512,
    n_mels=128)`` (or 64 mels) with ``log="db"`` in front (``"db"`` is a scaled
    logarithm, identical after standardization); 3 or 4 blocks, 5-6 channels per
    bin; ``scoring="percentile"`` for valve and slider, ``"gaussian"`` with
    ``covariance="full"`` for ToyCar, ``"diag"`` for ToyConveyor, ``"identity"``
    for fan and pump. One model per machine type, trained on all its IDs without
    the ID. ``threshold_`` is fitted to the ``scoring`` in force at ``fit`` (for
    ``"gaussian"``, whose scores can be negative, a gamma with a free location:
    fitted to the scores shifted to be positive, the threshold shifted back).

    References
    ----------
    .. [1] P. Daniluk, M. Gozdziewski, S. Kapka and M. Kosmider, "Ensemble of
       auto-encoder based and WaveNet like systems for unsupervised anomaly
       detection", DCASE 2020 Task 2 technical report, section 4 and Table 5
       (Daniluk et al., DCASE 2020 Task 2).
    .. [2] A. van den Oord et al., "WaveNet: a generative model for raw audio",
       arXiv:1609.03499, 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.detectors.wavenet import WaveNetPredictor
    >>> X = np.random.default_rng(0).normal(size=(6, 8, 40)).astype(np.float32)
    >>> wn = WaveNetPredictor(n_blocks=1, channel_multiplier=2, excerpt_length=20,
    ...                       max_epochs=1, random_state=0).fit(X)
    >>> wn.receptive_field_, wn.frame_scores(X)[0].shape
    (7, (33,))
    >>> wn.anomaly_score(X).shape
    (6,)
    """

    _parameter_constraints = {
        **BaseSkorchDetector._parameter_constraints,
        "n_blocks": [Interval(numbers.Integral, 0, None, closed="left")],
        "channel_multiplier": [Interval(numbers.Integral, 1, None, closed="left")],
        "kernel_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_bands": [Interval(numbers.Integral, 1, None, closed="left")],
        "excerpt_length": [Interval(numbers.Integral, 2, None, closed="left")],
        "scoring": [StrOptions(set(SCORINGS))],
        "q": [Interval(numbers.Real, 0, 100, closed="both")],
        "covariance": [StrOptions(set(COVARIANCES))],
        "reg_covar": [Interval(numbers.Real, 0, None, closed="left")],
        "standardize": ["boolean"],
        "betas": [tuple, list],
    }

    def __init__(self, n_blocks=3, channel_multiplier=5, kernel_size=3, n_bands=4,
                 excerpt_length=128, scoring="percentile", q=95.0, covariance="full",
                 reg_covar=1e-6, standardize=True, betas=(0.85, 0.999), *,
                 max_epochs=100, lr=1e-3, batch_size=32, optimizer=torch.optim.Adam,
                 callbacks=None, validation_fraction=0.1, windows_per_clip=None,
                 threshold_quantile=0.9, device="cpu", precision="float32",
                 random_state=None, verbose=0):
        super().__init__(
            max_epochs=max_epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
            callbacks=callbacks, validation_fraction=validation_fraction,
            windows_per_clip=windows_per_clip, threshold_quantile=threshold_quantile,
            device=device, precision=precision, random_state=random_state,
            verbose=verbose)
        self.n_blocks = n_blocks
        self.channel_multiplier = channel_multiplier
        self.kernel_size = kernel_size
        self.n_bands = n_bands
        self.excerpt_length = excerpt_length
        self.scoring = scoring
        self.q = q
        self.covariance = covariance
        self.reg_covar = reg_covar
        self.standardize = standardize
        self.betas = betas

    # ------------------------------------------------------ input and units
    def _validate_X(self, X, reset):
        """Validate spectrograms ``(n_clips, n_mels, n_frames)``; fit the scaler at fit."""
        X = check_spectrograms(self, X, reset=reset)
        n_mels, n_frames = X.shape[1:]
        rf = receptive_field(self.n_blocks, self.kernel_size)
        if reset:
            if n_mels % self.n_bands:
                raise ValueError(
                    f"n_bands={self.n_bands} must divide the number of mel bins; X has "
                    f"{n_mels} (X of shape {X.shape}).")
            if self.excerpt_length <= rf:
                raise ValueError(
                    f"excerpt_length={self.excerpt_length} must exceed the receptive "
                    f"field of {rf} frames (n_blocks={self.n_blocks}, "
                    f"kernel_size={self.kernel_size}).")
            self.n_mels_, self.receptive_field_ = n_mels, rf
        if n_frames <= rf:
            raise ValueError(
                f"{type(self).__name__} predicts the frames after a receptive field of "
                f"{rf} frames, so clips need at least {rf + 1} frames; got X of shape "
                f"{X.shape}, {n_frames} feature(s) (frames) per clip.")
        if reset:
            self.scaler_ = SpectrogramScaler().fit(X) if self.standardize else None
        return X

    def _standardize(self, spectrograms):
        if self.scaler_ is None:
            return np.ascontiguousarray(spectrograms, dtype=np.float32)
        return self.scaler_.transform(spectrograms)

    def _excerpts(self, n_frames):
        """Start frames and length of the excerpts whose predicted frames tile a clip."""
        length = min(self.excerpt_length, n_frames)
        step = length - self.receptive_field_
        n = -(-(n_frames - self.receptive_field_) // step)
        return np.minimum(np.arange(n) * step, n_frames - length), length

    def _n_units(self, X):
        return len(self._excerpts(X.shape[2])[0])

    def _gather(self, X, clips, units):
        starts, length = self._excerpts(X.shape[2])
        frames = starts[units][:, None] + np.arange(length)
        excerpts = X[clips[:, None], :, frames]  # (batch, length, n_mels)
        return self._standardize(excerpts.transpose(0, 2, 1))

    def _make_batch(self, excerpts, metadata, training):
        x = torch.from_numpy(np.ascontiguousarray(excerpts))
        return x[..., :-1], x[..., self.receptive_field_:]

    # --------------------------------------------------------------- network
    def _build_module(self):
        return _WaveNet(self.n_mels_, self.channel_multiplier * self.n_mels_,
                        self.n_blocks, self.kernel_size, self.n_bands)

    def _net_params(self):
        if "betas" in inspect.signature(self.optimizer).parameters:
            return {"optimizer__betas": tuple(self.betas)}
        return {}

    # --------------------------------------------------------------- scoring
    def _predictions(self, X):
        """Yield ``(prediction, target)`` of batches of whole clips, ``(b, n_mels, T - R)``."""
        per_batch = max(1, SCORE_FRAMES // X.shape[2])
        for c0 in range(0, X.shape[0], per_batch):
            S = self._standardize(X[c0:c0 + per_batch])
            x = torch.from_numpy(np.ascontiguousarray(S[..., :-1]))
            with self._scoring():
                pred = self.net_.evaluation_step((x, None), training=False)
            yield pred.double().cpu().numpy(), S[..., self.receptive_field_:]

    def _summaries(self, X):
        """Frame scores, percentile scores and time-averaged differences ``d`` per clip.

        Returns a list of frame-score arrays and lists of per-batch arrays (the
        differences come per batch so that Welford's update can stream them).
        """
        frames, percentiles, diffs = [], [], []
        for pred, target in self._predictions(X):
            error = (pred - target) ** 2
            frames.extend(error.mean(axis=1))
            percentiles.append(np.percentile(np.percentile(error, self.q, axis=2),
                                             self.q, axis=1))
            diffs.append(pred.mean(axis=2) - target.mean(axis=2, dtype=np.float64))
        return frames, np.concatenate(percentiles), diffs

    def _frame_scores(self, X, meta):
        return self._summaries(X)[0]

    def _unit_maps(self, X, meta):
        """Squared prediction errors on the clips' frames, 0 on the first receptive field."""
        maps = np.zeros(X.shape, dtype=np.float64)
        c0 = 0
        for pred, target in self._predictions(X):
            maps[c0:c0 + len(pred), :, self.receptive_field_:] = (pred - target) ** 2
            c0 += len(pred)
        return maps

    def _clip_scores(self, X, meta):
        _, percentiles, diffs = self._summaries(X)
        if self.scoring == "percentile":
            return percentiles
        return self._gaussian_nll(np.concatenate(diffs))

    def _fit_clip_scores(self, X, meta):
        _, percentiles, diffs = self._summaries(X)
        welford = _Welford(self.n_mels_)
        for batch in diffs:
            welford.update(batch)
        self.diff_mean_, self.diff_covariance_ = welford.mean, welford.covariance
        if self.scoring == "percentile":
            return percentiles
        return self._gaussian_nll(np.concatenate(diffs))

    @property
    def _scores_any_sign(self):
        return self.scoring == "gaussian"  # log-likelihoods can be negative

    def _gaussian_nll(self, diffs):
        """``-log N(d; diff_mean_, Sigma)`` of each row of ``diffs`` (Notes)."""
        n = len(self.diff_mean_)
        if self.covariance == "identity":
            sigma = np.eye(n)
        elif self.covariance == "diag":
            sigma = np.diag(np.diag(self.diff_covariance_) + self.reg_covar)
        else:
            sigma = self.diff_covariance_ + self.reg_covar * np.eye(n)
        chol = np.linalg.cholesky(sigma)
        z = scipy.linalg.solve_triangular(chol, (diffs - self.diff_mean_).T, lower=True)
        log_det = 2 * np.log(np.diag(chol)).sum()
        return 0.5 * ((z ** 2).sum(axis=0) + n * np.log(2 * np.pi) + log_det)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
