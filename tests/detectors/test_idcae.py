"""Tests of IDConditionedAE (sklasd/detectors/idcae.py)."""
import numpy as np
import pytest
import sklearn
import torch
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklasd.detectors.idcae import IDConditionedAE, WindowMAE
from sklasd.model_selection import NormalOnlyKFold
from sklasd.pipeline import make_pipeline

SMALL = dict(encoder_layer_sizes=(8,), latent_dim=2, decoder_layer_sizes=(8,),
             max_epochs=2, batch_size=16, windows_per_clip=None, random_state=0)

EXPECTED_FAILED = {
    "check_fit_score_takes_y": "score is the ROC AUC of anomaly_score, which needs a "
    "binary y (1 = anomaly); the check passes a 3-class y",
    # float32 matrix products differ by ~1e-7 between batches of different sizes or
    # orders, above the checks' rtol=1e-7 (these pass in some runs: non-strict xfail)
    "check_methods_subset_invariance": "float32 rounding (~1e-7) across batch sizes",
    "check_methods_sample_order_invariance": "float32 rounding (~1e-7) across row "
    "orders",
}


@parametrize_with_checks(
    [IDConditionedAE(**SMALL)], expected_failed_checks=lambda est: EXPECTED_FAILED
)
@pytest.mark.filterwarnings("ignore:IDConditionedAE fitted without machine_id")
def test_sklearn_compatible(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    # the checks cannot pass machine_id: they exercise the documented one-ID fallback
    # (which warns; the checks pass with or without the warning filtered)
    check(estimator)


@pytest.fixture
def two_machines():
    """2-D windows of two machine IDs with distinct spectra, plus anomalies.

    Normal clips of id_00 are loud in features 0-3, of id_01 in features 4-7. The
    anomalies are id_00 clips that sound like id_01: ordinary audio, wrong machine.
    """
    rng = np.random.default_rng(0)
    pattern = np.repeat(np.eye(2, dtype=np.float32), 4, axis=1) * 3  # (2, 8)
    ids = np.tile([0, 1], 40)
    X = pattern[ids] + rng.normal(0, 0.3, (80, 8)).astype(np.float32)
    X[60:70:2] = pattern[1] + rng.normal(0, 0.3, (5, 8))  # id_00 clips, id_01 sound
    y = np.zeros(80, int)
    y[60:70:2] = 1
    return X, y, np.array(["id_00", "id_01"])[ids]


def _fitted(X, ids, **params):
    return IDConditionedAE(**{**SMALL, **params}).fit(X, machine_id=ids)


# ------------------------------------------------------------------ defaults
def test_defaults_follow_the_paper():
    est = IDConditionedAE()
    assert (est.alpha, est.nonmatch_target, est.loss, est.max_epochs, est.lr,
            est.windows_per_clip, est.lr_decay, est.lr_decay_epochs) == (
        0.75, 5.0, "l1", 100, 1e-3, 300, 0.95, 5)
    X = np.zeros((4, 3, 1280), np.float32) + np.arange(4)[:, None, None]
    module = est.set_params(max_epochs=0).fit(X, machine_id=list("aabc")).net_.module_
    linear = lambda m: [(l.in_features, l.out_features) for l in m.modules()  # noqa: E731
                        if isinstance(l, torch.nn.Linear)]
    assert linear(module.encoder) == [(1280, 128), (128, 64), (64, 32), (32, 16)]
    assert linear(module.decoder) == [(16, 128)] + [(128, 128)] * 3 + [(128, 1280)]
    assert linear(module.h_gamma) == linear(module.h_beta) == [(3, 16), (16, 16)]
    assert [type(m) for m in module.encoder[:3]] == [
        torch.nn.Linear, torch.nn.BatchNorm1d, torch.nn.ReLU]
    assert isinstance(module.h_gamma[1], torch.nn.Sigmoid)


def test_learning_rate_decays_by_095_every_5_epochs(two_machines):
    X, _, ids = two_machines
    est = _fitted(X, ids, max_epochs=11)
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3 * 0.95 ** 2)
    est = _fitted(X, ids, max_epochs=11, lr_decay=1.0)
    assert est.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3)


