"""Tests of sklasd.metrics: DCASE grouping rules, the report and the scorers."""
import pickle

import numpy as np
import pandas as pd
import pytest
import sklearn
from scipy.stats import hmean
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklasd.metrics import (
    anomaly_report,
    auc_scorer,
    make_anomaly_scorer,
    official_score,
    partial_auc,
    pauc_scorer,
    roc_auc_rows,
    section_scores,
)
from sklasd.model_selection import NormalOnlyKFold

# One section: normals 0.1, 0.5 (source), 0.2, 0.8 (target); anomalies 0.6
# (source), 0.9 (target).
Y = np.array([0, 0, 0, 0, 1, 1])
SCORE = np.array([0.1, 0.5, 0.2, 0.8, 0.6, 0.9])
DOMAIN = np.array(["source", "source", "target", "target", "source", "target"])


class IDCentroidDetector(OutlierMixin, BaseEstimator):
    """Distance to the centroid of the clip's machine ID (one centroid without IDs).

    `shrink` moves every ID centroid toward the overall mean (1: a single
    centroid), so a search over it shows whether the IDs reached the detector.
    """

    __metadata_request__fit = {"machine_id": True}
    __metadata_request__decision_function = {"machine_id": True}

    def __init__(self, shrink=0.0):
        self.shrink = shrink

    def fit(self, X, y=None, machine_id=None):
        X = np.asarray(X, dtype=float)
        ids = self._ids(X, machine_id)
        overall = X.mean(axis=0)
        self.centers_ = {
            i: (1 - self.shrink) * X[ids == i].mean(axis=0) + self.shrink * overall
            for i in np.unique(ids)
        }
        self.offset_ = -np.quantile(self.anomaly_score(X, machine_id=machine_id), 0.9)
        return self

    @staticmethod
    def _ids(X, machine_id):
        return np.full(len(X), "") if machine_id is None else np.asarray(machine_id)

    def anomaly_score(self, X, machine_id=None):
        X = np.asarray(X, dtype=float)
        ids = self._ids(X, machine_id)
        unknown = set(ids) - set(self.centers_)
        if unknown:
            raise ValueError(f"unknown machine_id {sorted(unknown)}")
        centers = np.array([self.centers_[i] for i in ids])
        return np.linalg.norm(X - centers, axis=1)

    def score_samples(self, X):
        return -self.anomaly_score(X)

    def decision_function(self, X, machine_id=None):
        return -self.anomaly_score(X, machine_id=machine_id) - self.offset_

    def predict(self, X, machine_id=None):
        return np.where(self.decision_function(X, machine_id=machine_id) >= 0, 1, -1)


def machine_data(random_state=0):
    """3 machine IDs with distinct centroids; anomalies 3 units off their own."""
    rng = np.random.RandomState(random_state)
    centers = {"id_00": (0.0, 0.0), "id_02": (6.0, 0.0), "id_04": (0.0, 6.0)}
    X, y, ids = [], [], []
    for machine_id, center in centers.items():
        angle = rng.uniform(0, 2 * np.pi, 6)
        X += [rng.normal(center, 0.7, (30, 2)),
              np.c_[np.cos(angle), np.sin(angle)] * 3 + center]
        y += [0] * 30 + [1] * 6
        ids += [machine_id] * 36
    return np.vstack(X), np.array(y), np.array(ids)


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


# --- partial_auc and section_scores ---------------------------------------------

def test_partial_auc_is_sklearn_standardized_pauc():
    rng = np.random.RandomState(0)
    y = rng.randint(0, 2, 50)
    score = rng.rand(50) + y * 0.3
    assert partial_auc(y, score) == roc_auc_score(y, score, max_fpr=0.1)
    assert partial_auc(y, score, max_fpr=0.3) == roc_auc_score(y, score, max_fpr=0.3)


