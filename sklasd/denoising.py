"""Waveform denoising in front of the detectors: the Deep Complex U-Net denoiser.

:class:`ComplexUNetDenoiser` estimates a bounded complex ratio mask on the STFT of a
noisy clip with a complex convolutional encoder-decoder (U-Net) and returns the
masked, inverted waveform. The SRPOL system for DCASE 2020 Task 2 (Daniluk et al.)
preprocesses its recordings this way, one denoiser per machine type trained on
clean sounds mixed with background recordings, with snapshots at a schedule of
training SNRs as several strengths of denoising.
"""
import copy
import numbers
import os

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from sklasd._complex_unet import _EPS, PAPER_CHANNELS, ComplexUNet
from sklasd._skorch import SkorchEstimatorMixin, batch_bounds, make_batch_net, seeded
from sklasd.utils._sklearn_compat import Interval, StrOptions

__all__ = ["ComplexUNet", "ComplexUNetDenoiser", "PAPER_CHANNELS", "si_sdr",
           "weighted_sdr_loss"]

# clips per forward pass in transform (equal-length clips only)
_TRANSFORM_BATCH = 16



# --------------------------------------------------------------------- losses
def _neg_cosine(a, b):
    return -(a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1) + _EPS)


def weighted_sdr_loss(estimate, clean, mixture):
    """Weighted SDR loss of Choi et al. (per clip, in [-1, 1], lower is better).

    Parameters
    ----------
    estimate, clean, mixture : torch.Tensor of shape (batch, n_samples)
        Denoised, clean and noisy waveforms.

    Returns
    -------
    loss : torch.Tensor of shape (batch,)

    Notes
    -----
    With the noise ``z = x - y`` and its estimate ``z_hat = x - y_hat``,
    ``loss = a * (-cos(y, y_hat)) + (1 - a) * (-cos(z, z_hat))``, where
    ``a = |y|^2 / (|y|^2 + |z|^2)`` and ``cos(u, v) = <u, v> / (|u| |v|)``.

    References
    ----------
    Choi, Kim, Lee, Ha, Jung and Lee, "Phase-aware speech enhancement with deep
    complex U-Net", ICLR 2019, section 3.3.

    Examples
    --------
    >>> import torch
    >>> y = torch.randn(1, 100); x = y + 0.1 * torch.randn(1, 100)
    >>> float(weighted_sdr_loss(y, y, x)) < -0.99
    True
    """
    noise = mixture - clean
    a = clean.square().sum(-1)
    a = a / (a + noise.square().sum(-1) + _EPS)
    return a * _neg_cosine(clean, estimate) + (1 - a) * _neg_cosine(noise, mixture - estimate)


def _si_sdr_torch(estimate, reference):
    reference = reference - reference.mean(-1, keepdim=True)
    estimate = estimate - estimate.mean(-1, keepdim=True)
    scale = (estimate * reference).sum(-1, keepdim=True) / (
        reference.square().sum(-1, keepdim=True) + _EPS)
    target = scale * reference
    return 10 * torch.log10((target.square().sum(-1) + _EPS)
                            / ((estimate - target).square().sum(-1) + _EPS))


def si_sdr(estimate, reference):
    """Scale-invariant signal-to-distortion ratio in dB, per clip.

    Parameters
    ----------
    estimate, reference : array-like of shape (n_samples,) or (n_clips, n_samples)
        Estimated and clean waveforms.

    Returns
    -------
    si_sdr : float or ndarray of shape (n_clips,), float64
        ``10 log10(|s_t|^2 / |s_hat - s_t|^2)`` with ``s_t = (<s_hat, s> / |s|^2) s``
        on zero-mean signals.

    References
    ----------
    Le Roux, Wisdom, Erdogan and Hershey, "SDR - half-baked or well done?",
    ICASSP 2019, section 2.

    Examples
    --------
    >>> import numpy as np
    >>> s = np.sin(np.arange(1000) / 5.0)
    >>> round(float(si_sdr(2 * s + 0.01 * np.cos(np.arange(1000) / 3.0), s)), 1)
    46.0
    """
    e = torch.as_tensor(np.asarray(estimate, dtype=np.float64))
    r = torch.as_tensor(np.asarray(reference, dtype=np.float64))
    if e.shape != r.shape:
        raise ValueError(f"estimate has shape {tuple(e.shape)}, reference "
                         f"{tuple(r.shape)}: they must match")
    out = _si_sdr_torch(e, r).numpy()
    return float(out) if out.ndim == 0 else out


