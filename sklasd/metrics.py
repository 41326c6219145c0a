"""DCASE evaluation: partial AUC, per-section scores, the per-group report, scorers.

Every ROC AUC here is :func:`sklearn.metrics.roc_auc_score`; this module only adds
the DCASE grouping rules and the plumbing that lets
``GridSearchCV`` score an anomaly detector through its ``anomaly_score``.
"""

import numpy as np
import pandas as pd
from scipy.stats import hmean
from sklearn.metrics import roc_auc_score
from sklearn.utils.metadata_routing import MetadataRequest
from sklearn.utils.validation import column_or_1d

from .utils._routing import (
    anomaly_scores,
    reject_params_without_routing,
    requested_metadata,
    routing_enabled,
)
# Shared with model_selection and the ensemble; private names kept here.
from .utils._validation import check_labels as _check_labels
from .utils._validation import first_bad as _first_bad

__all__ = [
    "partial_auc",
    "roc_auc_rows",
    "section_scores",
    "anomaly_report",
    "official_score",
    "make_anomaly_scorer",
    "auc_scorer",
    "pauc_scorer",
]

DOMAINS = ("source", "target")
MEAN_ROWS = ("arithmetic mean", "harmonic mean")
OVERALL = "all"
COUNT_COLUMNS = ("n_normal", "n_anomalous", "n_unlabeled")
# Metadata (machine_id, domain): a scorer forwards it to the detector, never to
# the score function.
DETECTOR_METADATA = ("machine_id", "domain")


def _check_same_length(y_true, **arrays):
    """Return each array of `arrays` as 1-D, checking it has one entry per clip.

    A str stands for that value on every clip; None is passed through.
    """
    checked = {}
    for name, values in arrays.items():
        if values is None:
            checked[name] = None
            continue
        if isinstance(values, str):  # one label for every clip
            values = np.full(len(y_true), values, dtype=object)
        values = column_or_1d(values)
        if len(values) != len(y_true):
            raise ValueError(
                f"y_true has {len(y_true)} clips but {name} has {len(values)}."
            )
        checked[name] = values
    return checked


def _check_domain(domain):
    bad = np.flatnonzero(~np.isin(domain, DOMAINS))
    if bad.size:
        raise ValueError(
            f"domain must be 'source' or 'target'; got domain{_first_bad(domain, bad)}."
        )
    return domain


def _auc(y_true, y_score, group, max_fpr=None):
    """ROC AUC of one group of clips; a group with one class is an error."""
    n_anomalous = int(y_true.sum())
    n_normal = len(y_true) - n_anomalous
    if not n_normal or not n_anomalous:
        raise ValueError(
            f"{group}: ROC AUC needs normal and anomalous clips; got {n_normal} "
            f"normal and {n_anomalous} anomalous."
        )
    return float(roc_auc_score(y_true, y_score, max_fpr=max_fpr))


def partial_auc(y_true, y_score, *, max_fpr=0.1):
    """Standardized partial ROC AUC over false-positive rates up to `max_fpr`.

    Parameters
    ----------
    y_true : array-like of shape (n_clips,)
        1 for anomalous clips, 0 for normal clips.
    y_score : array-like of shape (n_clips,)
        Anomaly scores, higher = more anomalous.
    max_fpr : float, default=0.1
        Upper end of the false-positive-rate range, in (0, 1].

    Returns
    -------
    pauc : float
        The McClish-standardized partial AUC, in [0.5, 1] for a better-than-chance
        detector (0.5 = chance).

    Raises
    ------
    ValueError
        If the lengths differ, `y_true` holds a value other than 0 and 1, or only
        one class is present.

    Notes
    -----
    This is ``sklearn.metrics.roc_auc_score(y_true, y_score, max_fpr=max_fpr)``,
    the pAUC that the DCASE 2020-2024 Task 2 evaluators report. The plain AUC is
    ``sklearn.metrics.roc_auc_score(y_true, y_score)``.

    References
    ----------
    DCASE 2023 Task 2 evaluator (``dcase2023_task2_evaluator``)

    Examples
    --------
    >>> from sklasd.metrics import partial_auc
    >>> partial_auc([0, 0, 0, 1, 1], [0.1, 0.2, 0.3, 0.4, 0.25])
    0.7368...
    """
    y_true = _check_labels(y_true)
    y_score = _check_same_length(y_true, y_score=y_score)["y_score"]
    return _auc(y_true, y_score, "y_true", max_fpr=max_fpr)