# --------------------------------------------------------- conditioning and loss
def test_forward_is_decoder_of_modulated_code(two_machines):
    X, _, ids = two_machines
    module = _fitted(X, ids).net_.module_.eval()
    x, label = torch.from_numpy(X[:4]), torch.tensor([0, 1, 1, 0])
    onehot = torch.eye(2)[label]
    with torch.no_grad():
        expected = module.decoder(module.h_gamma(onehot) * module.encoder(x)
                                  + module.h_beta(onehot))
        torch.testing.assert_close(module(x, label), expected)


def test_target_switching_for_non_matching_ids():
    est = IDConditionedAE(alpha=0.75, nonmatch_target=5.0)
    est.machine_ids_ = np.array(["a", "b", "c"])
    windows = np.random.default_rng(0).normal(size=(20000, 4)).astype(np.float32)
    true = np.random.default_rng(1).integers(0, 3, 20000)
    torch.manual_seed(0)
    Xi, target = est._make_batch(windows, {"machine_id": true}, training=True)
    label = Xi["label"].numpy()
    switched = label != true
    assert abs(switched.mean() - 0.25) < 0.01  # 1 - alpha
    assert (target[switched] == 5.0).all()
    assert torch.equal(target[~switched], torch.from_numpy(windows[~switched]))
    # the non-matching ID is uniform over the other IDs
    shift = (label[switched] - true[switched]) % 3
    assert set(shift) == {1, 2} and abs((shift == 1).mean() - 0.5) < 0.03
    torch.manual_seed(0)
    again = est._make_batch(windows, {"machine_id": true}, training=True)[0]["label"]
    assert torch.equal(again, Xi["label"])  # seeded by torch's RNG
    Xi, target = est._make_batch(windows, {"machine_id": true}, training=False)
    assert np.array_equal(Xi["label"].numpy(), true)  # scoring: always the match
    assert torch.equal(target, torch.from_numpy(windows))


def test_single_machine_id_never_switches():
    est = IDConditionedAE(alpha=0.5)
    est.machine_ids_ = np.array(["a"])
    windows = np.ones((100, 3), np.float32)
    Xi, target = est._make_batch(windows, {"machine_id": np.zeros(100, np.int64)}, True)
    assert (Xi["label"] == 0).all() and torch.equal(target, Xi["X"])


@pytest.mark.parametrize("loss", ["l1", "l2"])
def test_loss_by_hand_with_constant_target(loss):
    est = IDConditionedAE(loss=loss, nonmatch_target=5.0)
    out = torch.tensor([[1.0, 2.0, 4.0], [0.0, 6.0, 5.0]])
    x = torch.tensor([[1.5, 0.0, 4.0], [1.0, 1.0, 1.0]])
    target = torch.tensor([[1.5, 0.0, 4.0], [5.0, 5.0, 5.0]])  # row 1 non-matching
    errors = np.array([[0.5, 2.0, 0.0], [5.0, 1.0, 0.0]])
    expected = errors.mean(axis=1) if loss == "l1" else (errors ** 2).mean(axis=1)
    np.testing.assert_allclose(est._build_criterion()(out, target), expected)
    assert isinstance(est._build_criterion(), WindowMAE) == (loss == "l1")
    assert est._build_criterion()(out, x)[1] != expected[1]  # C, not x, is the target


def test_window_scores_are_errors_under_the_matching_id(two_machines):
    X, _, ids = two_machines
    est = _fitted(X, ids, loss="l2")
    module = est.net_.module_.eval()
    with torch.no_grad():
        out = module(torch.from_numpy(X), torch.from_numpy((ids == "id_01") * 1))
    expected = ((out.numpy() - X) ** 2).mean(axis=1)
    np.testing.assert_allclose(est.anomaly_score(X, machine_id=ids), expected, rtol=1e-5)


@pytest.mark.quality
def test_wrong_machine_sound_is_anomalous(two_machines):
    """The IDCAE flags id_00 clips that sound like id_01; a plain AE cannot."""
    from sklasd.detectors import AutoencoderDetector

    X, y, ids = two_machines
    est = _fitted(X[y == 0], ids[y == 0], encoder_layer_sizes=(16,), latent_dim=4,
                  decoder_layer_sizes=(16,), max_epochs=30, lr=1e-2)
    assert est.score(X, y, machine_id=ids) >= 0.95
    ae = AutoencoderDetector(hidden_layer_sizes=(16,), bottleneck=4, max_epochs=30, lr=1e-2,
                             batch_size=16, random_state=0).fit(X[y == 0])
    assert ae.score(X, y) <= 0.8


