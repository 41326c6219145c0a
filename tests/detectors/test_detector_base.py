"""Tests of the neural-detector bases (sklasd/detectors/_core.py and _windows.py)."""
import pickle
import warnings

import joblib
import numpy as np
import pytest
import sklearn
import torch

from sklasd.detectors import AutoencoderDetector, WaveNetPredictor
from sklasd.detectors._windows import aggregate
from sklasd.detectors._core import _UnitBatches

TINY = dict(hidden_layer_sizes=(8,), bottleneck=2, max_epochs=2, batch_size=32)


@pytest.fixture
def windows():
    """20 clips of 12 windows of 6 features, float32."""
    return np.random.default_rng(0).normal(size=(20, 12, 6)).astype(np.float32)


@pytest.fixture
def fitted(windows):
    return AutoencoderDetector(**TINY, random_state=0).fit(windows)


class MetaAE(AutoencoderDetector):
    """A detector that requests and records ``machine_id`` (like IDConditionedAE)."""

    __metadata_request__fit = {"machine_id": True}
    __metadata_request__decision_function = {"machine_id": True}
    __metadata_request__score = {"machine_id": True}

    def _check_metadata(self, metadata, n_clips, reset):
        ids = np.asarray(metadata["machine_id"])
        if len(ids) != n_clips:
            raise ValueError(f"machine_id has {len(ids)} entries, X has {n_clips} clips")
        if reset:
            self.seen_ids_ = np.unique(ids)
        return {"machine_id": np.searchsorted(self.seen_ids_, ids)}

    def _make_batch(self, windows, metadata, training):
        self.batch_ids_ = metadata["machine_id"]  # recorded for the test
        return super()._make_batch(windows, metadata, training)


# ------------------------------------------------------------------ aggregation
@pytest.mark.parametrize(
    "aggregation, expected",
    [
        ("mean", [3.5, 2.5]),
        ("median", [2.5, 2.5]),
        ("max", [8.0, 4.0]),
        # medians of [1, 2], [3, 8] and of [1, 4], [2.5] (a shorter last window)
        ("winmed", [(1.5 + 5.5) / 2, (2.5 + 2.5) / 2]),
        ("meancap", [(1 + 2 + 3 + 5) / 4, 2.5]),  # 8 capped at 5
    ],
)
def test_aggregate_by_hand(aggregation, expected):
    frames = [np.array([1.0, 2.0, 3.0, 8.0]), np.array([1.0, 4.0, 2.5])]
    got = aggregate(frames, aggregation, agg_window=2, cap=5.0)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected)


def test_meancap_uses_training_frame_statistics(fitted, windows):
    fitted.set_params(aggregation="meancap")
    cap = fitted.frame_score_mean_ + 3 * fitted.frame_score_std_
    frames = fitted.frame_scores(windows + 5)
    expected = [np.minimum(f, cap).mean() for f in frames]
    np.testing.assert_allclose(fitted.anomaly_score(windows + 5), expected)


@pytest.mark.parametrize("aggregation", ["mean", "median", "max", "winmed"])
def test_anomaly_score_aggregates_frame_scores(fitted, windows, aggregation):
    fitted.set_params(aggregation=aggregation, agg_window=5)
    frames = fitted.frame_scores(windows)
    assert len(frames) == 20 and all(f.shape == (12,) for f in frames)
    np.testing.assert_allclose(
        fitted.anomaly_score(windows), aggregate(frames, aggregation, agg_window=5)
    )


# ----------------------------------------------------- thresholds and sign conventions
def test_threshold_is_gamma_quantile_of_training_scores(fitted, windows):
    import scipy.stats

    train_scores = fitted.anomaly_score(windows)
    expected = scipy.stats.gamma.ppf(0.9, *scipy.stats.gamma.fit(train_scores, floc=0))
    assert fitted.threshold_ == pytest.approx(expected)
    assert fitted.offset_ == -fitted.threshold_


