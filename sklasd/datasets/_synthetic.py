"""Synthetic machine recordings (:func:`make_machine_sounds`) and noise mixing
(:func:`mix_at_snr`)."""

import numbers
from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve
from sklearn.utils import check_random_state

from ._layout import make_bunch

__all__ = ["make_machine_sounds", "mix_at_snr", "ANOMALY_TYPES"]

ANOMALY_TYPES = ("bearing", "frequency_shift", "rattle", "impact")
_DEFAULT_TYPES = ("bearing", "frequency_shift", "rattle")

# Signal model constants (see the Notes of make_machine_sounds).
_BASE_ROTATION_HZ = 120.0     # rotation frequency of the first machine ID
_ID_RATIO = 1.3               # each further ID rotates 1.3x faster
_MAX_HARMONIC_HZ = 4000.0     # harmonics above this are not synthesised
_JITTER = 0.004               # relative std of a clip's rotation frequency
_WOBBLE_DEPTH = 0.003         # relative depth of the slow frequency modulation
_TARGET_RMS = 0.05            # every clip's RMS before its random gain
_GAIN_DB = 3.0                # per-clip gain drawn uniformly in +-3 dB
_SHIFT = (0.05, 0.10)         # frequency_shift: relative shift magnitude range
_BEARING_DB = -12.0            # anomaly component power relative to the machine's
_RATTLE_DB = -10.0
_IMPACT_DB = -12.0
_TAIL = 3.0                   # an event ends 3 decay times (-26 dB) after its last onset
_TRUTH = ("anomaly_onset", "anomaly_offset", "anomaly_fmin", "anomaly_fmax")

DESCR = """\
Synthetic machine sounds (sklasd.datasets.make_machine_sounds).

Each machine ID is a motor whose sound is a harmonic series of its rotation
frequency (120 Hz x 1.3**k for the k-th ID, +-3 % per dataset, harmonics up to 4 kHz
under an ID-specific spectral envelope) with per-clip jitter and slow wobble, plus
pink background noise at snr_db. Anomalies: periodic bearing impacts (decaying
2.5-5 kHz resonant clicks throughout the clip, -12 dB re. the machine), a rotation
frequency shifted by 5-10 %, a rattle (an episode of 0.15-0.4 s of dense broadband
bursts, -10 dB) or an impact (1-4 knocks within 0.1 s, decaying 1-3 kHz
resonances, -12 dB). The onset, offset and band of each anomaly are recorded.
Every clip is normalised to the same RMS and then given a random +-3 dB gain, so
loudness alone does not reveal anomalies. File names follow DCASE 2020:
<machine_type>/<split>/<normal|anomaly>_<id>_<NNNNNNNN>.wav.
"""


def _check_params(n_normal, n_anomalous, machine_ids, sr, duration, anomaly_types,
                  train_fraction):
    if not isinstance(n_normal, numbers.Integral) or n_normal < 2:
        raise ValueError(f"n_normal must be an int >= 2 (train and test normals), "
                         f"got {n_normal!r}")
    if not isinstance(n_anomalous, numbers.Integral) or n_anomalous < 1:
        raise ValueError(f"n_anomalous must be an int >= 1, got {n_anomalous!r}")
    if len(machine_ids) == 0 or len(set(machine_ids)) != len(machine_ids):
        raise ValueError(f"machine_ids must be non-empty and unique, got {machine_ids!r}")
    if not isinstance(sr, numbers.Integral) or sr < 2 * _MAX_HARMONIC_HZ + 2000:
        raise ValueError(f"sr must be an int >= {int(2 * _MAX_HARMONIC_HZ + 2000)} Hz, got {sr!r}")
    if not duration > 0.05:
        raise ValueError(f"duration must be > 0.05 s, got {duration!r}")
    unknown = set(anomaly_types) - set(ANOMALY_TYPES)
    if not anomaly_types or unknown:
        raise ValueError(f"anomaly_types must be a non-empty subset of {ANOMALY_TYPES}, "
                         f"got {anomaly_types!r}")
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")


