"""Tests of WeightedEnsembleDetector (sklasd/detectors/ensemble.py)."""
import itertools

import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import validate_data

from sklasd.detectors.ensemble import WeightedEnsembleDetector
from sklasd.model_selection import NormalOnlyKFold
from sklasd.pipeline import make_pipeline


class Centroid(OutlierMixin, BaseEstimator):
    """Distance to the training mean: a tiny deterministic detector."""

    def __init__(self, power=1.0):
        self.power = power

    def fit(self, X, y=None):
        X = validate_data(self, X)
        self.center_ = X.mean(axis=0)
        return self

    def anomaly_score(self, X):
        X = validate_data(self, X, reset=False)
        return np.linalg.norm(X - self.center_, axis=1) ** self.power


class Lookup(OutlierMixin, BaseEstimator):
    """Stub member: X holds clip indices, the score is column ``k`` of a fixed table."""

    def __init__(self, table=None, k=0):
        self.table = table
        self.k = k

    def fit(self, X, y=None):
        self.fitted_on_ = np.asarray(X)[:, 0].astype(int)
        return self

    def anomaly_score(self, X):
        return self.table[np.asarray(X)[:, 0].astype(int), self.k]


class IDMember(Lookup):
    """Stub member that requests machine_id, as IDConditionedAE does."""

    __metadata_request__fit = {"machine_id": True}
    __metadata_request__decision_function = {"machine_id": True}

    def fit(self, X, y=None, **metadata):
        self.fit_ids_ = metadata.get("machine_id")
        return super().fit(X)

    def anomaly_score(self, X, **metadata):
        self.score_ids_ = metadata.get("machine_id")
        return super().anomaly_score(X)

    def decision_function(self, X, **metadata):
        return -self.anomaly_score(X, **metadata)


CHECKED = WeightedEnsembleDetector(
    [("centroid", Centroid()), ("iforest", IsolationForest(n_estimators=5, random_state=0))],
    weights=[0.3, 0.7])


@parametrize_with_checks([CHECKED], expected_failed_checks=lambda est: {
    "check_fit_score_takes_y": "score is the ROC AUC of anomaly_score, which needs a "
    "binary y (1 = anomaly); the check passes a 3-class y",
})
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture
def table():
    """Fixed scores of 3 members for 40 clips: 28 normal, 12 anomalous."""
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(28, int), np.ones(12, int)]
    scores = rng.normal(size=(40, 3)) + y[:, None] * np.array([0.6, 1.0, 0.3])
    scores[:, 2] *= 5  # another scale: standardization matters
    return np.arange(40)[:, None], y, scores


def _lookups(scores, cls=Lookup):
    return [(f"m{k}", cls(table=scores, k=k)) for k in range(scores.shape[1])]


def test_weights_are_the_exhaustive_best(table):
    X, y, scores = table
    cv = NormalOnlyKFold(2)
    ens = WeightedEnsembleDetector(_lookups(scores), weight_step=0.1, cv=cv).fit(X, y)
    assert ens.weights_.min() >= 0 and ens.weights_.sum() == pytest.approx(1)
    # by hand: standardize with each fold's training-clip statistics, sklearn metrics
    folds = []
    for train, valid in cv.split(X, y):
        mean, std = scores[train].mean(axis=0), scores[train].std(axis=0)
        folds.append(((scores[valid] - mean) / std, y[valid]))
    best, best_w = -1, None
    for parts in itertools.product(range(11), repeat=3):
        if sum(parts) != 10:
            continue
        w = np.array(parts) / 10
        value = np.mean([(roc_auc_score(yv, Z @ w) + roc_auc_score(yv, Z @ w, max_fpr=0.1))
                         / 2 for Z, yv in folds])
        if value > best + 1e-12 or (value > best - 1e-12 and w @ w < best_w @ best_w):
            best, best_w = value, w
    np.testing.assert_allclose(ens.weights_, best_w)
    assert ens.validation_score_ == pytest.approx(best)
    assert list(ens.validation_scores_.columns) == ["fold", "target", "m0", "m1", "m2"]
    assert len(ens.validation_scores_) == 40


def test_standardization_and_score(table):
    X, y, scores = table
    ens = WeightedEnsembleDetector(_lookups(scores), weights=[1, 2, 1]).fit(X[y == 0])
    normal = scores[y == 0]
    np.testing.assert_allclose(ens.score_mean_, normal.mean(axis=0))
    np.testing.assert_allclose(ens.score_std_, normal.std(axis=0))
    np.testing.assert_allclose(ens.weights_, [0.25, 0.5, 0.25])
    # members train on the normal clips only
    assert all(m.fitted_on_.tolist() == list(range(28)) for m in ens.estimators_)
    Z = (scores - ens.score_mean_) / ens.score_std_
    np.testing.assert_allclose(ens.anomaly_score(X), Z @ [0.25, 0.5, 0.25])
    np.testing.assert_allclose(ens.member_scores(X).to_numpy(), scores)
    np.testing.assert_allclose(ens.member_scores(X, standardized=True).to_numpy(), Z)
    assert ens.score(X, y) == pytest.approx(roc_auc_score(y, Z @ [0.25, 0.5, 0.25]))
    np.testing.assert_array_equal(ens.predict(X),
                                  np.where(ens.anomaly_score(X) <= ens.threshold_, 1, -1))
    assert ens.named_estimators_["m1"] is ens.estimators_[1]