def test_partial_auc_hand_computed():
    # The normal clip 0.3 is the top normal (FPR 1/3 > 0.1): below it only the
    # anomaly 0.4 is ranked, so the raw pAUC is 0.1 * 1/2 = 0.05 and McClish's
    # standardization gives 0.5 * (1 + (0.05 - 0.005) / (0.1 - 0.005)).
    expected = 0.5 * (1 + (0.05 - 0.005) / (0.1 - 0.005))
    assert partial_auc([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.25]) == (
        pytest.approx(expected)
    )


def test_section_scores_pools_all_anomalies_with_each_domain():
    scores = section_scores(Y, SCORE, domain=DOMAIN)
    assert list(scores) == [
        "AUC", "AUC (source)", "AUC (target)", "pAUC", "n_normal", "n_anomalous"
    ]
    # all clips: 0.6 beats 3 of the 4 normals, 0.9 beats all 4
    assert scores["AUC"] == pytest.approx(7 / 8)
    # source normals {0.1, 0.5} vs all anomalies {0.6, 0.9}
    assert scores["AUC (source)"] == 1.0
    # target normals {0.2, 0.8} vs all anomalies {0.6, 0.9}: 0.6 < 0.8 loses.
    # With the target anomaly alone (0.9) it would be 1.0: the pooling matters.
    assert scores["AUC (target)"] == pytest.approx(3 / 4)
    assert scores["pAUC"] == roc_auc_score(Y, SCORE, max_fpr=0.1)
    assert (scores["n_normal"], scores["n_anomalous"]) == (4, 2)


def test_section_scores_without_domain():
    scores = section_scores(Y, SCORE)
    assert list(scores) == ["AUC", "pAUC", "n_normal", "n_anomalous"]
    assert scores["AUC"] == pytest.approx(7 / 8)


def test_section_scores_max_fpr():
    assert section_scores(Y, SCORE, max_fpr=0.5)["pAUC"] == (
        roc_auc_score(Y, SCORE, max_fpr=0.5)
    )


@pytest.mark.parametrize("func", [partial_auc, section_scores])
def test_length_mismatch_names_both_lengths(func):
    with pytest.raises(ValueError, match="y_true has 6 clips but y_score has 5"):
        func(Y, SCORE[:5])


def test_domain_length_mismatch():
    with pytest.raises(ValueError, match="y_true has 6 clips but domain has 4"):
        section_scores(Y, SCORE, domain=DOMAIN[:4])


@pytest.mark.parametrize("bad", [2, -1])
def test_labels_must_be_binary(bad):
    y = Y.copy()
    y[3] = bad
    with pytest.raises(ValueError, match=rf"y_true\[3\] = {bad}"):
        section_scores(y, SCORE)


def test_unknown_domain_names_the_clip():
    domain = DOMAIN.copy()
    domain[2] = "both"
    with pytest.raises(ValueError, match=r"domain\[2\] = 'both'"):
        section_scores(Y, SCORE, domain=domain)


def test_single_class_group_is_named():
    with pytest.raises(ValueError, match=r"AUC \(target\).*0 normal and 2 anomalous"):
        section_scores(Y, SCORE, domain=np.full(6, "source"))
    with pytest.raises(ValueError, match="all clips.*4 normal and 0 anomalous"):
        section_scores(Y[:4], SCORE[:4])
    with pytest.raises(ValueError, match="0 normal and 2 anomalous"):
        partial_auc([1, 1], [0.1, 0.2])


# --- anomaly_report and official_score ------------------------------------------