class _WaveformLoss(torch.nn.Module):
    """Per-clip loss on waveforms: ``"wsdr"`` or ``"si_sdr"`` (negative SI-SDR / 10)."""

    def __init__(self, kind):
        super().__init__()
        self.kind = kind

    def forward(self, estimate, clean, mixture):
        if self.kind == "wsdr":
            return weighted_sdr_loss(estimate, clean, mixture)
        return -_si_sdr_torch(estimate, clean) / 10


# ------------------------------------------------------------------- training
class _DenoiserNet(NeuralNet):
    """skorch net whose criterion also sees the noisy input (weighted SDR needs it)."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        return self.criterion_(y_pred, y_true.to(y_pred.device), X.to(y_pred.device)).mean()


class _SegmentBatches(torch.utils.data.IterableDataset):
    """Whole batches of ``(noisy, clean)`` segments, redrawn at every epoch.

    With ``noisy`` given, the same random segment is cut from a noisy clip and its
    clean twin; otherwise each clean segment is mixed with a random excerpt of a
    random background clip at an SNR drawn uniformly from ``[snr_low, snr_high]``
    (``snr_low`` is moved along the schedule by :class:`_StrengthSnapshots`).
    """

    def __init__(self, denoiser, clean, noisy, background, rng):
        self.d, self.clean, self.noisy, self.background = denoiser, clean, noisy, background
        self.rng = rng
        self.snr_low = self.snr_high = float(max(denoiser.snr_range))

    def _segment(self, i, length):
        """Start in clip ``i`` and offset in the segment of a random ``length`` cut."""
        n = len(self.clean[i])
        if n >= length:
            return int(self.rng.integers(n - length + 1)), 0
        return 0, int(self.rng.integers(length - n + 1))

    def _pair(self, i, length):
        from sklasd.datasets import mix_at_snr

        start, offset = self._segment(i, length)
        clean = np.zeros(length, dtype=np.float32)
        piece = self.clean[i][start:start + length]
        clean[offset:offset + len(piece)] = piece
        if self.noisy is not None:
            noisy = np.zeros(length, dtype=np.float32)
            noisy[offset:offset + len(piece)] = self.noisy[i][start:start + length]
            return noisy, clean
        if not np.any(clean):  # silent cut: the SNR is undefined; centre the peak
            peak = int(np.argmax(np.abs(self.clean[i])))
            start = max(0, min(peak - length // 2, len(self.clean[i]) - length))
            piece = self.clean[i][start:start + length]
            clean[:] = 0
            clean[:len(piece)] = piece
        noise = self.background[int(self.rng.integers(len(self.background)))]
        snr = self.rng.uniform(self.snr_low, self.snr_high)
        seed = int(self.rng.integers(2**31))
        return mix_at_snr(clean, noise, snr, random_state=seed), clean

    def __iter__(self):
        order = self.rng.permutation(len(self.clean))
        for a, b in batch_bounds(len(order), self.d.batch_size):
            pairs = [self._pair(i, self.d.segment_samples) for i in order[a:b]]
            noisy = torch.from_numpy(np.stack([p[0] for p in pairs]))
            clean = torch.from_numpy(np.stack([p[1] for p in pairs]))
            yield noisy.to(self.d.device), clean


class _StrengthSnapshots(Callback):
    """Move the training SNR along the schedule and keep a snapshot per stage.

    Stage ``k`` covers epochs ``ends[k-1] + 1 .. ends[k]``; its mixtures take SNRs
    from ``[snr_schedule[k], snr_high]``. At the end of each stage the module's
    weights are copied (to the CPU) into ``snapshots``.
    """

    def __init__(self, ends, snr_schedule):
        self.ends, self.snr_schedule = ends, snr_schedule

    def initialize(self):
        self.snapshots = []
        return self

    def _stage(self, epoch):
        return int(np.searchsorted(self.ends, epoch))

    def _take(self, net, epoch):
        while len(self.snapshots) < len(self.ends) and self.ends[len(self.snapshots)] <= epoch:
            self.snapshots.append({k: v.detach().to("cpu", copy=True)
                                   for k, v in net.module_.state_dict().items()})

    def on_train_begin(self, net, **kwargs):
        self._take(net, 0)  # stages of no epoch (max_epochs < n_strengths)

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.snr_schedule is not None:
            epoch = len(net.history)  # 1-based: the row of this epoch exists
            dataset_train.snr_low = self.snr_schedule[self._stage(epoch)]

    def on_epoch_end(self, net, **kwargs):
        self._take(net, len(net.history))


# ------------------------------------------------------------------ estimator
def _check_not_silent(clips, name):
    silent = [i for i, c in enumerate(clips) if not np.any(c)]
    if silent:
        raise ValueError(f"{name}: sample {silent[0]} is silent (all zeros): the SNR "
                         "of a mixture with it is undefined")


def _float_dtype(X):
    """float64 for float64 input (scikit-learn's dtype preservation), else float32."""
    return np.float64 if getattr(X, "dtype", None) == np.float64 else np.float32


def _is_clip_list(X):
    """A list of 1-D arrays (clips); a nested list of numbers is a 2-D array-like."""
    return isinstance(X, (list, tuple)) and len(X) > 0 and all(
        isinstance(x, np.ndarray) and x.ndim == 1 for x in X)


class ComplexUNetDenoiser(SkorchEstimatorMixin, TransformerMixin, BaseEstimator):
    """Deep Complex U-Net denoiser of waveforms (a scikit-learn transformer).

    Learns a bounded complex ratio mask on the STFT of noisy clips, either from
    pairs of noisy and clean clips (``fit(X_noisy, X_clean)``) or from clean clips
    mixed on the fly with background recordings at random SNRs
    (``fit(X_clean, background=B)``), and returns denoised waveforms of the same
    shape. Training takes snapshots along a schedule of training SNRs, the
    ``n_strengths`` strengths of denoising that ``strength`` selects.

    Parameters
    ----------
    channels : tuple of int, default=(8, 16, 32)
        Complex channels of the encoder levels (the decoder mirrors them). The
        default is small (43 k parameters) so that it trains on a CPU;
        ``sklasd.denoising.PAPER_CHANNELS = (32, 64, 80, 128, 128)`` (2.56 M
        parameters, best with ``n_fft=1024, hop_length=256``) is the size of the
        SRPOL denoisers.
    n_fft : int, default=512
        STFT size in samples (Hann window).
    hop_length : int, default=128
        STFT hop in samples.
    segment_samples : int, default=16384
        Length in samples of the training segments cut at random positions from
        the clips every epoch (a shorter clip is zero-padded at a random offset).
    snr_range : tuple of float, default=(-5.0, 15.0)
        SNR range in dB of the mixtures built from ``background``.
    n_strengths : int, default=10
        Number of snapshots (strengths), taken at the ends of ``n_strengths``
        equal stages of ``max_epochs`` (see Notes). The paper keeps 10.
    strength : int or None, default=None
        Snapshot used by :meth:`transform`, from 1 (the first stage: trained on
        the cleanest mixtures, mildest) to ``n_strengths``; None uses the last
        (the fully trained model). It can be changed after ``fit`` with
        ``set_params`` without refitting.
    loss : {"wsdr", "si_sdr"}, default="wsdr"
        Waveform-domain loss: the weighted SDR of Choi et al.
        (:func:`weighted_sdr_loss`) or the negative SI-SDR in dB / 10.
    max_epochs : int, default=50
        Training epochs; an epoch cuts one segment from every training clip.
    lr : float, default=1e-3
        Learning rate of ``optimizer``.
    batch_size : int, default=16
        Segments per training batch.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks; deep-copied at fit.
    device : str or torch.device, default="cpu"
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the segment positions, the background choice, the SNRs
        and the noise excerpts; two fits with the same integer seed on CPU are
        identical.
    verbose : int, default=0
        1 shows skorch's progress bar and epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the :class:`ComplexUNet` (the last
        snapshot).
    snapshots_ : list of n_strengths dict
        The module's ``state_dict`` (CPU tensors) at the end of every stage.
    snapshot_epochs_ : ndarray of shape (n_strengths,), int
        The epoch after which each snapshot was taken.
    snr_schedule_ : ndarray of shape (n_strengths,) or None
        Lower SNR bound in dB of each stage's mixtures (None when trained on given
        pairs).
    n_params_ : int
        Trainable parameters of the network.

    Notes
    -----
    Network: the complex STFT (``n_fft``, ``hop_length``, Hann) of the clip
    divided by its RMS goes through ``len(channels)`` encoder levels (complex
    convolution, kernel 5 x 3 in frequency x time, stride 2 x 2, batch
    normalization of the real and imaginary parts, leaky ReLU 0.1 on each part)
    and a mirrored decoder of complex transposed convolutions whose inputs
    concatenate the encoder output of the same resolution. The complex output
    ``O`` gives the bounded mask ``M = tanh(|O|) O / |O|`` (``|M| < 1``, Choi et
    al.'s "bounded (tanh)" polar mask); the estimate is
    ``istft(M * STFT(x))``, of the input's length. Loss: see ``loss``.

    Strengths: training is split into ``n_strengths`` stages ending at epochs
    ``round(k * max_epochs / n_strengths)``. With ``background``, stage ``k``
    mixes at SNRs drawn uniformly from ``[s_k, snr_high]`` with ``s_k`` going
    linearly from ``snr_high`` to ``snr_low``: early snapshots saw only faint
    noise and remove little, the last one covers the whole range. With given
    pairs the stages only split the epochs.

    Pipelines: ``fit`` takes ``background`` as a fit parameter, so a pipeline
    trains it with ``pipe.fit(X, complexunetdenoiser__background=B)``; a
    denoiser trained beforehand is kept fixed in a pipeline with
    :class:`sklearn.frozen.FrozenEstimator`. Arrays are assumed to be at the
    sample rate of the training clips.

    References
    ----------
    Daniluk, Goździewski, Kapka and Kośmider, "Ensemble of auto-encoder based
    systems for anomaly detection", DCASE 2020 Challenge Task 2 technical report,
    section 2.2. Choi, Kim, Lee, Ha, Jung and Lee, "Phase-aware speech
    enhancement with deep complex U-Net", ICLR 2019, sections 3.1-3.3.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.denoising import ComplexUNetDenoiser
    >>> rng = np.random.default_rng(0)
    >>> clean = np.sin(np.arange(4096) * 0.2)[None].repeat(8, 0) * rng.uniform(0.5, 1, (8, 1))
    >>> noise = rng.standard_normal((4, 8000)) * 0.1
    >>> den = ComplexUNetDenoiser(channels=(4, 8), segment_samples=2048, max_epochs=2,
    ...                           n_strengths=2, random_state=0)
    >>> den.fit(clean, background=noise).transform(clean[:2]).shape
    (2, 4096)
    """

    _parameter_constraints = {
        "channels": ["array-like"],
        "n_fft": [Interval(numbers.Integral, 1, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "segment_samples": [Interval(numbers.Integral, 1, None, closed="left")],
        "snr_range": ["array-like"],
        "n_strengths": [Interval(numbers.Integral, 1, None, closed="left")],
        "strength": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "loss": [StrOptions({"wsdr", "si_sdr"})],
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "optimizer": [type],
        "callbacks": [list, tuple, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, *, channels=(8, 16, 32), n_fft=512, hop_length=128,
                 segment_samples=16384, snr_range=(-5.0, 15.0), n_strengths=10,
                 strength=None, loss="wsdr", max_epochs=50, lr=1e-3, batch_size=16,
                 optimizer=torch.optim.Adam, callbacks=None, device="cpu",
                 random_state=None, verbose=0):
        self.channels = channels
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.segment_samples = segment_samples
        self.snr_range = snr_range
        self.n_strengths = n_strengths
        self.strength = strength
        self.loss = loss
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------ validation
    def _check_params(self):
        self._validate_params()  # types and ranges: _parameter_constraints
        if not self.channels or any(not isinstance(c, numbers.Integral) or c < 1
                                    for c in self.channels):
            raise ValueError(f"channels must be a non-empty sequence of positive "
                             f"integers, got {self.channels!r}")
        low, high = self._snr_bounds()
        if not (np.isfinite(low) and np.isfinite(high) and low <= high):
            raise ValueError(f"snr_range must be (low, high) finite dB with low <= high, "
                             f"got {self.snr_range!r}")
        self._check_strength()

    def _snr_bounds(self):
        try:
            low, high = (float(v) for v in self.snr_range)
        except (TypeError, ValueError):
            raise ValueError(f"snr_range must be (low, high) in dB, got "
                             f"{self.snr_range!r}") from None
        return low, high

    def _check_strength(self):
        s = self.strength
        if s is not None and (not isinstance(s, numbers.Integral)
                              or not 1 <= s <= self.n_strengths):
            raise ValueError(f"strength must be None or an integer in [1, n_strengths="
                             f"{self.n_strengths}], got {s!r}")

    def _clips(self, X, name="X"):
        """Validate waveforms; return a list of float32 1-D clips and the 2-D flag."""
        if _is_clip_list(X):
            clips, two_d = [np.asarray(x) for x in X], False
        elif isinstance(X, (list, tuple)) and any(isinstance(x, (str, os.PathLike)) for x in X):
            raise ValueError(f"{name} holds paths: the denoiser takes waveforms; decode the "
                             "files first, e.g. sklasd.audio.load_many(paths, sr=16000)[0]")
        else:
            # scikit-learn's messages for sparse, complex, object and empty input
            arr = check_array(X, dtype=[np.float32, np.float64], ensure_all_finite=False,
                              allow_nd=True, input_name=name)
            if arr.ndim != 2:
                raise ValueError(f"{name} must be waveforms of shape (n_clips, n_samples) "
                                 f"or a list of 1-D clips, got shape {arr.shape}")
            clips, two_d = list(arr), True
        out = []
        for i, clip in enumerate(clips):
            if not np.issubdtype(clip.dtype, np.number) or np.iscomplexobj(clip):
                raise ValueError(f"{name}: sample {i} has dtype {clip.dtype}, expected "
                                 "real floats")
            if clip.shape[0] == 0:
                raise ValueError(f"{name}: sample {i} is empty")
            clip = clip.astype(np.float32)
            if not np.isfinite(clip).all():
                raise ValueError(f"{name}: sample {i} holds NaN or inf")
            out.append(clip)
        return out, two_d

    # ------------------------------------------------------------- training
    def fit(self, X, y=None, *, background=None):
        """Train the denoiser on noisy/clean pairs or on clean clips and backgrounds.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples) or list of 1-D arrays
            Noisy clips when ``y`` holds their clean versions; clean clips when
            ``background`` is given. Floats in [-1, 1].
        y : array-like of shape (n_clips, n_samples), list of 1-D arrays or None
            The clean version of every noisy clip (same lengths). A 1-D ``y``
            (class labels a Pipeline passes on) is ignored.
        background : array-like of shape (n_noise, n_noise_samples), list of 1-D arrays or None
            Background recordings (any lengths) mixed with the clean clips ``X``
            at SNRs from ``snr_range``; exclusive with a clean ``y``.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            Bad parameters, wrong shapes, NaN / inf (naming the sample), a clean
            ``y`` whose clip lengths differ from ``X``'s, both or neither of a clean
            ``y`` and ``background``, a silent (all-zero) clean or background clip
            when mixing (the SNR is undefined).
        """
        self._check_params()
        X, two_d = self._clips(X)
        if two_d:
            self.n_features_in_ = len(X[0])  # samples per clip; transform takes any length
        clean = self._clean_targets(y, X)
        if (clean is None) == (background is None):
            raise ValueError("fit needs exactly one of y (the clean version of every "
                             "noisy clip in X) and background (recordings to mix with "
                             "the clean clips X)")
        noisy = None
        if clean is None:
            background, _ = self._clips(background, "background")
            _check_not_silent(X, "X")
            _check_not_silent(background, "background")
            clean = X
        else:
            noisy = X
        self._set_schedule(mixing=noisy is None)
        with seeded(self.random_state, self.device) as rng:
            module = ComplexUNet(self.n_fft, self.hop_length, tuple(self.channels))
            self.n_params_ = sum(p.numel() for p in module.parameters())
            net = make_batch_net(_DenoiserNet, self, module=module,
                                 criterion=_WaveformLoss(self.loss), train_split=None)
            net.fit(_SegmentBatches(self, clean, noisy, background, rng), None)
        self.snapshots_ = dict(net.callbacks_)["strength_snapshots"].snapshots
        self.net_ = net
        return self

    def _clean_targets(self, y, X):
        if y is None or not (_is_clip_list(y) or np.ndim(y) == 2):
            return None  # no target, or class labels passed on by a Pipeline
        clean, _ = self._clips(y, "y")
        lengths = [len(c) for c in X], [len(c) for c in clean]
        if lengths[0] != lengths[1]:
            raise ValueError(f"y must hold the clean version of every clip of X, of the "
                             f"same length: X has clips of {lengths[0][:5]}... samples, y "
                             f"of {lengths[1][:5]}...")
        return clean

    def _set_schedule(self, mixing):
        n = self.n_strengths
        ends = np.round(np.arange(1, n + 1) * self.max_epochs / n).astype(int)
        self.snapshot_epochs_ = np.maximum(ends, 0)
        low, high = self._snr_bounds()
        self.snr_schedule_ = np.linspace(high, low, n) if mixing else None

    def _default_callbacks(self):
        return [("strength_snapshots",
                 _StrengthSnapshots(self.snapshot_epochs_, self.snr_schedule_))]

    def _net_params(self):
        return {}

    # ------------------------------------------------------------ transform
    def _module(self):
        """The network of the selected snapshot, on the device, in eval mode."""
        self._check_strength()
        module = self.net_.module_
        k = self.n_strengths if self.strength is None else self.strength
        if k != self.n_strengths and self.snapshots_:
            module = copy.deepcopy(module)
            module.load_state_dict(self.snapshots_[k - 1])
        return module.to(self.device).eval()

    def transform(self, X):
        """Denoise every clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples) or list of 1-D arrays
            Noisy waveforms at the training clips' sample rate.

        Returns
        -------
        X_denoised : ndarray of shape (n_clips, n_samples) or list of 1-D arrays
            Same layout and lengths as ``X`` (a list for a list of 1-D arrays);
            float32, or float64 for a float64 2-D input.

        Raises
        ------
        ValueError
            Wrong shape or dtype, NaN / inf (naming the sample), a bad ``strength``.
        """
        check_is_fitted(self, "net_")
        clips, two_d = self._clips(X)
        out = self._apply(clips, lambda m, x: m(x))
        if not two_d:
            return out
        return np.stack(out).astype(_float_dtype(X), copy=False)

    def complex_mask(self, X):
        """The bounded complex mask the network applies to each clip's STFT.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples) or list of 1-D arrays

        Returns
        -------
        masks : list of n_clips ndarray of shape (1 + n_fft // 2, n_frames_i), complex64
            ``|mask| < 1`` everywhere.
        """
        check_is_fitted(self, "net_")
        clips, _ = self._clips(X)
        return self._apply(clips, lambda m, x: m.mask(x))

    def _apply(self, clips, fn):
        """``fn(module, batch)`` over batches of equal-length clips, in clip order.

        A clip shorter than ``n_fft`` is zero-padded to it and its output cropped.
        """
        module, out = self._module(), [None] * len(clips)
        by_length = {}
        for i, c in enumerate(clips):
            by_length.setdefault(len(c), []).append(i)
        with torch.inference_mode():
            for length, idx in by_length.items():
                padded = max(length, self.n_fft)
                for a, b in batch_bounds(len(idx), _TRANSFORM_BATCH):
                    x = np.zeros((b - a, padded), dtype=np.float32)
                    x[:, :length] = np.stack([clips[i] for i in idx[a:b]])
                    y = fn(module, torch.from_numpy(x).to(self.device)).cpu().numpy()
                    for i, row in zip(idx[a:b], y):
                        out[i] = row[:length] if row.ndim == 1 else row
        return out

    # ------------------------------------------------------------ pickling
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        tags.target_tags.required = False
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