def _partial_area(fpr, tpr, max_fpr):
    """Area under each row's ROC polyline for false-positive rates in [0, max_fpr]."""
    f0, f1, t0, t1 = fpr[:, :-1], fpr[:, 1:], tpr[:, :-1], tpr[:, 1:]
    x0, x1 = np.minimum(f0, max_fpr), np.minimum(f1, max_fpr)
    width = x1 - x0
    slope = np.divide(t1 - t0, f1 - f0, out=np.zeros_like(width), where=width > 0)
    return (width * (t0 + 0.5 * slope * (x1 - f0) + 0.5 * slope * (x0 - f0))).sum(axis=1)


def roc_auc_rows(scores, y, max_fpr=0.1):
    """ROC AUC and standardized partial AUC of every row of a score matrix at once.

    Parameters
    ----------
    scores : ndarray of shape (n_rows, n_clips)
        Anomaly scores, one scoring per row.
    y : ndarray of shape (n_clips,)
        1 for anomalous clips, 0 for normal ones (both present).
    max_fpr : float in (0, 1], default=0.1
        Upper false-positive rate of the partial AUC.

    Returns
    -------
    auc, pauc : ndarray of shape (n_rows,)
        ``roc_auc_score(y, row)`` and ``roc_auc_score(y, row, max_fpr=max_fpr)``
        (McClish-standardized) for every row, ties included.

    Raises
    ------
    ValueError
        If ``y`` does not hold both classes or its length differs from the rows'.

    Notes
    -----
    The same numbers as :func:`sklearn.metrics.roc_auc_score` row by row, at the
    cost of one sort per row: the weighted ensemble's weight search scores
    thousands of weightings of the same clips. Each row is sorted once; tied scores are one ROC vertex, reached by a straight
    segment, so the points inside a run of ties are moved onto that segment. The
    areas are the trapezoids of the polyline, clipped at ``max_fpr`` for the pAUC,
    which is ``0.5 * (1 + (A - max_fpr**2 / 2) / (max_fpr - max_fpr**2 / 2))``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.metrics import roc_auc_rows
    >>> auc, pauc = roc_auc_rows(np.array([[0.1, 0.4, 0.35, 0.8]]), np.array([0, 0, 1, 1]))
    >>> float(auc[0])
    0.75
    """
    y = _check_labels(y, name="y").astype(bool)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] != len(y) or y.all() or not y.any():
        raise ValueError(
            f"roc_auc_rows needs scores of shape (n_rows, {len(y)}) and y with both "
            f"classes; got scores of shape {scores.shape} and {int(y.sum())} "
            f"anomalous of {len(y)} clips.")
    n_rows, n = scores.shape
    order = np.argsort(-scores, axis=1, kind="stable")
    ranked = np.take_along_axis(scores, order, axis=1)
    positive = y[order]
    tpr = np.cumsum(positive, axis=1) / y.sum()
    fpr = np.cumsum(~positive, axis=1) / (~y).sum()
    idx = np.broadcast_to(np.arange(n), (n_rows, n))
    end = np.ones((n_rows, n), bool)
    end[:, :-1] = ranked[:, :-1] != ranked[:, 1:]
    start = np.ones((n_rows, n), bool)
    start[:, 1:] = end[:, :-1]
    first = np.maximum.accumulate(np.where(start, idx, 0), axis=1)
    last = np.minimum.accumulate(np.where(end, idx, n)[:, ::-1], axis=1)[:, ::-1]
    fpr = np.concatenate([np.zeros((n_rows, 1)), fpr], axis=1)
    tpr = np.concatenate([np.zeros((n_rows, 1)), tpr], axis=1)
    frac = (idx - first + 1) / (last - first + 1)
    f0, t0 = np.take_along_axis(fpr, first, 1), np.take_along_axis(tpr, first, 1)
    f1, t1 = np.take_along_axis(fpr, last + 1, 1), np.take_along_axis(tpr, last + 1, 1)
    fpr[:, 1:], tpr[:, 1:] = f0 + frac * (f1 - f0), t0 + frac * (t1 - t0)
    auc = _partial_area(fpr, tpr, 1.0)
    if max_fpr == 1:
        return auc, auc.copy()
    area = _partial_area(fpr, tpr, max_fpr)
    min_area, max_area = 0.5 * max_fpr ** 2, max_fpr
    return auc, 0.5 * (1 + (area - min_area) / (max_area - min_area))