# ------------------------------------------------------------------ machine IDs
def test_machine_ids_are_a_fitted_attribute(two_machines):
    X, _, ids = two_machines
    assert _fitted(X, ids).machine_ids_.tolist() == ["id_00", "id_01"]
    est = _fitted(X, np.where(ids == "id_00", 7, 3))  # any hashable IDs
    assert est.machine_ids_.tolist() == [3, 7]


def test_unknown_missing_or_misshaped_ids_are_errors(two_machines):
    X, _, ids = two_machines
    est = _fitted(X, ids)
    bad = ids[:4].copy()
    bad[2] = "id_09"
    with pytest.raises(ValueError, match=r"Unknown machine_id 'id_09' \(clip 2\).*"
                                         r"\['id_00', 'id_01'\]"):
        est.anomaly_score(X[:4], machine_id=bad)
    with pytest.raises(ValueError, match="fitted with machine IDs.*pass machine_id"):
        est.predict(X)
    with pytest.raises(ValueError, match=r"one ID per clip, shape \(4,\); got shape \(3,\)"):
        est.decision_function(X[:4], machine_id=ids[:3])
    with pytest.raises(ValueError, match="one ID per clip"):
        IDConditionedAE(**SMALL).fit(X, machine_id=ids[:5])


def test_fit_without_machine_id_warns_and_treats_clips_as_one_id(two_machines):
    X, _, ids = two_machines
    with pytest.warns(UserWarning, match="without machine_id: all clips are treated"):
        est = IDConditionedAE(**SMALL).fit(X)
    assert est.machine_ids_.tolist() == [None]
    assert est.anomaly_score(X).shape == (80,)
    with pytest.raises(ValueError, match="Unknown machine_id 'id_00' \\(clip 0\\)"):
        est.anomaly_score(X, machine_id=ids)


def test_metadata_requests_by_default():
    with sklearn.config_context(enable_metadata_routing=True):
        routing = IDConditionedAE().get_metadata_routing()
        for method in ("fit", "decision_function", "predict", "score"):
            assert getattr(routing, method).requests["machine_id"] is True


def test_grid_search_over_pipeline_routes_ids_per_fold(two_machines):
    X, y, ids = two_machines
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(StandardScaler(), IDConditionedAE(**SMALL))
        search = GridSearchCV(pipe, {"idconditionedae__loss": ["l1", "l2"]},
                              cv=NormalOnlyKFold(n_splits=2), refit=False,
                              error_score="raise")
        # every fit, score and split sees only its fold's IDs, or the shape check raises
        search.fit(X, y, machine_id=ids, groups=ids)
        assert np.isfinite(search.cv_results_["mean_test_score"]).all()
        best = pipe.set_params(**search.best_params_).fit(X[y == 0],
                                                          machine_id=ids[y == 0])
        np.testing.assert_array_equal(
            best.anomaly_score(X, machine_id=ids),
            best[-1].anomaly_score(best[:-1].transform(X), machine_id=ids))
        assert best.predict(X, machine_id=ids).shape == (80,)


def test_bare_estimator_takes_ids_without_routing(two_machines):
    X, y, ids = two_machines
    est = _fitted(X[y == 0], ids[y == 0])
    assert est.predict(X, machine_id=ids).shape == (80,)
    assert 0 <= est.score(X, y, machine_id=ids) <= 1


@pytest.mark.quality
def test_quality_on_make_machine_sounds():
    from sklasd.datasets import make_machine_sounds
    from sklasd.features import FrameStacker, LogMelTransformer, SpectrogramScaler

    data = make_machine_sounds(n_normal=20, n_anomalous=8, random_state=0)
    train = (data.split == "train") & (data.target == 0)
    test = data.split == "test"
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(
            LogMelTransformer(sr=data.sr, n_fft=1024, hop_length=512, n_mels=128),
            SpectrogramScaler(per="bin"),
            FrameStacker(n_frames=10),
            IDConditionedAE(max_epochs=10, windows_per_clip=32, batch_size=64,
                            random_state=0),
        )
        pipe.fit(data.data[train], machine_id=data.machine_id[train])
        auc = pipe.score(data.data[test], data.target[test],
                         machine_id=data.machine_id[test])
    assert auc >= 0.9