def test_sign_conventions(fitted, windows):
    X = np.concatenate([windows, windows[:5] * 4])
    anomaly = fitted.anomaly_score(X)
    np.testing.assert_array_equal(fitted.score_samples(X), -anomaly)
    np.testing.assert_allclose(fitted.decision_function(X), fitted.threshold_ - anomaly)
    np.testing.assert_array_equal(
        fitted.predict(X), np.where(anomaly <= fitted.threshold_, 1, -1)
    )
    assert set(fitted.predict(X[-5:])) == {-1}
    y = np.r_[np.zeros(20), np.ones(5)]
    assert fitted.score(X, y) == 1.0  # y = 1 marks anomalies: higher score, higher AUC


# ------------------------------------------------------------ training mechanics
def test_windows_per_clip_are_drawn_afresh_each_epoch(windows):
    ae = AutoencoderDetector(**TINY)
    ae.n_features_in_ = windows.shape[-1]
    ds = _UnitBatches(ae, windows, np.arange(3), {}, batch_size=4, units_per_clip=5,
                      shuffle=True, rng=np.random.default_rng(0), training=True)
    epochs = [ds._epoch_index() for _ in range(2)]
    for clips, units in epochs:
        assert np.bincount(clips).tolist() == [5, 5, 5]
        for c in range(3):  # without replacement
            assert len(set(units[clips == c])) == 5
    assert not np.array_equal(epochs[0][1], epochs[1][1])
    batches = list(ds)
    assert sum(len(xi) for xi, _ in batches) == 15


def test_validation_holds_out_whole_clips(windows):
    ae = AutoencoderDetector(**TINY, random_state=0).fit(windows)
    assert "valid_loss" in ae.net_.history[-1]
    train, valid = ae._split_clips(20, np.random.default_rng(0))
    assert len(valid) == 2 and not set(train) & set(valid)
    ae = AutoencoderDetector(**TINY, validation_fraction=None, random_state=0).fit(windows)
    assert "valid_loss" not in ae.net_.history[-1]


def test_seeding_gives_identical_scores_and_leaves_global_rng(windows):
    state = torch.random.get_rng_state()
    scores = [AutoencoderDetector(**TINY, windows_per_clip=4, random_state=3)
              .fit(windows).anomaly_score(windows) for _ in range(2)]
    np.testing.assert_array_equal(scores[0], scores[1])
    assert torch.equal(state, torch.random.get_rng_state())
    other = AutoencoderDetector(**TINY, random_state=4).fit(windows)
    assert not np.array_equal(scores[0], other.anomaly_score(windows))


def test_callbacks_and_verbose(windows, capsys):
    from skorch.callbacks import LRScheduler

    sched = LRScheduler("StepLR", step_size=1, gamma=0.5)
    ae = AutoencoderDetector(**TINY, callbacks=[sched], verbose=1, random_state=0)
    ae.fit(windows)
    assert not hasattr(sched, "lr_scheduler_")  # the given callback is not mutated
    assert ae.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3 / 4)
    assert "train_loss" in capsys.readouterr().out
    AutoencoderDetector(**TINY, random_state=0).fit(windows)
    assert capsys.readouterr().out == ""


# ------------------------------------------------------------ input handling
def test_read_only_strided_input_is_not_copied_or_written(windows):
    base = np.random.default_rng(1).normal(size=(10, 16, 2)).astype(np.float32)
    view = np.lib.stride_tricks.as_strided(
        base, shape=(10, 12, 10), strides=(base.strides[0], base.strides[1], 4),
        writeable=False)
    before = base.copy()
    ae = AutoencoderDetector(**TINY, random_state=0).fit(view)
    assert ae.anomaly_score(view).shape == (10,)
    np.testing.assert_array_equal(base, before)


def test_float64_input_is_not_converted_in_place(windows):
    X = windows.astype(np.float64)
    ae = AutoencoderDetector(**TINY, random_state=0).fit(X)
    assert X.dtype == np.float64
    np.testing.assert_allclose(ae.anomaly_score(X), ae.anomaly_score(windows))


def test_two_dimensional_input_is_one_window_per_clip(windows):
    X = windows[:, 0]
    ae = AutoencoderDetector(**TINY, random_state=0).fit(X)
    np.testing.assert_allclose(ae.anomaly_score(X), ae.anomaly_score(X[:, None]))


