"""Log-mel features, context windows and spectrogram scaling.

``LogMelTransformer`` turns audio into the spectrogram layout ``(n_clips, n_mels,
n_frames)``; ``FrameStacker`` turns that into the window layout ``(n_clips, n_windows,
n_frames * n_mels)``; ``SpectrogramScaler`` standardizes per mel
bin or normalizes loudness per clip; ``TemporalPooling`` pools each mel bin over time
into the pooled layout ``(n_clips, n_mels)``.
"""

import functools
import numbers
import os
import sys
import threading
import warnings

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import BaseEstimator, TransformerMixin
from threadpoolctl import ThreadpoolController
from sklearn.utils.validation import check_is_fitted

from ._frames import FrameStacker, SpectrogramScaler  # noqa: F401 (public here)
from ._pooling import TemporalPooling, gwrp_weights  # noqa: F401 (public here)
from ._spectra import BLOCK_FRAMES, MelBands, Workspace, frame, power_spectrum
from sklasd._interrupt import check_interrupted
from sklasd.audio import (PCM_BLOCK, AudioError, check_signal, clip_name, load_audio,
                          pcm_to_float, read_header, read_into)

from ..utils._sklearn_compat import Interval, StrOptions

__all__ = ["LogMelTransformer", "FrameStacker", "SpectrogramScaler", "TemporalPooling",
           "gwrp_weights", "log_mel"]


def log_mel(S, mel_basis=None, *, power=2.0, log="db", eps=sys.float_info.epsilon):
    """Mel filterbank and logarithm of spectrograms ``|STFT|**power``: numpy or torch.

    The one log-mel rule of sklasd: :class:`LogMelTransformer` applies it to numpy
    arrays, the classifiers' in-network front end
    (:class:`sklasd.classifiers.MelFrontend`) to torch tensors.

    Parameters
    ----------
    S : ndarray or torch.Tensor of shape (..., 1 + n_fft // 2, n_frames), float32
        Magnitude spectrograms raised to ``power``; not changed.
    mel_basis : ndarray or torch.Tensor of shape (n_mels, 1 + n_fft // 2), default=None
        Mel filterbank (``librosa.filters.mel``); None skips the mel stage.
    power : float, default=2.0
        The exponent of ``S`` (2: power, 1: magnitude).
    log : {"db", "ln", None}, default="db"
        ``"db"``: ``20 / power * log10(M + eps)``; ``"ln"``: ``log(M + eps)``; None:
        the mel spectrogram ``M`` itself.
    eps : float, default=sys.float_info.epsilon
        Added before the logarithm.

    Returns
    -------
    M : ndarray or torch.Tensor of shape (..., n_mels, n_frames), float32
        Same type as ``S``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.features import log_mel
    >>> log_mel(np.full((1, 3, 2), 100.0, dtype=np.float32)).round(3).tolist()
    [[[20.0, 20.0], [20.0, 20.0], [20.0, 20.0]]]
    """
    if isinstance(S, np.ndarray):
        # a new array either way, so the in-place steps below never touch S
        M = np.array(S, order="C") if mel_basis is None else np.matmul(mel_basis, S)
        return _log_inplace(M, power=power, log=log, eps=eps)
    import torch

    M = S if mel_basis is None else torch.matmul(mel_basis, S)
    if log is None:
        return M
    if log == "db":
        return torch.log10(M + eps) * (20.0 / power)
    return torch.log(M + eps)


def _log_inplace(M, *, power, log, eps):
    """:func:`log_mel`'s logarithm of a float32 array, written over ``M``."""
    if log is None:
        return M
    M += np.float32(eps)
    if log == "db":
        np.log10(M, out=M)
        M *= np.float32(20.0 / power)
        return M
    return np.log(M, out=M)


#: Samples a worker decodes at a time: chunks of long clips hold fewer clips.
CHUNK_SAMPLES = 2 ** 20


def _is_path(x):
    return isinstance(x, (str, os.PathLike))


