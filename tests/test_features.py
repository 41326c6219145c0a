import sys

import librosa
import numpy as np
import pytest
import soundfile as sf
from sklearn.pipeline import make_pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklasd.audio import AudioError
from sklasd.features import FrameStacker, LogMelTransformer, SpectrogramScaler

EPS = sys.float_info.epsilon
DCASE = dict(sr=16000, n_fft=1024, hop_length=512, n_mels=128)


def librosa_logmel(y, **kw):
    S = librosa.feature.melspectrogram(y=y, **kw)
    return 10 * np.log10(S + EPS)


def real_clips(folder, step=1):
    paths = sorted(folder.glob("*/test/*.wav"))[::step]
    return [str(p) for p in paths]


# --- parametrize_with_checks --------------------------------------------------
# LogMelTransformer is run on the checks' small 2-D arrays as short clips, so it needs
# a tiny FFT; a clip shorter than n_fft is an error by design.
EXPECTED_LOGMEL = {
    "check_fit2d_1feature": "a 1-sample clip is shorter than one analysis frame",
    "check_n_features_in": "clips may have any length: there is no fixed feature "
    "count to record",
    "check_n_features_in_after_fitting": "clips may have any length: there is no fixed "
    "feature count to check",
    "check_transformer_general": "it checks that a different number of samples per "
    "clip in transform is an error; clips may have any length",
    "check_estimators_empty_data_messages": "an empty clip is rejected with a message "
    "naming the clip and n_fft, not scikit-learn's wording",
    "check_fit2d_predict1d": "a 1-D array is rejected with its own message (one clip "
    "must be wrapped in a list), not scikit-learn's 'Reshape your data'",
}