def report_data():
    """Two machine types; fan has 2 sections, valve has 1; domains everywhere."""
    rng = np.random.RandomState(0)
    parts = []
    for machine_type, section in [("valve", "section_00"), ("fan", "section_01"),
                                  ("fan", "section_00")]:
        n = 20
        y = np.r_[np.zeros(12, int), np.ones(8, int)]
        parts.append(pd.DataFrame({
            "y": y, "score": rng.rand(n) + 0.4 * y,
            "machine_type": machine_type, "machine_id": section,
            "domain": np.tile(["source", "target"], n // 2),
        }))
    return pd.concat(parts, ignore_index=True)


def make_report(clips, domain=True):
    return anomaly_report(
        clips["y"], clips["score"], machine_type=clips["machine_type"],
        machine_id=clips["machine_id"], domain=clips["domain"] if domain else None,
    )


def test_report_layout():
    report = make_report(report_data())
    assert report.index.names == ["machine_type", "machine_id"]
    assert list(report.index) == [
        ("fan", "section_00"), ("fan", "section_01"),
        ("fan", "arithmetic mean"), ("fan", "harmonic mean"),
        ("valve", "section_00"),
        ("valve", "arithmetic mean"), ("valve", "harmonic mean"),
        ("all", "arithmetic mean"), ("all", "harmonic mean"),
    ]
    assert list(report.columns) == [
        "AUC", "AUC (source)", "AUC (target)", "pAUC", "n_normal", "n_anomalous"
    ]
    assert report["n_normal"].dtype == np.int64
    assert report["AUC"].dtype == np.float64
    text = report.to_string()
    assert "harmonic mean" in text and "AUC (target)" in text


def test_report_without_domain_has_no_domain_columns():
    report = make_report(report_data(), domain=False)
    assert list(report.columns) == ["AUC", "pAUC", "n_normal", "n_anomalous"]


def test_report_rows_are_section_scores():
    clips = report_data()
    report = make_report(clips)
    for (machine_type, section), part in clips.groupby(["machine_type", "machine_id"]):
        expected = section_scores(part["y"], part["score"], domain=part["domain"])
        assert report.loc[(machine_type, section)].to_dict() == pytest.approx(expected)


def test_report_means():
    report = make_report(report_data())
    scores = ["AUC", "AUC (source)", "AUC (target)", "pAUC"]
    fan = report.loc[[("fan", "section_00"), ("fan", "section_01")]]
    every = report.loc[[("fan", "section_00"), ("fan", "section_01"),
                        ("valve", "section_00")]]
    for label, sections in [("fan", fan), ("all", every)]:
        np.testing.assert_allclose(
            report.loc[(label, "arithmetic mean"), scores], sections[scores].mean()
        )
        np.testing.assert_allclose(
            report.loc[(label, "harmonic mean"), scores], hmean(sections[scores])
        )
        # counts of a mean row are the totals of its sections
        for column in ["n_normal", "n_anomalous"]:
            assert report.loc[(label, "harmonic mean"), column] == sections[column].sum()
    # valve has one section: its means are that section
    np.testing.assert_allclose(
        report.loc[("valve", "harmonic mean"), scores],
        report.loc[("valve", "section_00"), scores].astype(float),
    )


def test_report_machine_type_as_str():
    report = anomaly_report(Y, SCORE, machine_type="fan", machine_id="section_00")
    assert report.loc[("fan", "section_00"), "AUC"] == pytest.approx(7 / 8)


def test_report_group_with_one_class_gets_counts_and_a_note():
    clips = report_data()
    clips.loc[clips["machine_type"] == "valve", "domain"] = "source"
    report = make_report(clips)
    row = report.loc[("valve", "section_00")]
    assert np.isnan(row["AUC (target)"]) and np.isfinite(row["AUC (source)"])
    assert "AUC (target)" in row["note"] and "0 normal" in row["note"]
    # the section without AUC (target) is left out of that column's means
    fan = report.loc[("fan", "harmonic mean"), "AUC (target)"]
    assert report.loc[("all", "harmonic mean"), "AUC (target)"] == pytest.approx(fan)


def test_report_with_one_class_and_unlabeled_clips():
    report = anomaly_report([1, 1, -1, -1, 0, 1], [0.2, 0.3, 0.1, 0.5, 0.1, 0.9],
                            machine_type="fan",
                            machine_id=["id_00"] * 2 + ["id_05"] * 2 + ["id_06"] * 2)
    assert np.isnan(report.loc[("fan", "id_00"), "AUC"])
    assert report.loc[("fan", "id_00"), "note"].startswith("one class only (0 normal, 2 anomalous")
    assert report.loc[("fan", "id_05"), "note"] == "no labels: scores only, no AUC"
    assert report.loc[("fan", "id_05"), "n_unlabeled"] == 2
    assert report.loc[("fan", "id_06"), "AUC"] == 1.0
    assert report.loc[("all", "arithmetic mean"), "AUC"] == 1.0
    with pytest.raises(ValueError, match="two classes|normal and anomalous"):
        section_scores([1, 1], [0.1, 0.2])  # the single-section function stays strict


def test_report_validates_lengths():
    with pytest.raises(ValueError, match="y_true has 6 clips but machine_id has 5"):
        anomaly_report(Y, SCORE, machine_type="fan", machine_id=["id_00"] * 5)


def test_official_score_is_hmean_of_section_aucs_and_paucs():
    report = make_report(report_data())
    sections = report.loc[[("fan", "section_00"), ("fan", "section_01"),
                           ("valve", "section_00")]]
    values = sections[["AUC (source)", "AUC (target)", "pAUC"]].to_numpy().ravel()
    assert official_score(report) == pytest.approx(hmean(values))


def test_official_score_hand_computed():
    report = anomaly_report(Y, SCORE, machine_type="fan", machine_id="section_00",
                            domain=DOMAIN)
    pauc = roc_auc_score(Y, SCORE, max_fpr=0.1)
    assert official_score(report) == pytest.approx(3 / (1 / 1.0 + 1 / 0.75 + 1 / pauc))


def test_official_score_without_domain_uses_auc_and_pauc():
    report = anomaly_report(Y, SCORE, machine_type="fan", machine_id="section_00")
    pauc = roc_auc_score(Y, SCORE, max_fpr=0.1)
    assert official_score(report) == pytest.approx(hmean([7 / 8, pauc]))


def test_official_score_rejects_other_frames():
    with pytest.raises(ValueError, match="anomaly_report"):
        official_score(pd.DataFrame({"AUC": [0.5], "pAUC": [0.5]}))


def test_roc_auc_rows_match_sklearn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 30)
    scores = rng.integers(0, 6, size=(20, 30)).astype(float)  # many ties
    auc, pauc = roc_auc_rows(scores, y, 0.1)
    np.testing.assert_allclose(auc, [roc_auc_score(y, s) for s in scores])
    np.testing.assert_allclose(pauc, [roc_auc_score(y, s, max_fpr=0.1) for s in scores])


