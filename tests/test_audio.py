import numpy as np
import pytest
import soundfile as sf

from sklasd.audio import AudioError, check_signal, load_audio, load_many, read_into


def test_audio_error_is_a_value_error():
    assert issubclass(AudioError, ValueError)


def test_load_int_pcm_scaled_as_soundfile(tmp_path):
    pcm = (np.arange(-800, 800, dtype=np.int16) * 40)
    path = tmp_path / "pcm.wav"
    sf.write(path, pcm, 8000, subtype="PCM_16")
    y, sr = load_audio(path)
    assert sr == 8000 and y.dtype == np.float32
    np.testing.assert_array_equal(y, sf.read(path, dtype="float32")[0])
    assert np.abs(y).max() <= 1.0


def test_resampling_length_matches_librosa(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, np.random.default_rng(0).uniform(-0.5, 0.5, 44100), 44100)
    y, sr = load_audio(path, sr=16000)
    assert sr == 16000 and y.shape == (16000,)


def test_load_many_threads_equal_serial(tmp_path):
    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.wav")
        sf.write(paths[-1], np.full(100 + i, 0.1 * i), 8000)
    serial, _ = load_many(paths)
    threaded, rates = load_many(paths, n_jobs=2)
    assert rates == [8000] * 4
    for a, b in zip(serial, threaded):
        np.testing.assert_array_equal(a, b)


def test_nan_in_file_names_file_and_sample(tmp_path):
    y = np.zeros(50, dtype=np.float32)
    y[7] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, y, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match=r"nan.wav.*sample 7"):
        load_audio(path)


def test_check_signal_messages():
    with pytest.raises(AudioError, match="sample 3: clip has 2 samples, at least 10"):
        check_signal(np.zeros(2), 3, min_samples=10)
    with pytest.raises(AudioError, match=r"sample 0: expected a 1-D signal, got shape \(2, 2\)"):
        check_signal(np.zeros((2, 2)), 0)


@pytest.mark.parametrize("subtype, dtype", [("PCM_16", np.int16), ("PCM_32", np.int32),
                                             ("PCM_U8", np.uint8)])
def test_pcm_to_float_matches_soundfile(tmp_path, subtype, dtype):
    from sklasd.audio import pcm_to_float

    y = np.random.default_rng(0).uniform(-0.9, 0.9, 400)
    path = tmp_path / "x.wav"
    sf.write(path, y, 8000, subtype=subtype)
    as_int = sf.read(path, dtype=np.int16 if dtype == np.uint8 else dtype)[0]
    if dtype == np.uint8:  # soundfile has no uint8 output: rebuild the stored bytes
        as_int = ((as_int.astype(np.int32) >> 8) + 128).astype(np.uint8)
    np.testing.assert_allclose(pcm_to_float(as_int), sf.read(path, dtype="float32")[0],
                               atol=1e-7)


def test_pcm_to_float_rejects_other_dtypes():
    from sklasd.audio import pcm_to_float

    with pytest.raises(ValueError, match="dtype bool"):
        pcm_to_float(np.zeros(3, dtype=bool))


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_read_into_gives_load_audio_samples_or_declines(tmp_path, subtype):
    rng = np.random.default_rng(3)
    y = rng.uniform(-0.5, 0.5, 1000).astype(np.float32)
    mono, stereo = tmp_path / "mono.wav", tmp_path / "stereo.wav"
    sf.write(mono, y, 8000, subtype=subtype)
    sf.write(stereo, np.stack([y, y], axis=1), 8000)
    out = np.full(600, np.nan, dtype=np.float32)
    assert read_into(mono, out, 8000)
    np.testing.assert_array_equal(out, load_audio(mono)[0][:600])
    out[:] = np.nan  # again through a given int16 buffer (used for PCM_16 only)
    assert read_into(mono, out, 8000, pcm=np.empty(600, np.int16))
    np.testing.assert_array_equal(out, load_audio(mono)[0][:600])
    assert not read_into(mono, out, 16000)  # would need resampling
    assert not read_into(mono, np.empty(1001, np.float32), 8000)  # too short
    assert not read_into(mono, out, 8000, channel=1)  # load_audio names the error
    assert not read_into(stereo, out, 8000)  # would need a down-mix
    assert not read_into(tmp_path / "missing.wav", out, 8000)
    if subtype == "FLOAT":  # load_audio names the sample
        y[100] = np.nan
        sf.write(mono, y, 8000, subtype=subtype)
        assert not read_into(mono, out, 8000)


def test_unreadable_files_named_plainly_with_the_reason_once(tmp_path):
    from sklasd.features import LogMelTransformer

    truncated, empty = tmp_path / "truncated.wav", tmp_path / "empty.wav"
    truncated.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    empty.write_bytes(b"")
    for path, reason in ((truncated, "cannot be decoded ("), (empty, "the file is empty")):
        for source in (path, np.str_(path)):  # file names often come from numpy arrays
            with pytest.raises(AudioError) as info:
                load_audio(source)
            message = str(info.value)
            assert message.startswith(f"file '{path}': ") and reason in message
            assert "np.str_" not in message and message.count(str(path)) == 1
    with pytest.raises(AudioError) as info:
        LogMelTransformer(sr=8000).fit_transform(np.array([str(truncated)]))
    assert "np.str_" not in str(info.value) and str(info.value).count(str(truncated)) == 1
