"""Tests of sklasd.pipeline: Pipeline.anomaly_score and its metadata routing."""
import numpy as np
import pytest
import sklearn
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline as SkPipeline
from sklearn.preprocessing import StandardScaler

from sklasd.pipeline import Pipeline, make_pipeline

TINY = dict(hidden_layer_sizes=(8,), bottleneck=2, max_epochs=2, batch_size=32,
            random_state=0)


@pytest.fixture
def data():
    """30 normal clips then 10 shifted (anomalous) ones, as 2-D windows."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 6)).astype(np.float32)
    X[30:] += 4
    y = np.r_[np.zeros(30, int), np.ones(10, int)]
    ids = np.tile(["id_00", "id_02"], 20)
    return X, y, ids


def _id_detector():
    """A detector that requests machine_id for fit and decision_function (as IDCAE)."""
    from sklasd.detectors import AutoencoderDetector

    class IDRecordingAE(AutoencoderDetector):
        __metadata_request__fit = {"machine_id": True}
        __metadata_request__decision_function = {"machine_id": True}
        __metadata_request__predict = {"machine_id": True}
        __metadata_request__score = {"machine_id": True}

        def _check_metadata(self, metadata, n_clips, reset):
            self.last_ids_ = metadata.get("machine_id")
            return {}

    return IDRecordingAE(**TINY)


def test_make_pipeline_returns_sklasd_pipeline():
    pipe = make_pipeline(StandardScaler(), "passthrough", memory=None)
    assert type(pipe) is Pipeline and isinstance(pipe, SkPipeline)
    assert [name for name, _ in pipe.steps] == ["standardscaler", "passthrough"]


def test_anomaly_score_transforms_then_scores(data):
    from sklasd.detectors import AutoencoderDetector

    X, y, _ = data
    pipe = make_pipeline(StandardScaler(), AutoencoderDetector(**TINY)).fit(X[:30])
    Xt = pipe[:-1].transform(X)
    np.testing.assert_array_equal(pipe.anomaly_score(X), pipe[-1].anomaly_score(Xt))
    np.testing.assert_array_equal(pipe.decision_function(X),
                                  pipe[-1].decision_function(Xt))
    assert pipe.score(X, y) == pipe[-1].score(Xt, y)


def test_anomaly_score_only_with_a_detector_at_the_end():
    pipe = make_pipeline(StandardScaler())
    assert not hasattr(pipe, "anomaly_score")


def test_anomaly_score_rejects_metadata_without_routing(data):
    X, _, ids = data
    pipe = make_pipeline(StandardScaler(), _id_detector()).fit(X[:30])
    with pytest.raises(ValueError, match="anomaly_score"):
        pipe.anomaly_score(X, machine_id=ids)


def test_anomaly_score_routes_metadata_like_decision_function(data):
    X, y, ids = data
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), _id_detector())
        pipe.fit(X[:30], machine_id=ids[:30])
        np.testing.assert_array_equal(pipe[-1].last_ids_, ids[:30])
        pipe.anomaly_score(X[5:9], machine_id=ids[5:9])
        np.testing.assert_array_equal(pipe[-1].last_ids_, ids[5:9])
        assert pipe.predict(X, machine_id=ids).shape == (40,)


def test_unrequested_metadata_is_an_error(data):
    from sklasd.detectors import AutoencoderDetector

    X, _, ids = data
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), AutoencoderDetector(**TINY)).fit(X[:30])
        with pytest.raises(TypeError, match="machine_id"):
            pipe.anomaly_score(X, machine_id=ids)


def test_grid_search_over_pipeline_routes_machine_id_per_fold(data):
    X, y, ids = data
    # two folds: train on normal clips only, test on the rest (normal + anomalous)
    folds = [(np.arange(0, 15), np.r_[15:30, 30:40]), (np.arange(15, 30), np.r_[0:15, 30:40])]
    with sklearn.config_context(enable_metadata_routing=True):
        search = GridSearchCV(
            make_pipeline(StandardScaler(), _id_detector()),
            {"idrecordingae__bottleneck": [1, 2]},
            cv=folds,
        )
        search.fit(X, y, machine_id=ids)
    assert search.best_score_ > 0.9  # score = ROC AUC, no scoring argument needed
    assert len(search.best_estimator_[-1].last_ids_) == 40  # refit on all clips
    assert type(search.best_estimator_) is Pipeline
