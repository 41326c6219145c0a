"""Tests of sklasd.model_selection: normal-only CV splitters."""
import numpy as np
import pytest
import sklearn
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from sklasd.metrics import auc_scorer
from sklasd.model_selection import NormalOnlyKFold, normal_train_test_split


def labelled_clips(n_normal=(23, 17, 12), n_anomalous=(7, 2, 5), random_state=0):
    """Shuffled clips of three machine IDs with the given class counts."""
    y, groups = [], []
    for k, (normal, anomalous) in enumerate(zip(n_normal, n_anomalous)):
        y += [0] * normal + [1] * anomalous
        groups += [f"id_0{2 * k}"] * (normal + anomalous)
    order = np.random.RandomState(random_state).permutation(len(y))
    return np.array(y)[order], np.array(groups)[order]


def splits(cv, y, groups=None):
    return list(cv.split(np.zeros((len(y), 2)), y, groups))


class ScoringIsolationForest(IsolationForest):
    """IsolationForest with the sklasd ``anomaly_score`` (DESIGN.md section 3)."""

    def anomaly_score(self, X):
        return -self.score_samples(X)


class NormalOnlyDetector(OutlierMixin, BaseEstimator):
    """Distance to the training mean; refuses to be fitted on an anomalous clip."""

    def __init__(self, power=2):
        self.power = power

    def fit(self, X, y=None):
        if y is not None and np.any(y == 1):
            raise ValueError("fitted on anomalous clips")
        self.mean_ = np.mean(X, axis=0)
        return self

    def anomaly_score(self, X):
        return np.sum(np.abs(X - self.mean_) ** self.power, axis=1)

    def score_samples(self, X):
        return -self.anomaly_score(X)


@pytest.mark.parametrize("n_splits", [2, 3, 5])
@pytest.mark.parametrize("shuffle", [False, True])
def test_folds_partition_normals_and_train_only_on_normals(n_splits, shuffle):
    y, groups = labelled_clips()
    cv = NormalOnlyKFold(n_splits, shuffle=shuffle, random_state=0 if shuffle else None)
    folds = splits(cv, y, groups)
    assert len(folds) == cv.get_n_splits() == n_splits
    normal = np.flatnonzero(y == 0)
    normal_tests = []
    for train, test in folds:
        assert np.all(y[train] == 0)
        assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
        assert np.intersect1d(train, test).size == 0
        normal_test = test[y[test] == 0]
        # train + the fold's normal test clips = every normal clip
        np.testing.assert_array_equal(np.union1d(train, normal_test), normal)
        normal_tests.append(normal_test)
        # every machine ID is in every training and every test fold
        assert set(groups[train]) == set(groups[normal_test]) == set(groups)
        assert set(y[test]) == {0, 1}
    np.testing.assert_array_equal(np.sort(np.concatenate(normal_tests)), normal)
    sizes = [len(t) for t in normal_tests]
    assert max(sizes) - min(sizes) <= 1


def test_anomalies_split_per_group_or_repeated_when_too_few():
    # id_00 has 7 anomalies (split in 3 folds), id_02 has 2 (in every fold)
    y, groups = labelled_clips()
    folds = splits(NormalOnlyKFold(3), y, groups)
    tests = [test[y[test] == 1] for _, test in folds]
    many = np.flatnonzero((y == 1) & (groups == "id_00"))
    few = np.flatnonzero((y == 1) & (groups == "id_02"))
    in_fold = [np.intersect1d(t, many) for t in tests]
    np.testing.assert_array_equal(np.sort(np.concatenate(in_fold)), many)
    assert sorted(len(t) for t in in_fold) == [2, 2, 3]
    for test in tests:
        np.testing.assert_array_equal(np.intersect1d(test, few), few)


def test_without_groups_normals_follow_kfold():
    y, _ = labelled_clips()
    normal = np.flatnonzero(y == 0)
    anomalous = np.flatnonzero(y == 1)
    folds = splits(NormalOnlyKFold(4), y)
    for (train, test), (k_train, k_test) in zip(folds, KFold(4).split(normal)):
        np.testing.assert_array_equal(train, normal[k_train])
        np.testing.assert_array_equal(test[y[test] == 0], normal[k_test])
    for (_, test), (_, k_test) in zip(folds, KFold(4).split(anomalous)):
        np.testing.assert_array_equal(test[y[test] == 1], anomalous[k_test])


def test_few_anomalies_without_groups_go_to_every_test_fold():
    y = np.r_[np.zeros(10, int), np.ones(2, int)]
    for _, test in splits(NormalOnlyKFold(3), y):
        np.testing.assert_array_equal(test[y[test] == 1], [10, 11])


def test_no_anomalies():
    y = np.zeros(6, int)
    folds = splits(NormalOnlyKFold(3), y)
    np.testing.assert_array_equal(np.concatenate([t for _, t in folds]), np.arange(6))


def test_x_may_be_none():
    y = [0, 0, 0, 0, 1, 1]
    assert len(list(NormalOnlyKFold(2).split(None, y))) == 2


def test_shuffle_is_deterministic_with_random_state():
    y, groups = labelled_clips()

    def folds(random_state):
        cv = NormalOnlyKFold(3, shuffle=True, random_state=random_state)
        return [np.concatenate(split) for split in splits(cv, y, groups)]

    for a, b in zip(folds(0), folds(0)):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(folds(0), folds(1)))
    unshuffled = [np.concatenate(s) for s in splits(NormalOnlyKFold(3), y, groups)]
    assert any(not np.array_equal(a, b) for a, b in zip(folds(0), unshuffled))


def test_split_needs_y():
    with pytest.raises(ValueError, match="needs y"):
        next(NormalOnlyKFold(2).split(np.zeros((4, 1))))


