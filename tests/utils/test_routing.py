"""Tests of sklasd.utils._routing: anomaly_score's metadata and the score fallback."""
import numpy as np
import pytest
import sklearn
from sklearn.ensemble import IsolationForest
from sklearn.preprocessing import StandardScaler

from sklasd.detectors import IDConditionedAE
from sklasd.utils._routing import (
    anomaly_scores,
    reject_params_without_routing,
    requested_metadata,
)

X = np.random.default_rng(0).normal(size=(30, 4))


def test_anomaly_scores_negate_score_samples_without_anomaly_score():
    forest = IsolationForest(n_estimators=5, random_state=0).fit(X)
    scores = anomaly_scores(forest, X)
    assert scores.dtype == np.float64
    np.testing.assert_array_equal(scores, -forest.score_samples(X))


def test_anomaly_scores_need_a_score_method():
    with pytest.raises(AttributeError, match="anomaly_score, score_samples"):
        anomaly_scores(StandardScaler().fit(X), X)


def test_anomaly_score_takes_what_decision_function_requests():
    ids = np.array(["a"] * 30)
    with sklearn.config_context(enable_metadata_routing=True):
        detector = IDConditionedAE()
        assert requested_metadata(detector, "anomaly_score", {"machine_id": ids}).keys() \
            == {"machine_id"}
        detector.set_decision_function_request(machine_id=False)
        assert requested_metadata(detector, "anomaly_score", {"machine_id": ids}) == {}
        assert requested_metadata(detector, "fit", {"machine_id": ids}).keys() \
            == {"machine_id"}


def test_metadata_without_routing_is_an_error():
    with pytest.raises(ValueError, match="StandardScaler.anomaly_score"):
        reject_params_without_routing({"machine_id": [1]}, StandardScaler(), "anomaly_score")
    reject_params_without_routing({}, StandardScaler(), "anomaly_score")