def _section_scores(y_true, y_score, domain, max_fpr, notes=None):
    """The scores of one section; with a ``notes`` list, a score that its clips do
    not allow (one class only) is NaN and its reason is appended to ``notes``."""
    def auc(mask, group, max_fpr=None):
        try:
            return _auc(y_true[mask], y_score[mask], group, max_fpr=max_fpr)
        except ValueError as exc:
            if notes is None:
                raise
            notes.append(str(exc))
            return np.nan

    labelled = y_true != -1
    scores = {"AUC": auc(labelled, "all clips")}
    if domain is not None:
        for name in DOMAINS:
            scores[f"AUC ({name})"] = auc(
                labelled & ((domain == name) | (y_true == 1)),
                f"AUC ({name}): {name} normal clips pooled with all anomalous clips")
    scores["pAUC"] = auc(labelled, "pAUC: all clips", max_fpr=max_fpr)
    scores["n_normal"] = int(np.sum(y_true == 0))
    scores["n_anomalous"] = int(np.sum(y_true == 1))
    return scores


def section_scores(y_true, y_score, *, domain=None, max_fpr=0.1):
    """AUC and pAUC of one section (machine ID), with the DCASE domain rules.

    Parameters
    ----------
    y_true : array-like of shape (n_clips,)
        1 for anomalous clips, 0 for normal clips.
    y_score : array-like of shape (n_clips,)
        Anomaly scores, higher = more anomalous.
    domain : array-like of shape (n_clips,), default=None
        ``"source"`` or ``"target"`` per clip (DCASE 2021+). When given, the result
        also holds ``"AUC (source)"`` and ``"AUC (target)"``.
    max_fpr : float, default=0.1
        False-positive-rate limit of the pAUC.

    Returns
    -------
    scores : dict
        ``"AUC"`` (float, all clips), ``"AUC (source)"`` and ``"AUC (target)"``
        (floats, only with `domain`), ``"pAUC"`` (float, all clips),
        ``"n_normal"`` and ``"n_anomalous"`` (int), in that order.

    Raises
    ------
    ValueError
        If the lengths differ, `y_true` is not 0/1, `domain` holds another value,
        or a group has a single class (the message names the group).

    Notes
    -----
    As the DCASE 2023/2024 evaluator computes them: AUC(source) is the AUC of
    the source-domain normal clips pooled with *all* anomalous clips of the
    section (of both domains), AUC(target) likewise, and the pAUC uses every clip
    of the section, whatever its domain.

    References
    ----------
    DCASE 2023 Task 2 evaluator (``dcase2023_task2_evaluator``)

    Examples
    --------
    >>> from sklasd.metrics import section_scores
    >>> scores = section_scores(
    ...     [0, 0, 0, 0, 1, 1], [0.1, 0.5, 0.2, 0.8, 0.6, 0.9],
    ...     domain=["source", "source", "target", "target", "source", "target"])
    >>> scores["AUC (source)"], scores["AUC (target)"]
    (1.0, 0.75)
    """
    y_true = _check_labels(y_true)
    arrays = _check_same_length(y_true, y_score=y_score, domain=domain)
    if domain is not None:
        domain = _check_domain(arrays["domain"])
    return _section_scores(y_true, arrays["y_score"], domain, max_fpr)


def _mean_rows(sections, machine_type):
    """The arithmetic- and harmonic-mean rows of some section rows."""
    counted = [c for c in COUNT_COLUMNS if c in sections]
    scores = sections.drop(columns=counted + [c for c in ("note",) if c in sections])
    counts = sections[counted].sum()
    # sections whose clips allow no score (NaN) are left out of its means
    harmonic = [hmean(col.dropna()) if col.notna().any() else np.nan
                for _, col in scores.items()]
    rows = [
        pd.concat([scores.mean(), counts]),
        pd.concat([pd.Series(harmonic, index=scores.columns), counts]),
    ]
    index = pd.MultiIndex.from_product(
        [[machine_type], MEAN_ROWS], names=sections.index.names
    )
    frame = pd.DataFrame(rows, index=index).astype(sections[rows[0].index].dtypes.to_dict())
    if "note" in sections:
        frame["note"] = ""
    return frame


