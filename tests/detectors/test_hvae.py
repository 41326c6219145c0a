"""Tests of HVAEDetector (sklasd/detectors/hvae.py)."""
import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklasd.detectors.hvae import (
    HeteroskedasticLoss,
    HVAEDetector,
    gaussian_kl,
    weighted_mse,
)

SMALL = dict(hidden_layer_sizes=(8,), latent_dim=2, max_epochs=2, batch_size=16,
             random_state=0)

EXPECTED_FAILED = {
    "check_fit_score_takes_y": "score is the ROC AUC of anomaly_score, which needs a "
    "binary y (1 = anomaly); the check passes a 3-class y",
    "check_methods_subset_invariance": "float32 matrix products differ by ~1e-7 "
    "between batches of different sizes, above the check's rtol=1e-7",
    "check_methods_sample_order_invariance": "the same float32 rounding (~1e-7) "
    "when the rows of a batch are permuted",
}


@parametrize_with_checks(
    [HVAEDetector(**SMALL), HVAEDetector(**SMALL, big_precision=False)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    check(estimator)


@pytest.fixture
def windows():
    return np.random.default_rng(0).normal(size=(12, 8, 6)).astype(np.float32)


def test_defaults_follow_the_paper(windows):
    hvae = HVAEDetector()
    assert (hvae.hidden_layer_sizes, hvae.latent_dim, hvae.beta, hvae.big_precision,
            hvae.dropout, hvae.max_epochs) == ((640, 512, 256), 16, 1.0, True, 0.1, 200)
    module = hvae.set_params(max_epochs=0).fit(windows).net_.module_
    widths = [(m.in_features, m.out_features) for m in module.encoder.modules()
              if isinstance(m, torch.nn.Linear)]
    assert widths == [(6, 640), (640, 512), (512, 256), (256, 32)]  # 2 x 16: mu, sigma
    for decoder in (module.decoder, module.precision_decoder):  # Big Precision
        widths = [(m.in_features, m.out_features) for m in decoder.modules()
                  if isinstance(m, torch.nn.Linear)]
        assert widths == [(16, 256), (256, 512), (512, 640), (640, 6)]
    kinds = [type(m) for m in module.encoder[0]]
    assert kinds == [torch.nn.Linear, torch.nn.ELU, torch.nn.Dropout] * 3
    assert module.encoder[0][2].p == 0.1


def test_doubled_output_layer_without_big_precision(windows):
    module = HVAEDetector(**SMALL, big_precision=False).fit(windows).net_.module_
    assert module.precision_decoder is None
    assert module.decoder[-1].out_features == 2 * 6


def test_loss_terms_by_hand():
    X = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    x_hat = torch.tensor([[0.0, 2.5], [0.5, -1.0]])
    precision = torch.tensor([[2.0, 4.0], [1.0, 0.5]])
    mu = torch.tensor([[0.5], [-1.0]])
    sigma = torch.tensor([[2.0], [1.0]])
    # wMSE = mean_i p_i (x_i - x_hat_i)^2
    wmse = np.array([(2 * 1 + 4 * 0.25) / 2, (1 * 0.25 + 0.5 * 0) / 2])
    np.testing.assert_allclose(weighted_mse(x_hat, precision, X), wmse)
    # KL = 0.5 (sigma^2 + mu^2 - 1 - 2 log sigma)
    kl = np.array([0.5 * (4 + 0.25 - 1 - 2 * np.log(2)), 0.5 * (1 + 1 - 1 - 0)])
    np.testing.assert_allclose(gaussian_kl(mu, sigma), kl, rtol=1e-6)
    log_p = np.log([[2.0, 4.0], [1.0, 0.5]]).sum(axis=1)
    loss = HeteroskedasticLoss(beta=3.0)((x_hat, precision, mu, sigma), X)
    np.testing.assert_allclose(loss, kl + 3.0 * (2 * wmse - log_p), rtol=1e-6)


def test_optimal_precision_is_the_inverse_squared_error():
    X, x_hat = torch.zeros(1, 3), torch.tensor([[0.5, 1.0, 2.0]])
    mu, sigma = torch.zeros(1, 1), torch.ones(1, 1)
    log_p = torch.zeros(1, 3, requires_grad=True)
    optim = torch.optim.Adam([log_p], lr=0.05)
    for _ in range(2000):
        optim.zero_grad()
        HeteroskedasticLoss()((x_hat, log_p.exp(), mu, sigma), X).sum().backward()
        optim.step()
    np.testing.assert_allclose(log_p.exp().detach(), 1 / x_hat ** 2, rtol=1e-3)


def test_window_scores_are_wmse_of_the_posterior_mean(windows):
    hvae = HVAEDetector(**SMALL).fit(windows)
    module = hvae.net_.module_.eval()
    flat = torch.from_numpy(windows.reshape(-1, 6))
    with torch.no_grad():
        mu = module.encoder(flat).chunk(2, dim=1)[0]
        x_hat = module.decoder(mu)
        precision = torch.nn.functional.softplus(module.precision_decoder(mu)) + 1e-6
    expected = (precision * (flat - x_hat) ** 2).mean(dim=1).numpy().reshape(12, 8)
    np.testing.assert_allclose(np.stack(hvae.frame_scores(windows)), expected, rtol=1e-5)


def test_training_samples_the_latent_and_uses_dropout(windows):
    module = HVAEDetector(**SMALL).fit(windows).net_.module_
    flat = torch.from_numpy(windows[0])
    module.train()
    assert not torch.equal(module(flat)[0], module(flat)[0])
    module.eval()
    assert torch.equal(module(flat)[0], module(flat)[0])


def test_seeded_fits_are_identical(windows):
    scores = [HVAEDetector(**SMALL).fit(windows).anomaly_score(windows) for _ in range(2)]
    np.testing.assert_array_equal(*scores)


@pytest.mark.quality
def test_quality_on_make_machine_sounds():
    from sklasd.datasets import make_machine_sounds
    from sklasd.features import FrameStacker, LogMelTransformer, SpectrogramScaler
    from sklasd.pipeline import make_pipeline

    data = make_machine_sounds(n_normal=40, n_anomalous=10, machine_ids=("id_00",),
                               random_state=0)
    train = (data.split == "train") & (data.target == 0)
    test = data.split == "test"
    pipe = make_pipeline(
        LogMelTransformer(sr=data.sr, n_fft=1024, hop_length=512, n_mels=64),
        SpectrogramScaler(per="bin"),
        FrameStacker(n_frames=5),
        HVAEDetector(hidden_layer_sizes=(128, 64), max_epochs=20, batch_size=128,
                     random_state=0),
    )
    pipe.fit(data.data[train])
    assert pipe.score(data.data[test], data.target[test]) >= 0.9