def test_roc_auc_rows_rejects_one_class_and_bad_shapes():
    with pytest.raises(ValueError, match="both classes"):
        roc_auc_rows(np.zeros((2, 3)), [0, 0, 0])
    with pytest.raises(ValueError, match="shape"):
        roc_auc_rows(np.zeros((2, 4)), [0, 1, 0])


# --- scorers --------------------------------------------------------------------

def test_scorers_use_anomaly_score():
    X, y, _ = machine_data()
    detector = IDCentroidDetector().fit(X[y == 0])
    y_score = detector.anomaly_score(X)
    assert auc_scorer(detector, X, y) == roc_auc_score(y, y_score)
    assert pauc_scorer(detector, X, y) == roc_auc_score(y, y_score, max_fpr=0.1)


def test_scorer_falls_back_to_negated_score_samples():
    X, y, _ = machine_data()
    forest = make_pipeline(StandardScaler(), IsolationForest(random_state=0))
    forest.fit(X[y == 0])
    assert auc_scorer(forest, X, y) == roc_auc_score(y, -forest.score_samples(X))


def test_scorer_needs_a_score_method():
    with pytest.raises(AttributeError, match="anomaly_score, score_samples"):
        auc_scorer(StandardScaler().fit(SCORE[:, None]), SCORE[:, None], Y)