def _clip_table(n_normal, n_anomalous, n_ids, anomaly_types, train_fraction, rng):
    """Per-clip ID index, split, label, number and anomaly kind (all 1-D arrays)."""
    n_train = int(np.clip(round(train_fraction * n_normal), 1, n_normal - 1))
    rows = []
    for i in range(n_ids):
        kinds = [anomaly_types[j % len(anomaly_types)] for j in range(n_anomalous)]
        kinds = [kinds[j] for j in rng.permutation(n_anomalous)]
        rows += [(i, "train" if n < n_train else "test", 0, n, "") for n in range(n_normal)]
        rows += [(i, "test", 1, n, kinds[n]) for n in range(n_anomalous)]
    return [np.asarray(col) for col in zip(*rows)]


def _harmonic_envelopes(n_ids, n_harmonics, rng):
    """Per-ID harmonic amplitudes: a log-Gaussian formant plus a random ripple."""
    formant_hz = 350.0 * 1.9 ** np.arange(n_ids) * rng.uniform(0.9, 1.1, n_ids)
    ripple = rng.uniform(0.6, 1.4, (n_ids, n_harmonics))
    return formant_hz, ripple


def _motor(f_clip, id_index, n_samples, sr, n_ids, rng):
    """Harmonic series of each clip's rotation frequency, float32 (n_clips, n_samples)."""
    n_clips = f_clip.shape[0]
    t = np.arange(n_samples) / sr
    wobble = 1.0 + _WOBBLE_DEPTH * np.sin(
        2 * np.pi * rng.uniform(0.2, 1.0, (n_clips, 1)) * t
        + rng.uniform(0, 2 * np.pi, (n_clips, 1)))
    phase = np.mod(2 * np.pi * np.cumsum(f_clip[:, None] * wobble, axis=1) / sr,
                   2 * np.pi).astype(np.float32)
    n_harmonics = int(_MAX_HARMONIC_HZ // f_clip.min())
    formant_hz, ripple = _harmonic_envelopes(n_ids, n_harmonics, rng)
    out = np.zeros((n_clips, n_samples), dtype=np.float32)
    for h in range(1, n_harmonics + 1):
        f_h = h * f_clip
        amp = (np.exp(-0.5 * (np.log(f_h / formant_hz[id_index]) / 0.7) ** 2) + 0.1)
        amp *= ripple[id_index, h - 1] / np.sqrt(h) * (f_h <= _MAX_HARMONIC_HZ)
        offset = rng.uniform(0, 2 * np.pi, n_clips).astype(np.float32)
        out += amp.astype(np.float32)[:, None] * np.sin(h * phase + offset[:, None])
    return out


def _pink_noise(n_clips, n_samples, sr, rng):
    """Unit-power noise with a 1/f power spectrum (above 20 Hz), float32."""
    spectrum = np.fft.rfft(rng.standard_normal((n_clips, n_samples)).astype(np.float32))
    freqs = np.fft.rfftfreq(n_samples, 1.0 / sr)
    spectrum *= (1.0 / np.sqrt(np.maximum(freqs, 20.0))).astype(np.float32)
    noise = np.fft.irfft(spectrum, n=n_samples).astype(np.float32)
    return noise / np.sqrt(np.mean(noise ** 2, axis=1, keepdims=True))


def _impulses(rates_hz, n_samples, sr, rng, regular, spans=None):
    """Impulse trains (n, n_samples) and each row's first and last impulse time (s).

    Periodic with jitter, or Poisson when not regular; within ``spans`` (n, 2) of
    start and stop times in seconds, the whole clip by default.
    """
    out = np.zeros((rates_hz.shape[0], n_samples), dtype=np.float32)
    if spans is None:
        spans = np.tile([0.0, n_samples / sr], (rates_hz.shape[0], 1))
    bounds = np.empty((rates_hz.shape[0], 2))
    for row, (rate, (start, stop)) in enumerate(zip(rates_hz, spans)):
        if regular:
            times = np.arange(start + rng.uniform(0, 1 / rate), stop, 1 / rate)
            times += rng.normal(0, 0.05 / rate, times.shape)
        else:
            times = rng.uniform(start, stop, rng.poisson(rate * (stop - start)) + 1)
        index = np.clip((times * sr).astype(int), 0, n_samples - 1)
        out[row, index] = rng.uniform(0.6, 1.0, index.shape)
        bounds[row] = index.min() / sr, index.max() / sr
    return out, bounds


def _resonances(impulses, f0, tau, sr, length):
    """Decaying sinusoids ``exp(-t / tau) sin(2 pi f0 t)`` (``length`` s) at the impulses."""
    t = np.arange(int(length * sr)) / sr
    kernel = np.exp(-t / tau) * np.sin(2 * np.pi * f0 * t)
    return fftconvolve(impulses, kernel, axes=1)[:, :impulses.shape[1]].astype(np.float32)


def _band(f0, tau):
    """``(fmin, fmax)`` of a resonance: its -3 dB band ``f0 +- 1 / (2 pi tau)``."""
    half = 1 / (2 * np.pi * tau[:, 0])
    return f0[:, 0] - half, f0[:, 0] + half


def _bearing(f_rot, n_samples, sr, rng):
    """Periodic decaying resonant clicks (2.5-5 kHz, 2-4 ms decay) and their truth."""
    n = f_rot.shape[0]
    rates = f_rot / rng.uniform(4.0, 8.0, n)
    tau = rng.uniform(0.002, 0.004, (n, 1))
    f0 = rng.uniform(2500, 5000, (n, 1))
    impulses, _ = _impulses(rates, n_samples, sr, rng, True)
    nan = np.full(n, np.nan)
    return _resonances(impulses, f0, tau, sr, 0.02), (nan, nan, *_band(f0, tau))


def _episodes(n, n_samples, sr, rng, low, high):
    """``(n, 2)`` random start and stop times (s) of episodes ``low``-``high`` s long."""
    duration = n_samples / sr
    length = np.minimum(rng.uniform(low, high, n), 0.5 * duration)
    start = rng.uniform(0, duration - length)
    return np.column_stack([start, start + length])


def _rattle(n, n_samples, sr, rng):
    """A rattling episode (0.15-0.4 s of broadband bursts, 20-40 per second, 5-15 ms
    decay) and its truth."""
    rates = rng.uniform(20.0, 40.0, n)
    tau = rng.uniform(0.005, 0.015, (n, 1))
    impulses, bounds = _impulses(rates, n_samples, sr, rng, False,
                                 _episodes(n, n_samples, sr, rng, 0.15, 0.4))
    t = np.arange(int(0.06 * sr)) / sr
    bursts = fftconvolve(impulses, np.exp(-t / tau), axes=1)[:, :n_samples]
    noise = rng.standard_normal((n, n_samples))
    nan = np.full(n, np.nan)  # broadband: no band
    return (bursts * noise).astype(np.float32), (*_event_times(bounds, tau, sr, n_samples),
                                                 nan, nan)


def _impact(n, n_samples, sr, rng):
    """1-4 knocks within 0.1 s (decaying 1-3 kHz resonances, 10-30 ms) and their truth."""
    tau = rng.uniform(0.01, 0.03, (n, 1))
    f0 = rng.uniform(1000, 3000, (n, 1))
    impulses, bounds = _impulses(np.full(n, 20.0), n_samples, sr, rng, False,
                                 _episodes(n, n_samples, sr, rng, 0.1, 0.1))
    return _resonances(impulses, f0, tau, sr, 0.15), (*_event_times(bounds, tau, sr, n_samples),
                                                *_band(f0, tau))


def _event_times(bounds, tau, sr, n_samples):
    """Onset and offset (s) of events from their first and last impulse and decay."""
    return bounds[:, 0], np.minimum(bounds[:, 1] + _TAIL * tau[:, 0], n_samples / sr)


def _power(x):
    return np.mean(np.square(x, dtype=np.float64), axis=-1, keepdims=True)


def _scaled(component, reference_power, level_db):
    """``component`` scaled to ``level_db`` relative to ``reference_power`` (per row)."""
    gain = np.sqrt(reference_power * 10 ** (level_db / 10) / np.maximum(_power(component), 1e-20))
    return (component * gain).astype(np.float32)


def _add_anomalies(machine, kinds, f_clip, sr, rng):
    """Add the bearing, rattle and impact components in place (frequency shifts are
    in f_clip); return the truth ``(n_clips, 4)``: onset, offset (s), fmin, fmax (Hz),
    NaN where none applies."""
    power = _power(machine)
    n_samples = machine.shape[1]
    truth = np.full((len(kinds), 4), np.nan)
    for kind, level, make in (
        ("bearing", _BEARING_DB, lambda m: _bearing(f_clip[m], n_samples, sr, rng)),
        ("rattle", _RATTLE_DB, lambda m: _rattle(int(m.sum()), n_samples, sr, rng)),
        ("impact", _IMPACT_DB, lambda m: _impact(int(m.sum()), n_samples, sr, rng)),
    ):
        rows = kinds == kind
        if rows.any():
            component, values = make(rows)
            machine[rows] += _scaled(component, power[rows], level)
            truth[rows] = np.column_stack(values)
    return truth


def make_machine_sounds(n_normal=40, n_anomalous=10, *, machine_type="motor",
                        machine_ids=("id_00", "id_01"), sr=16000, duration=2.0,
                        anomaly_types=_DEFAULT_TYPES, train_fraction=0.75, snr_db=15.0,
                        random_state=None):
    """Generate synthetic machine recordings with known anomalies.

    A motor per machine ID (a harmonic series of its rotation frequency with jitter
    and wobble, plus coloured background noise); anomalous clips add bearing impacts,
    shift the rotation frequency, or add a rattle. This is sklasd's built-in default
    data for demos and fast tests.

    Parameters
    ----------
    n_normal : int, default=40
        Normal clips per machine ID (at least 2); ``train_fraction`` of them form
        the training split, the rest go to the test split.
    n_anomalous : int, default=10
        Anomalous clips per machine ID (at least 1), all in the test split. The
        anomaly types are spread evenly over them.
    machine_type : str, default="motor"
        The machine type label (first part of the synthetic file names).
    machine_ids : sequence of str, default=("id_00", "id_01")
        The machine IDs; the k-th rotates at about 120 * 1.3**k Hz and has its own
        spectral envelope.
    sr : int, default=16000
        Sample rate in Hz (at least 10000).
    duration : float, default=2.0
        Clip length in seconds.
    anomaly_types : sequence of str, default=("bearing", "frequency_shift", "rattle")
        Which anomalies to generate: a non-empty subset of ``ANOMALY_TYPES``,
        these three and ``"impact"``. ``"rattle"`` and ``"impact"`` are localized
        in time, ``"bearing"`` and ``"frequency_shift"`` last the whole clip.
    train_fraction : float, default=0.75
        Share of each ID's normal clips in the training split (rounded, and kept so
        that every ID has at least one train and one test normal clip).
    snr_db : float, default=15.0
        Power ratio in dB of the machine sound to the pink background noise.
    random_state : int, RandomState instance or None, default=None
        Seeds everything; the same seed gives identical data.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        data : ndarray of float32, shape (n_clips, n_samples)
            The waveforms in [-1, 1], ``n_clips = len(machine_ids) * (n_normal +
            n_anomalous)``, ``n_samples = round(duration * sr)``; rows sorted by
            file name.
        sr : int
            ``sr`` in Hz.
        filenames : ndarray of str, shape (n_clips,)
            ``<machine_type>/<split>/<normal|anomaly>_<id>_<NNNNNNNN>.wav``.
        target : ndarray of int64, shape (n_clips,)
            1 = anomaly, 0 = normal.
        machine_type, machine_id, split : ndarray of str, shape (n_clips,)
            The DCASE labels of each clip.
        domain : ndarray of str, shape (n_clips,)
            ``""``.
        attributes : DataFrame
            ``anomaly_type`` (``""`` for normal clips) and ``rotation_hz`` (the
            clip's mean rotation frequency in Hz).
        anomaly_onset, anomaly_offset : ndarray of float64, shape (n_clips,)
            Where the anomaly sounds, in seconds from the clip's start: from the
            first event to ``3 * decay`` after the last (Notes). NaN for normal
            clips and for anomalies that last the whole clip (bearing, frequency
            shift).
        anomaly_fmin, anomaly_fmax : ndarray of float64, shape (n_clips,)
            The anomaly's frequency band in Hz (bearing and impact resonances:
            their -3 dB band); NaN for normal clips, frequency shifts and the
            broadband rattle.
        frame : DataFrame
            All of the above as columns (without the waveforms), the four
            ``anomaly_*`` truth columns included.
        DESCR : str
            Description of the dataset.

    Raises
    ------
    ValueError
        If a parameter is out of range.

    Notes
    -----
    A clip of ID k is ``sum_h a_kh sin(h * phi(t) + theta_h)`` with
    ``phi'(t) = 2 pi f (1 + 0.003 sin(2 pi f_w t + psi))``, ``f`` the ID's rotation
    frequency times ``1 + N(0, 0.004)``, harmonics up to 4 kHz, plus pink noise at
    ``snr_db``. Bearing impacts are decaying 2.5-5 kHz resonances repeated at 1/4 to
    1/8 of the rotation frequency (-12 dB re. the machine); the frequency shift
    multiplies ``f`` by 1 +- (5-10 %); the rattle is an episode of 0.15-0.4 s at
    a random time holding Poisson-timed broadband noise bursts (20-40 per second,
    exponential decay of 5-15 ms, -10 dB); the impact is 1-4 (Poisson) knocks
    within 0.1 s at a random time, each ``exp(-t / tau) sin(2 pi f0 t)`` with
    ``f0`` in 1-3 kHz and ``tau`` in 10-30 ms (-12 dB). Levels are powers over the
    whole clip, so a short event is louder while it lasts. An event's truth runs
    from its first onset to ``3 * tau`` (-26 dB) after its last. Each clip is then scaled to RMS 0.05 and by a random gain of
    +-3 dB, so the anomalies change the spectrum, not the loudness. With the
    defaults (100 clips of 2 s) generation takes about 0.5 s.

    References
    ----------
    Koizumi et al., "ToyADMOS", WASPAA 2019 for the kinds of faults;
    Purohit et al., "MIMII Dataset", DCASE 2019 Workshop.

    Examples
    --------
    >>> from sklasd.datasets import make_machine_sounds
    >>> bunch = make_machine_sounds(random_state=0)
    >>> bunch.data.shape, bunch.data.dtype, bunch.sr
    ((100, 32000), dtype('float32'), 16000)
    >>> int(bunch.target.sum()), sorted(set(bunch.split.tolist()))
    (20, ['test', 'train'])
    >>> str(bunch.filenames[0])
    'motor/test/anomaly_id_00_00000000.wav'
    >>> impacts = make_machine_sounds(4, 2, machine_ids=("id_00",),
    ...                               anomaly_types=("impact",), random_state=0)
    >>> bool((impacts.anomaly_offset - impacts.anomaly_onset < 0.2)[impacts.target == 1].all())
    True
    """
    machine_ids = tuple(machine_ids)
    anomaly_types = tuple(anomaly_types)
    _check_params(n_normal, n_anomalous, machine_ids, sr, duration, anomaly_types,
                  train_fraction)
    rng = check_random_state(random_state)
    n_samples = int(round(duration * sr))
    id_index, split, target, number, kinds = _clip_table(
        n_normal, n_anomalous, len(machine_ids), anomaly_types, train_fraction, rng)

    rotation = _BASE_ROTATION_HZ * _ID_RATIO ** np.arange(len(machine_ids))
    rotation *= rng.uniform(0.97, 1.03, rotation.shape)
    f_clip = rotation[id_index] * (1 + rng.normal(0, _JITTER, id_index.shape))
    shifted = kinds == "frequency_shift"
    sign = rng.choice([-1.0, 1.0], shifted.sum())
    f_clip[shifted] *= 1 + sign * rng.uniform(*_SHIFT, shifted.sum())

    machine = _motor(f_clip, id_index, n_samples, sr, len(machine_ids), rng)
    noise = _scaled(_pink_noise(len(target), n_samples, sr, rng), _power(machine), -snr_db)
    truth = _add_anomalies(machine, kinds, f_clip, sr, rng)
    clips = machine + noise
    gain_db = rng.uniform(-_GAIN_DB, _GAIN_DB, (len(target), 1))
    clips *= (_TARGET_RMS * 10 ** (gain_db / 20) / np.sqrt(_power(clips))).astype(np.float32)
    np.clip(clips, -1.0, 1.0, out=clips)

    labels = np.where(target == 1, "anomaly", "normal")
    names = np.asarray([f"{machine_type}/{s}/{lab}_{machine_ids[i]}_{n:08d}.wav"
                        for s, lab, i, n in zip(split, labels, id_index, number)])
    order = np.argsort(names, kind="stable")
    records = [{"target": int(target[j]), "machine_type": machine_type,
                "machine_id": machine_ids[id_index[j]], "split": split[j],
                "attributes": {"anomaly_type": kinds[j], "rotation_hz": float(f_clip[j])},
                "extra": dict(zip(_TRUTH, truth[j].tolist()))}
               for j in order]
    bunch = make_bunch(records, data=clips[order], filenames=names[order], descr=DESCR,
                       sr=sr)
    for name in _TRUTH:
        bunch[name] = bunch.frame[name].to_numpy()
    return bunch


def _as_signal(x, name):
    x = np.asarray(x)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D (n_samples,) or 2-D "
                         f"(n_clips, n_samples) array, got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        bad = np.unravel_index(np.flatnonzero(~np.isfinite(x))[0], x.shape)
        raise ValueError(f"{name} holds a non-finite value (NaN or inf) at index "
                         f"{tuple(map(int, bad))}")
    return x


def _noise_excerpt(noise, n_samples, rng):
    """A random excerpt of ``noise`` of length ``n_samples``, looped when it is shorter."""
    if noise.shape[0] >= n_samples:
        start = rng.randint(0, noise.shape[0] - n_samples + 1)
        return noise[start:start + n_samples]
    start = rng.randint(0, noise.shape[0])
    return np.take(noise, np.arange(start, start + n_samples), mode="wrap")


def mix_at_snr(signal, noise, snr_db, *, random_state=None):
    """Add noise to a signal at a given signal-to-noise ratio.

    The noise is cropped at a random offset (or looped from a random offset when
    shorter than the signal) to the signal's length, then scaled so that
    ``10 * log10(P_signal / P_noise) = snr_db``, with P the mean power of the signal
    clip and of the noise excerpt. This is how the ToyADMOS benchmark builds its
    training and test sets (Koizumi et al., WASPAA 2019, section 4: randomly cropped environmental
    noise at +10 dB).

    Parameters
    ----------
    signal : array-like of shape (n_samples,) or (n_clips, n_samples)
        The clean signal(s); each row of a 2-D signal gets its own random excerpt.
    noise : array-like of shape (n_noise_samples,)
        The noise recording (any length; looped when shorter than the signal).
    snr_db : float
        Target SNR in dB (may be negative).
    random_state : int, RandomState instance or None, default=None
        Seeds the excerpt offsets.

    Returns
    -------
    mixture : ndarray of float32, same shape as ``signal``
        ``signal + scaled noise`` (not clipped to [-1, 1]).

    Raises
    ------
    ValueError
        If a shape is wrong, a value is not finite, ``snr_db`` is not a finite
        number, the noise is silent, or a signal clip is silent (its row index is
        named), since the SNR is then undefined.

    Notes
    -----
    The noise gain is ``sqrt(P_s / (P_n * 10 ** (snr_db / 10)))``. ToyADMOS states
    the SNR as a fixed gain (target x 3.16 = +10 dB) on level-matched recordings;
    matching powers clip by clip realises the same ratio exactly for any recording.

    References
    ----------
    Koizumi et al., "ToyADMOS: A Dataset of Miniature-Machine Operating Sounds for
    Anomalous Sound Detection", WASPAA 2019, section 4.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.datasets import mix_at_snr
    >>> rng = np.random.RandomState(0)
    >>> signal = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    >>> noise = rng.standard_normal(4000)
    >>> mixture = mix_at_snr(signal, noise, 10.0, random_state=0)
    >>> mixture.shape, mixture.dtype
    ((16000,), dtype('float32'))
    >>> added = mixture - signal
    >>> round(float(10 * np.log10(np.mean(signal ** 2) / np.mean(added ** 2))), 2)
    10.0
    """
    signal = _as_signal(signal, "signal")
    noise = _as_signal(noise, "noise")
    if noise.ndim != 1:
        raise ValueError(f"noise must be 1-D (n_noise_samples,), got shape {noise.shape}")
    if not isinstance(snr_db, numbers.Real) or not np.isfinite(snr_db):
        raise ValueError(f"snr_db must be a finite number in dB, got {snr_db!r}")
    if not np.any(noise):
        raise ValueError("noise is silent (all zeros): the SNR is undefined")
    rows = np.atleast_2d(signal)
    p_signal = _power(rows)[:, 0]
    if np.any(p_signal == 0):
        raise ValueError(f"signal clip {int(np.flatnonzero(p_signal == 0)[0])} is silent "
                         "(all zeros): the SNR is undefined")
    rng = check_random_state(random_state)
    excerpts = np.stack([_noise_excerpt(noise, rows.shape[1], rng) for _ in rows])
    p_noise = _power(excerpts)[:, 0]
    if np.any(p_noise == 0):
        raise ValueError("the noise excerpt is silent (a silent stretch of the noise is "
                         "longer than the signal): the SNR is undefined")
    gain = np.sqrt(p_signal / (p_noise * 10 ** (snr_db / 10)))
    mixture = rows + gain[:, None] * excerpts
    return mixture.reshape(signal.shape).astype(np.float32)


def machine_sounds_folder(*, random_state=0, data_home=None):
    """The built-in generated machine sounds as a folder of WAV files.

    :func:`make_machine_sounds` with its defaults and ``random_state``, written
    once as 32-bit float WAV files (the waveforms exactly) in a DCASE 2020 Task 2
    layout (``motor/train/normal_id_00_00000000.wav``, ``motor/test/...``) and
    reused afterwards. ``sklasd run`` without a data folder runs on it, so the
    generated clips take the same path as any folder of recordings.

    Parameters
    ----------
    random_state : int, default=0
        Seed of :func:`make_machine_sounds`.
    data_home : str, os.PathLike or None, default=None
        scikit-learn's data home; the files go to
        ``<data_home>/sklasd/machine_sounds/random_state_<seed>``.

    Returns
    -------
    folder : pathlib.Path
        The folder (absolute).

    Raises
    ------
    ValueError
        If ``random_state`` is not an integer.
    """
    import os
    import shutil
    import tempfile

    import soundfile as sf

    from ._fetch import get_sklasd_data_home

    if not isinstance(random_state, numbers.Integral) or isinstance(random_state, bool):
        raise ValueError(f"random_state must be an integer, got {random_state!r}")
    parent = get_sklasd_data_home(data_home) / "machine_sounds"
    folder = parent / f"random_state_{int(random_state)}"
    if folder.is_dir():
        return folder.resolve()
    parent.mkdir(parents=True, exist_ok=True)
    bunch = make_machine_sounds(random_state=random_state)
    stage = Path(tempfile.mkdtemp(prefix=".writing-", dir=parent))
    try:
        for name, y in zip(bunch.filenames, bunch.data):
            (stage / name).parent.mkdir(parents=True, exist_ok=True)
            sf.write(stage / name, y, bunch.sr, subtype="FLOAT")
        try:
            os.rename(stage, folder)  # another process may have written it meanwhile
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return folder.resolve()
