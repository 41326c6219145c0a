"""Tests of the spectrogram augmentations (sklasd/augment.py)."""
import numpy as np
import pytest
import torch

from sklasd.augment import (
    BlockMixing, FrequencyFilter, GaussianNoise, InputDropout, Loudness, MixNegatives,
    PitchShift, TimeStretch, pitch_shift, time_stretch,
)
from sklasd.classifiers import MelFrontend
from sklasd.features import LogMelTransformer

ALL = [PitchShift, TimeStretch, FrequencyFilter, MixNegatives, BlockMixing, Loudness,
       GaussianNoise, InputDropout]
FREQS = np.linspace(0, 8000, 33)
CONTEXT = dict(freqs=FREQS, power=1.0)


@pytest.fixture
def batch():
    X = torch.rand(6, 33, 20, generator=torch.Generator().manual_seed(0)) + 0.1
    return X, torch.tensor([0, 0, 1, 1, 2, 2])


@pytest.mark.parametrize("cls", ALL)
def test_strength_zero_is_identity(cls, batch):
    X, y = batch
    assert torch.equal(cls(0.0, random_state=0)(X, y, **CONTEXT), X)


@pytest.mark.parametrize("cls", ALL)
def test_deterministic_for_a_seed(cls, batch):
    X, y = batch
    a, b = cls(0.4, random_state=3), cls(0.4, random_state=3)
    first = a(X, y, **CONTEXT)
    assert torch.equal(first, b(X, y, **CONTEXT))
    assert not torch.equal(first, X)  # it did something
    assert torch.equal(a.reset()(X, y, **CONTEXT), first)  # reset restarts the stream
    assert torch.equal(X, batch[0])  # input unchanged


def test_global_seed_untouched(batch):
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    GaussianNoise(1.0, random_state=1)(batch[0])
    assert torch.equal(torch.rand(3), expected)


def _sine_spectrogram(freq, sr=16000):
    t = np.arange(sr) / sr
    audio = np.sin(2 * np.pi * freq * t)[None].astype(np.float32)
    params = dict(sr=sr, n_fft=1024, hop_length=512, n_mels=64)
    lin = LogMelTransformer(**{**params, "n_mels": None}, log=None).fit_transform(audio)
    return torch.from_numpy(lin), MelFrontend(LogMelTransformer(**params))


def test_pitch_shift_moves_a_sinusoid_to_the_expected_mel_band():
    lin, mel = _sine_spectrogram(1000.0)
    expected, _ = _sine_spectrogram(1200.0)
    peak = mel(pitch_shift(lin, 1.2)).mean(2).argmax(1)
    assert int(peak) == int(mel(expected).mean(2).argmax(1))
    assert int(peak) != int(mel(lin).mean(2).argmax(1))


def test_random_pitch_shift_stays_in_range():
    lin, _ = _sine_spectrogram(1000.0)
    lin = lin.repeat(20, 1, 1)
    peaks = PitchShift(0.2, random_state=0)(lin).mean(2).argmax(1).float()
    bin_hz = 16000 / 1024
    assert (peaks * bin_hz >= 800 - bin_hz).all() and (peaks * bin_hz <= 1200 + bin_hz).all()
    assert len(peaks.unique()) > 3


def test_time_stretch_scales_about_the_centre():
    X = torch.zeros(1, 1, 21)
    X[0, 0, 15] = 1.0  # 5 frames after the centre (10)
    assert int(time_stretch(X, 1.2)[0, 0].argmax()) == 16  # 10 + 5 * 1.2
    assert time_stretch(X, 1.0).equal(X)


def test_loudness_moves_the_mean_by_the_offset(batch):
    X = 20 * torch.log10(batch[0])
    Y = Loudness(6.0, random_state=0)(X)
    offset = (Y - X).flatten(1)
    np.testing.assert_allclose(offset.std(1), 0, atol=1e-5)  # one offset per example
    np.testing.assert_allclose(Y.mean((1, 2)) - X.mean((1, 2)), offset[:, 0], atol=1e-4)
    assert (offset.abs() <= 6.0).all() and offset.abs().max() > 1.0


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_filter_gain_stays_within_its_range(batch, power):
    X = batch[0].repeat(10, 1, 1)
    aug = FrequencyFilter(10.0, random_state=0)
    Y = aug(X, freqs=FREQS, power=power)
    gain_db = 20 / power * torch.log10(Y / X)
    np.testing.assert_allclose(gain_db, aug.last_gain_db_[:, :, None].expand_as(X),
                               atol=1e-4)
    assert gain_db.abs().max() <= 10.0 + 1e-4 and gain_db.abs().max() > 3.0


def test_mixing_with_negatives():
    X = torch.cat([torch.zeros(4, 3, 5), torch.ones(4, 3, 5)])
    y = torch.tensor([0] * 4 + [1] * 4)
    C = MixNegatives(1.0, random_state=0)(X, y)
    f = C[:4].flatten(1)  # class 0: (1 - f) * 0 + f * 1 = f
    assert (f.std(1) < 1e-6).all() and (f >= 0).all() and (f <= 0.5).all()
    assert f.max() > 0
    g = (1 - C[4:]).flatten(1)  # class 1: (1 - g) * 1 + g * 0
    assert (g.std(1) < 1e-6).all() and (g >= 0).all() and (g <= 0.5).all()


def test_block_mixing_uses_same_class_segments():
    X = (torch.arange(4)[:, None] * 100 + torch.arange(20)[None]).float()[:, None]
    y = torch.tensor([0, 0, 1, 1])
    Y = BlockMixing(1.0, n_segments=4, random_state=0)(X, y)
    for i in range(4):
        for a in range(0, 20, 5):
            seg = Y[i, 0, a:a + 5]
            src = int(seg[0] // 100)
            assert y[src] == y[i]  # from a clip of the same class
            assert torch.equal(torch.diff(seg), torch.ones(4))  # consecutive frames
    assert not torch.equal(Y, X)


def test_noise_and_dropout_strengths():
    X = torch.ones(8, 40, 50)
    noise = GaussianNoise(0.3, random_state=0)(X) - X
    assert abs(float(noise.std()) - 0.3) < 0.01
    dropped = InputDropout(0.2, random_state=0)(X)
    assert abs(float((dropped == 0).float().mean()) - 0.2) < 0.01
    assert set(dropped.unique().tolist()) == {0.0, 1.0}


def test_pickled_copy_restarts_from_its_seed(batch):
    import pickle

    X, y = batch
    aug = PitchShift(0.3, random_state=5)
    first = aug(X)
    copy = pickle.loads(pickle.dumps(aug))
    assert torch.equal(copy(X), first)
