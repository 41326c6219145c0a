"""Detectors on pooled features: one vector per clip, scored by a scikit-learn model.

``GaussianMixtureDetector``, ``KNeighborsDetector`` and ``MahalanobisDetector`` take
the pooled layout ``(n_clips, n_features)`` of ``sklasd.features.TemporalPooling``
and share one policy, written once in :class:`_PooledDetector`: an optional
``domain`` at fit gives one model per domain, and a clip's score is then the
smaller of its standardised scores against the domains' normal clips.
"""
import numbers

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.covariance import EmpiricalCovariance, LedoitWolf
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from ..base import AnomalyDetectorMixin
from ..utils._sklearn_compat import Interval, StrOptions

__all__ = ["GaussianMixtureDetector", "KNeighborsDetector", "MahalanobisDetector"]

_DOMAIN_NOTES = """
    Domains (DCASE 2022+ domain generalisation): ``fit(X, domain=d)`` with one
    label per clip (``"source"`` / ``"target"``) fits one model per domain on that
    domain's clips. Each model's scores are standardised with the mean and standard
    deviation of the scores of its own training clips (leave-one-out where a model
    scores its own clips at zero, as nearest neighbours do), and a clip's score is
    the smallest standardised score over the domains: a clip is normal when it is
    close to the normal clips of either domain, whichever it comes from, and the
    few target clips are not swamped by the many source clips. The test clips'
    domains are not needed (the DCASE 2023+ evaluation data do not reveal them).
    ``domain`` is requested for ``fit`` under scikit-learn's metadata routing.
    Without ``domain`` a single model is fitted and its raw score is returned.
    ``anomaly_map`` is taken against the model of the domain whose standardised
    score is the smallest, the one that gives the clip its score.

    The rule follows the top DCASE 2023 systems, which score a test clip by its
    distance to the closest normal clip of the source and of the target domain and
    keep the smaller, as in K. Wilkinghoff, "Self-supervised learning for
    anomalous sound detection", ICASSP 2024 (his DCASE 2023 Task 2 system). The
    per-domain standardisation makes the rule usable with likelihoods and
    Mahalanobis distances, whose scales differ between a model of many source clips
    and one of a few target clips.
"""


_COMMON_ATTRIBUTES = """n_features_in_ : int
        Features per clip.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names of a DataFrame given to ``fit``.
    threshold_ : float
        Clip score above which a clip is anomalous.
    offset_ : float
        ``-threshold_``."""


def _check_domain(domain, n_clips):
    """``domain`` as a 1-D array with one label per clip."""
    domain = np.asarray(domain)
    if domain.shape != (n_clips,):
        raise ValueError(f"domain must hold one label per clip, shape ({n_clips},); got "
                         f"shape {domain.shape}.")
    return domain


def _standardization(scores):
    mean, std = float(np.mean(scores)), float(np.std(scores))
    return mean, std if std > 0 else 1.0