def anomaly_report(y_true, y_score, *, machine_type, machine_id, domain=None,
                   max_fpr=0.1):
    """Per-section AUC / pAUC report with per-type and overall means (DCASE layout).

    Parameters
    ----------
    y_true : array-like of shape (n_clips,)
        1 for anomalous clips, 0 for normal clips, -1 for unlabeled clips (counted
        only).
    y_score : array-like of shape (n_clips,)
        Anomaly scores, higher = more anomalous.
    machine_type : array-like of shape (n_clips,) or str
        Machine type per clip (``"fan"``, ``"ToyCar"``, ...); a str applies to all.
    machine_id : array-like of shape (n_clips,) or str
        Machine ID or section per clip (``"id_00"``, ``"section_00"``, ...).
    domain : array-like of shape (n_clips,), default=None
        ``"source"`` / ``"target"`` per clip (DCASE 2021+), which adds the columns
        ``"AUC (source)"`` and ``"AUC (target)"``.
    max_fpr : float, default=0.1
        False-positive-rate limit of the pAUC.

    Returns
    -------
    report : pandas.DataFrame
        Indexed by the MultiIndex (``machine_type``, ``machine_id``), sorted.
        Columns: ``"AUC"``, [``"AUC (source)"``, ``"AUC (target)"``,] ``"pAUC"``
        (float64), ``"n_normal"``, ``"n_anomalous"`` (int64), and
        ``"n_unlabeled"`` (int64) when some clips are unlabeled. Each machine type
        has one row per section followed by the rows ``"arithmetic mean"`` and
        ``"harmonic mean"`` over its sections; the last two rows, machine type
        ``"all"``, average over every section of every type. Count columns of a
        mean row hold the totals of the sections it averages. A section whose
        clips lack one of the classes a score needs (or all labels) gets NaN for
        that score, is left out of the means, and says why in a ``"note"``
        column (present only when some section has a note).

    Raises
    ------
    ValueError
        If the lengths differ, a label is not 0/1/-1, or a domain is not
        ``"source"``/``"target"``.

    Notes
    -----
    Each section row is :func:`section_scores` of its clips. The DCASE 2021+
    official score, the harmonic mean over machine types and sections of
    AUC(source), AUC(target) and pAUC, is :func:`official_score` of the report.

    References
    ----------
    DCASE 2023 Task 2 evaluator (``dcase2023_task2_evaluator``)

    Examples
    --------
    >>> from sklasd.metrics import anomaly_report
    >>> report = anomaly_report(
    ...     [0, 0, 1, 1, 0, 0, 1, 1], [0.1, 0.3, 0.2, 0.9, 0.2, 0.1, 0.7, 0.8],
    ...     machine_type="fan", machine_id=["id_00"] * 4 + ["id_02"] * 4)
    >>> print(report.to_string())  # doctest: +NORMALIZE_WHITESPACE
                                       AUC      pAUC  n_normal  n_anomalous
    machine_type machine_id
    fan          id_00            0.750000  0.736842         2            2
                 id_02            1.000000  1.000000         2            2
                 arithmetic mean  0.875000  0.868421         4            4
                 harmonic mean    0.857143  0.848485         4            4
    all          arithmetic mean  0.875000  0.868421         4            4
                 harmonic mean    0.857143  0.848485         4            4
    """
    y_true = _check_labels(y_true, allow_unlabeled=True)
    arrays = _check_same_length(
        y_true, y_score=y_score, machine_type=machine_type, machine_id=machine_id,
        domain=domain,
    )
    if domain is not None:
        domain = _check_domain(arrays["domain"])
    names = ["machine_type", "machine_id"]
    clips = pd.DataFrame({name: arrays[name] for name in names})
    rows = {}
    for key, idx in clips.groupby(names, sort=True).indices.items():
        notes = []
        rows[key] = _section_scores(
            y_true[idx], arrays["y_score"][idx],
            None if domain is None else domain[idx], max_fpr, notes=notes,
        )
        rows[key]["n_unlabeled"] = int(np.sum(y_true[idx] == -1))
        rows[key]["note"] = _report_note(notes, y_true[idx])
    sections = pd.DataFrame.from_dict(rows, orient="index")
    sections.index.names = names
    if not (y_true == -1).any():
        sections = sections.drop(columns="n_unlabeled")
    if not sections["note"].str.len().any():
        sections = sections.drop(columns="note")
    blocks = []
    for mtype, type_sections in sections.groupby(level="machine_type", sort=False):
        blocks += [type_sections, _mean_rows(type_sections, mtype)]
    blocks.append(_mean_rows(sections, OVERALL))
    return pd.concat(blocks)


