import re

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import stft
from sklearn.decomposition import PCA
from sklearn.metrics import roc_auc_score

from sklasd.datasets import make_machine_sounds, mix_at_snr


@pytest.fixture(scope="module")
def bunch():
    return make_machine_sounds(random_state=0)


def test_defaults_shape_dtype_and_keys(bunch):
    assert bunch.data.shape == (100, 32000) and bunch.data.dtype == np.float32
    assert bunch.sr == 16000
    assert np.abs(bunch.data).max() <= 1.0 and np.isfinite(bunch.data).all()
    assert set(bunch.keys()) == {"data", "sr", "filenames", "target", "machine_type",
                                 "machine_id", "split", "domain", "attributes", "frame",
                                 "DESCR", "anomaly_onset", "anomaly_offset",
                                 "anomaly_fmin", "anomaly_fmax"}
    assert bunch.target.dtype == np.int64 and int(bunch.target.sum()) == 20
    assert set(bunch.domain) == {""} and set(bunch.machine_type) == {"motor"}
    assert list(bunch.filenames) == sorted(bunch.filenames)
    assert list(bunch.frame["filename"]) == list(bunch.filenames)


def test_filenames_follow_dcase2020_and_labels(bunch):
    pattern = re.compile(r"^motor/(train|test)/(normal|anomaly)_(id_\d\d)_\d{8}\.wav$")
    for name, target, split, machine_id in zip(bunch.filenames, bunch.target, bunch.split,
                                               bunch.machine_id):
        match = pattern.match(name)
        assert match, name
        assert (match[1], match[2], match[3]) == (
            split, "anomaly" if target else "normal", machine_id)
    assert len(set(bunch.filenames)) == len(bunch.filenames)


def test_every_id_has_train_and_test_normals_and_anomalies(bunch):
    frame = bunch.frame
    for machine_id in ("id_00", "id_01"):
        rows = frame[frame.machine_id == machine_id]
        assert ((rows.split == "train") & (rows.target == 0)).sum() == 30
        assert ((rows.split == "test") & (rows.target == 0)).sum() == 10
        assert ((rows.split == "test") & (rows.target == 1)).sum() == 10
        assert not ((rows.split == "train") & (rows.target == 1)).any()
        kinds = rows.anomaly_type[rows.target == 1].value_counts()
        assert set(kinds.index) == {"bearing", "frequency_shift", "rattle"} and kinds.min() >= 3
    assert set(bunch.attributes.anomaly_type[bunch.target == 0]) == {""}


TRUTH = ["anomaly_onset", "anomaly_offset", "anomaly_fmin", "anomaly_fmax"]


def test_truth_columns_say_when_and_where(bunch):
    frame = bunch.frame
    for name in TRUTH:
        np.testing.assert_array_equal(bunch[name], frame[name].to_numpy())
        assert bunch[name].dtype == np.float64
    assert frame.loc[frame.target == 0, TRUTH].isna().all().all()
    kind = frame.anomaly_type
    whole = frame[kind.isin(["bearing", "frequency_shift"])]
    assert whole[["anomaly_onset", "anomaly_offset"]].isna().all().all()
    assert frame.loc[kind == "frequency_shift", ["anomaly_fmin", "anomaly_fmax"]].isna().all().all()
    bearing = frame[kind == "bearing"]
    assert ((bearing.anomaly_fmin >= 2400) & (bearing.anomaly_fmax <= 5100)).all()
    assert (bearing.anomaly_fmin < bearing.anomaly_fmax).all()
    rattle = frame[kind == "rattle"]
    assert rattle[["anomaly_fmin", "anomaly_fmax"]].isna().all().all()  # broadband
    length = rattle.anomaly_offset - rattle.anomaly_onset
    assert (rattle.anomaly_onset >= 0).all() and (rattle.anomaly_offset <= 2.0).all()
    assert ((length > 0) & (length < 0.5)).all()


def _energy_in(clip, sr, onset, offset):
    """Share of a clip's energy between onset and offset (s) over its share of time."""
    power = clip.astype(np.float64) ** 2
    inside = power[int(onset * sr):int(offset * sr)].sum() / power.sum()
    return inside / ((offset - onset) * sr / len(clip))


