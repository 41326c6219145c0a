"""Tests of AutoencoderDetector (sklasd/detectors/autoencoder.py)."""
import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklasd.detectors import AutoencoderDetector

SMALL = dict(hidden_layer_sizes=(8,), bottleneck=2, max_epochs=2, batch_size=16,
             random_state=0)

EXPECTED_FAILED = {
    "check_fit_score_takes_y": "score is the ROC AUC of anomaly_score, which needs a "
    "binary y (1 = anomaly); the check passes a 3-class y",
    "check_methods_subset_invariance": "float32 matrix products differ by ~1e-7 "
    "between batches of different sizes, above the check's rtol=1e-7",
}


@parametrize_with_checks(
    [AutoencoderDetector(**SMALL),
     AutoencoderDetector(**SMALL, score_mode="selective_mahalanobis")],
    expected_failed_checks=lambda est: EXPECTED_FAILED
)
def test_sklearn_compatible(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    check(estimator)


def test_defaults_are_the_dcase2020_baseline():
    params = AutoencoderDetector().get_params()
    assert (params["lr"], params["max_epochs"], params["batch_size"],
            params["validation_fraction"], params["aggregation"]) == (
        1e-3, 100, 512, 0.1, "mean")
    ae = AutoencoderDetector(max_epochs=0)
    ae.fit(np.random.default_rng(0).normal(size=(4, 3, 320)).astype(np.float32))
    linear = [m for m in ae.net_.module_ if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == (
        [(320, 128)] + [(128, 128)] * 3 + [(128, 8), (8, 128)]
        + [(128, 128)] * 3 + [(128, 320)])
    norms = [m for m in ae.net_.module_ if isinstance(m, torch.nn.BatchNorm1d)]
    relus = [m for m in ae.net_.module_ if isinstance(m, torch.nn.ReLU)]
    assert len(norms) == len(relus) == 9  # after every layer but the output
    assert isinstance(ae.net_.module_[-1], torch.nn.Linear)
    assert isinstance(ae.net_.optimizer_, torch.optim.Adam)


def test_toyadmos_setting_without_batch_norm():
    ae = AutoencoderDetector(hidden_layer_sizes=(512,) * 4, bottleneck=128,
                             batch_norm=False, activation="elu", max_epochs=0)
    ae.fit(np.zeros((2, 2, 21 * 64), np.float32) + np.arange(2)[:, None, None])
    kinds = {type(m) for m in ae.net_.module_}
    assert torch.nn.BatchNorm1d not in kinds and torch.nn.ELU in kinds


def test_window_scores_are_reconstruction_mse():
    X = np.random.default_rng(0).normal(size=(6, 5, 4)).astype(np.float32)
    ae = AutoencoderDetector(**SMALL).fit(X)
    ae.net_.module_.eval()
    with torch.no_grad():
        recon = ae.net_.module_(torch.from_numpy(X.reshape(-1, 4))).numpy()
    expected = ((recon - X.reshape(-1, 4)) ** 2).mean(axis=1).reshape(6, 5)
    np.testing.assert_allclose(np.stack(ae.frame_scores(X)), expected, rtol=1e-5)


@pytest.mark.quality
def test_quality_on_make_machine_sounds():
    from sklasd.datasets import make_machine_sounds
    from sklasd.features import FrameStacker, LogMelTransformer
    from sklasd.pipeline import make_pipeline

    data = make_machine_sounds(n_normal=40, n_anomalous=10, machine_ids=("id_00",),
                               random_state=0)
    train = (data.split == "train") & (data.target == 0)
    test = data.split == "test"
    pipe = make_pipeline(
        LogMelTransformer(sr=data.sr, n_fft=1024, hop_length=512, n_mels=64),
        FrameStacker(n_frames=5),
        AutoencoderDetector(max_epochs=20, batch_size=64, random_state=0),
    )
    pipe.fit(data.data[train])
    assert pipe.score(data.data[test], data.target[test]) >= 0.9


@pytest.mark.quality
@pytest.mark.shared_data
@pytest.mark.parametrize("loudness", [False, True], ids=["raw", "loudness-normalized"])
def test_quality_on_dcase2020_slider(dcase2020_lite, loudness):
    from sklasd.datasets import load_dcase2020_task2
    from sklasd.features import FrameStacker, LogMelTransformer, SpectrogramScaler
    from sklasd.pipeline import make_pipeline

    data = load_dcase2020_task2(dcase2020_lite)
    clips = (data.machine_type == "slider") & (data.machine_id == "id_00")
    train = clips & (data.split == "train") & (data.target == 0)
    test = clips & (data.split == "test")
    assert train.sum() == 75 and test.sum() == 6
    steps = [LogMelTransformer(sr=16000, n_fft=1024, hop_length=512, n_mels=64)]
    steps += [SpectrogramScaler(per="clip")] if loudness else []
    pipe = make_pipeline(*steps, FrameStacker(n_frames=5),
                         AutoencoderDetector(max_epochs=10, batch_size=128,
                                             random_state=0))
    pipe.fit(data.data[train])
    assert pipe.score(data.data[test], data.target[test]) >= 0.8


def test_selective_mahalanobis_is_min_over_domain_covariances():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 6, 4)).astype(np.float32)
    domain = np.repeat(["source", "target"], 6)
    ae = AutoencoderDetector(**SMALL, score_mode="selective_mahalanobis").fit(
        X, domain=domain)
    assert ae.error_domains_.tolist() == ["source", "target"]
    ae.net_.module_.eval()
    with torch.no_grad():
        recon = ae.net_.module_(torch.from_numpy(X.reshape(-1, 4))).numpy()
    errors = (X.reshape(-1, 4) - recon).astype(np.float64).reshape(12, 6, 4)
    per_domain = []
    for d in ("source", "target"):
        e_d = errors[domain == d].reshape(-1, 4)
        precision = np.linalg.inv(np.cov(e_d.T, bias=True))
        per_domain.append(np.einsum("cwi,ij,cwj->cw", errors, precision, errors).mean(axis=1))
    np.testing.assert_allclose(ae.anomaly_score(X), np.minimum(*per_domain), rtol=1e-4)
    # without domains: one covariance; the "mse" mode ignores domain
    single = AutoencoderDetector(**SMALL, score_mode="selective_mahalanobis").fit(X)
    assert single.error_precisions_.shape == (1, 4, 4)
    mse = AutoencoderDetector(**SMALL).fit(X, domain=domain)
    assert not hasattr(mse, "error_precisions_")
