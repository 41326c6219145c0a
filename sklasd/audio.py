"""Audio decoding, resampling and channel selection (soundfile + librosa).

Every function here validates what it reads and raises :class:`AudioError`, a
``ValueError`` whose message names the offending file or sample index.
"""

import os

import numpy as np
import soundfile as sf
from joblib import Parallel, delayed

from sklasd._log import quoted

__all__ = ["AudioError", "load_audio", "load_many", "decode_clips",
           "check_signal", "clip_name", "pcm_to_float", "read_header", "read_headers",
           "read_into"]


class AudioError(ValueError):
    """Bad audio input.

    A corrupt, empty or unreadable file, an unusable sample rate, a non-finite
    sample or a clip too short to analyse.

    Subclass of ``ValueError``, so ``except ValueError`` catches it.
    """


def _plain(path):
    """A path as a plain ``str`` (a numpy string's repr, in soundfile's messages
    too, would read np.str_('...')); anything else unchanged."""
    return str(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else path


def _sf_path(path):
    """``path`` as soundfile is given it: bytes on POSIX, where a name need not be
    valid UTF-8 (soundfile encodes a ``str`` strictly); anything else unchanged."""
    path = _plain(path)
    return os.fsencode(path) if os.name == "posix" and isinstance(path, str) else path


def _name(source):
    """How a message names a clip: its path (bytes that are not UTF-8 escaped), or
    ``sample <i>`` for in-memory data."""
    if isinstance(source, (str, os.PathLike)):
        return f"file {quoted(source)}"
    return f"sample {source}"


def clip_name(source):
    """How a message names a clip: ``file '<path>'``, or ``sample <i>``.

    Parameters
    ----------
    source : str, path-like or int
        A file's path, or the index of an in-memory clip.

    Returns
    -------
    name : str

    Examples
    --------
    >>> clip_name("fan/0001.wav"), clip_name(3)
    ("file 'fan/0001.wav'", 'sample 3')
    """
    return _name(source)


def read_header(path):
    """Sample rate, channels and length of an audio file, from its header only.

    Every header sklasd reads is read here (the loaders read each file's once and
    carry it in their ``frame``).

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    sr : int
        Sample rate in Hz.
    channels : int
        Number of channels.
    frames : int
        Samples per channel.

    Raises
    ------
    AudioError
        If the file cannot be opened or decoded, or its sample rate is not positive.
    """
    path = _plain(path)
    try:
        with sf.SoundFile(_sf_path(path)) as f:  # cheaper than sf.info (reads the log)
            sr, channels, frames = int(f.samplerate), int(f.channels), int(f.frames)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
        raise AudioError(f"{_name(path)}: {_why_unreadable(path, exc)}") from exc
    if sr <= 0:
        raise AudioError(f"{_name(path)}: unusable sample rate {sr} Hz")
    return sr, channels, frames


def read_headers(paths):
    """:func:`read_header` of many files, 0 for what cannot be read.

    Parameters
    ----------
    paths : sequence of str or path-like

    Returns
    -------
    sr, frames : ndarray of int64, shape (n_files,)
        Sample rate (Hz) and samples per channel of each file; 0 and 0 where the
        header cannot be read (decoding the file later raises the AudioError
        naming it).
    """
    sr, frames = np.zeros(len(paths), dtype=np.int64), np.zeros(len(paths), dtype=np.int64)
    for i, path in enumerate(paths):
        try:
            sr[i], _, frames[i] = read_header(path)
        except AudioError:
            continue
    return sr, frames


def _why_unreadable(path, exc):
    """libsndfile says "System error." for a file it may not open: say why."""
    if isinstance(path, (str, os.PathLike)) and os.path.isfile(path):
        if not os.access(path, os.R_OK):
            return "cannot be read: permission denied"
        if os.path.getsize(path) == 0:
            return "cannot be decoded: the file is empty (0 bytes)"
    elif isinstance(path, (str, os.PathLike)) and not os.path.exists(path):
        return "cannot be read: no such file"
    reason = str(exc)
    if reason.startswith("Error opening "):  # soundfile repeats the path: keep its reason
        reason = reason.split("': ", 1)[-1]
    return f"cannot be decoded ({reason})"


def check_signal(y, source, min_samples=1):
    """Check one decoded clip: 1-D, long enough, finite.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        The clip.
    source : str, os.PathLike or int
        Its path or sample index, used in error messages.
    min_samples : int, default=1
        The shortest acceptable length in samples.

    Returns
    -------
    y : ndarray of shape (n_samples,)
        The same array.

    Raises
    ------
    AudioError
        If the clip is not 1-D, shorter than ``min_samples`` or holds NaN or inf.
    """
    if y.ndim != 1:
        raise AudioError(
            f"{_name(source)}: expected a 1-D signal, got shape {y.shape}"
        )
    if y.shape[0] < min_samples:
        raise AudioError(
            f"{_name(source)}: clip has {y.shape[0]} samples, at least "
            f"{min_samples} are needed (one analysis frame)"
        )
    if not np.isfinite(y).all():
        bad = int(np.flatnonzero(~np.isfinite(y))[0])
        raise AudioError(
            f"{_name(source)}: non-finite value (NaN or inf) at sample {bad}"
        )
    return y


def pcm_to_float(y):
    """Scale integer PCM samples to float32 in [-1, 1] as soundfile reads them.

    Signed integers are divided by ``2 ** (bits - 1)`` (int16: 32768); unsigned
    8-bit samples (the WAV convention, silence at 128) become ``(y - 128) / 128``.
    Float arrays are returned unchanged.

    Parameters
    ----------
    y : array-like of int or float
        Samples of any shape.

    Returns
    -------
    y : ndarray of the same shape, float32 (or the input float array itself)

    Raises
    ------
    ValueError
        If ``y`` holds neither integers nor floats (booleans, strings, complex).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.audio import pcm_to_float
    >>> pcm_to_float(np.array([-32768, 0, 16384], dtype=np.int16)).tolist()
    [-1.0, 0.0, 0.5]
    >>> pcm_to_float(np.array([0, 128, 192], dtype=np.uint8)).tolist()
    [-1.0, 0.0, 0.5]
    """
    y = np.asarray(y)
    if y.dtype.kind == "f":
        return y
    if y.dtype.kind not in "iu":
        raise ValueError(f"expected integer PCM or float samples, got dtype {y.dtype}")
    half = float(2 ** (8 * y.dtype.itemsize - 1))
    offset = half if y.dtype.kind == "u" else 0.0
    return ((y.astype(np.float64) - offset) / half).astype(np.float32)


def _select_channels(data, path, channel):
    """Down-mix ``(n_samples, n_channels)`` to mono, or pick one channel."""
    if channel is None:
        return data.mean(axis=1, dtype=np.float32)
    if not -data.shape[1] <= channel < data.shape[1]:
        raise AudioError(
            f"{_name(path)}: channel {channel} requested but the file has "
            f"{data.shape[1]} channel(s)"
        )
    return np.ascontiguousarray(data[:, channel])


def load_audio(path, *, sr=None, channel=None, min_samples=1):
    """Decode one audio file to a mono float32 signal.

    Parameters
    ----------
    path : str or os.PathLike
        Any format libsndfile reads (wav, flac, ogg, ...).
    sr : int or None, default=None
        Target sample rate in Hz. When the file's rate differs, the signal is
        resampled with :func:`librosa.resample` (its default ``soxr_hq``). None keeps
        the file's rate.
    channel : int or None, default=None
        None down-mixes all channels to mono (their mean, as librosa does); an int
        selects that channel (negative counts from the end).
    min_samples : int, default=1
        The shortest acceptable decoded length in samples (after resampling).

    Returns
    -------
    y : ndarray of shape (n_samples,), float32
        Samples in [-1, 1] (integer PCM is scaled as soundfile does).
    sr : int
        The sample rate of ``y`` in Hz.

    Raises
    ------
    AudioError
        If the file is missing, corrupt, empty, has an unusable sample rate, holds
        NaN or inf, or is shorter than ``min_samples``.
    """
    path = _plain(path)
    try:
        data, file_sr = sf.read(_sf_path(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
        raise AudioError(f"{_name(path)}: {_why_unreadable(path, exc)}") from exc
    if data.shape[0] == 0:
        raise AudioError(f"{_name(path)}: file holds no samples")
    if file_sr <= 0:
        raise AudioError(f"{_name(path)}: unusable sample rate {file_sr} Hz")
    y = _select_channels(data, path, channel)
    if sr is not None and file_sr != sr:
        import librosa  # deferred: librosa's import is slow and not needed otherwise

        check_signal(y, path)  # resampling NaN would hide the sample index
        y = librosa.resample(y, orig_sr=file_sr, target_sr=sr).astype(
            np.float32, copy=False
        )
        file_sr = sr
    return check_signal(y, path, min_samples), int(file_sr)


#: Samples of a 16-bit file :func:`read_into` converts at a time.
PCM_BLOCK = 2 ** 20


def read_into(path, out, sr, channel=None, pcm=None, start=0):
    """Decode ``len(out)`` samples of a mono file at ``sr`` Hz into ``out``.

    The allocation-free fast path of :func:`load_audio`: it applies only where that
    function would neither resample nor down-mix, and gives the same samples there,
    all finite.

    Parameters
    ----------
    path : str or os.PathLike
    out : ndarray of shape (n_samples,), float32, writeable
        Filled in place.
    sr : int
        The rate the file must have.
    channel : int or None, default=None
        As in :func:`load_audio` (for a mono file None, 0 and -1 are its channel).
    pcm : ndarray of shape (n_block,), int16, or None, default=None
        Scratch buffer for 16-bit PCM files, read ``n_block`` samples at a time
        (allocated with ``min(n_samples, PCM_BLOCK)`` when None): libsndfile reads
        those as integers about 3x faster than as floats, and their scaling by
        1 / 32768 is exact in float32, so ``out`` holds the same samples.
    start : int, default=0
        The first sample read (a block of a long recording).

    Returns
    -------
    done : bool
        False, with ``out`` unspecified, where the file is not mono at ``sr``, holds
        fewer than ``start + len(out)`` samples, a non-finite one, or cannot be read: call
        :func:`load_audio`, which decodes it or names the problem.

    Examples
    --------
    >>> import numpy as np
    >>> read_into("missing.wav", np.empty(4, np.float32), 16000)
    False
    """
    if channel not in (None, 0, -1):
        return False
    n = out.shape[0]
    try:
        with sf.SoundFile(_sf_path(path)) as f:
            if f.samplerate != sr or f.channels != 1 or f.frames < start + n:
                return False
            if start:
                f.seek(start)
            if f.subtype != "PCM_16":
                return (f.read(n, dtype="float32", out=out).shape[0] == n
                        and bool(np.isfinite(out).all()))
            if pcm is None:
                pcm = np.empty(max(1, min(n, PCM_BLOCK)), np.int16)
            for k in range(0, n, len(pcm)):
                block = f.read(out=pcm[:n - k])
                if block.shape[0] != min(len(pcm), n - k):
                    return False
                np.multiply(block, np.float32(1 / 32768), out=out[k:k + len(block)])
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError):
        return False
    return True


def load_many(paths, *, sr=None, channel=None, min_samples=1, n_jobs=None):
    """Decode several files in parallel threads (soundfile releases the GIL).

    Parameters
    ----------
    paths : iterable of str or path-like
        The files.
    sr, channel, min_samples
        As in :func:`load_audio`, applied to every path.
    n_jobs : int or None, default=None
        Threads (joblib's meaning); threads because process workers would pickle
        every decoded array, which measured 3x slower.

    Returns
    -------
    signals : list of ndarray of shape (n_samples_i,), float32
    rates : list of int
    """
    paths = list(paths)
    if n_jobs in (None, 1) or len(paths) < 2:
        results = [load_audio(p, sr=sr, channel=channel, min_samples=min_samples)
                   for p in paths]
    else:
        results = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(load_audio)(p, sr=sr, channel=channel, min_samples=min_samples)
            for p in paths
        )
    return [r[0] for r in results], [r[1] for r in results]


def decode_clips(X, sr=None, n_jobs=None):
    """Audio files as waveforms at ``sr``; waveforms pass through unchanged.

    The first step of a pipeline whose next step takes waveforms (a denoiser, say)
    while its input may be files, as ``FunctionTransformer(decode_clips,
    kw_args={"sr": 16000})``.

    Parameters
    ----------
    X : list of str or path-like, or array-like of waveforms
        Files (any format libsndfile reads), or clips already decoded.
    sr : int or None, default=None
        Sample rate in Hz of the decoded clips (None keeps each file's rate).
    n_jobs : int or None, default=None
        Decoding threads (:func:`load_many`).

    Returns
    -------
    clips : list of ndarray of shape (n_samples_i,), float32, or ``X`` itself
        The decoded files, or ``X`` unchanged where it holds no paths.

    Raises
    ------
    AudioError
        A file that cannot be decoded (the message names it).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.audio import decode_clips
    >>> X = np.zeros((2, 16), dtype=np.float32)
    >>> decode_clips(X) is X
    True
    """
    if len(X) and isinstance(X[0], (str, os.PathLike)):
        return load_many(X, sr=sr, n_jobs=n_jobs)[0]
    return X