def test_localized_anomalies_sound_inside_their_truth():
    b = make_machine_sounds(6, 6, machine_ids=("id_00",), anomaly_types=("impact", "rattle"),
                            random_state=1)
    anomalous = np.flatnonzero(b.target == 1)
    assert set(b.attributes.anomaly_type.iloc[anomalous]) == {"impact", "rattle"}
    for i in anomalous:
        onset, offset = b.anomaly_onset[i], b.anomaly_offset[i]
        assert 0 <= onset < offset <= 2.0 and offset - onset < 0.5
        # the event makes its span louder than the clip on average
        assert _energy_in(b.data[i], b.sr, onset, offset) > 1.3, i
    impacts = anomalous[b.attributes.anomaly_type.to_numpy()[anomalous] == "impact"]
    assert ((b.anomaly_fmin[impacts] >= 900) & (b.anomaly_fmax[impacts] <= 3100)).all()


def test_ids_rotate_at_different_frequencies(bunch):
    normal = bunch.frame[bunch.frame.target == 0]
    rotation = normal.groupby("machine_id")["rotation_hz"].agg(["min", "max"])
    assert rotation.loc["id_00", "max"] < rotation.loc["id_01", "min"]


def test_deterministic_for_a_seed():
    a = make_machine_sounds(8, 3, machine_ids=("id_00",), duration=0.5, random_state=7)
    b = make_machine_sounds(8, 3, machine_ids=("id_00",), duration=0.5, random_state=7)
    c = make_machine_sounds(8, 3, machine_ids=("id_00",), duration=0.5, random_state=8)
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.filenames, b.filenames)
    assert not np.allclose(a.data, c.data)


def test_parameters_are_honoured():
    b = make_machine_sounds(4, 2, machine_type="pump", machine_ids=("id_02", "id_04", "id_06"),
                            sr=22050, duration=0.25, anomaly_types=("rattle",),
                            train_fraction=0.5, random_state=0)
    assert b.data.shape == (18, int(round(0.25 * 22050))) and b.sr == 22050
    assert set(b.machine_type) == {"pump"}
    assert sorted(set(b.machine_id)) == ["id_02", "id_04", "id_06"]
    assert set(b.attributes.anomaly_type[b.target == 1]) == {"rattle"}
    assert (b.split == "train").sum() == 6