def _frames(n_samples, n_fft, hop_length, center):
    """Number of STFT frames librosa produces for a signal of ``n_samples``."""
    if center:
        n_samples += 2 * (n_fft // 2)
    return 1 + (n_samples - n_fft) // hop_length


def _resampled_length(path, sr):
    """Length in samples of ``path`` after :func:`sklasd.audio.load_audio` at ``sr``,
    read from the header only (librosa fixes a resampled length to ceil(n * ratio))."""
    samplerate, _, frames = read_header(path)
    if sr is None or samplerate == sr:
        return frames
    return int(np.ceil(frames * sr / samplerate))


#: Relative difference from the training clips' duration above which a clip is named
#: in a warning (and in the ``notes`` of ``sklasd run``).
DURATION_TOLERANCE = 0.1


def duration_outliers(durations, reference, tolerance=DURATION_TOLERANCE):
    """Positions of the clips whose duration differs from ``reference`` by > ``tolerance``.

    Parameters
    ----------
    durations : array-like of shape (n_clips,)
        Clip durations in seconds.
    reference : float
        The training clips' duration in seconds.
    tolerance : float, default=0.1
        Relative difference allowed.

    Returns
    -------
    positions : ndarray of int

    Examples
    --------
    >>> duration_outliers([10.0, 10.5, 3.2, 60.0], 10.0).tolist()
    [2, 3]
    """
    durations = np.asarray(durations, dtype=float)
    return np.flatnonzero(np.abs(durations - reference) > tolerance * reference)


def _length_groups(lengths):
    """``[(length, positions), ...]`` of clips of equal length, by first appearance."""
    groups = {}
    for i, n in enumerate(lengths):
        groups.setdefault(n, []).append(i)
    return [(n, np.asarray(pos)) for n, pos in groups.items()]


def _fit_length(y, n_samples, pad):
    """Crop ``y`` to ``n_samples`` from its start, or pad its end by ``pad``."""
    if y.shape[0] >= n_samples:
        return y[:n_samples]
    return np.pad(y, (0, n_samples - y.shape[0]), mode=pad)


class LogMelTransformer(TransformerMixin, BaseEstimator):
    """Batched log-mel spectrograms of audio clips, equal to librosa's.

    Computes ``librosa.feature.melspectrogram`` followed by a logarithm for every
    clip, but over stacks of clips at once with the window and mel basis built once
    in :meth:`fit`, and with file decoding and chunks of clips spread over
    ``n_jobs`` threads.

    Parameters
    ----------
    sr : int, default=16000
        Sample rate in Hz. Files at another rate are resampled to it
        (:func:`librosa.resample`); arrays are assumed to be at this rate.
    n_fft : int, default=1024
        FFT length in samples.
    hop_length : int, default=512
        Hop between frames in samples.
    win_length : int or None, default=None
        Window length in samples (``n_fft`` when None); zero-padded to ``n_fft``.
    window : str, tuple or callable, default="hann"
        Any window :func:`librosa.filters.get_window` accepts.
    n_mels : int or None, default=128
        Number of mel bands. None skips the mel filterbank: the output is the
        linear-frequency spectrogram ``|STFT|**power`` of ``1 + n_fft // 2`` bins
        (then ``log`` as usual; ``log=None`` for linear magnitudes), the input of
        the augmentations that act before mel scaling (:mod:`sklasd.augment`) and
        of a classifier's in-network mel front end (``frontend=``).
    fmin, fmax : float, default=0.0, None
        Frequency range of the mel filterbank in Hz (``fmax=None`` is ``sr / 2``).
    htk, norm : see :func:`librosa.filters.mel`, default=False, "slaney"
    power : float, default=2.0
        Exponent of the magnitude spectrogram (2 = power, 1 = magnitude).
    center : bool, default=True
        Pad the signal by ``n_fft // 2`` on both sides so frame ``t`` is centred at
        ``t * hop_length``, as librosa does.
    pad_mode : str, default="constant"
        :func:`numpy.pad` mode of that centring padding (librosa's default).
    log : {"db", "ln", None}, default="db"
        ``"db"``: ``20 / power * log10(S + eps)`` (``10 * log10`` of a power
        spectrogram, as the DCASE baselines compute it); ``"ln"``: ``log(S + eps)``;
        None: the linear mel spectrogram.
    eps : float, default=sys.float_info.epsilon
        Floor added before the logarithm (the DCASE baselines' value).
    duration : float or None, default=None
        Length in seconds every clip is cropped (from its start) or padded to.
        None processes every clip at its own length: a clip's spectrogram never
        depends on the other clips of the call (clips of equal length are batched).
    pad : {"constant", "wrap", "edge"}, default="constant"
        :func:`numpy.pad` mode that extends shorter clips to that length: zeros,
        the clip repeated, or its last sample held.
    channel : int or None, default=None
        For files: None down-mixes all channels to mono; an int selects one channel.
    precision : {"single", "double"}, default="single"
        ``"single"`` computes the FFT in float32 (fast); ``"double"`` in float64 and
        then casts to complex64, as librosa does for float32 audio, which agrees with
        librosa to about 1e-6 dB but is slower. See Notes.
    batch_size : int, default=4
        Clips a worker decodes and transforms at a time (one clip's frames are one
        vectorized FFT, in buffers the worker reuses); fewer for long clips, at most
        about 2 ** 20 samples a chunk. A long recording's spectrum is computed 4096
        frames at a time, so memory grows with its decoded size only, not with
        the STFT's (each frame's spectrum is the same either way).
    n_jobs : int or None, default=None
        Threads that decode files and transform chunks (joblib's meaning: None is 1,
        -1 all cores); each takes the next chunk when free, so decoding in one
        overlaps computing in another. soundfile, the FFT and BLAS release the GIL.
    verbose : int, default=0
        1 shows a tqdm progress bar over the clips.

    Attributes
    ----------
    window_ : ndarray of shape (n_fft,), float32 or float64
        The analysis window, zero-padded to ``n_fft``.
    mel_basis_ : ndarray of shape (n_mels, 1 + n_fft // 2), float32, or None
        The mel filterbank (None when ``n_mels`` is None).
    training_duration_ : float or None
        Median duration in seconds of the clips given to :meth:`fit` (None when
        fitted without clips); later clips that differ by more than 10 % are named
        in a warning.

    Notes
    -----
    For each clip ``y``: ``S = mel_basis_ @ |STFT(y)|**power`` and, with
    ``log="db"``, the output is ``20 / power * log10(S + eps)``. The mel product
    skips the zeros of the mel basis (98.5 % of it with the DCASE settings): each
    group of 16 consecutive filters is multiplied by the FFT bins where it is
    nonzero only. Parity with
    ``librosa.feature.melspectrogram`` (same parameters, DCASE settings), measured on
    313 real 10-11 s clips (DCASE 2020 Task 2, six machine types; DCASE 2023 valve):
    ``precision="double"`` is within 1.1e-5 dB everywhere; ``precision="single"`` is
    within 8.2e-5 dB in the bins within 60 dB of each clip's peak, and within 1.3e-3
    dB overall (the quietest top-mel bins of ToyConveyor clips, where float32
    rounding of the FFT shows). ``tests/test_features.py`` checks both.

    Inputs: a 2-D float or integer PCM array ``(n_clips, n_samples)`` (integers are
    scaled as soundfile scales them: int16 by 1 / 32768, uint8 as ``(y - 128) /
    128``), a list of 1-D arrays of any lengths, or a list
    or array of paths (str or os.PathLike). A clip must hold at least ``n_fft``
    samples (one whole analysis frame) and only finite values.

    References
    ----------
    DCASE 2020 Task 2 baseline (``common.py``: ``file_to_vector_array``) and
    Koizumi et al., WASPAA 2019 section 4 (log-mel features).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.features import LogMelTransformer
    >>> X = np.random.default_rng(0).uniform(-1, 1, (3, 16000)).astype("float32")
    >>> LogMelTransformer(n_mels=64).fit_transform(X).shape
    (3, 64, 32)
    >>> LogMelTransformer(n_mels=None, log=None, power=1.0).fit_transform(X).shape
    (3, 513, 32)
    >>> clips = [X[0], X[1, :8000]]  # unequal lengths: each clip at its own length
    >>> [S.shape for S in LogMelTransformer(n_mels=64).fit().transform(clips)]
    [(64, 32), (64, 16)]
    """

    _parameter_constraints = {
        "sr": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_fft": [Interval(numbers.Integral, 2, None, closed="left")],
        "hop_length": [Interval(numbers.Integral, 1, None, closed="left")],
        "win_length": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "window": [str, tuple, callable],
        "n_mels": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "fmin": [Interval(numbers.Real, 0, None, closed="left")],
        "fmax": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "htk": ["boolean"],
        "norm": [StrOptions({"slaney"}), numbers.Real, None],
        "power": [Interval(numbers.Real, 0, None, closed="neither")],
        "center": ["boolean"],
        "pad_mode": [str],
        "log": [StrOptions({"db", "ln"}), None],
        "eps": [Interval(numbers.Real, 0, None, closed="left")],
        "duration": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "pad": [StrOptions({"constant", "wrap", "edge"})],
        "channel": [numbers.Integral, None],
        "precision": [StrOptions({"single", "double"})],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_jobs": [numbers.Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        sr=16000,
        n_fft=1024,
        hop_length=512,
        win_length=None,
        window="hann",
        n_mels=128,
        fmin=0.0,
        fmax=None,
        htk=False,
        norm="slaney",
        power=2.0,
        center=True,
        pad_mode="constant",
        log="db",
        eps=sys.float_info.epsilon,
        duration=None,
        pad="constant",
        channel=None,
        precision="single",
        batch_size=4,
        n_jobs=None,
        verbose=0,
    ):
        self.sr = sr
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.window = window
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.htk = htk
        self.norm = norm
        self.power = power
        self.center = center
        self.pad_mode = pad_mode
        self.log = log
        self.eps = eps
        self.duration = duration
        self.pad = pad
        self.channel = channel
        self.precision = precision
        self.batch_size = batch_size
        self.n_jobs = n_jobs
        self.verbose = verbose

    def fit(self, X=None, y=None):
        """Build the window and the mel basis; note the duration of the clips of ``X``.

        Parameters
        ----------
        X : clips as in :meth:`transform`, or None
            Only validated and measured (file headers): their median duration
            becomes ``training_duration_``; the features need no training.
        y : ignored

        Returns
        -------
        self : LogMelTransformer
        """
        import librosa

        self._validate_params()
        lengths = None if X is None else self._check_input(X)
        self.training_duration_ = (
            None if lengths is None else float(np.median(lengths)) / self.sr
        )
        win_length = self.n_fft if self.win_length is None else self.win_length
        if win_length > self.n_fft:
            raise ValueError(
                f"win_length={win_length} must not exceed n_fft={self.n_fft}"
            )
        if self.fmax is not None and self.fmax > self.sr / 2:
            raise ValueError(
                f"fmax={self.fmax} Hz is above the Nyquist frequency sr / 2 = "
                f"{self.sr / 2} Hz"
            )
        fdtype = np.float64 if self.precision == "double" else np.float32
        window = librosa.filters.get_window(self.window, win_length, fftbins=True)
        self.window_ = librosa.util.pad_center(window, size=self.n_fft).astype(fdtype)
        self.mel_basis_ = None if self.n_mels is None else librosa.filters.mel(
            sr=self.sr, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin,
            fmax=self.fmax, htk=self.htk, norm=self.norm, dtype=np.float32,
        )
        return self

    def transform(self, X):
        """Compute the log-mel spectrogram of every clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_samples), list of 1-D arrays, or list of paths
            Audio in [-1, 1] at ``sr`` Hz, or audio files.

        Returns
        -------
        S : ndarray of shape (n_clips, n_mels, n_frames), float32, or list
            ``(n_clips, 1 + n_fft // 2, n_frames)`` when ``n_mels`` is None.
            ``n_frames = 1 + n_samples // hop_length`` with ``center=True``, where
            ``n_samples`` is ``duration * sr`` or the clip's own length. With
            ``duration=None`` and clips of unequal lengths, a list of ``n_clips``
            arrays of shape ``(n_mels, n_frames_i)``, each clip at its own length
            (what ``FrameStacker``, ``SpectrogramScaler``, the detectors and the
            classifiers take).

        Warns
        -----
        UserWarning
            Naming the clips whose duration differs by more than 10 % from the
            clips ``fit`` saw (a truncated or wrong file).

        Raises
        ------
        AudioError (ValueError)
            Naming the file or sample index: an unreadable, corrupt or empty file, a
            file whose rate is unusable, a non-finite sample, a clip shorter than
            ``n_fft`` samples. Nothing is returned unless every clip is valid.
        ValueError
            If ``X`` is not one of the accepted layouts.
        """
        check_is_fitted(self, "window_")
        sources, lengths = self._checked_sources(X)
        self._warn_durations(sources, lengths)
        if self.duration:
            lengths = [int(round(self.duration * self.sr))] * len(lengths)
        out = self._allocate(lengths)
        chunks = [(pos[k:k + per_chunk], n)
                  for n, pos in _length_groups(lengths)
                  for per_chunk in [max(1, min(self.batch_size, CHUNK_SAMPLES // n))]
                  for k in range(0, len(pos), per_chunk)]
        if self.verbose:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, desc="log-mel", unit="chunk", leave=False)
        n_workers = min(effective_n_jobs(self.n_jobs), len(lengths))
        # one BLAS thread: the banded mel products are too small to share (a
        # 2-thread BLAS made n_jobs=1 several times slower on 2 loaded cores)
        with _blas_controller().limit(limits=1, user_api="blas"):
            _run_workers(self._transform_chunks, n_workers, iter(chunks), sources, out)
        return out

    def _warn_durations(self, sources, lengths):
        """Warn about clips whose duration differs by >10 % from the training clips'."""
        reference = getattr(self, "training_duration_", None)
        if reference is None or self.duration:
            return
        odd = duration_outliers(np.asarray(lengths) / self.sr, reference)
        if odd.size:
            names = ", ".join(_source_name(sources[i], i) for i in odd[:5])
            more = f" and {odd.size - 5} more" if odd.size > 5 else ""
            warnings.warn(
                f"{odd.size} clip(s) differ in duration by more than "
                f"{DURATION_TOLERANCE:.0%} from the training clips' {reference:.2f} s "
                f"(a truncated or wrong file?): {names}{more}", stacklevel=3)

    def _allocate(self, lengths):
        """The output: one array if all clips have one length, else a list of clips."""
        n_bins = self.n_fft // 2 + 1 if self.n_mels is None else self.n_mels
        if len(set(lengths)) == 1:
            n_frames = _frames(lengths[0], self.n_fft, self.hop_length, self.center)
            return np.empty((len(lengths), n_bins, n_frames), dtype=np.float32)
        return [None] * len(lengths)

    def _check_input(self, X):
        """Validate ``X`` cheaply (file headers, array values) without transforming."""
        sources, lengths = self._checked_sources(X)
        if isinstance(sources, np.ndarray):
            if not np.isfinite(sources).all():
                raise AudioError("input contains NaN or inf")
        else:
            for i, s in enumerate(sources):
                if not _is_path(s):
                    check_signal(s, i)
        return lengths

    def _checked_sources(self, X):
        """:meth:`_sources`, checking there is a clip and each is one frame long."""
        sources, lengths = self._sources(X)
        if len(sources) == 0:
            raise ValueError("expected at least one clip, got 0 sample(s)")
        for i, n in enumerate(lengths):
            if n < self.n_fft:
                raise AudioError(
                    f"{_source_name(sources[i], i)}: clip has {n} samples, at least "
                    f"n_fft={self.n_fft} are needed (one analysis frame)"
                )
        return sources, lengths

    def _sources(self, X):
        """Split ``X`` into per-clip sources (paths or 1-D arrays) and their lengths."""
        if _is_path(X) or (isinstance(X, np.ndarray) and X.ndim == 1 and X.dtype.kind == "f"):
            raise ValueError(
                "expected a 2-D array (n_clips, n_samples), a list of 1-D arrays or a "
                f"list of paths; got a single {type(X).__name__}: wrap one clip in a list"
            )
        if hasattr(X, "toarray"):
            raise TypeError("sparse input is not supported: pass audio as dense arrays")
        if hasattr(X, "__array__") and not isinstance(X, np.ndarray):
            X = np.asarray(X)  # array-likes such as pandas or torch objects
        if isinstance(X, np.ndarray) and X.dtype == object and X.ndim == 2:
            X = X.astype(np.float64)  # a 2-D object array of numbers, not of paths
        if isinstance(X, np.ndarray) and X.dtype.kind == "c":
            raise ValueError("Complex data not supported: audio must be real")
        if isinstance(X, np.ndarray) and X.dtype.kind in "fiu":
            if X.ndim != 2:
                raise ValueError(
                    f"expected audio of shape (n_clips, n_samples), got shape {X.shape}"
                )
            return pcm_to_float(X), [X.shape[1]] * X.shape[0]
        sources = list(X)
        if all(_is_path(s) for s in sources):
            return sources, [_resampled_length(p, self.sr) for p in sources]
        arrays = []
        for i, s in enumerate(sources):
            s = np.asarray(s)
            if s.dtype.kind not in "fiu" or s.ndim != 1:
                raise ValueError(
                    f"sample {i}: expected a 1-D float array or a path, got "
                    f"{type(s).__name__} of shape {s.shape} and dtype {s.dtype}"
                )
            arrays.append(pcm_to_float(s))
        return arrays, [s.shape[0] for s in arrays]

    def _load(self, sources, i):
        """Clip ``i`` as a validated float32 1-D array."""
        s = sources[i]
        if _is_path(s):
            return load_audio(s, sr=self.sr, channel=self.channel)[0]
        return check_signal(np.asarray(s, dtype=np.float32), i)

    def _transform_chunks(self, next_chunk, sources, out):
        """One worker: transform chunks ``(positions, n_samples)`` until none is left,
        reusing its buffers from chunk to chunk."""
        workspace = Workspace()
        bands = None if self.mel_basis_ is None else MelBands(self.mel_basis_)
        while (chunk := next_chunk()) is not None:
            check_interrupted()
            positions, n_samples = chunk
            if n_samples > CHUNK_SAMPLES and self._stream(sources[positions[0]], n_samples,
                                                          out, positions[0], bands, workspace):
                continue  # a long recording, alone in its chunk, read block by block
            signals = self._decode_chunk(sources, positions, n_samples, workspace)
            for i, frames in zip(positions, frame(signals, self.n_fft, self.hop_length)):
                self._write_blocks(self._clip_out(out, i, len(frames)),
                                   lambda start, stop: frames[start:stop], bands, workspace)

    def _write_blocks(self, clip, frames_of, bands, workspace):
        """Log-mel of one clip into ``clip``, ``BLOCK_FRAMES`` frames at a time (a short
        clip in one block); ``frames_of(start, stop)`` gives those frames ``(stop -
        start, n_fft)``, or None when they cannot be read (then False is returned)."""
        for start in range(0, clip.shape[1], BLOCK_FRAMES):
            check_interrupted()
            stop = min(start + BLOCK_FRAMES, clip.shape[1])
            frames = frames_of(start, stop)
            if frames is None:
                return False
            S = power_spectrum(frames, self.window_, self.power, workspace)
            self._write_block(clip[:, start:stop], S, bands)
        return True

    def _stream(self, source, n_samples, out, i, bands, workspace):
        """Clip ``i`` from a file, each block of frames decoded on its own (the padded
        signal's samples the block spans): memory bounded whatever the length.

        Returns False, with ``out[i]`` unspecified, where :func:`read_into` does not
        apply (resampling, down-mixing, a short or bad file: the whole-clip path
        decodes it or names the problem) or the padding needs the whole signal.
        """
        if not _is_path(source) or (self.center and self.pad_mode != "constant"):
            return False
        half = self.n_fft // 2 if self.center else 0
        hop, n_fft = self.hop_length, self.n_fft
        pcm = workspace.get("pcm", (min(n_samples, PCM_BLOCK),), np.int16)

        def frames_of(start, stop):
            first = start * hop - half  # the block's first sample in the clip
            block = workspace.get("block", ((stop - start - 1) * hop + n_fft,), np.float32)
            lo, hi = max(first, 0), min(first + len(block), n_samples)
            block[:lo - first] = 0  # the centring pads
            block[hi - first:] = 0
            if not read_into(source, block[lo - first:hi - first], self.sr, self.channel,
                             pcm, start=lo):
                return None
            return frame(block[None], n_fft, hop)[0]

        n_frames = _frames(n_samples, n_fft, hop, self.center)
        return self._write_blocks(self._clip_out(out, i, n_frames), frames_of, bands,
                                  workspace)

    def _decode_chunk(self, sources, positions, n_samples, workspace):
        """The chunk's clips, padded for centring, in a reused float32 buffer.

        Buffer rows are ``[pad | clip | pad]``; files at ``sr`` with one channel
        are decoded straight into their row.
        """
        half = self.n_fft // 2 if self.center else 0
        signals = workspace.get("signals", (len(positions), n_samples + 2 * half),
                                np.float32)
        pcm = workspace.get("pcm", (min(n_samples, PCM_BLOCK),), np.int16)
        for row, i in zip(signals, positions):
            clip = row[half:half + n_samples]
            s = sources[i]
            if not (_is_path(s) and read_into(s, clip, self.sr, self.channel, pcm)):
                clip[:] = _fit_length(self._load(sources, i), n_samples, self.pad)
            if half and self.pad_mode != "constant":
                row[:] = np.pad(clip, half, mode=self.pad_mode)
        return signals

    def _clip_out(self, out, i, n_frames):
        """Clip ``i``'s ``(n_bins, n_frames)`` array of ``out`` (made for a list)."""
        if isinstance(out, list):
            n_bins = self.n_fft // 2 + 1 if self.n_mels is None else self.n_mels
            out[i] = np.empty((n_bins, n_frames), dtype=np.float32)
        return out[i]

    def _write_block(self, out, power, bands):
        """Mel product and logarithm of a power spectrogram block into ``out``."""
        if bands is None:
            out[...] = power
        else:
            bands.apply(power, out)
        _log_inplace(out, power=self.power, log=self.log, eps=self.eps)

    def spectrogram_axes(self):
        """The axes of the spectrograms :meth:`transform` returns.

        A step that turns waveforms into spectrograms has this method: the anomaly
        maps of :meth:`sklasd.pipeline.Pipeline.anomaly_map` are put back on its
        output, and the run report draws it (:func:`sklasd.pipeline.spectrogram_step`).

        Returns
        -------
        axes : dict
            ``sr`` (int, Hz), ``hop_length`` (int, samples per frame), ``fmin`` and
            ``fmax`` (float, Hz: the band the mel filters cover).
        """
        return {"sr": self.sr, "hop_length": self.hop_length, "fmin": self.fmin,
                "fmax": self.fmax or self.sr / 2}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True  # lists of file paths
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


@functools.cache
def _blas_controller():
    # made once: threadpool_limits() finds the loaded libraries anew, ~3 ms a call
    return ThreadpoolController()


def _run_workers(work, n_workers, chunks, *args):
    """``work(next_chunk, *args)`` in ``n_workers`` threads sharing the ``chunks`` iterator.

    Each worker keeps its own buffers and takes the next chunk when it is free, so
    decoding in one thread overlaps computing in another (soundfile, the FFT and
    BLAS release the GIL). The calling thread is one of the workers. Plain threads,
    not a joblib pool: starting and stopping one costs ~18 ms a call, and a joblib
    backend set by the caller (dask, processes) could not share the output. After
    an error, no worker takes another chunk, and the first error is raised.
    """
    lock = threading.Lock()
    errors = []

    def next_chunk():
        with lock:
            return None if errors else next(chunks, None)

    def run():
        try:
            work(next_chunk, *args)
        except BaseException as exc:  # noqa: B036 (re-raised below, in the caller)
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(n_workers - 1)]
    for thread in threads:
        thread.start()
    run()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _source_name(source, i):
    return clip_name(source) if _is_path(source) else clip_name(i)