@parametrize_with_checks(
    [LogMelTransformer(sr=8, n_fft=2, hop_length=1, n_mels=1, fmax=4)],
    expected_failed_checks=lambda est: EXPECTED_LOGMEL,
)
def test_sklearn_compatible_logmel(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    check(estimator)


@parametrize_with_checks(
    [FrameStacker(n_frames=1), SpectrogramScaler(), SpectrogramScaler(per="clip")]
)
def test_sklearn_compatible_3d(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    check(estimator)


# --- parity with librosa ------------------------------------------------------
def _max_errors(paths, precision):
    """Overall max |dB| error and max over bins within 60 dB of each clip's peak."""
    ours = LogMelTransformer(precision=precision, **DCASE).fit_transform(paths)
    worst, worst60 = 0.0, 0.0
    for S, path in zip(ours, paths):
        y, _ = sf.read(path, dtype="float32")
        ref = librosa_logmel(y, **DCASE)
        # shorter clips were zero-padded to the longest: the same as librosa's
        # constant centring pad, so the first frames must agree
        err = np.abs(S[:, : ref.shape[1]] - ref)
        worst = max(worst, err.max())
        worst60 = max(worst60, err[ref > ref.max() - 60].max())
    return worst, worst60


def test_parity_with_librosa_double(dcase2020_lite):
    paths = real_clips(dcase2020_lite, step=3)  # every machine type
    worst, _ = _max_errors(paths, "double")
    assert worst < 1e-4


def test_parity_with_librosa_single(dcase2020_lite):
    paths = real_clips(dcase2020_lite, step=3)
    worst, worst60 = _max_errors(paths, "single")
    assert worst60 < 1e-4
    assert worst < 5e-3  # float32 FFT rounding in the quietest top-mel bins


def test_paths_arrays_and_lists_agree(dcase2020_lite):
    paths = sorted(map(str, dcase2020_lite.glob("fan/test/*.wav")))  # equal lengths
    signals = [sf.read(p, dtype="float32")[0] for p in paths]
    t = LogMelTransformer(n_mels=64).fit()
    from_paths = t.transform(paths)
    np.testing.assert_array_equal(from_paths, t.transform(np.stack(signals)))
    np.testing.assert_array_equal(from_paths, t.transform(signals))
    # threads use one BLAS thread each: another summation order, last-bit differences
    threaded = t.set_params(n_jobs=2).transform(paths)
    np.testing.assert_allclose(from_paths, threaded, rtol=0, atol=1e-4)


def test_resampling_matches_librosa_load(dcase2016_events):
    path = str(sorted(dcase2016_events.glob("*/*.wav"))[0])  # 44.1 kHz
    ours = LogMelTransformer(precision="double", **DCASE).fit_transform([path])[0]
    y, _ = librosa.load(path, sr=16000)
    np.testing.assert_allclose(ours, librosa_logmel(y, **DCASE), atol=1e-4)


@pytest.mark.parametrize("power, log", [(1.0, "db"), (2.0, "ln"), (2.0, None)])
def test_power_and_log_options(power, log):
    y = np.random.default_rng(0).uniform(-1, 1, 8000).astype(np.float32)
    kw = dict(sr=16000, n_fft=512, hop_length=128, n_mels=40, power=power)
    S = librosa.feature.melspectrogram(y=y, **kw)
    ref = {"db": 20 / power * np.log10(S + EPS), "ln": np.log(S + EPS), None: S}[log]
    ours = LogMelTransformer(log=log, precision="double", **kw).fit_transform([y])[0]
    np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-4)


def test_multichannel_downmix_and_channel(tmp_path):
    rng = np.random.default_rng(1)
    stereo = rng.uniform(-0.5, 0.5, (4000, 2)).astype(np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 8000, subtype="FLOAT")
    kw = dict(sr=8000, n_fft=256, hop_length=128, n_mels=16)
    t = LogMelTransformer(**kw).fit()
    np.testing.assert_allclose(
        t.transform([path])[0], t.transform([stereo.mean(axis=1)])[0], atol=1e-5
    )
    np.testing.assert_allclose(
        t.set_params(channel=1).transform([path])[0],
        t.transform([stereo[:, 1].copy()])[0],
        atol=1e-5,
    )
    with pytest.raises(AudioError, match="channel 2 requested.*2 channel"):
        t.set_params(channel=2).transform([path])


def test_duration_and_pad_rules():
    rng = np.random.default_rng(2)
    short, long = rng.uniform(-1, 1, 3000), rng.uniform(-1, 1, 5000)
    t = LogMelTransformer(sr=1000, n_fft=256, hop_length=100, n_mels=8, fmax=500).fit()
    S = t.transform([short, long])
    assert isinstance(S, list)  # each clip at its own length: 1 + n // 100 frames
    assert [s.shape for s in S] == [(8, 31), (8, 51)]
    np.testing.assert_array_equal(S[0], t.transform([short])[0])
    S = t.set_params(duration=4.0, pad="wrap").transform([short, long])
    assert S.shape == (2, 8, 41)
    np.testing.assert_allclose(S[1], t.transform([long[:4000]])[0], atol=1e-5)
    np.testing.assert_allclose(
        S[0], t.transform([np.concatenate([short, short[:1000]])])[0], atol=1e-5
    )


def test_float64_input_not_modified():
    X = np.random.default_rng(3).uniform(-1, 1, (2, 4000))
    before = X.copy()
    S = LogMelTransformer(sr=8000, n_fft=256, hop_length=128, n_mels=8).fit_transform(X)
    assert S.dtype == np.float32
    np.testing.assert_array_equal(X, before)


def test_pipeline_memory_caching(tmp_path):
    X = np.random.default_rng(4).uniform(-1, 1, (3, 4000)).astype(np.float32)
    kw = dict(sr=8000, n_fft=256, hop_length=128, n_mels=8)
    pipe = make_pipeline(LogMelTransformer(**kw), SpectrogramScaler(), FrameStacker(),
                         memory=str(tmp_path))
    first = pipe.fit_transform(X)
    second = pipe.fit_transform(X)
    np.testing.assert_array_equal(first, second)
    assert any(tmp_path.rglob("output.pkl"))  # joblib.Memory wrote its cache


# --- bad input ----------------------------------------------------------------
def test_corrupt_and_empty_files_name_the_file(tmp_path):
    t = LogMelTransformer().fit()
    corrupt = tmp_path / "corrupt.wav"
    corrupt.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    with pytest.raises(AudioError, match="corrupt.wav"):
        t.transform([corrupt])
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 16000)
    with pytest.raises(AudioError, match="empty.wav"):
        t.transform([empty])
    with pytest.raises(AudioError, match="missing.wav"):
        t.transform([tmp_path / "missing.wav"])
    nan = tmp_path / "nan.wav"
    y = np.zeros(2048, dtype=np.float32)
    y[1500] = np.nan
    sf.write(nan, y, 16000, subtype="FLOAT")
    with pytest.raises(AudioError, match="nan.wav.*non-finite.*sample 1500"):
        t.transform([nan])


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_short_clip_and_nan_name_the_sample(n_jobs):
    t = LogMelTransformer(sr=8000, n_fft=256, hop_length=128, n_mels=8, batch_size=1,
                          n_jobs=n_jobs).fit()
    X = [np.zeros(1000), np.zeros(100)]
    with pytest.raises(AudioError, match="sample 1: clip has 100 samples.*n_fft=256"):
        t.transform(X)
    X = np.zeros((6, 1000))  # a worker's error is raised in the caller
    X[2, 17] = np.nan
    with pytest.raises(AudioError, match="sample 2: non-finite value.*sample 17"):
        t.transform(X)