@pytest.mark.parametrize("kwargs", [
    {"n_normal": 1}, {"n_anomalous": 0}, {"machine_ids": ()}, {"machine_ids": ("a", "a")},
    {"sr": 8000}, {"duration": 0}, {"anomaly_types": ("fire",)}, {"train_fraction": 1.0},
])
def test_bad_parameters(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        make_machine_sounds(**kwargs)


def test_loudness_does_not_reveal_anomalies(bunch):
    rms = np.sqrt(np.mean(bunch.data.astype(np.float64) ** 2, axis=1))
    # every clip is RMS 0.05 times a gain within +-3 dB
    assert rms.min() >= 0.05 * 10 ** (-3.01 / 20) and rms.max() <= 0.05 * 10 ** (3.01 / 20)
    test = bunch.split == "test"
    assert 0.2 < roc_auc_score(bunch.target[test], rms[test]) < 0.8


def _log_mel_windows(data, sr, context=5):
    import librosa
    mel = librosa.filters.mel(sr=sr, n_fft=1024, n_mels=64)
    _, _, spec = stft(data, nperseg=1024, noverlap=512, boundary=None, padded=False, axis=-1)
    logmel = 10 * np.log10(mel @ np.abs(spec) ** 2 + 1e-10)  # (n_clips, n_mels, n_frames)
    n_frames = logmel.shape[-1]
    return np.stack([logmel[:, :, i:i + context].transpose(0, 2, 1).reshape(len(data), -1)
                     for i in range(n_frames - context + 1)], axis=1)


@pytest.mark.quality
def test_anomalies_are_detectable_from_log_mel_frames(bunch):
    # A linear autoencoder (PCA) on 5-frame log-mel windows of the training normals
    # stands in for the dense autoencoder: each anomaly type must score AUC >= 0.9.
    windows = _log_mel_windows(bunch.data, bunch.sr)
    train = bunch.split == "train"
    flat = windows[train].reshape(-1, windows.shape[-1])
    mean, std = flat.mean(0), flat.std(0) + 1e-6
    pca = PCA(n_components=16, random_state=0).fit((flat - mean) / std)
    test = ~train
    z = (windows[test] - mean) / std
    recon = pca.inverse_transform(pca.transform(z.reshape(-1, z.shape[-1]))).reshape(z.shape)
    score = ((recon - z) ** 2).mean(axis=(1, 2))
    y, kind = bunch.target[test], bunch.attributes.anomaly_type.to_numpy()[test]
    for anomaly in ("bearing", "frequency_shift", "rattle"):
        keep = (kind == anomaly) | (y == 0)
        assert roc_auc_score(y[keep], score[keep]) >= 0.9, anomaly


def test_data_round_trips_as_wav(bunch, tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, bunch.data[0], bunch.sr, subtype="FLOAT")
    np.testing.assert_array_equal(sf.read(path, dtype="float32")[0], bunch.data[0])


# --- mix_at_snr -----------------------------------------------------------------------

def _snr(signal, mixture):
    noise = mixture.astype(np.float64) - signal
    return 10 * np.log10(np.mean(signal ** 2, axis=-1) / np.mean(noise ** 2, axis=-1))


@pytest.mark.parametrize("snr_db", [-6.0, 0.0, 10.0, 20.0])
def test_realised_snr_1d(snr_db):
    rng = np.random.RandomState(0)
    signal = np.sin(2 * np.pi * 300 * np.arange(8000) / 16000)
    mixture = mix_at_snr(signal, rng.standard_normal(20000), snr_db, random_state=0)
    assert mixture.shape == signal.shape and mixture.dtype == np.float32
    assert abs(_snr(signal, mixture) - snr_db) < 1e-3


def test_realised_snr_2d_each_row_its_own_excerpt():
    rng = np.random.RandomState(1)
    signal = rng.standard_normal((4, 1000)) * np.array([[0.1], [1.0], [2.0], [0.5]])
    noise = rng.standard_normal(5000)
    mixture = mix_at_snr(signal, noise, 10.0, random_state=3)
    assert mixture.shape == (4, 1000)
    np.testing.assert_allclose(_snr(signal, mixture), 10.0, atol=1e-3)
    added = mixture - signal
    normalised = added / np.linalg.norm(added, axis=1, keepdims=True)
    assert np.abs(normalised @ normalised.T - np.eye(4)).max() > 0.01  # offsets differ
    np.testing.assert_array_equal(mixture, mix_at_snr(signal, noise, 10.0, random_state=3))


def test_short_noise_is_looped():
    signal = np.ones(1000) * 0.5
    noise = np.array([1.0, -1.0, 2.0])
    mixture = mix_at_snr(signal, noise, 0.0, random_state=0)
    added = mixture.astype(np.float64) - signal
    # a looped 3-sample noise repeats with period 3
    np.testing.assert_allclose(added[3:], added[:-3], atol=1e-6)
    assert abs(_snr(signal, mixture)) < 1e-3


def test_noise_is_cropped_from_the_recording():
    noise = np.arange(1, 101, dtype=float)  # a ramp: any crop has constant steps
    mixtures = [mix_at_snr(np.ones(10), noise, 0.0, random_state=seed) for seed in range(5)]
    for mixture in mixtures:
        added = mixture.astype(np.float64) - 1.0
        steps = np.diff(added)
        np.testing.assert_allclose(steps, steps[0], rtol=1e-4)
        start = added[0] / steps[0]  # the ramp value the excerpt starts at
        assert abs(start - round(start)) < 1e-2 and 1 <= round(start) <= 91
    assert len({round(float(m[0]), 6) for m in mixtures}) > 1  # offsets are random


def test_with_real_factory_noise(mimii_noise):
    noise, sr = sf.read(next((mimii_noise / "Data_Valves" / "VAD_noise").glob("*.wav")))
    clips = make_machine_sounds(4, 1, machine_ids=("id_00",), duration=1.0, random_state=0)
    mixture = mix_at_snr(clips.data, noise, 10.0, random_state=0)
    np.testing.assert_allclose(_snr(clips.data.astype(np.float64), mixture), 10.0, atol=1e-2)


@pytest.mark.parametrize("signal, noise, snr, message", [
    (np.ones(10), np.zeros(5), 0.0, "noise is silent"),
    (np.vstack([np.ones(10), np.zeros(10)]), np.ones(5), 0.0, "signal clip 1 is silent"),
    (np.array([1.0, np.nan]), np.ones(5), 0.0, r"signal holds a non-finite .* index \(1,\)"),
    (np.ones((2, 2, 2)), np.ones(5), 0.0, "shape"),
    (np.ones(10), np.ones((2, 5)), 0.0, "noise must be 1-D"),
    (np.ones(10), np.ones(5), float("nan"), "snr_db"),
    (np.ones(10), np.r_[np.zeros(10000), np.ones(1)], 0.0, "excerpt is silent"),
])
def test_mix_at_snr_bad_input(signal, noise, snr, message):
    with pytest.raises(ValueError, match=message):
        mix_at_snr(signal, noise, snr, random_state=0)
