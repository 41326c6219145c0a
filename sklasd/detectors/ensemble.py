"""Weighted mean of standardized detector scores, weights searched on the simplex (Daniluk et al.)."""
import inspect
import numbers

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.utils import Bunch
from sklearn.utils.metadata_routing import (
    MetadataRequest,
    MetadataRouter,
    MethodMapping,
    get_routing_for_object,
    process_routing,
)
from sklearn.utils.validation import check_is_fitted

from ..base import AnomalyDetectorMixin
from ..model_selection import NormalOnlyKFold, normal_train_test_split
from ._weights import search_weights, simplex_grid
from ..utils._routing import (
    ANOMALY_SCORE_REQUEST,
    anomaly_scores,
    requested_metadata,
    routing_enabled,
)
from ..utils._sklearn_compat import (
    Interval,
    StrOptions,
    _BaseComposition,
    _check_method_params,
    _num_samples,
    _safe_indexing,
)
from ..utils._validation import check_labels

def _accepted(estimator, method, metadata):
    """Metadata a member takes without routing: requested by default or named in ``method``."""
    if not metadata:
        return {}
    request = get_routing_for_object(estimator)
    consumed = set()
    if isinstance(request, MetadataRequest):  # a router (Pipeline) takes only step__param
        consumed = requested_metadata(estimator, method, metadata, request)
    func = getattr(estimator, method, None)
    named = set(inspect.signature(func).parameters) if func is not None else set()
    return {k: v for k, v in metadata.items() if k in consumed or k in named}


