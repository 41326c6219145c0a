"""Tests of ComplexUNetDenoiser and the waveform losses (sklasd/denoising.py)."""
import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklasd.datasets import mix_at_snr
from sklasd.denoising import (PAPER_CHANNELS, ComplexUNet, ComplexUNetDenoiser, si_sdr,
                              weighted_sdr_loss)
from sklasd.detectors import AutoencoderDetector
from sklasd.features import FrameStacker, LogMelTransformer
from sklasd.pipeline import make_pipeline

TINY = dict(channels=(4, 8), n_fft=256, hop_length=64, segment_samples=2048,
            n_strengths=3, max_epochs=3, batch_size=8, lr=1e-2, random_state=0)

class _MixesWithNoise(ComplexUNetDenoiser):
    """The denoiser as the checks can fit it: they pass class labels as ``y``, so
    this ``fit`` mixes ``X`` with fixed white-noise background recordings."""

    def fit(self, X, y=None):
        background = np.random.default_rng(0).standard_normal((2, 64))
        return super().fit(X, background=background)


_ANY_LENGTH = ("transform denoises clips of any length: n_features_in_ (samples per "
               "clip) is not a constraint")
EXPECTED_FAILED = {
    "check_n_features_in_after_fitting": _ANY_LENGTH,
    "check_transformer_general": _ANY_LENGTH,
    "check_estimators_dtypes": ("the check's data cast to integers is all zeros: "
                                "silent clean clips, whose SNR is undefined, are rejected"),
}


