"""Tests of the detectors on pooled features (sklasd/detectors/pooled.py)."""
import numpy as np
import pytest
import sklearn
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklasd.datasets import make_machine_sounds
from sklasd.detectors import GaussianMixtureDetector, KNeighborsDetector, MahalanobisDetector
from sklasd.features import LogMelTransformer, TemporalPooling
from sklasd.metrics import section_scores
from sklasd.models import make_model
from sklasd.pipeline import make_pipeline

DETECTORS = [GaussianMixtureDetector(n_components=1, random_state=0),
             KNeighborsDetector(), MahalanobisDetector()]

EXPECTED_FAILED = {
    "check_fit_score_takes_y": "score is the ROC AUC of anomaly_score, which needs a "
    "binary y (1 = anomaly); the check passes a 3-class y",
}
# A training clip is its own nearest neighbour: scoring the training clips gives
# distance 0 (all below the threshold, which comes from leave-one-out scores).
KNN_EXPECTED_FAILED = {
    check: "predict on the training clips: each is its own nearest neighbour, "
    "distance 0, so none is an outlier"
    for check in ("check_outliers_fit_predict", "check_outliers_train")
}


def _expected_failed(estimator):
    if isinstance(estimator, KNeighborsDetector):
        return {**EXPECTED_FAILED, **KNN_EXPECTED_FAILED}
    return EXPECTED_FAILED


@parametrize_with_checks(DETECTORS, expected_failed_checks=_expected_failed)
def test_sklearn_compatible(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    check(estimator)


def _blobs(n=60, shift=0.0, seed=0):
    return np.random.default_rng(seed).normal(shift, 1.0, size=(n, 4))


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_detector_contract(detector):
    X = _blobs()
    det = sklearn.clone(detector).fit(X)
    outliers = _blobs(10, shift=8.0, seed=1)
    scores = det.anomaly_score(np.r_[X[:10], outliers])
    assert scores.dtype == np.float64 and scores.shape == (20,)
    assert scores[10:].min() > scores[:10].max()
    np.testing.assert_allclose(det.score_samples(outliers), -det.anomaly_score(outliers))
    assert (det.predict(outliers) == -1).all()
    assert det.score(np.r_[X[:10], outliers], np.r_[np.zeros(10), np.ones(10)]) == 1.0
    assert np.isfinite(det.threshold_)


def test_gmm_score_is_negative_log_likelihood():
    X = _blobs()
    det = GaussianMixtureDetector(2, random_state=0).fit(X)
    np.testing.assert_allclose(det.anomaly_score(X), -det.models_[0].score_samples(X))


def test_mahalanobis_empirical_is_squared_distance():
    X = _blobs()
    det = MahalanobisDetector("empirical").fit(X)
    d = X - X.mean(axis=0)
    expected = np.einsum("ij,jk,ik->i", d, np.linalg.inv(np.cov(X.T, bias=True)), d)
    np.testing.assert_allclose(det.anomaly_score(X), expected, rtol=1e-8)


def test_knn_scores_training_clips_leave_one_out():
    X = np.array([[0.0], [1.0], [3.0], [10.0]])
    det = KNeighborsDetector(n_neighbors=1).fit(X)
    np.testing.assert_allclose(det.anomaly_score([[2.0], [0.5]]), [1.0, 0.5])
    # training scores for the threshold skip the clip itself: 1, 1, 2, 7
    assert det.score_mean_[0] == pytest.approx(11 / 4)


def test_domain_rule_is_min_of_standardized_scores():
    source, target = _blobs(50), _blobs(8, shift=5.0, seed=2)
    X = np.r_[source, target]
    domain = np.r_[["source"] * 50, ["target"] * 8]
    det = MahalanobisDetector().fit(X, domain=domain)
    assert det.domains_.tolist() == ["source", "target"]
    test = np.r_[_blobs(5, seed=3), _blobs(5, shift=5.0, seed=4)]
    per_domain = [(MahalanobisDetector().fit(part).anomaly_score(test) - m) / s
                  for part, m, s in zip((source, target), det.score_mean_, det.score_std_)]
    np.testing.assert_allclose(det.anomaly_score(test), np.minimum(*per_domain))
    # a target-like clip is normal although the source model alone flags it
    plain = MahalanobisDetector().fit(X)
    far = _blobs(5, shift=-6.0, seed=5)
    assert det.anomaly_score(test[5:]).max() < det.anomaly_score(far).min()
    assert plain.anomaly_score(test[5:]).mean() > plain.anomaly_score(test[:5]).mean()


def test_domain_is_routed_as_metadata():
    X = np.r_[_blobs(30), _blobs(6, shift=5.0, seed=2)]
    domain = np.r_[["source"] * 30, ["target"] * 6]
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(KNeighborsDetector()).fit(X, domain=domain)
    assert pipe[-1].domains_.tolist() == ["source", "target"]
    with pytest.raises(ValueError, match="one label per clip"):
        KNeighborsDetector().fit(X, domain=domain[:3])


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_quality_on_generated_sounds(detector):
    data = make_machine_sounds(n_normal=24, n_anomalous=8, machine_ids=("id_00",),
                               random_state=0)
    train = (data.split == "train") & (data.target == 0)
    test = data.split == "test"
    pipe = make_pipeline(LogMelTransformer(), TemporalPooling(), sklearn.clone(detector))
    pipe.fit(data.data[train])
    result = section_scores(data.target[test], pipe.anomaly_score(data.data[test]))
    assert result["AUC"] >= 0.9


@pytest.mark.parametrize("name", ["gmm", "knn", "mahalanobis", "ensemble"])
def test_registry_pipelines_fit_and_score(name):
    data = make_machine_sounds(n_normal=12, n_anomalous=4, machine_ids=("id_00",),
                               duration=1.0, random_state=0)
    train = (data.split == "train") & (data.target == 0)
    model = make_model(name).fit(data.data[train])
    assert model.anomaly_score(data.data[~train]).shape == ((~train).sum(),)