class WeightedEnsembleDetector(AnomalyDetectorMixin, _BaseComposition):
    """Weighted mean of the standardized anomaly scores of several detectors.

    Every member is fitted on the normal clips; its anomaly scores are standardized
    with the mean and standard deviation of its scores on those training clips (or,
    with ``standardize="out_of_fold"``, on normal clips it was not trained on), and
    the ensemble score is the weighted mean of the standardized scores. The weights
    are given, or chosen on a grid over the simplex to maximize the mean of AUC and
    pAUC on labelled validation clips that the members were not trained on.

    Parameters
    ----------
    estimators : list of (str, estimator) tuples
        The member detectors (anything with ``fit`` and ``anomaly_score`` or
        ``score_samples``: sklasd detectors, pipelines ending in one,
        ``IsolationForest``...). Cloned at fit.
    weights : array-like of shape (n_members,) or None, default=None
        Non-negative weights (normalized to sum 1); None searches them (needs ``y``
        with anomalous clips).
    weight_step : float, default=0.01
        Step of the simplex grid searched when ``weights`` is None (``1 / step``
        an integer). The grid has ``comb(1/step + m - 1, m - 1)`` points for ``m``
        members (5151, 176851 and 4.6 million for 3, 4 and 5 members at 0.01).
    cv : int, float, cross-validation splitter or iterable, default=5
        Validation clips of the weight search: an int is
        ``NormalOnlyKFold(cv)``; a float in (0, 1) is one
        ``normal_train_test_split(train_size=cv)``; a splitter is called as
        ``split(X, y, groups=machine_id)``; an iterable yields
        ``(train, validation)`` index arrays. Members are fitted on the normal
        clips of each training fold and scored on its validation fold.
    max_fpr : float in (0, 1], default=0.1
        Upper false-positive rate of the pAUC in the search objective.
    standardize : {"train", "out_of_fold"}, default="train"
        Which scores give each member's mean and standard deviation: its scores
        on the clips it was fitted on, or out-of-fold scores of the normal clips
        (the members refitted on the training folds of ``cv`` and scored on the
        held-out normal clips, pooled over the folds). Nearest-neighbour members
        score their own training clips about 0, far below any new clip, which
        ``"train"`` mistakes for their normal level; ``"out_of_fold"`` costs one
        fit per fold (none more when the weights are searched: the search's
        folds give the scores).
    threshold_quantile : float in (0, 1), default=0.9
        Quantile of a gamma distribution fitted to the ensemble scores of the
        training clips that becomes ``threshold_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the split of a float ``cv``.

    Attributes
    ----------
    estimators_ : list of estimators
        The members refitted on all normal clips.
    named_estimators_ : Bunch
        The same by name.
    weights_ : ndarray of shape (n_members,)
        The weights (sum 1).
    score_mean_, score_std_ : ndarray of shape (n_members,)
        Mean and standard deviation of each refitted member's anomaly scores on the
        normal training clips, or of the out-of-fold scores with
        ``standardize="out_of_fold"`` (a standard deviation of 0 is replaced by 1).
    validation_score_ : float
        Mean over folds of (AUC + pAUC) / 2 at ``weights_`` (searched weights only).
    validation_scores_ : pandas.DataFrame
        Out-of-fold standardized member scores of the search, one row per
        validation clip, with the columns ``fold``, ``target`` and one per member
        (searched weights only).
    threshold_ : float
        Ensemble score above which a clip is anomalous.
    offset_ : float
        ``-threshold_``.
    n_features_in_ : int
        That of the first member.

    See Also
    --------
    sklearn.ensemble.VotingClassifier : The same composition API for classifiers.
    sklasd.model_selection.NormalOnlyKFold : The default validation splitter.

    Notes
    -----
    With member scores ``s_i``, training statistics ``mu_i`` and ``sd_i`` and
    weights ``w_i``: ``score = sum_i w_i (s_i - mu_i) / sd_i`` with ``sum_i w_i = 1``.
    The search evaluates every grid point at once (numpy, chunks of the grid) with
    :func:`sklasd.metrics.roc_auc_rows`; ties of the objective go to the most even weights (least
    ``sum_i w_i**2``). After the search, the members are refitted on all normal
    clips of ``X`` and standardized again. ``anomaly_map`` is
    ``sum_i w_i m_i / sd_i`` with ``m_i`` member ``i``'s map (every member must
    have ``anomaly_map``, with maps of one shape). The (centred, partly negative) training
    scores are shifted to start at 1 before the gamma fit for ``threshold_``, and
    the threshold is shifted back.

    Metadata (``machine_id``, ``domain``) with metadata routing enabled goes to
    the members that request it: their ``fit`` requests at fit, their
    ``decision_function`` requests for scoring (as in ``sklasd.pipeline``). With
    routing disabled a member gets what it requests by default or names in its
    ``fit`` / ``anomaly_score`` signature. ``machine_id`` is also the ``groups``
    of the validation splitter. Members that are already fitted can be wrapped in
    ``sklearn.frozen.FrozenEstimator``: fitting then only standardizes and
    searches. Inside ``GridSearchCV`` with normal-only training folds, give
    ``weights`` (the search needs anomalous clips).

    References
    ----------
    .. [1] P. Daniluk, M. Gozdziewski, S. Kapka and M. Kosmider, "Ensemble of
       auto-encoder based and WaveNet like systems for unsupervised anomaly
       detection", DCASE 2020 Task 2 technical report, section 5, Table 4 and
       Figure 1 (Daniluk et al., DCASE 2020 Task 2).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.neighbors import LocalOutlierFactor
    >>> from sklasd.detectors.ensemble import WeightedEnsembleDetector
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(60, 3)), rng.normal(3, 1, size=(10, 3))]
    >>> y = np.r_[np.zeros(60), np.ones(10)].astype(int)
    >>> ens = WeightedEnsembleDetector(
    ...     [("if", IsolationForest(random_state=0)),
    ...      ("lof", LocalOutlierFactor(novelty=True))], weight_step=0.1, cv=3).fit(X, y)
    >>> ens.weights_.sum(), ens.anomaly_score(X).shape
    (np.float64(1.0), (70,))
    """

    _scores_any_sign = True  # standardised scores
    __metadata_request__fit = {"machine_id": True}  # groups of the validation splitter

    _parameter_constraints = {
        "estimators": [list],
        "weights": ["array-like", None],
        "weight_step": [Interval(numbers.Real, 0, 1, closed="right")],
        "cv": ["cv_object", Interval(numbers.Real, 0, 1, closed="neither")],
        "max_fpr": [Interval(numbers.Real, 0, 1, closed="right")],
        "standardize": [StrOptions({"train", "out_of_fold"})],
        "threshold_quantile": [Interval(numbers.Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    }

    def __init__(self, estimators, *, weights=None, weight_step=0.01, cv=5, max_fpr=0.1,
                 standardize="train", threshold_quantile=0.9, random_state=None):
        self.estimators = estimators
        self.weights = weights
        self.weight_step = weight_step
        self.cv = cv
        self.max_fpr = max_fpr
        self.standardize = standardize
        self.threshold_quantile = threshold_quantile
        self.random_state = random_state

    # --------------------------------------------------------- composition
    def get_params(self, deep=True):
        """Parameters of the ensemble and, with ``deep``, of its members (``name__param``)."""
        return self._get_params("estimators", deep=deep)

    def set_params(self, **params):
        """Set parameters of the ensemble or of its members (``name__param``)."""
        self._set_params("estimators", **params)
        return self

    @property
    def named_estimators(self):
        """The unfitted members by name (a ``Bunch``)."""
        return Bunch(**dict(self.estimators))

    def _validate_members(self):
        if not self.estimators:
            raise ValueError("estimators must be a non-empty list of (name, estimator).")
        names, members = zip(*self.estimators)
        self._validate_names(names)
        for name, est in self.estimators:
            if not (hasattr(est, "anomaly_score") or hasattr(est, "score_samples")):
                raise TypeError(f"Member {name!r} ({type(est).__name__}) has neither "
                                "anomaly_score nor score_samples.")
        return list(names)

    def _checked_weights(self, n_members):
        w = np.asarray(self.weights, dtype=np.float64)
        if w.shape != (n_members,) or np.any(w < 0) or not np.isfinite(w).all() or w.sum() <= 0:
            raise ValueError(f"weights must be {n_members} non-negative numbers with a "
                             f"positive sum, one per member; got {self.weights!r}.")
        return w / w.sum()

    # ------------------------------------------------------------ routing
    def get_metadata_routing(self):
        """Route ``fit`` metadata to the members' ``fit`` and their scoring, and the
        scoring methods' metadata to the members' ``decision_function`` requests.

        Returns
        -------
        routing : MetadataRouter
        """
        router = MetadataRouter(owner=self).add_self_request(self)
        scoring = ANOMALY_SCORE_REQUEST  # the members' anomaly_score requests
        for name, est in self.estimators:
            router.add(**{name: est}, method_mapping=MethodMapping()
                       .add(caller="fit", callee="fit")
                       .add(caller="fit", callee=scoring)
                       .add(caller="decision_function", callee=scoring)
                       .add(caller="predict", callee=scoring)
                       .add(caller="score", callee=scoring))
        return router

    def _route(self, caller, metadata):
        """``{name: {"fit": ..., "score": ...}}``: each member's metadata for ``caller``."""
        if routing_enabled():
            routed = process_routing(self, caller, **metadata)
            return {name: {"fit": routed[name].get("fit", {}),
                           "score": routed[name][ANOMALY_SCORE_REQUEST]}
                    for name, _ in self.estimators}
        return {name: {"fit": _accepted(est, "fit", metadata),
                       "score": _accepted(est, "anomaly_score", metadata)}
                for name, est in self.estimators}

    # ------------------------------------------------------------ fitting
    def fit(self, X, y=None, **metadata):
        """Search the weights (if not given), then fit the members on the normal clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, ...) or list
            Whatever the members take (audio, paths, spectrograms, windows).
        y : array-like of shape (n_clips,), default=None
            1 for anomalous clips, 0 for normal ones, used by the weight search only
            (``weights=None``): it needs both, and the members then train on the
            normal clips. With given ``weights``, ``y`` is ignored and the members
            train on all of ``X``, as every detector does.
        **metadata : dict of array-like of shape (n_clips,)
            ``machine_id``, ``domain``: routed to the members (class Notes);
            ``machine_id`` also groups the validation folds (and the
            out-of-fold standardization's folds).

        Returns
        -------
        self : WeightedEnsembleDetector

        Raises
        ------
        ValueError
            If ``weights`` is None and ``y`` lacks anomalous or normal clips, a
            validation fold lacks either, or ``weights`` / ``y`` are malformed;
            with ``standardize="out_of_fold"``, if a fold has no held-out normal
            clip or ``cv`` cannot split the clips (too few per machine ID).
        """
        self._validate_params()
        names = self._validate_members()
        n = _num_samples(X)
        routed = self._route("fit", metadata)
        if self.weights is not None or y is None:
            y = np.zeros(n, dtype=int)  # unsupervised: y is ignored
        y = check_labels(y, name="y")
        if len(y) != n:
            raise ValueError(f"y has {len(y)} entries but X has {n} clips.")
        if self.weights is None:
            if y.min() == y.max():
                raise ValueError(
                    "weights=None searches the weights on labelled validation clips: y "
                    "needs anomalous (1) and normal (0) clips; got only "
                    f"{'anomalous' if y[0] else 'normal'} ones. Pass y or weights.")
            folds = self._fold_scores(X, y, metadata, routed)
        elif self.standardize == "out_of_fold":
            folds = self._fold_scores(X, y, metadata, routed)  # y: all normal
        out_of_fold = None
        if self.standardize == "out_of_fold":
            held_out = [scores[y[valid] == 0] for valid, scores, _ in folds]
            if any(len(h) == 0 for h in held_out):
                raise ValueError("standardize='out_of_fold' needs held-out normal clips "
                                 "in every fold of cv.")
            out_of_fold = _standardization(np.concatenate(held_out))
        if self.weights is None:
            self._search(folds, y, names, out_of_fold)
        else:
            self.weights_ = self._checked_weights(len(names))
        members, scores = self._fit_members(X, np.flatnonzero(y == 0), routed)
        self.estimators_ = members
        self.named_estimators_ = Bunch(**dict(zip(names, members)))
        self.score_mean_, self.score_std_ = out_of_fold or _standardization(scores)
        self._fit_threshold(self._combine(scores))
        return self

    def _fit_members(self, X, train, routed):
        """Members cloned and fitted on the clips ``train``, and their scores there."""
        X_train = _subset(X, train)
        members, scores = [], []
        for name, est in self.estimators:
            fit_params = _check_method_params(X, routed[name]["fit"], train)
            score_params = _check_method_params(X, routed[name]["score"], train)
            member = clone(est).fit(X_train, None, **fit_params)
            members.append(member)
            scores.append(anomaly_scores(member, X_train, **score_params))
        return members, np.column_stack(scores)

    def _folds(self, X, y, groups):
        if isinstance(self.cv, numbers.Real) and not isinstance(self.cv, numbers.Integral):
            return [normal_train_test_split(y, groups=groups, train_size=self.cv,
                                            random_state=self.random_state)]
        cv = NormalOnlyKFold(self.cv) if isinstance(self.cv, numbers.Integral) else self.cv
        if hasattr(cv, "split"):
            return list(cv.split(X, y, groups))
        return [(np.asarray(tr), np.asarray(va)) for tr, va in cv]

    def _fold_scores(self, X, y, metadata, routed):
        """Per fold of ``cv``: the validation clips, the raw scores there of the
        members fitted on the fold's normal training clips, and those members'
        training-score standardization."""
        out = []
        for train, valid in self._folds(X, y, metadata.get("machine_id")):
            train, valid = np.asarray(train), np.asarray(valid)
            members, scores = self._fit_members(X, train[y[train] == 0], routed)
            Xv = _subset(X, valid)
            Z = np.column_stack([
                anomaly_scores(m, Xv, **_check_method_params(X, routed[name]["score"], valid))
                for (name, _), m in zip(self.estimators, members)])
            out.append((valid, Z, _standardization(scores)))
        return out

    def _search(self, fold_scores, y, names, out_of_fold):
        """Weights on the grid; each fold standardized with its members' training
        scores, or with ``out_of_fold`` (mean, std) where given."""
        folds, frames = [], []
        for k, (valid, scores, train_stats) in enumerate(fold_scores):
            if len(np.unique(y[valid])) < 2:
                raise ValueError(f"Validation fold {k} has only one class; the weight "
                                 "search needs normal and anomalous clips in every fold.")
            mean, std = out_of_fold or train_stats
            Z = (scores - mean) / std
            folds.append((Z, y[valid]))
            frames.append(pd.DataFrame(Z, columns=names, index=valid)
                          .assign(fold=k, target=y[valid]))
        grid = simplex_grid(len(names), self.weight_step)
        self.weights_, self.validation_score_ = search_weights(grid, folds, self.max_fpr)
        self.validation_scores_ = pd.concat(frames)[["fold", "target", *names]]

    # ------------------------------------------------------------ scoring
    def _member_scores(self, X, metadata):
        check_is_fitted(self)
        routed = self._route("decision_function", metadata)
        return np.column_stack([
            anomaly_scores(est, X, **routed[name]["score"])
            for (name, _), est in zip(self.estimators, self.estimators_)])

    def _combine(self, scores):
        return ((scores - self.score_mean_) / self.score_std_) @ self.weights_

    def member_scores(self, X, *, standardized=False, **metadata):
        """Every member's per-clip anomaly scores, for inspection.

        Parameters
        ----------
        X : array-like of shape (n_clips, ...) or list
            Clips to score.
        standardized : bool, default=False
            Return ``(s_i - score_mean_) / score_std_`` instead of the raw scores.
        **metadata : dict of array-like of shape (n_clips,)
            Routed as for ``decision_function``.

        Returns
        -------
        scores : pandas.DataFrame of shape (n_clips, n_members)
            One column per member name, float64.
        """
        scores = self._member_scores(X, metadata)
        if standardized:
            scores = (scores - self.score_mean_) / self.score_std_
        return pd.DataFrame(scores, columns=[name for name, _ in self.estimators])

    def anomaly_score(self, X, **metadata):
        """Weighted mean of the members' standardized scores, higher = more anomalous.

        Parameters
        ----------
        X : array-like of shape (n_clips, ...) or list
            Clips to score.
        **metadata : dict of array-like of shape (n_clips,)
            Routed to the members as for ``decision_function``.

        Returns
        -------
        scores : ndarray of shape (n_clips,), dtype float64
        """
        return self._combine(self._member_scores(X, metadata))

    def _clip_maps(self, X, **metadata):
        """Weighted sum of the members' maps, each divided by its score scale."""
        routed = self._route("decision_function", metadata)
        total = None
        for (name, _), member, weight, scale in zip(
                self.estimators, self.estimators_, self.weights_, self.score_std_):
            if not hasattr(member, "anomaly_map"):
                raise TypeError(f"Member {name!r} ({type(member).__name__}) has no "
                                "anomaly_map, so the ensemble has none.")
            maps = member.anomaly_map(X, **routed[name]["score"])
            maps = [weight / scale * np.asarray(m, dtype=np.float64) for m in maps]
            if total is not None and [m.shape for m in maps] != [m.shape for m in total]:
                raise ValueError(f"Member {name!r} gives anomaly maps of other shapes "
                                 "than the members before it; they cannot be added.")
            total = maps if total is None else [t + m for t, m in zip(total, maps)]
        return total

    @property
    def n_features_in_(self):
        """Features seen by the first member at fit."""
        return self.estimators_[0].n_features_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        members = [est.__sklearn_tags__() for _, est in self.estimators]
        tags.input_tags.allow_nan = all(t.input_tags.allow_nan for t in members)
        tags.input_tags.three_d_array = all(t.input_tags.three_d_array for t in members)
        tags.non_deterministic = any(t.non_deterministic for t in members)
        return tags


def _subset(X, indices):
    """``X[indices]``, or ``X`` itself where that is all of it (in order)."""
    if len(indices) == _num_samples(X) and np.array_equal(indices, np.arange(len(indices))):
        return X
    return _safe_indexing(X, indices)


def _standardization(scores):
    """Column means and standard deviations (0 replaced by 1) of member scores."""
    mean, std = scores.mean(axis=0), scores.std(axis=0)
    return mean, np.where(std > 0, std, 1.0)
