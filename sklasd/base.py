"""The anomaly-detector contract, written once.

Every sklasd anomaly detector (the neural detectors, the detectors on pooled
features and the weighted ensemble) derives from :class:`AnomalyDetectorMixin`. A
detector implements ``fit`` and ``anomaly_score``; the mixin derives the scikit-learn
outlier-detector methods from ``anomaly_score`` with scikit-learn's sign conventions
(as ``sklearn.ensemble.IsolationForest``), and :meth:`_fit_threshold`, called once at
the end of ``fit``, sets the decision threshold.
"""
import warnings

import numpy as np
import scipy.stats
from sklearn.base import OutlierMixin
from sklearn.metrics import roc_auc_score
from sklearn.utils.validation import check_is_fitted

from ._ragged import is_ragged, per_shape
from .utils._validation import check_labels

__all__ = ["AnomalyDetectorMixin", "gamma_threshold"]


def gamma_threshold(scores, quantile, *, any_sign=False):
    """``quantile`` of a gamma distribution on [0, inf) fitted to clip ``scores``.

    Parameters
    ----------
    scores : array-like of shape (n_clips,)
        Anomaly scores of the normal training clips.
    quantile : float in (0, 1)
        Quantile of the fitted distribution to return (0.9 in the DCASE baselines).
    any_sign : bool, default=False
        ``True`` for scores that may be negative (standardised scores,
        log-likelihoods): the gamma is fitted to the scores shifted to start at 1,
        and the threshold is shifted back.

    Returns
    -------
    threshold : float

    Warns
    -----
    UserWarning
        Where no gamma distribution can be fitted (constant, non-positive or fewer
        than 3 scores): the empirical quantile is returned instead.

    Notes
    -----
    The gamma's shape and scale are maximum-likelihood estimates with its location
    fixed at 0 (``scipy.stats.gamma.fit(scores, floc=0)``). The baselines below also
    fit the location; that three-parameter fit is ill-conditioned: on 200 random sets
    of 5-60 gamma-distributed scores, a relative change of 1e-7 in the scores (float32
    rounding, another BLAS) moved its 0.9 quantile by more than 1 % of the scores'
    standard deviation for 30 sets, by up to 1.9 standard deviations, and the
    decisions with it; with the location fixed the largest move was 4e-6 standard
    deviations, and the thresholds were as close to the empirical 0.9 quantile.

    References
    ----------
    The DCASE 2021-2024 Task 2 autoencoder baselines (Harada, Noguchi, Kawaguchi,
    Yasuda et al.) fit ``scipy.stats.gamma`` to the training scores and take its 0.9
    quantile as the decision threshold.

    Examples
    --------
    >>> from sklasd.base import gamma_threshold
    >>> round(gamma_threshold([1.0, 2.0, 3.0, 4.0, 5.0], 0.5), 1)  # median of the fit
    2.7
    """
    scores = np.asarray(scores, dtype=np.float64)
    if any_sign and len(scores):
        shift = scores.min() - 1.0
        return gamma_threshold(scores - shift, quantile) + shift
    if len(scores) > 2 and np.ptp(scores) > 0 and np.all(scores > 0):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                threshold = scipy.stats.gamma.ppf(
                    quantile, *scipy.stats.gamma.fit(scores, floc=0))
            except (ValueError, RuntimeError, FloatingPointError):
                threshold = np.nan
        if np.isfinite(threshold):
            return float(threshold)
    warnings.warn(
        f"A gamma distribution cannot be fitted to the {len(scores)} training clip "
        "scores (constant, non-positive or too few); threshold_ is their empirical "
        f"{quantile} quantile instead.",
        UserWarning,
    )
    return float(np.quantile(scores, quantile))


