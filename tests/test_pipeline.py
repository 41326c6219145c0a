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


# --- anomaly_map: maps back on the log-mel frames -----------------------------------
def _audio(n_clips, seconds, seed=0):
    return np.random.default_rng(seed).normal(0, 0.1, (n_clips, int(8000 * seconds))).astype(
        np.float32)


def _log_mel():
    from sklasd.features import LogMelTransformer

    return LogMelTransformer(sr=8000, n_fft=256, hop_length=128, n_mels=16)


@pytest.mark.parametrize("middle", ["windows", "scaled windows", "pooled", "pooled scaled"])
def test_anomaly_map_is_on_the_log_mel_frames_of_each_clip(middle):
    from sklasd.detectors import AutoencoderDetector, KNeighborsDetector
    from sklasd.features import FrameStacker, SpectrogramScaler, TemporalPooling

    steps = {"windows": [FrameStacker(3), AutoencoderDetector(**TINY)],
             "scaled windows": [SpectrogramScaler(), FrameStacker(3),
                                AutoencoderDetector(**TINY)],
             "pooled": [TemporalPooling(), KNeighborsDetector()],
             "pooled scaled": [TemporalPooling(), StandardScaler(), KNeighborsDetector()]}
    pipe = make_pipeline(_log_mel(), *steps[middle]).fit(_audio(10, 0.5))
    clips = [_audio(1, 0.5, seed=1)[0], _audio(1, 0.8, seed=2)[0]]
    maps = pipe.anomaly_map(clips)
    spectrograms = pipe[0].transform(clips)
    assert [m.shape for m in maps] == [s.shape for s in spectrograms]
    assert all(m.dtype == np.float32 and (m >= 0).all() and m.max() > 0 for m in maps)
    alone = pipe.anomaly_map(clips[1:])  # a clip's map does not depend on the others
    np.testing.assert_allclose(alone[0], maps[1], rtol=1e-4, atol=1e-6)


def test_anomaly_map_of_windows_is_the_detector_map_through_the_stacker():
    from sklasd.detectors import AutoencoderDetector
    from sklasd.features import FrameStacker

    pipe = make_pipeline(_log_mel(), FrameStacker(3), AutoencoderDetector(**TINY))
    X = _audio(6, 0.5)
    pipe.fit(X)
    S = pipe[0].transform(X)
    expected = pipe[1].inverse_map(pipe[2].anomaly_map(pipe[1].transform(S)), S)
    np.testing.assert_allclose(pipe.anomaly_map(X), expected, rtol=1e-6)


def test_a_pooled_event_is_mapped_onto_its_frames():
    from sklasd.detectors import KNeighborsDetector
    from sklasd.features import TemporalPooling

    rng = np.random.default_rng(0)
    S = rng.normal(size=(20, 8, 30)).astype(np.float32)
    pipe = make_pipeline(TemporalPooling("max"), KNeighborsDetector()).fit(S)
    clip = rng.normal(size=(8, 30)).astype(np.float32)
    clip[2:5, 17] += 10  # an event in bins 2-4 at frame 17
    [m] = pipe.anomaly_map(clip[None])
    assert m.shape == (8, 30) and np.argmax(m.sum(axis=0)) == 17


def test_anomaly_map_stops_at_a_step_it_cannot_invert(data):
    from sklearn.decomposition import PCA

    X, _, _ = data
    pipe = make_pipeline(PCA(3), _id_detector()).fit(X)
    with pytest.raises(ValueError, match="'pca' .* no inverse_map"):
        pipe.anomaly_map(X)
    with pytest.raises(ValueError, match="only supported if enable_metadata_routing"):
        pipe.anomaly_map(X, machine_id=np.zeros(len(X)))
