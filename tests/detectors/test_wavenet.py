"""Tests of WaveNetPredictor (sklasd/detectors/wavenet.py)."""
import numpy as np
import pytest
import scipy.stats
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklasd.detectors.wavenet import (WaveNetPredictor, _FrameNorm, _WaveNet, _Welford,
                                      receptive_field)

# 1x1 kernels: receptive field 1, so the checks' 2-D inputs (rows = 1-bin
# spectrograms of n_features frames, often 2) can be predicted.
CHECKS = dict(n_blocks=1, kernel_size=1, channel_multiplier=2, n_bands=1,
              excerpt_length=4, max_epochs=2, batch_size=16, random_state=0)
TINY = dict(n_blocks=2, channel_multiplier=2, n_bands=2, excerpt_length=24,
            max_epochs=2, batch_size=8, random_state=0)  # receptive field 15

EXPECTED_FAILED = {
    "check_fit_score_takes_y": "score is the ROC AUC of anomaly_score, which needs a "
    "binary y (1 = anomaly); the check passes a 3-class y",
    "check_methods_subset_invariance": "float32 convolutions differ by ~1e-7 between "
    "batches of different sizes, above the check's rtol=1e-7",
}


@parametrize_with_checks([WaveNetPredictor(**CHECKS)],
                         expected_failed_checks=lambda est: EXPECTED_FAILED)
def test_sklearn_compatible(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    check(estimator)


@pytest.fixture(scope="module")
def spectrograms():
    """12 clips of 4 mel bins x 40 frames, float32."""
    rng = np.random.default_rng(0)
    return (rng.normal(size=(12, 4, 40)) + np.linspace(0, 3, 4)[:, None]).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(spectrograms):
    return WaveNetPredictor(**TINY).fit(spectrograms)


def _predict(wn, X):
    """Hand-made forward pass of whole clips: (prediction, target), standardized."""
    S = (X - wn.scaler_.mean_[:, None]) / wn.scaler_.scale_[:, None]
    wn.net_.module_.eval()
    with torch.no_grad():
        pred = wn.net_.module_(torch.from_numpy(S[..., :-1])).double().numpy()
    return pred, S[..., wn.receptive_field_:].astype(np.float64)


def test_defaults_are_table_5():
    wn = WaveNetPredictor(max_epochs=0)
    assert (wn.n_blocks, wn.channel_multiplier, wn.kernel_size, wn.n_bands, wn.lr,
            wn.batch_size, tuple(wn.betas)) == (3, 5, 3, 4, 1e-3, 32, (0.85, 0.999))
    wn.fit(np.random.default_rng(0).normal(size=(2, 128, 40)).astype(np.float32))
    assert wn.receptive_field_ == receptive_field(3, 3) == 31
    convs = [m for m in wn.net_.module_.modules() if isinstance(m, torch.nn.Conv1d)]
    causal = [(c.kernel_size[0], c.dilation[0], c.out_channels) for c in convs
              if c.kernel_size[0] == 3]
    assert causal == [(3, 1, 640), (3, 2, 640), (3, 4, 640), (3, 8, 128)]
    assert all(c.groups == 4 and c.padding == (0,) for c in convs)
    assert wn.net_.optimizer_.defaults["betas"] == (0.85, 0.999)
    assert isinstance(wn.net_.optimizer_, torch.optim.Adam)


def test_no_padding_predicts_frames_after_the_receptive_field(fitted, spectrograms):
    frames = fitted.frame_scores(spectrograms)
    assert fitted.receptive_field_ == 15
    assert len(frames) == 12 and all(f.shape == (40 - 15,) for f in frames)
    pred, target = _predict(fitted, spectrograms)
    np.testing.assert_allclose(np.stack(frames), ((pred - target) ** 2).mean(axis=1),
                               rtol=1e-5)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])  # both layouts
def test_causality(fitted, spectrograms, mode):
    module = fitted.net_.module_.eval()
    x = torch.from_numpy(spectrograms[:1, :, :-1].copy())
    k = 25  # change input frame k: predictions of frames <= k stay, of k + 1 changes
    changed = x.clone()
    changed[..., k] += 5.0
    with mode():
        before, after = module(x), module(changed)
    first_affected = k + 1 - fitted.receptive_field_  # output j predicts frame j + R
    torch.testing.assert_close(before[..., :first_affected], after[..., :first_affected],
                               rtol=0, atol=0)
    assert not torch.allclose(before[..., first_affected], after[..., first_affected])