class AnomalyDetectorMixin(OutlierMixin):
    """Mixin of the sklasd anomaly detectors: scikit-learn's outlier API from ``anomaly_score``.

    A subclass implements ``fit(X, y=None, **metadata)``, which ends with
    ``self._fit_threshold(training_clip_scores)``,
    ``anomaly_score(X, **metadata) -> (n_clips,) float64`` (higher = more
    anomalous, what DCASE result files hold) and ``_clip_maps(X, **metadata)``,
    the anomaly map of every clip of an array ``X`` of equal-shaped clips (one
    map per clip, each of the shape of its clip), which :meth:`anomaly_map`
    serves. It needs a ``threshold_quantile`` parameter.

    Attributes
    ----------
    threshold_ : float
        Clip anomaly score above which a clip is anomalous (set by ``_fit_threshold``).
    offset_ : float
        ``-threshold_``, so that ``decision_function = score_samples - offset_``.
    training_scores_ : ndarray of shape (n_training_clips,), float64
        The training clips' scores the threshold was fitted to (as ``fit`` scores
        them, for example each clip without itself for nearest neighbours); the
        monitor (``sklasd.monitor``) sets its drift level from them.

    Notes
    -----
    ``score_samples = -anomaly_score`` (lower = more abnormal, as in
    ``IsolationForest``), ``decision_function = score_samples - offset_`` (negative =
    anomalous), ``predict`` is +1 where ``decision_function >= 0`` else -1, and
    ``score`` is the ROC AUC of ``anomaly_score`` against ``y`` (1 = anomaly), so
    ``GridSearchCV`` needs no ``scoring`` argument. ``anomaly_map`` says where in
    each clip the score comes from, in the detector's own input layout; a
    :class:`sklasd.pipeline.Pipeline` maps it back to the log-mel frames.
    """

    _estimator_type = "outlier_detector"

    # Clip scores may be negative (log-likelihoods, standardised scores): the gamma
    # fit of the threshold then gets a free location.
    _scores_any_sign = False

    def _fit_threshold(self, scores):
        """Set ``threshold_``, ``offset_`` and ``training_scores_`` from the
        training clips' scores."""
        self.training_scores_ = np.asarray(scores, dtype=np.float64).ravel()
        self.threshold_ = gamma_threshold(scores, self.threshold_quantile,
                                          any_sign=self._scores_any_sign)
        self.offset_ = -self.threshold_

    def anomaly_map(self, X, **metadata):
        """Where each clip's anomaly score comes from, cell by cell of its input.

        Parameters
        ----------
        X : array-like or list
            Clips in the layout the detector takes; a list of clips of unequal
            length is accepted where the detector takes one.
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata (``machine_id``, ``domain``) for detectors that use it.

        Returns
        -------
        maps : list of n_clips ndarray, dtype float32
            Map ``i`` has the shape of clip ``i`` of ``X`` (windows
            ``(n_windows, n_features)``, spectrogram ``(n_mels, n_frames)``, pooled
            vector ``(n_features,)``); its values are >= 0 and larger where the
            cell raised the score more (the detector's Notes say how). A clip's
            map does not depend on the other clips of ``X``.
            :meth:`sklasd.pipeline.Pipeline.anomaly_map` maps it back to the
            log-mel frames.

        Raises
        ------
        ValueError
            On input the detector's ``anomaly_score`` refuses.
        """
        check_is_fitted(self)
        if is_ragged(X):
            maps = per_shape(self._clip_maps, X, **metadata)
        else:
            maps = self._clip_maps(X, **metadata)
        return [np.maximum(np.asarray(m, dtype=np.float32), 0) for m in maps]

    def _clip_maps(self, X, **metadata):
        raise NotImplementedError(
            f"{type(self).__name__} has no anomaly map: it does not implement _clip_maps.")

    def score_samples(self, X, **metadata):
        """Opposite of ``anomaly_score``: lower = more abnormal.

        Parameters
        ----------
        X : array-like or list
            Clips in the layout the detector takes.
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata (``machine_id``, ``domain``) for detectors that use it.

        Returns
        -------
        scores : ndarray of shape (n_clips,), dtype float64
        """
        return -self.anomaly_score(X, **metadata)

    def decision_function(self, X, **metadata):
        """``score_samples(X) - offset_``: negative = anomalous.

        Parameters
        ----------
        X : array-like or list
            Clips in the layout the detector takes.
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata for detectors that use it.

        Returns
        -------
        decision : ndarray of shape (n_clips,), dtype float64
            ``threshold_ - anomaly_score(X)``.
        """
        return self.score_samples(X, **metadata) - self.offset_

    def predict(self, X, **metadata):
        """+1 for normal clips, -1 for anomalous ones (``decision_function < 0``).

        Parameters
        ----------
        X : array-like or list
            Clips in the layout the detector takes.
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata for detectors that use it.

        Returns
        -------
        labels : ndarray of shape (n_clips,), dtype int
        """
        return np.where(self.decision_function(X, **metadata) >= 0, 1, -1)

    def fit_predict(self, X, y=None, **metadata):
        """Fit on ``X`` and predict its labels (+1 normal, -1 anomalous).

        Parameters
        ----------
        X : array-like or list
            Normal clips.
        y : None
            Ignored.
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata, passed to both ``fit`` and ``predict``.

        Returns
        -------
        labels : ndarray of shape (n_clips,), dtype int
        """
        return self.fit(X, **metadata).predict(X, **metadata)

    def score(self, X, y, sample_weight=None, **metadata):
        """ROC AUC of ``anomaly_score`` against ``y`` (1 = anomaly).

        Parameters
        ----------
        X : array-like or list
            Normal and anomalous clips.
        y : array-like of shape (n_clips,)
            1 for anomalous clips, 0 for normal ones.
        sample_weight : array-like of shape (n_clips,), default=None
            Clip weights of the ROC curve.
        **metadata : dict of array-like of shape (n_clips,)
            Per-clip metadata for detectors that use it.

        Returns
        -------
        auc : float
            ``sklearn.metrics.roc_auc_score(y, anomaly_score(X))``.

        Raises
        ------
        ValueError
            If ``y`` holds a label other than 0 and 1, naming the first one.
        """
        scores = self.anomaly_score(X, **metadata)  # X's own errors first
        return float(roc_auc_score(check_labels(y, "y"), scores,
                                   sample_weight=sample_weight))