def test_bad_rates_and_ranks():
    with pytest.raises(ValueError, match="sr"):
        LogMelTransformer(sr=0).fit()
    with pytest.raises(ValueError, match="Nyquist"):
        LogMelTransformer(sr=8000, fmax=6000).fit()
    t = LogMelTransformer().fit()
    with pytest.raises(ValueError, match=r"got shape \(2, 3, 4\)"):
        t.transform(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="wrap one clip in a list"):
        t.transform(np.zeros(2000))


# --- FrameStacker and SpectrogramScaler -----------------------------------------
def test_frame_stacker_matches_dcase_baseline_loop():
    S = np.random.default_rng(5).normal(size=(2, 64, 20)).astype(np.float32)
    W = FrameStacker(n_frames=5).fit_transform(S)
    # DCASE 2020 baseline common.py: vector[:, n_mels * t: n_mels * (t + 1)] = log_mel[:, t: t + n_vectors].T
    for clip in range(2):
        n_vectors = 20 - 5 + 1
        ref = np.zeros((n_vectors, 64 * 5), dtype=np.float32)
        for t in range(5):
            ref[:, 64 * t: 64 * (t + 1)] = S[clip, :, t: t + n_vectors].T
        np.testing.assert_array_equal(W[clip], ref)
    assert not W.flags.writeable


def test_frame_stacker_center_and_hop():
    S = np.arange(1 * 2 * 7, dtype=np.float32).reshape(1, 2, 7)
    W = FrameStacker(n_frames=3, hop=2, center=True).fit_transform(S)
    assert W.shape == (1, 4, 6)  # centres at frames 0, 2, 4, 6
    # window centred on frame 0: frames (0, 0, 1) with the edge repeated
    np.testing.assert_array_equal(W[0, 0], [0, 7, 0, 7, 1, 8])
    np.testing.assert_array_equal(W[0, 3], [5, 12, 6, 13, 6, 13])


def test_frame_stacker_errors():
    fs = FrameStacker(n_frames=5).fit(np.zeros((1, 4, 10)))
    with pytest.raises(ValueError, match="X has 3 features, but FrameStacker is expecting 4"):
        fs.transform(np.zeros((1, 3, 10)))
    with pytest.raises(ValueError, match=r"at least n_frames=5.*\(1, 4, 3\)"):
        fs.transform(np.zeros((1, 4, 3)))
    bad = np.zeros((2, 4, 10))
    bad[1, 0, 0] = np.inf
    with pytest.raises(ValueError, match="sample 1"):
        fs.transform(bad)


def test_scaler_per_bin_statistics():
    rng = np.random.default_rng(6)
    S = (rng.normal(size=(5, 3, 50)) * [[2], [3], [0]] + [[1], [-4], [7]]).astype(np.float32)
    sc = SpectrogramScaler().fit(S)
    np.testing.assert_allclose(sc.mean_, S.transpose(1, 0, 2).reshape(3, -1).mean(1), atol=1e-5)
    assert sc.scale_[2] == 1.0  # constant bin: no division by zero
    Z = sc.transform(S)
    np.testing.assert_allclose(Z[:, :2].std(axis=(0, 2)), 1.0, atol=1e-5)


@pytest.mark.parametrize("dtype, scale, offset", [(np.int16, 2 ** 15, 0),
                                                  (np.int32, 2 ** 31, 0),
                                                  (np.uint8, 128, 128)])
def test_integer_pcm_is_scaled_not_read_as_floats(dtype, scale, offset):
    y = np.random.default_rng(5).uniform(-0.5, 0.5, (2, 4000))
    pcm = (np.round(y * scale) + offset).astype(dtype)
    floats = ((pcm.astype(np.float64) - offset) / scale).astype(np.float32)
    t = LogMelTransformer(sr=8000, n_fft=256, hop_length=128, n_mels=8).fit()
    np.testing.assert_allclose(t.transform(pcm), t.transform(floats), atol=1e-4)
    np.testing.assert_allclose(t.transform(list(pcm))[1], t.transform(floats)[1], atol=1e-4)