def test_float_cv_and_frozen_members(table):
    X, y, scores = table
    members = [(n, FrozenEstimator(m.fit(X))) for n, m in _lookups(scores)]
    ens = WeightedEnsembleDetector(members, weight_step=0.5, cv=0.5, random_state=0)
    ens.fit(X, y)
    # one split: validation = the other half of the normal clips + all anomalies
    assert ens.validation_scores_["fold"].unique().tolist() == [0]
    assert (ens.validation_scores_["target"] == 0).sum() == 14
    assert ens.validation_scores_["target"].sum() == 12


def test_search_needs_anomalies(table):
    X, y, scores = table
    ens = WeightedEnsembleDetector(_lookups(scores))
    with pytest.raises(ValueError, match="needs anomalous"):
        ens.fit(X)
    with pytest.raises(ValueError, match="weights must be 3"):
        ens.set_params(weights=[1, -1, 0]).fit(X, y)


def test_metadata_routing_to_the_member_that_requests_it(table):
    X, y, scores = table
    ids = np.repeat(["id_00", "id_02"], 20)
    members = [("plain", Lookup(table=scores, k=0)), ("ided", IDMember(table=scores, k=1))]
    with sklearn.config_context(enable_metadata_routing=True):
        ens = WeightedEnsembleDetector(members, weight_step=0.5, cv=2)
        ens.fit(X, y, machine_id=ids)
        ided = ens.named_estimators_["ided"]
        np.testing.assert_array_equal(ided.fit_ids_, ids[y == 0])
        ens.anomaly_score(X[5:9], machine_id=ids[5:9])
        np.testing.assert_array_equal(ided.score_ids_, ids[5:9])
    with sklearn.config_context(enable_metadata_routing=False):  # default requests
        ens = WeightedEnsembleDetector(members, weights=[1, 1])
        ens.fit(X[y == 0], machine_id=ids[y == 0])
        np.testing.assert_array_equal(ens.named_estimators_["ided"].fit_ids_, ids[y == 0])


def test_nests_in_pipeline_and_grid_search():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    X[y == 1] += 2.5
    ens = WeightedEnsembleDetector([("a", Centroid()), ("b", Centroid(power=2.0))],
                                   weights=[0.5, 0.5])
    pipe = make_pipeline(StandardScaler(), ens)
    search = GridSearchCV(pipe, {"weightedensembledetector__a__power": [1.0, 3.0],
                                 "weightedensembledetector__weights": [[1, 0], [0.5, 0.5]]},
                          cv=NormalOnlyKFold(3), refit=False).fit(X, y)
    assert search.best_score_ > 0.9
    assert pipe.fit(X[y == 0]).anomaly_score(X).shape == (60,)


class Nearest(OutlierMixin, BaseEstimator):
    """Distance to the nearest training clip: 0 on every training clip."""

    def fit(self, X, y=None):
        self.X_ = validate_data(self, X)
        return self

    def anomaly_score(self, X):
        X = validate_data(self, X, reset=False)
        return np.linalg.norm(X[:, None] - self.X_[None], axis=2).min(axis=1)


def test_out_of_fold_standardization():
    rng = np.random.default_rng(0)
    X, new = rng.normal(size=(40, 3)), rng.normal(size=(400, 3))
    members = [("nn", Nearest()), ("centroid", Centroid())]
    train = WeightedEnsembleDetector(members, weights=[1, 1]).fit(X)
    assert train.score_mean_[0] == 0  # a 1-NN member scores its own clips 0
    oof = WeightedEnsembleDetector(members, weights=[1, 1], cv=4,
                                   standardize="out_of_fold").fit(X)
    # by hand: refit on 3 of 4 folds of the normal clips, score the held-out ones
    held = []
    for fit_rows, held_rows in NormalOnlyKFold(4).split(X, np.zeros(40, int)):
        held.append([Nearest().fit(X[fit_rows]).anomaly_score(X[held_rows]),
                     Centroid().fit(X[fit_rows]).anomaly_score(X[held_rows])])
    held = np.hstack(held).T
    np.testing.assert_allclose(oof.score_mean_, held.mean(axis=0))
    np.testing.assert_allclose(oof.score_std_, held.std(axis=0))
    # the members are still fitted on every clip, and new normal clips now sit
    # near 0 for the 1-NN member, not several standard deviations above it
    assert oof.estimators_[0].X_.shape == (40, 3)
    z_oof = oof.member_scores(new, standardized=True)["nn"]
    z_train = train.member_scores(new, standardized=True)["nn"]
    assert abs(z_oof.mean()) < 0.5 < z_train.mean()


def test_out_of_fold_standardization_in_the_search(table):
    X, y, scores = table
    ens = WeightedEnsembleDetector(_lookups(scores), weight_step=0.5, cv=NormalOnlyKFold(2),
                                   standardize="out_of_fold").fit(X, y)
    # the search's held-out normal clips give the statistics: every normal clip once
    normal = scores[y == 0]
    np.testing.assert_allclose(ens.score_mean_, normal.mean(axis=0))
    np.testing.assert_allclose(ens.score_std_, normal.std(axis=0))
    valid = ens.validation_scores_
    np.testing.assert_allclose(valid[["m0", "m1", "m2"]].to_numpy(),
                               (scores[valid.index] - ens.score_mean_) / ens.score_std_)
    with pytest.raises(ValueError, match="standardize"):
        WeightedEnsembleDetector(_lookups(scores), weights=[1, 1, 1],
                                 standardize="loo").fit(X)