def test_frame_norm_is_layer_norm_of_each_frame_in_both_layouts():
    rng = np.random.default_rng(2)
    x = rng.normal(2, 3, size=(3, 8, 20))
    norm = _FrameNorm(8)
    with torch.no_grad():
        norm.weight.copy_(torch.from_numpy(rng.normal(size=8)))
        norm.bias.copy_(torch.from_numpy(rng.normal(size=8)))
    w, b = (p.detach().double().numpy()[:, None] for p in (norm.weight, norm.bias))
    expected = (x - x.mean(axis=1, keepdims=True)) / np.sqrt(x.var(axis=1, keepdims=True)
                                                             + 1e-5) * w + b
    t = torch.from_numpy(x).float()
    channels_last = t.unsqueeze(2).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        three_d, four_d = norm(t), norm(channels_last)
    assert four_d.shape == (3, 8, 1, 20)
    np.testing.assert_allclose(three_d.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(four_d.squeeze(2).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_scoring_layout_gives_the_training_layout_predictions():
    """Scoring (inference mode) runs channels-last 4-D tensors; training (batch, C, T)."""
    torch.manual_seed(0)
    module = _WaveNet(128, 640, 3, 3, 4).eval()  # the defaults' network: dilations 1-8
    x = torch.randn(3, 128, 60)
    seen = []
    module.head_norm.register_forward_hook(lambda m, args, out: seen.append(args[0].dim()))
    with torch.no_grad():
        reference = module(x)
    with torch.inference_mode():
        scored = module(x)
    assert seen == [3, 4] and scored.shape == reference.shape == (3, 128, 60 - 30)
    torch.testing.assert_close(scored, reference, rtol=1e-5, atol=1e-5)


def test_loss_is_mse_of_next_frame_predictions(fitted, spectrograms):
    excerpts = fitted._gather(spectrograms, np.array([0, 3]), np.array([0, 1]))
    Xi, yi = fitted._make_batch(excerpts, {}, training=True)
    assert Xi.shape == (2, 4, 23) and yi.shape == (2, 4, 24 - 15)
    module = fitted.net_.module_.eval()
    with torch.no_grad():
        pred = module(Xi)
        loss = fitted.net_.get_loss(pred, yi).item()
    by_hand = ((pred.numpy() - excerpts[..., 15:]) ** 2).mean()
    assert loss == pytest.approx(float(by_hand), rel=1e-6)


def test_excerpts_tile_the_predicted_frames(fitted):
    starts, length = fitted._excerpts(40)
    assert length == 24 and starts.tolist() == [0, 9, 16]  # the last one ends at 40
    predicted = np.concatenate([np.arange(s + 15, s + length) for s in starts])
    assert set(predicted) == set(range(15, 40))


def test_percentile_score_by_hand(fitted, spectrograms):
    pred, target = _predict(fitted, spectrograms)
    error = (pred - target) ** 2
    expected = [np.percentile(np.percentile(e, 95, axis=1), 95) for e in error]
    np.testing.assert_allclose(fitted.anomaly_score(spectrograms), expected, rtol=1e-5)


def test_welford_equals_numpy():
    rng = np.random.default_rng(1)
    data = rng.normal(3, 2, size=(23, 5)) @ rng.normal(size=(5, 5))
    welford = _Welford(5)
    for batch in np.array_split(data, [1, 2, 9, 10, 17]):  # sizes 1, 1, 7, 1, 7, 6
        welford.update(batch)
    np.testing.assert_allclose(welford.mean, data.mean(axis=0))
    np.testing.assert_allclose(welford.covariance, np.cov(data.T, bias=True))


def test_gaussian_statistics_are_those_of_the_training_differences(fitted, spectrograms):
    pred, target = _predict(fitted, spectrograms)
    diffs = pred.mean(axis=2) - target.mean(axis=2)  # (clips, bins)
    np.testing.assert_allclose(fitted.diff_mean_, diffs.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(fitted.diff_covariance_, np.cov(diffs.T, bias=True),
                               atol=1e-6)


@pytest.mark.parametrize("covariance", ["full", "diag", "identity"])
def test_gaussian_score_is_negative_log_likelihood(fitted, spectrograms, covariance):
    fitted.set_params(scoring="gaussian", covariance=covariance)
    try:
        pred, target = _predict(fitted, spectrograms + 0.5)
        diffs = pred.mean(axis=2) - target.mean(axis=2)
        cov = {"full": fitted.diff_covariance_ + 1e-6 * np.eye(4),
               "diag": np.diag(np.diag(fitted.diff_covariance_) + 1e-6),
               "identity": np.eye(4)}[covariance]
        expected = -scipy.stats.multivariate_normal(fitted.diff_mean_, cov).logpdf(diffs)
        np.testing.assert_allclose(fitted.anomaly_score(spectrograms + 0.5), expected,
                                   rtol=1e-4)
    finally:
        fitted.set_params(scoring="percentile", covariance="full")


def test_gaussian_threshold_and_detection(spectrograms):
    wn = WaveNetPredictor(**{**TINY, "max_epochs": 5}, scoring="gaussian",
                          covariance="diag").fit(spectrograms)
    train = wn.anomaly_score(spectrograms)
    assert train.min() < 0  # log-likelihoods: the gamma is fitted shifted
    shift = train.min() - 1
    expected = scipy.stats.gamma.ppf(0.9, *scipy.stats.gamma.fit(train - shift, floc=0)) + shift
    assert wn.threshold_ == pytest.approx(expected)
    shifted = spectrograms.copy()
    shifted[:, 1] += 3.0  # one bin much louder than in training
    assert wn.anomaly_score(shifted).min() > train.max()


def test_same_seed_same_scores(spectrograms):
    a = WaveNetPredictor(**TINY).fit(spectrograms).anomaly_score(spectrograms)
    b = WaveNetPredictor(**TINY).fit(spectrograms).anomaly_score(spectrograms)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("params, X, match", [
    (dict(n_bands=3), np.zeros((2, 4, 40), np.float32), "n_bands=3 must divide"),
    (dict(excerpt_length=15), np.zeros((2, 4, 40), np.float32), "excerpt_length=15"),
    ({}, np.zeros((2, 4, 15), np.float32), "at least 16 frames"),
])
def test_bad_input(params, X, match):
    with pytest.raises(ValueError, match=match):
        WaveNetPredictor(**{**TINY, **params}).fit(X)


def test_scoring_other_n_mels_is_an_error(fitted):
    with pytest.raises(ValueError, match="4 features"):
        fitted.anomaly_score(np.zeros((2, 5, 40), np.float32))