def test_clip_features_do_not_depend_on_the_other_clips():
    rng = np.random.default_rng(6)
    clips = [rng.uniform(-1, 1, n).astype(np.float32) for n in (4000, 4000, 9000, 300000)]
    t = LogMelTransformer(sr=8000, n_fft=256, hop_length=128, n_mels=8).fit()
    together = t.transform(clips)
    assert [s.shape[1] for s in together] == [32, 32, 71, 2344]
    for clip, spectrogram in zip(clips, together):
        np.testing.assert_array_equal(t.transform([clip])[0], spectrogram)
    stacked = FrameStacker().fit(together).transform(together)
    assert [w.shape for w in stacked] == [(28, 40), (28, 40), (67, 40), (2340, 40)]
    scaler = SpectrogramScaler().fit(together)
    frames = np.concatenate(together, axis=1)
    np.testing.assert_allclose(scaler.mean_, frames.mean(axis=1, dtype=np.float64), rtol=1e-5)
    np.testing.assert_allclose(scaler.transform(together)[2],
                               scaler.transform(together[2:3])[0])


def test_clip_of_unusual_duration_is_named_in_a_warning():
    rng = np.random.default_rng(7)
    t = LogMelTransformer(sr=8000, n_fft=256, hop_length=128, n_mels=8)
    t.fit([rng.uniform(-1, 1, 8000) for _ in range(3)])
    assert t.training_duration_ == pytest.approx(1.0)
    with pytest.warns(UserWarning, match=r"1 clip\(s\) differ.*sample 1"):
        t.transform([rng.uniform(-1, 1, 8400), rng.uniform(-1, 1, 4000)])


# --- inverse_map: anomaly maps of windows back on the frames ------------------------
def _window_map(stacker, S):
    """A map that marks every window cell with the frame it came from (frame + 1)."""
    frames = np.broadcast_to(np.arange(1, S.shape[-1] + 1, dtype=np.float64), S.shape[1:])
    return stacker.transform(frames[None].astype(np.float32))[0]


@pytest.mark.parametrize("params, uncovered", [
    (dict(n_frames=5), []), (dict(n_frames=4, hop=2), [10]),
    (dict(n_frames=5, center=True), []), (dict(n_frames=3, hop=2, center=True), [])])
def test_frame_stacker_inverse_map_puts_cells_back_on_their_frames(params, uncovered):
    S = np.zeros((1, 3, 11), dtype=np.float32)
    stacker = FrameStacker(**params).fit(S)
    [back] = stacker.inverse_map([_window_map(stacker, S)], S)
    expected = np.broadcast_to(np.arange(1.0, 12.0), (3, 11)).copy()
    expected[:, uncovered] = 0  # a frame in no window (left over by hop) gets 0
    np.testing.assert_allclose(back, expected)


def test_frame_stacker_inverse_map_means_over_the_windows_of_a_frame():
    S = np.zeros((1, 1, 4), dtype=np.float32)
    stacker = FrameStacker(n_frames=2).fit(S)
    windows = np.array([[1.0, 3.0], [5.0, 7.0], [9.0, 11.0]])  # frames (0,1) (1,2) (2,3)
    [back] = stacker.inverse_map([windows], S)
    np.testing.assert_allclose(back, [[1.0, 4.0, 8.0, 11.0]])


def test_frame_stacker_inverse_map_frame_major_layout_and_ragged_clips():
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(2, 7)).astype(np.float32), rng.normal(size=(2, 9)).astype(np.float32)]
    stacker = FrameStacker(n_frames=3).fit(clips)
    windows = stacker.transform(clips)
    # the windows themselves mapped back are the spectrograms: every cell is in place
    back = stacker.inverse_map(windows, clips)
    for b, c in zip(back, clips):
        np.testing.assert_allclose(b, c, rtol=1e-6)
    with pytest.raises(ValueError, match="clip 1 has shape"):
        stacker.inverse_map([windows[0], windows[0]], clips)


def test_spectrogram_scaler_inverse_map_is_the_identity():
    S = np.random.default_rng(0).normal(size=(2, 3, 5)).astype(np.float32)
    maps = [np.ones((3, 5)), np.zeros((3, 5))]
    back = SpectrogramScaler().fit(S).inverse_map(maps, S)
    assert all(b is m for b, m in zip(back, maps))