def _report_note(notes, y_true):
    """Why a section row lacks scores, in one line ("" when it has them all)."""
    if not notes:
        return ""
    n_normal, n_anomalous = int(np.sum(y_true == 0)), int(np.sum(y_true == 1))
    if not n_normal and not n_anomalous:
        return "no labels: scores only, no AUC"
    if not n_normal or not n_anomalous:
        return (f"one class only ({n_normal} normal, {n_anomalous} anomalous clips): "
                "counts only, no AUC")
    return "; ".join(notes)


def official_score(report):
    """DCASE 2021+ official score: harmonic mean of every section's AUCs and pAUC.

    Parameters
    ----------
    report : pandas.DataFrame
        A report from :func:`anomaly_report`.

    Returns
    -------
    score : float
        The harmonic mean, over all machine types and sections, of AUC(source),
        AUC(target) and pAUC; for a report without domains, of AUC and pAUC.

    Raises
    ------
    ValueError
        If `report` does not have the layout of :func:`anomaly_report`.

    Notes
    -----
    The mean rows of the report are left out; each section counts once per score.
    Without domain columns (DCASE 2020 data) the same rule with AUC in place of
    AUC(source) and AUC(target) gives one comparable number.

    References
    ----------
    DCASE 2023 Task 2 evaluator (``dcase2023_task2_evaluator``)

    Examples
    --------
    >>> from sklasd.metrics import anomaly_report, official_score
    >>> report = anomaly_report(
    ...     [0, 0, 1, 1, 0, 0, 1, 1], [0.1, 0.3, 0.2, 0.9, 0.2, 0.1, 0.7, 0.8],
    ...     machine_type="fan", machine_id=["id_00"] * 4 + ["id_02"] * 4)
    >>> round(official_score(report), 4)
    0.8528
    """
    domain_columns = ["AUC (source)", "AUC (target)", "pAUC"]
    columns = domain_columns if "AUC (source)" in report else ["AUC", "pAUC"]
    names = list(getattr(report, "index", pd.Index([])).names)
    if names != ["machine_type", "machine_id"] or not set(columns) <= set(report):
        raise ValueError(
            "report must be a DataFrame from anomaly_report, indexed by "
            f"(machine_type, machine_id) with the columns {columns}."
        )
    is_section = ~report.index.get_level_values("machine_id").isin(MEAN_ROWS)
    return float(hmean(report.loc[is_section, columns].to_numpy().ravel()))