def test_bad_input_errors(fitted, windows):
    with pytest.raises(ValueError, match=r"expecting 6 features.*\(20, 12, 5\)"):
        fitted.anomaly_score(windows[..., :5])
    with pytest.raises(ValueError, match=r"n_windows, n_features.*\(2, 3, 4, 6\)"):
        fitted.anomaly_score(np.zeros((2, 3, 4, 6), np.float32))
    bad = windows.copy()
    bad[7, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity in sample \\(clip\\) 7"):
        AutoencoderDetector(**TINY).fit(bad)
    with pytest.raises(ValueError, match="at least 2 windows"):
        AutoencoderDetector(**TINY).fit(windows[:1, :1])


# ------------------------------------------------------------ metadata
def test_metadata_reaches_hooks_without_routing(windows):
    ids = np.repeat(["id_00", "id_02"], 10)
    ae = MetaAE(**TINY, random_state=0).fit(windows, machine_id=ids)
    assert ae.seen_ids_.tolist() == ["id_00", "id_02"]
    ae.anomaly_score(windows[:3], machine_id=ids[-3:])
    assert set(ae.batch_ids_) == {1}
    assert ae.predict(windows, machine_id=ids).shape == (20,)
    with pytest.raises(KeyError):
        ae.anomaly_score(windows)


def test_autoencoder_ignores_metadata(windows):
    ae = AutoencoderDetector(**TINY, random_state=0)
    ae.fit(windows, machine_id=np.zeros(20))
    assert ae.anomaly_score(windows, machine_id=np.zeros(20)).shape == (20,)


def test_metadata_requests_follow_class_defaults():
    with sklearn.config_context(enable_metadata_routing=True):
        routing = MetaAE().get_metadata_routing()
        # the autoencoder requests domain for fit (its selective-Mahalanobis mode)
        assert routing.fit.requests == {"machine_id": True, "domain": True}
        assert routing.decision_function.requests == {"machine_id": True}
        assert AutoencoderDetector().get_metadata_routing().fit.requests == {"domain": True}


# ------------------------------------------------------------ pickling
@pytest.mark.parametrize("dump", ["joblib", "pickle"])
def test_pickle_round_trip_gives_identical_scores(fitted, windows, tmp_path, dump):
    if dump == "joblib":
        joblib.dump(fitted, tmp_path / "ae.joblib")
        loaded = joblib.load(tmp_path / "ae.joblib")
    else:
        loaded = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(loaded.anomaly_score(windows),
                                  fitted.anomaly_score(windows))
    assert loaded.threshold_ == fitted.threshold_


def test_getstate_moves_a_gpu_net_to_cpu_without_touching_the_original(fitted, windows):
    fitted.net_.device = "cuda"  # as trained on a GPU (the tensors stay on the CPU)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        state = fitted.__getstate__()
    assert state["net_"].device == "cpu" and fitted.net_.device == "cuda"
    assert state["net_"] is not fitted.net_
    assert state["net_"].module_ is not fitted.net_.module_
    loaded = pickle.loads(pickle.dumps(fitted))
    fitted.net_.device = "cpu"
    assert loaded.net_.device == "cpu"
    np.testing.assert_array_equal(loaded.anomaly_score(windows),
                                  fitted.anomaly_score(windows))


@pytest.mark.parametrize("make", [
    lambda: AutoencoderDetector(hidden_layer_sizes=(16,), bottleneck=4, max_epochs=2,
                                random_state=0),
    lambda: WaveNetPredictor(n_blocks=1, channel_multiplier=2, excerpt_length=20,
                             max_epochs=1, random_state=0),
])
def test_bfloat16_scoring_is_close_to_float32(make, monkeypatch):
    X = np.random.default_rng(2).normal(size=(6, 8, 40)).astype(np.float32)
    detector = make().fit(X)
    exact = detector.anomaly_score(X)
    native = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        approx = detector.set_params(precision="bfloat16").anomaly_score(X)
    assert any("no native bfloat16" in str(w.message) for w in caught) != native
    np.testing.assert_allclose(approx, exact, rtol=0.05)
    assert detector.set_params(precision="float32").anomaly_score(X).tolist() == exact.tolist()
    # a CPU without bfloat16: one warning, float32 scores
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    with pytest.warns(UserWarning, match="no native bfloat16"):
        fallback = detector.set_params(precision="bfloat16").anomaly_score(X)
    assert fallback.tolist() == exact.tolist()