class _PooledDetector(AnomalyDetectorMixin, BaseEstimator):
    """Base of the detectors on pooled features (one model per domain, min rule).

    A subclass implements ``_fit_model(X) -> model``, ``_model_scores(model, X)
    -> (n_clips,)``, ``_model_maps(model, X) -> (n_clips, n_features)`` (the
    non-negative per-feature deviations behind the score) and, where a model
    scores its own training clips specially (nearest neighbours),
    ``_self_scores(model, X)``.
    """

    __metadata_request__fit = {"domain": True}

    # Log-likelihoods and standardised scores may be negative.
    _scores_any_sign = True

    _parameter_constraints = {
        "threshold_quantile": [Interval(numbers.Real, 0, 1, closed="neither")],
    }

    def _self_scores(self, model, X):
        return self._model_scores(model, X)

    def fit(self, X, y=None, domain=None):
        """Fit one model on the normal clips, or one per domain.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Pooled features of normal clips (``TemporalPooling`` output).
        y : None
            Ignored; accepted for ``Pipeline`` and ``GridSearchCV``.
        domain : array-like of shape (n_clips,), default=None
            Domain of each clip (``"source"`` / ``"target"``); see the class Notes.

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            If ``X`` is not 2-D, holds NaN or infinity, has no clip, or
            ``domain`` is not one label per clip.
        """
        self._validate_params()
        X = validate_data(self, X, dtype=np.float64)
        if domain is None:
            self.domains_ = np.array([None], dtype=object)
            groups = [np.arange(len(X))]
        else:
            domain = _check_domain(domain, len(X))
            self.domains_ = np.unique(domain)
            groups = [np.flatnonzero(domain == d) for d in self.domains_]
        self.models_, stats, own = [], [], np.empty(len(X))
        for idx in groups:
            model = self._fit_model(X[idx])
            self.models_.append(model)
            own[idx] = self._self_scores(model, X[idx])
            stats.append(_standardization(own[idx]))
        self.score_mean_, self.score_std_ = (np.array(s) for s in zip(*stats))
        self._fit_threshold(self._training_scores(X, groups, own))
        return self

    def _training_scores(self, X, groups, own):
        """Scores of the training clips: the min rule with their own domain's
        model scoring them as its training clips."""
        if len(groups) == 1:
            return own
        scores = self._domain_scores(X)
        for j, idx in enumerate(groups):
            scores[idx, j] = (own[idx] - self.score_mean_[j]) / self.score_std_[j]
        return scores.min(axis=1)

    def _domain_scores(self, X):
        """``(n_clips, n_domains)`` standardised scores against each domain's model."""
        return np.column_stack([
            (self._model_scores(model, X) - mean) / std
            for model, mean, std in zip(self.models_, self.score_mean_, self.score_std_)])

    def anomaly_score(self, X):
        """Per-clip anomaly score, higher = more anomalous (DCASE result files).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_features)
            Pooled features of the clips to score.

        Returns
        -------
        scores : ndarray of shape (n_clips,), dtype float64
            The model's score; fitted with ``domain``, the smallest standardised
            score over the domains.

        Raises
        ------
        ValueError
            If ``X`` has another number of features than at fit, or NaN / inf.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        if len(self.models_) == 1:
            return np.asarray(self._model_scores(self.models_[0], X), dtype=np.float64)
        return self._domain_scores(X).min(axis=1)


    def _clip_maps(self, X):
        """Per-feature deviations from the model of the domain whose score is the min."""
        X = validate_data(self, X, dtype=np.float64, reset=False)
        nearest = (np.zeros(len(X), dtype=int) if len(self.models_) == 1
                   else self._domain_scores(X).argmin(axis=1))
        maps = np.zeros_like(X)
        for j, model in enumerate(self.models_):
            rows = nearest == j
            if rows.any():
                maps[rows] = self._model_maps(model, X[rows])
        return maps


class GaussianMixtureDetector(_PooledDetector):
    """Negative log-likelihood under a Gaussian mixture fitted to normal clips.

    The scoring of TWFR-GMM: log-mel pooled over time by global weighted rank
    pooling (``TemporalPooling``), one vector per clip, modelled by a Gaussian
    mixture with full covariances.

    Parameters
    ----------
    n_components : int, default=2
        Mixture components (Guan et al. use 1 to 4 per machine type; 2 for valve).
        A domain with fewer clips gets as many components as clips.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        Covariance of each component.
    reg_covar : float, default=1e-6
        Added to the covariance diagonals (the authors' value).
    tol : float, default=1e-6
        EM convergence threshold (the authors' value).
    max_iter : int, default=100
        EM iterations.
    n_init : int, default=1
        EM initialisations; the best is kept.
    threshold_quantile : float in (0, 1), default=0.9
        Quantile of the gamma distribution fitted to the training clip scores that
        becomes ``threshold_``.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means initialisation of EM.

    Attributes
    ----------
    models_ : list of sklearn.mixture.GaussianMixture
        One mixture, or one per domain of ``domains_``.
    domains_ : ndarray of shape (n_domains,)
        The sorted domains seen at fit; ``array([None])`` without ``domain``.
    score_mean_, score_std_ : ndarray of shape (n_domains,)
        Mean and standard deviation of each model's scores on its training clips.
    n_iter_ : int
        Most EM iterations of any of the mixtures.
    {common_attributes}

    See Also
    --------
    sklasd.features.TemporalPooling : Produces the pooled layout.
    MahalanobisDetector : A single Gaussian with a shrunk covariance.

    Notes
    -----
    Score: ``-log p(x)`` with ``p`` the mixture density
    (``-GaussianMixture.score_samples``). The authors' code scores with the best
    single component, ``-max_k log N(x; mu_k, Sigma_k)``; with the usual
    well-separated components the two agree up to the component weight.
    Anomaly map: the squared standardized deviation per feature from the mean of
    the most responsible component ``k`` (``GaussianMixture.predict``),
    ``(x_j - mu_kj) ** 2 / Sigma_k,jj``.
    {domain_notes}
    References
    ----------
    .. [1] J. Guan, Y. Liu, Q. Kong, F. Xiao, Q. Zhu, J. Tian, W. Wang,
       "Time-weighted frequency domain audio representation with GMM estimator for
       anomalous sound detection", ICASSP 2023, section 2.3 (code and settings:
       github.com/liuyoude/TWFR-GMM).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.detectors import GaussianMixtureDetector
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> gmm = GaussianMixtureDetector(n_components=1, random_state=0).fit(X)
    >>> bool(gmm.anomaly_score(X[:1] + 10)[0] > gmm.threshold_)
    True
    """

    _parameter_constraints = {
        **_PooledDetector._parameter_constraints,
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "covariance_type": [StrOptions({"full", "tied", "diag", "spherical"})],
        "reg_covar": [Interval(numbers.Real, 0, None, closed="left")],
        "tol": [Interval(numbers.Real, 0, None, closed="left")],
        "max_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_init": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(self, n_components=2, *, covariance_type="full", reg_covar=1e-6,
                 tol=1e-6, max_iter=100, n_init=1, threshold_quantile=0.9,
                 random_state=None):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.tol = tol
        self.max_iter = max_iter
        self.n_init = n_init
        self.threshold_quantile = threshold_quantile
        self.random_state = random_state

    def _fit_model(self, X):
        return GaussianMixture(
            n_components=min(self.n_components, len(X)),
            covariance_type=self.covariance_type, reg_covar=self.reg_covar, tol=self.tol,
            max_iter=self.max_iter, n_init=self.n_init, random_state=self.random_state,
        ).fit(X)

    def fit(self, X, y=None, domain=None):
        super().fit(X, y, domain=domain)
        self.n_iter_ = max(model.n_iter_ for model in self.models_)
        return self

    fit.__doc__ = _PooledDetector.fit.__doc__

    def _model_scores(self, model, X):
        return -model.score_samples(X)

    def _model_maps(self, model, X):
        nearest = model.predict(X)  # the most responsible component
        variances = {
            "full": lambda: np.diagonal(model.covariances_, axis1=1, axis2=2),
            "tied": lambda: np.diag(model.covariances_)[None],
            "diag": lambda: model.covariances_,
            "spherical": lambda: model.covariances_[:, None],
        }[model.covariance_type]()
        variances = np.broadcast_to(variances, model.means_.shape)
        return (X - model.means_[nearest]) ** 2 / variances[nearest]


class KNeighborsDetector(_PooledDetector):
    """Mean distance to the ``n_neighbors`` nearest normal clips.

    Parameters
    ----------
    n_neighbors : int, default=1
        Neighbours averaged (the top DCASE 2023 systems use the nearest one). A
        domain with fewer clips uses them all.
    metric : str or callable, default="euclidean"
        Distance of ``sklearn.neighbors.NearestNeighbors`` (its default,
        Euclidean: on pooled log-mel in dB, the root of the summed squared level
        differences; the systems cited in Notes use ``"cosine"`` on learnt
        embeddings).
    standardize : bool, default=False
        Standardise every feature with the mean and standard deviation of the
        training clips (of the domain) before measuring distances, so that no
        mel bin dominates. With few training clips the per-bin deviations are
        poorly estimated; log-mel levels share one unit (dB) and need no scaling.
    threshold_quantile : float in (0, 1), default=0.9
        Quantile of the gamma distribution fitted to the training clip scores that
        becomes ``threshold_``.
    n_jobs : int or None, default=None
        Parallel jobs of the neighbour search.

    Attributes
    ----------
    models_ : list of (StandardScaler or None, NearestNeighbors, ndarray)
        One fitted scaler, neighbour index and its (scaled) training vectors, or
        one such triple per domain of ``domains_``.
    domains_ : ndarray of shape (n_domains,)
        The sorted domains seen at fit; ``array([None])`` without ``domain``.
    score_mean_, score_std_ : ndarray of shape (n_domains,)
        Mean and standard deviation of each model's leave-one-out scores on its
        training clips.
    {common_attributes}

    See Also
    --------
    sklearn.neighbors.LocalOutlierFactor : A density-ratio neighbour score.

    Notes
    -----
    Score: ``mean_{j <= k} d(x, n_j)`` over the ``k`` training clips ``n_j``
    nearest to ``x``. A training clip scored at fit skips itself (leave-one-out),
    so ``threshold_`` comes from leave-one-out scores.

    Anomaly map: ``mean_j (x - n_j) ** 2 / ||x - n_j||`` per feature (0 where
    ``x = n_j``), which sums over the features to the score with the Euclidean
    metric: each feature's share of the distance to the nearest normal clips
    (in the standardized space with ``standardize=True``).
    {domain_notes}
    References
    ----------
    .. [1] K. Wilkinghoff, "Self-supervised learning for anomalous sound
       detection", ICASSP 2024 (k = 1, minimum over the source and target
       domains).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.detectors import KNeighborsDetector
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> knn = KNeighborsDetector().fit(X)
    >>> bool(knn.anomaly_score(X[:1] + 10)[0] > knn.threshold_)
    True
    """

    _parameter_constraints = {
        **_PooledDetector._parameter_constraints,
        "n_neighbors": [Interval(numbers.Integral, 1, None, closed="left")],
        "metric": [str, callable],
        "standardize": ["boolean"],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(self, n_neighbors=1, *, metric="euclidean", standardize=False,
                 threshold_quantile=0.9, n_jobs=None):
        self.n_neighbors = n_neighbors
        self.metric = metric
        self.standardize = standardize
        self.threshold_quantile = threshold_quantile
        self.n_jobs = n_jobs

    def _fit_model(self, X):
        scaler = StandardScaler().fit(X) if self.standardize else None
        Z = scaler.transform(X) if scaler is not None else X
        return scaler, NearestNeighbors(metric=self.metric, n_jobs=self.n_jobs).fit(Z), Z

    def _distances(self, model, X, k):
        scaler, nn, _ = model
        Z = scaler.transform(X) if scaler is not None else X
        return nn.kneighbors(Z, n_neighbors=k)[0]

    def _model_maps(self, model, X):
        scaler, nn, references = model
        Z = scaler.transform(X) if scaler is not None else X
        k = min(self.n_neighbors, nn.n_samples_fit_)
        neighbours = nn.kneighbors(Z, n_neighbors=k, return_distance=False)
        squared = (Z[:, None, :] - references[neighbours]) ** 2  # (clip, k, feature)
        norm = np.sqrt(squared.sum(axis=2, keepdims=True))
        return (squared / np.where(norm > 0, norm, 1.0)).mean(axis=1)

    def _model_scores(self, model, X):
        k = min(self.n_neighbors, model[1].n_samples_fit_)
        return self._distances(model, X, k).mean(axis=1)

    def _self_scores(self, model, X):
        n = model[1].n_samples_fit_
        if n < 2:
            return np.zeros(n)
        k = min(self.n_neighbors, n - 1)
        # each clip's nearest neighbour is itself (distance 0): drop that column
        return np.sort(self._distances(model, X, k + 1), axis=1)[:, 1:].mean(axis=1)


_COVARIANCES = {"empirical": EmpiricalCovariance, "ledoit_wolf": LedoitWolf}


class MahalanobisDetector(_PooledDetector):
    """Squared Mahalanobis distance to the mean of the normal clips.

    Parameters
    ----------
    covariance : {"ledoit_wolf", "empirical"}, default="ledoit_wolf"
        Covariance estimator: ``sklearn.covariance.LedoitWolf`` (shrunk towards a
        scaled identity, well conditioned with fewer clips than features) or
        ``EmpiricalCovariance`` (the maximum-likelihood estimate; its precision is
        a pseudo-inverse when singular).
    threshold_quantile : float in (0, 1), default=0.9
        Quantile of the gamma distribution fitted to the training clip scores that
        becomes ``threshold_``.

    Attributes
    ----------
    models_ : list of sklearn.covariance.EmpiricalCovariance
        One fitted estimator, or one per domain of ``domains_``.
    domains_ : ndarray of shape (n_domains,)
        The sorted domains seen at fit; ``array([None])`` without ``domain``.
    score_mean_, score_std_ : ndarray of shape (n_domains,)
        Mean and standard deviation of each model's scores on its training clips.
    {common_attributes}

    See Also
    --------
    sklearn.covariance.EllipticEnvelope : The robust (MCD) variant.
    GaussianMixtureDetector : Several Gaussians.

    Notes
    -----
    Score: ``(x - mu)^T Sigma^-1 (x - mu)`` (``EmpiricalCovariance.mahalanobis``).
    Anomaly map: the squared standardized deviation from the mean per feature,
    ``(x_j - mu_j) ** 2 / Sigma_jj`` (the score itself where the features are
    uncorrelated).
    {domain_notes}
    References
    ----------
    .. [1] O. Ledoit, M. Wolf, "A well-conditioned estimator for large-dimensional
       covariance matrices", Journal of Multivariate Analysis 88(2), 2004.
    .. [2] N. Harada, D. Niizumi, Y. Ohishi, D. Takeuchi, M. Yasuda, "First-shot
       anomaly detection for machine condition monitoring: a domain generalization
       baseline", EUSIPCO 2023, section 3 (Mahalanobis scoring per domain, minimum
       over domains).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.detectors import MahalanobisDetector
    >>> X = np.random.default_rng(0).normal(size=(50, 3))
    >>> md = MahalanobisDetector().fit(X)
    >>> bool(md.anomaly_score(X[:1] + 10)[0] > md.threshold_)
    True
    """

    _parameter_constraints = {
        **_PooledDetector._parameter_constraints,
        "covariance": [StrOptions(set(_COVARIANCES))],
    }

    def __init__(self, covariance="ledoit_wolf", *, threshold_quantile=0.9):
        self.covariance = covariance
        self.threshold_quantile = threshold_quantile

    def _fit_model(self, X):
        return _COVARIANCES[self.covariance]().fit(X)

    def _model_scores(self, model, X):
        return model.mahalanobis(X)

    def _model_maps(self, model, X):
        return (X - model.location_) ** 2 / np.diag(model.covariance_)


for _cls in (GaussianMixtureDetector, KNeighborsDetector, MahalanobisDetector):
    _cls.__doc__ = (_cls.__doc__.replace("{domain_notes}", _DOMAIN_NOTES)
                    .replace("{common_attributes}", _COMMON_ATTRIBUTES))
