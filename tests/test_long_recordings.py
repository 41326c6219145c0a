"""Long recordings: bounded memory, and the scores of processing them whole.

A recording far longer than the training clips has its samples decoded, its STFT
computed, its GWRP sorted and a window detector's units scored block by block. The
block sizes are shrunk here so that a 10-minute recording spans many blocks of each
kind, and the results are compared with one block holding everything (the path a
short clip takes).
"""
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

import sklasd.features._pooling
import sklasd.audio
import sklasd.detectors._windows
import sklasd.features
from sklasd.datasets import make_machine_sounds
from sklasd.models import make_model

MINUTES = 10
pytestmark = pytest.mark.filterwarnings("ignore:1 clip.s. differ in duration")


@pytest.fixture(scope="module")
def clips():
    bunch = make_machine_sounds(n_normal=16, n_anomalous=1, machine_type="fan",
                                machine_ids=("id_00",), random_state=0)
    return bunch.data[bunch.target == 0], bunch.sr


@pytest.fixture(scope="module")
def recording(clips, tmp_path_factory):
    """A 10-minute 16-bit wav: the generated 2 s normal clips joined in turn."""
    data, sr = clips
    path = tmp_path_factory.mktemp("long") / "recording.wav"
    sf.write(path, np.resize(np.concatenate(list(data)), MINUTES * 60 * sr), sr,
             subtype="PCM_16")
    return path


def _blocks(monkeypatch, size):
    """Every block size ``size``-ish (prime-ish sizes, so blocks end unevenly)."""
    monkeypatch.setattr(sklasd.features, "BLOCK_FRAMES", size)
    monkeypatch.setattr(sklasd.features, "CHUNK_SAMPLES", size)
    monkeypatch.setattr(sklasd.features, "PCM_BLOCK", 13 * size + 7)
    monkeypatch.setattr(sklasd.audio, "PCM_BLOCK", 13 * size + 7)
    monkeypatch.setattr(sklasd.features._pooling, "SORT_VALUES", 7 * size)
    monkeypatch.setattr(sklasd.detectors._windows, "SCORE_UNITS", 3 * size + 1)


WHOLE = 10 ** 9
SMALL = 997


def test_log_mel_of_a_long_recording_block_by_block(recording, monkeypatch):
    t = sklasd.features.LogMelTransformer(n_mels=128).fit(None)
    _blocks(monkeypatch, WHOLE)
    whole = t.transform([recording, recording])
    _blocks(monkeypatch, SMALL)
    blocks = t.transform([recording, recording])
    assert whole.shape == (2, 128, 1 + MINUTES * 60 * 16000 // 512)
    np.testing.assert_allclose(blocks, whole, rtol=1e-6, atol=1e-5)  # dB


@pytest.mark.parametrize("model", ["knn", "gmm", "ae"])
def test_scores_of_a_long_recording_block_by_block(clips, recording, monkeypatch, model):
    pipeline = make_model(model, max_epochs=1, random_state=0).fit(list(clips[0]))
    _blocks(monkeypatch, WHOLE)
    whole = pipeline.anomaly_score([recording])
    _blocks(monkeypatch, SMALL)
    blocks = pipeline.anomaly_score([recording])
    np.testing.assert_allclose(blocks, whole, rtol=1e-6)


def test_scoring_a_long_recording_needs_twice_its_decoded_size(clips, recording):
    """Memory allocated while scoring (numpy's arrays, traced) stays under twice the
    decoded recording (float32) plus 64 MB, whatever its length; the STFT of the
    whole recording at once took about 8 times its decoded size."""
    pipeline = make_model("knn").fit(list(clips[0]))
    decoded = 4 * sf.info(recording).frames
    tracemalloc.start()
    try:
        pipeline.anomaly_score([recording])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * decoded + 64e6, f"peak {peak / 1e6:.0f} MB, decoded {decoded / 1e6:.0f} MB"


@pytest.mark.parametrize("subtype, channels", [("FLOAT", 1), ("PCM_16", 2)])
def test_other_files_block_by_block(clips, tmp_path, monkeypatch, subtype, channels):
    """A float file is read block by block too; a stereo one (down-mixed) is decoded
    whole: the same log-mel either way."""
    data, sr = clips
    y = np.resize(np.concatenate(list(data)), 60 * sr)
    path = tmp_path / "recording.wav"
    sf.write(path, np.stack([y] * channels, axis=1), sr, subtype=subtype)
    t = sklasd.features.LogMelTransformer().fit(None)
    _blocks(monkeypatch, WHOLE)
    whole = t.transform([path])
    _blocks(monkeypatch, SMALL)
    np.testing.assert_allclose(t.transform([path]), whole, rtol=1e-6, atol=1e-5)


def test_a_bad_sample_late_in_a_long_recording_is_named(clips, tmp_path, monkeypatch):
    data, sr = clips
    y = np.resize(np.concatenate(list(data)), 60 * sr).astype(np.float32)
    y[-5] = np.nan
    path = tmp_path / "recording.wav"
    sf.write(path, y, sr, subtype="FLOAT")
    _blocks(monkeypatch, SMALL)
    with pytest.raises(sklasd.audio.AudioError, match="recording.wav"):
        sklasd.features.LogMelTransformer().fit(None).transform([path])