class _AnomalyScorer:
    """Scorer of a detector's anomaly scores that forwards its metadata.

    scikit-learn's scorers (``make_scorer``) call the response method without
    metadata; this one calls ``anomaly_score(X, **metadata)`` (or
    ``-score_samples(X)``) with the metadata the detector requests for
    ``decision_function``, which is what :class:`sklasd.pipeline.Pipeline` routes to
    ``anomaly_score`` too. It is built on public API only: any callable is a valid
    ``scoring``, and ``get_metadata_routing`` tells a search what to route to it.
    """

    def __init__(self, score_func, sign, kwargs):
        self._score_func = score_func
        self._sign = sign
        self._kwargs = kwargs
        # Requested by default, so `GridSearchCV(...).fit(X, y, machine_id=ids)`
        # reaches the detector without a `set_score_request` call.
        self._score_request = {name: True for name in DETECTOR_METADATA}

    def __call__(self, estimator, X, y_true, sample_weight=None, **kwargs):
        """Score ``estimator`` on ``X`` against ``y_true`` (1 = anomalous)."""
        reject_params_without_routing(kwargs, self, "__call__")
        if sample_weight is not None:
            kwargs["sample_weight"] = sample_weight
        metadata = requested_metadata(estimator, "anomaly_score", kwargs)
        score_kwargs = {
            name: value for name, value in kwargs.items()
            if name not in metadata and name not in DETECTOR_METADATA
        }
        y_score = anomaly_scores(estimator, X, **metadata)
        return self._sign * self._score_func(
            y_true, y_score, **{**self._kwargs, **score_kwargs}
        )

    def set_score_request(self, **kwargs):
        """Replace the metadata requested by the scorer (``param=alias``).

        Parameters
        ----------
        **kwargs : dict of str -> bool, None or str
            As scikit-learn's ``set_score_request``: True to request, False to
            refuse, None to error if given, a str to request under that alias.

        Returns
        -------
        self : object

        Raises
        ------
        RuntimeError
            If metadata routing is disabled.
        """
        if not routing_enabled():
            raise RuntimeError(
                "This method is only available when metadata routing is enabled."
                " You can enable it using"
                " sklearn.set_config(enable_metadata_routing=True)."
            )
        self._score_request = dict(kwargs)
        return self

    def get_metadata_routing(self):
        """The scorer's metadata requests (a ``MetadataRequest`` with ``score``)."""
        request = MetadataRequest(owner=self)
        for param, alias in self._score_request.items():
            request.score.add_request(param=param, alias=alias)
        return request

    def __repr__(self):
        kwargs = "".join(f", {k}={v!r}" for k, v in self._kwargs.items())
        sign = "" if self._sign > 0 else ", greater_is_better=False"
        return f"make_anomaly_scorer({self._score_func.__name__}{sign}{kwargs})"


def make_anomaly_scorer(score_func, *, greater_is_better=True, **kwargs):
    """Make a scorer that evaluates a detector's anomaly scores.

    Parameters
    ----------
    score_func : callable
        ``score_func(y_true, y_score, **kwargs) -> float`` with `y_true` 1 for
        anomalous clips and `y_score` higher = more anomalous, for example
        :func:`sklearn.metrics.roc_auc_score`.
    greater_is_better : bool, default=True
        Whether a higher `score_func` is better; when False the scorer returns
        the negated value, as :func:`sklearn.metrics.make_scorer` does.
    **kwargs
        Passed to `score_func` on each call.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y_true, **metadata) -> float``, usable as
        ``GridSearchCV(scoring=...)``, ``cross_validate(scoring=...)`` and in a
        dict of several scorers.

    Notes
    -----
    The scores are ``estimator.anomaly_score(X, **metadata)`` or, for an estimator
    without it such as
    :class:`sklearn.ensemble.IsolationForest`, ``-estimator.score_samples(X)``.
    Under metadata routing the scorer requests ``machine_id`` and ``domain`` and
    passes on those the estimator requests for ``decision_function``; metadata
    the estimator does not request is dropped. ``set_score_request`` replaces
    these default requests (list ``machine_id=True`` again if needed).
    Scorers cannot be registered under a name (scikit-learn has no public
    registry): pass the object.

    References
    ----------
    scikit-learn's scorer protocol; the DCASE Task 2 AUC and pAUC of :func:`partial_auc`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.ensemble import IsolationForest
    >>> from sklearn.metrics import roc_auc_score
    >>> from sklasd.metrics import make_anomaly_scorer
    >>> X = np.r_[np.zeros((20, 2)), np.full((4, 2), 8.0)]
    >>> X += np.random.RandomState(0).normal(size=X.shape)
    >>> y = np.r_[np.zeros(20), np.ones(4)]
    >>> scorer = make_anomaly_scorer(roc_auc_score)
    >>> scorer(IsolationForest(random_state=0).fit(X[:20]), X, y)
    0.95
    """
    sign = 1 if greater_is_better else -1
    return _AnomalyScorer(score_func, sign, kwargs)


auc_scorer = make_anomaly_scorer(roc_auc_score)
auc_scorer.__doc__ = "ROC AUC of a detector's anomaly scores, for ``scoring=``."
pauc_scorer = make_anomaly_scorer(roc_auc_score, max_fpr=0.1)
pauc_scorer.__doc__ = "pAUC (``max_fpr=0.1``) of a detector's anomaly scores."