def test_split_checks_labels_and_lengths():
    with pytest.raises(ValueError, match=r"y\[2\] = 3"):
        next(NormalOnlyKFold(2).split(None, [0, 0, 3, 1]))
    with pytest.raises(ValueError, match=r"\[5, 4\]"):
        next(NormalOnlyKFold(2).split(np.zeros((5, 1)), [0, 0, 0, 1]))
    with pytest.raises(ValueError, match=r"\[4, 3\]"):
        next(NormalOnlyKFold(2).split(None, [0, 0, 0, 1], ["a", "a", "b"]))


def test_group_with_too_few_normals_is_named():
    y, groups = labelled_clips(n_normal=(10, 2, 10))
    with pytest.raises(ValueError, match="group 'id_02' has 2 normal clips.*n_splits=3"):
        next(NormalOnlyKFold(3).split(None, y, groups))
    with pytest.raises(ValueError, match="'all clips' has 3 normal clips"):
        next(NormalOnlyKFold(5).split(None, [0, 0, 0, 1]))
    # a group with anomalous clips only has 0 normals
    with pytest.raises(ValueError, match="group 'id_09' has 0 normal clips"):
        next(NormalOnlyKFold(2).split(None, [0, 0, 1], ["id_00", "id_00", "id_09"]))


@pytest.mark.parametrize("params, error, match", [
    ({"n_splits": 1}, ValueError, "at least 2"),
    ({"n_splits": 2.5}, ValueError, "at least 2"),
    ({"shuffle": "yes"}, TypeError, "True or False"),
    ({"random_state": 0}, ValueError, "shuffle is False"),
])
def test_constructor_validation(params, error, match):
    with pytest.raises(error, match=match):
        NormalOnlyKFold(**params)


def test_repr():
    assert repr(NormalOnlyKFold(3)) == (
        "NormalOnlyKFold(n_splits=3, random_state=None, shuffle=False)"
    )


def make_features(y, groups, random_state=0):
    """2-D features: normals around 0, anomalies around 4."""
    rng = np.random.RandomState(random_state)
    return rng.normal(size=(len(y), 3)) + 4 * y[:, None]


@pytest.mark.parametrize("enable_routing", [False, True])
def test_grid_search_trains_on_normals_only(enable_routing):
    y, groups = labelled_clips()
    X = make_features(y, groups)
    with sklearn.config_context(enable_metadata_routing=enable_routing):
        search = GridSearchCV(
            NormalOnlyDetector(), {"power": [1, 2]}, scoring=auc_scorer,
            cv=NormalOnlyKFold(3), refit=False, error_score="raise",
        ).fit(X, y, groups=groups)
    assert np.all(search.cv_results_["mean_test_score"] > 0.95)


def test_grid_search_isolation_forest_with_anomaly_score():
    y, groups = labelled_clips()
    X = make_features(y, groups)
    cv = NormalOnlyKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        ScoringIsolationForest(random_state=0), {"n_estimators": [5, 50]},
        scoring=auc_scorer, cv=cv, error_score="raise", refit=False,
    ).fit(X, y, groups=groups)
    assert np.all(search.cv_results_["mean_test_score"] > 0.9)
    assert search.n_splits_ == 3


def test_grid_search_without_groups_and_default_detector_score():
    y, groups = labelled_clips()
    X = make_features(y, groups)
    results = cross_validate(
        ScoringIsolationForest(n_estimators=20, random_state=0), X, y,
        cv=NormalOnlyKFold(4), scoring=auc_scorer, error_score="raise",
    )
    assert len(results["test_score"]) == 4
    assert np.all(results["test_score"] > 0.9)


# --- normal_train_test_split ----------------------------------------------------

@pytest.mark.parametrize("train_size", [0.1, 0.5, 0.8])
def test_normal_train_test_split_shares(train_size):
    y, groups = labelled_clips(n_normal=(23, 17, 1))
    train, test = normal_train_test_split(
        y, groups=groups, train_size=train_size, random_state=0
    )
    assert np.all(y[train] == 0)
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)
    np.testing.assert_array_equal(np.union1d(train, test), np.arange(len(y)))
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(
        np.intersect1d(test, np.flatnonzero(y == 1)), np.flatnonzero(y == 1)
    )
    for group, n_normal in [("id_00", 23), ("id_02", 17), ("id_04", 1)]:
        expected = max(1, int(np.floor(train_size * n_normal)))
        assert np.sum(groups[train] == group) == expected


def test_normal_train_test_split_without_groups():
    y = np.r_[np.zeros(9, int), np.ones(3, int)]
    train, test = normal_train_test_split(y, train_size=0.4, random_state=0)
    assert len(train) == 3 and np.all(y[train] == 0)
    assert len(test) == 9


def test_normal_train_test_split_is_seeded():
    y, groups = labelled_clips()
    first = normal_train_test_split(y, groups=groups, random_state=3)
    again = normal_train_test_split(y, groups=groups, random_state=3)
    other = normal_train_test_split(y, groups=groups, random_state=4)
    np.testing.assert_array_equal(first[0], again[0])
    assert not np.array_equal(first[0], other[0])


def test_normal_train_test_split_errors():
    with pytest.raises(ValueError, match="group 'id_02' has 0 normal clips"):
        normal_train_test_split([0, 1, 1], groups=["id_00", "id_02", "id_02"])
    with pytest.raises(ValueError, match=r"y\[1\] = -1"):
        normal_train_test_split([0, -1])
    with pytest.raises(ValueError, match=r"\[3, 2\]"):
        normal_train_test_split([0, 0, 1], groups=["a", "a"])
    for train_size in [0, 1, 1.5, "half"]:
        with pytest.raises(ValueError, match="train_size"):
            normal_train_test_split([0, 0, 1], train_size=train_size)