@parametrize_with_checks(
    [_MixesWithNoise(channels=(4,), n_fft=16, hop_length=4, segment_samples=32,
                     n_strengths=2, max_epochs=2, batch_size=8, random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    check(estimator)


@pytest.fixture(scope="module")
def tones():
    """12 clean tone clips of 4096 samples and 3 white-noise backgrounds."""
    rng = np.random.default_rng(0)
    t = np.arange(4096)
    clean = np.stack([np.sin(2 * np.pi * f * t / 16000) * a for f, a in zip(
        rng.uniform(300, 2000, 12), rng.uniform(0.2, 0.8, 12))]).astype(np.float32)
    background = (0.3 * rng.standard_normal((3, 6000))).astype(np.float32)
    return clean, background


@pytest.fixture(scope="module")
def denoiser(tones):
    clean, background = tones
    return ComplexUNetDenoiser(**TINY).fit(clean, background=background)


def test_transform_keeps_shapes_and_layouts(denoiser, tones):
    clean, _ = tones
    out = denoiser.transform(clean[:3])
    assert out.shape == (3, 4096) and out.dtype == np.float32
    assert denoiser.transform(clean[:3].astype(np.float64)).dtype == np.float64
    ragged = [clean[0, :1000], clean[1], clean[2, :100]]  # 100 < n_fft
    out = denoiser.transform(ragged)
    assert isinstance(out, list) and [len(o) for o in out] == [1000, 4096, 100]
    assert all(o.dtype == np.float32 and np.isfinite(o).all() for o in out)


def test_clips_are_independent_of_the_call(denoiser, tones):
    clean, _ = tones
    alone = denoiser.transform(clean[1:2])[0]
    together = denoiser.transform(list(clean[:3]) + [clean[0, :500]])[1]
    np.testing.assert_allclose(alone, together, atol=1e-5)


def test_same_seed_same_model(tones):
    clean, background = tones
    a = ComplexUNetDenoiser(**TINY).fit(clean, background=background)
    b = ComplexUNetDenoiser(**TINY).fit(clean, background=background)
    np.testing.assert_array_equal(a.transform(clean), b.transform(clean))
    c = ComplexUNetDenoiser(**{**TINY, "random_state": 1}).fit(clean, background=background)
    assert not np.array_equal(a.transform(clean), c.transform(clean))


def test_mask_is_bounded(denoiser, tones):
    clean, background = tones
    loud = 100 * mix_at_snr(clean[:4], background[0], -10.0, random_state=0)
    masks = denoiser.complex_mask(loud)
    assert masks[0].shape == (1 + 256 // 2, 1 + 4096 // 64)
    assert max(np.abs(m).max() for m in masks) <= 1.0 + 1e-6
    module = ComplexUNet(256, 64, (4, 8))
    with torch.no_grad():
        for p in module.parameters():
            p.mul_(50)  # saturate: the bound holds for any weights
        mask = module.eval().mask(torch.randn(2, 4096))
    assert mask.abs().max() <= 1.0 + 1e-6


def test_pure_noise_is_attenuated(tones):
    clean, background = tones
    den = ComplexUNetDenoiser(**{**TINY, "max_epochs": 20, "n_strengths": 2}).fit(
        clean, background=background)
    noise = (0.3 * np.random.default_rng(5).standard_normal((4, 4096))).astype(np.float32)
    out = den.transform(noise)
    attenuation_db = 10 * np.log10(np.mean(noise ** 2) / np.mean(out ** 2))
    assert attenuation_db > 3.0
    mixed = mix_at_snr(clean[:4], background[1], 0.0, random_state=1)
    gain = np.mean(si_sdr(den.transform(mixed), clean[:4]) - si_sdr(mixed, clean[:4]))
    assert gain > 3.0


def test_strength_snapshots(denoiser, tones):
    clean, background = tones
    assert len(denoiser.snapshots_) == 3
    np.testing.assert_array_equal(denoiser.snapshot_epochs_, [1, 2, 3])
    np.testing.assert_allclose(denoiser.snr_schedule_, [15.0, 5.0, -5.0])
    mixed = mix_at_snr(clean[:2], background[0], 0.0, random_state=0)
    last = denoiser.transform(mixed)
    den = clone(denoiser).set_params(strength=3)
    den.__dict__.update({k: v for k, v in denoiser.__dict__.items() if k.endswith("_")})
    np.testing.assert_array_equal(den.transform(mixed), last)
    assert not np.array_equal(den.set_params(strength=1).transform(mixed), last)
    with pytest.raises(ValueError, match="strength"):
        den.set_params(strength=4).transform(mixed)


def test_fit_on_pairs(tones):
    clean, background = tones
    noisy = mix_at_snr(clean, background[0], 0.0, random_state=0)
    den = ComplexUNetDenoiser(**TINY).fit(noisy, clean)
    assert den.snr_schedule_ is None and len(den.snapshots_) == 3
    assert den.transform(noisy).shape == noisy.shape
    losses = den.net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]


def test_fewer_epochs_than_strengths(tones):
    clean, background = tones
    den = ComplexUNetDenoiser(**{**TINY, "max_epochs": 1, "n_strengths": 3}).fit(
        clean, background=background)
    assert len(den.snapshots_) == 3


@pytest.mark.parametrize("kwargs, match", [
    (dict(), "exactly one of y"),
    (dict(y="clean", background="bg"), "exactly one of y"),
    (dict(y="short"), "same length"),
    (dict(background="nan"), "background: sample 1 holds NaN"),
    (dict(background="silent"), "background: sample 1 is silent"),
])
def test_fit_rejects_bad_input(tones, kwargs, match):
    clean, background = tones
    values = {"clean": clean, "bg": background, "short": clean[:, :100],
              "nan": [background[0], np.full(10, np.nan)],
              "silent": [background[0], np.zeros(10)]}
    kwargs = {k: values[v] for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=match):
        ComplexUNetDenoiser(**TINY).fit(clean, **kwargs)


@pytest.mark.parametrize("params, match", [
    (dict(channels=()), "channels"), (dict(snr_range=(5, -5)), "snr_range"),
    (dict(loss="l1"), "loss"), (dict(strength=11), "strength"),
    (dict(n_fft=0), "n_fft"),
])
def test_bad_parameters(tones, params, match):
    clean, background = tones
    with pytest.raises(ValueError, match=match):
        ComplexUNetDenoiser(**{**TINY, **params}).fit(clean, background=background)


def test_transform_names_the_bad_sample(denoiser):
    with pytest.raises(ValueError, match="sample 1 holds NaN"):
        denoiser.transform([np.zeros(500), np.array([0.0, np.inf] * 300)])
    with pytest.raises(ValueError, match=r"\(n_clips, n_samples\)"):
        denoiser.transform(np.zeros((2, 3, 500)))
    with pytest.raises(ValueError, match="paths"):
        denoiser.transform(["a.wav", "b.wav"])


def test_pickles(denoiser, tones, tmp_path):
    clean, _ = tones
    joblib.dump(denoiser, tmp_path / "den.joblib")
    loaded = joblib.load(tmp_path / "den.joblib")
    np.testing.assert_array_equal(loaded.transform(clean[:2]), denoiser.transform(clean[:2]))


def test_in_a_pipeline_before_logmel(denoiser, tones):
    clean, background = tones
    logmel = dict(sr=16000, n_fft=256, hop_length=128, n_mels=16)
    frozen = make_pipeline(FrozenEstimator(denoiser), LogMelTransformer(**logmel))
    S = frozen.fit_transform(clean)
    assert S.shape == (12, 16, 1 + 4096 // 128)
    np.testing.assert_allclose(
        S, LogMelTransformer(**logmel).fit_transform(denoiser.transform(clean)), atol=1e-4)
    pipe = make_pipeline(ComplexUNetDenoiser(**TINY), LogMelTransformer(**logmel),
                         FrameStacker(n_frames=3),
                         AutoencoderDetector(max_epochs=1, random_state=0))
    pipe.fit(clean, complexunetdenoiser__background=background)
    assert pipe.anomaly_score(clean[:3]).shape == (3,)


def test_losses():
    torch.manual_seed(0)
    clean = torch.randn(3, 1000)
    noise = torch.randn(3, 1000)
    mixture = clean + noise
    perfect = weighted_sdr_loss(clean, clean, mixture)
    identity = weighted_sdr_loss(mixture, clean, mixture)
    assert perfect.shape == (3,) and torch.all(perfect < -0.999)
    assert torch.all(identity > perfect + 0.3)
    s = clean[0].numpy()
    assert si_sdr(3 * s, s) > 60  # scale-invariant
    assert abs(si_sdr(s + noise[0].numpy(), s) - (-10 * np.log10(
        np.sum((noise[0].numpy()) ** 2) / np.sum(s ** 2)))) < 0.5
    with pytest.raises(ValueError, match="must match"):
        si_sdr(s, s[:10])


def test_paper_size():
    module = ComplexUNet(1024, 256, PAPER_CHANNELS)
    n = sum(p.numel() for p in module.parameters())
    assert 2.4e6 < n < 2.8e6