def test_make_anomaly_scorer_sign_kwargs_and_repr():
    X, y, _ = machine_data()
    detector = IDCentroidDetector().fit(X[y == 0])
    loss = make_anomaly_scorer(roc_auc_score, greater_is_better=False, max_fpr=0.3)
    assert loss(detector, X, y) == -roc_auc_score(
        y, detector.anomaly_score(X), max_fpr=0.3
    )
    assert repr(loss) == (
        "make_anomaly_scorer(roc_auc_score, greater_is_better=False, max_fpr=0.3)"
    )
    assert repr(pauc_scorer) == "make_anomaly_scorer(roc_auc_score, max_fpr=0.1)"


def test_scorer_forwards_requested_machine_id(routing):
    X, y, ids = machine_data()
    normal = y == 0
    detector = IDCentroidDetector().fit(X[normal], machine_id=ids[normal])
    expected = roc_auc_score(y, detector.anomaly_score(X, machine_id=ids))
    assert auc_scorer(detector, X, y, machine_id=ids) == expected
    # Metadata the detector does not request is not forwarded to it.
    forest = IsolationForest(random_state=0).fit(X[normal])
    assert auc_scorer(forest, X, y, machine_id=ids) == auc_scorer(forest, X, y)


def test_grid_search_routes_machine_id_to_anomaly_score(routing):
    X, y, ids = machine_data()
    cv = NormalOnlyKFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(
        IDCentroidDetector(), {"shrink": [0.0, 1.0]}, scoring=auc_scorer, cv=cv,
        refit=False, error_score="raise",
    ).fit(X, y, machine_id=ids, groups=ids)
    # Per-ID centroids separate the IDs' anomalies; one shared centroid does not.
    assert search.best_params_ == {"shrink": 0.0}
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] > 0.95 > scores[1]
    # The search's fold scores are the AUCs of anomaly_score with the fold's IDs.
    expected = []
    for train, test in cv.split(X, y, ids):
        detector = IDCentroidDetector().fit(X[train], machine_id=ids[train])
        expected.append(roc_auc_score(
            y[test], detector.anomaly_score(X[test], machine_id=ids[test])
        ))
    assert scores[0] == pytest.approx(np.mean(expected))


def test_grid_search_multimetric_with_routing(routing):
    X, y, ids = machine_data()
    search = GridSearchCV(
        IDCentroidDetector(), {"shrink": [0.0, 0.5]},
        scoring={"AUC": auc_scorer, "pAUC": pauc_scorer}, refit="AUC",
        cv=NormalOnlyKFold(3), error_score="raise",
    ).fit(X, y, machine_id=ids, groups=ids)
    assert search.cv_results_["mean_test_AUC"][0] > 0.95
    assert np.all(search.cv_results_["mean_test_pAUC"] <= 1.0)
    assert search.best_params_ == {"shrink": 0.0}


@pytest.mark.parametrize("enable_routing", [False, True])
def test_grid_search_isolation_forest(enable_routing):
    X, y, ids = machine_data()
    with sklearn.config_context(enable_metadata_routing=enable_routing):
        search = GridSearchCV(
            IsolationForest(random_state=0), {"n_estimators": [10, 30]},
            scoring={"AUC": auc_scorer, "pAUC": pauc_scorer}, refit=False,
            cv=NormalOnlyKFold(3), error_score="raise",
        ).fit(X, y, groups=ids)
    results = search.cv_results_
    for key in ["mean_test_AUC", "mean_test_pAUC"]:
        assert np.all((results[key] > 0.5) & (results[key] <= 1.0))


def test_scorers_pickle():
    # GridSearchCV(n_jobs=...) ships the scorer to worker processes.
    X, y, _ = machine_data()
    detector = IDCentroidDetector().fit(X[y == 0])
    for scorer in [auc_scorer, pauc_scorer]:
        copy = pickle.loads(pickle.dumps(scorer))
        assert copy(detector, X, y) == scorer(detector, X, y)
