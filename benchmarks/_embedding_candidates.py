"""``AuxiliaryClassifierDetector`` settings for the development protocol.

``python benchmarks/protocol.py --embedding`` adds these rows. Each set's clips
are classified by their metadata (machine ID, attribute values); "+outliers"
also trains on the DCASE 2020 lite clips of the other machine types as outlier
classes (one class per type and ID), as the top DCASE systems train on every
machine type of the challenge. Where a split leaves machine IDs out (MIMII, leave
one ID out) the set's clips are one machine, so its one-class fallback applies.
"""
import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone

from sklasd.datasets import load_folder
from sklasd.models import make_model
from sklasd.pipeline import Pipeline

EPOCHS = 30  # under 10 min per valve fit on 2 loaded cores


class WithOutliers(BaseEstimator):
    """``detector`` fitted on the clips plus outlier clips of other machines."""

    __metadata_request__fit = {"machine_id": True, "attributes": True, "domain": True}
    __metadata_request__decision_function = {"machine_id": True}

    def __init__(self, detector, outliers=None, outlier_ids=None, domains=True):
        self.detector = detector
        self.outliers = outliers
        self.outlier_ids = outlier_ids
        self.domains = domains

    def fit(self, X, y=None, machine_id=None, attributes=None, domain=None):
        X, ids = np.asarray(X), np.asarray(machine_id).astype(str)
        domain = domain if self.domains else None  # one reference set per machine
        attributes = (pd.DataFrame(index=range(len(X))) if attributes is None
                      else pd.DataFrame(attributes).reset_index(drop=True))
        if self.outliers is not None:
            O = self.outliers[:, :, :X.shape[2]]
            X = np.concatenate([X, O])
            ids = np.r_[ids, self.outlier_ids]
            attributes = pd.concat([attributes, pd.DataFrame(index=range(len(O)))],
                                   ignore_index=True).fillna("")
            if domain is not None:
                domain = np.r_[np.asarray(domain).astype(str), np.full(len(O), "")]
        self.detector_ = clone(self.detector).fit(X, machine_id=ids, attributes=attributes,
                                                  domain=domain)
        # the default knn on the set's own clips: the partner of the equal-weight pair
        own = slice(0, len(X) - (0 if self.outliers is None else len(self.outliers)))
        self.knn_ = Pipeline(make_model().steps[1:])  # the protocol computes the log-mel
        d = None if domain is None else domain[own]
        self.knn_.fit(X[own], **({} if d is None else {"domain": d}))
        return self

    def pair_scores(self, X, machine_id=None):
        """Mean of this detector's and the default knn's standardized scores: each
        standardized with the mean and std of its leave-one-out training scores."""
        knn = self.knn_[-1]
        z = self.knn_.anomaly_score(X)
        if len(knn.models_) == 1:  # no domains: raw distances
            z = (z - knn.score_mean_[0]) / knn.score_std_[0]
        return (self.anomaly_score(X, machine_id) + z) / 2

    def anomaly_score(self, X, machine_id=None):
        return self.detector_.anomaly_score(X, machine_id=np.asarray(machine_id).astype(str))

    def decision_function(self, X, machine_id=None):  # declares the scoring request
        return -self.anomaly_score(X, machine_id)


class KnnEnsemble(BaseEstimator):
    """The default knn and ``embedding`` in a ``WeightedEnsembleDetector`` with
    equal weights, standardized as ``standardize`` says (``"out_of_fold"``: 5
    normal-only folds of the training clips, leave one out below 5 clips)."""

    __metadata_request__fit = {"machine_id": True, "attributes": True, "domain": True}
    __metadata_request__decision_function = {"machine_id": True}

    def __init__(self, embedding, standardize="out_of_fold"):
        self.embedding = embedding
        self.standardize = standardize

    def fit(self, X, y=None, machine_id=None, attributes=None, domain=None):
        from sklasd.detectors.ensemble import WeightedEnsembleDetector

        members = [("knn", Pipeline(make_model().steps[1:])), ("embedding", self.embedding)]
        self.ensemble_ = WeightedEnsembleDetector(members, weights=[1, 1], cv=min(5, len(X)),
                                                  standardize=self.standardize)
        meta = {"machine_id": machine_id, "attributes": attributes, "domain": domain}
        self.ensemble_.fit(X, **{k: v for k, v in meta.items() if v is not None})
        return self

    def anomaly_score(self, X, machine_id=None):
        return self.ensemble_.anomaly_score(X, machine_id=machine_id)

    def decision_function(self, X, machine_id=None):  # declares the scoring request
        return -self.anomaly_score(X, machine_id)


def outlier_clips(machine_type, logmel, shared):
    """Log-mel of the DCASE 2020 lite clips of the other machine types, and their IDs."""
    bunch = load_folder(shared / "dcase2020-task2-lite")
    keep = bunch.machine_type != machine_type
    S = logmel.fit_transform(list(bunch.filenames[keep]))
    if isinstance(S, list):  # clips of unequal length: cut to the shortest
        n = min(s.shape[1] for s in S)
        S = np.stack([s[:, :n] for s in S])
    ids = np.char.add(np.char.add(bunch.machine_type[keep].astype(str), " "),
                      bunch.machine_id[keep].astype(str))
    return S, ids


def embedding_candidates():
    """name -> (factory(set machine type, logmel, shared folder), fits one clip)."""
    from sklasd.detectors.auxiliary import AuxiliaryClassifierDetector

    def make(outliers, domains=True, ensemble=None, **params):
        params = {"max_epochs": EPOCHS, "random_state": 0, "loss": "adacos",
                  "n_subclusters": 16, **params}

        def factory(machine_type, logmel, shared):
            O, ids = outlier_clips(machine_type, logmel, shared) if outliers else (None, None)
            detector = WithOutliers(AuxiliaryClassifierDetector(**params), O, ids, domains)
            if ensemble is not None:
                return lambda: KnnEnsemble(clone(detector), ensemble)
            return lambda: clone(detector)
        return factory

    arcface = dict(loss="arcface", n_subclusters=1)
    small = dict(channels=(32, 32, 32, 32), embedding_dim=32)
    whole = dict(excerpt_length=None)  # one excerpt per clip
    settings = {  # name -> (outlier classes, parameters)
        "adacos +outliers": (True, {}),
        "adacos +outliers one-reference": (True, dict(domains=False)),
        "adacos": (False, {}),
        "arcface +outliers": (True, arcface),
        "arcface": (False, arcface),
        "adacos 100 epochs": (False, dict(max_epochs=100)),
        "adacos small": (False, small),
        "adacos whole-clip": (False, whole),
        # AdaProj with its authors' 32-dimensional subspaces
        "adaproj": (False, dict(loss="adaproj", n_subclusters=32)),
        "adacos spectrum": (False, dict(spectrum_branch=True)),
        "adacos spectrum whole-clip": (False, dict(spectrum_branch=True, **whole)),
        "arcface spectrum whole-clip": (False, dict(spectrum_branch=True, **whole, **arcface)),
        "adacos +outliers spectrum whole-clip": (True, dict(spectrum_branch=True, **whole)),
    }
    out = {}
    for name, (outliers, params) in settings.items():
        out[f"embedding {name}"] = (make(outliers, **params), True)
        # the default knn + this embedding, equal weights, each standardized by
        # out-of-fold scores of the normal training clips or by its training scores
        for standardize in ("out_of_fold", "train"):
            out[f"knn + embedding {name} ({standardize})"] = (
                make(outliers, ensemble=standardize, **params), True)
    return out
