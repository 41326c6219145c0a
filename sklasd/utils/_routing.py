"""How metadata reaches ``anomaly_score``, and how any detector's anomaly scores are read.

scikit-learn's metadata routing knows a fixed set of method names, and
``anomaly_score`` is not one of them (``set_anomaly_score_request`` cannot exist).
sklasd therefore routes to ``anomaly_score`` exactly the metadata an estimator
requests for ``decision_function``: the pipeline, the scorers, the weighted
ensemble and the command line all apply that rule through this module. A detector
without ``anomaly_score`` (``IsolationForest``, ``LocalOutlierFactor``) is read
through its ``score_samples``, negated so that higher is more anomalous.
"""
import numpy as np
import sklearn
from sklearn.utils.metadata_routing import get_routing_for_object

# The routed method whose requests stand for those of `anomaly_score`.
ANOMALY_SCORE_REQUEST = "decision_function"


def routing_enabled():
    """Whether scikit-learn's metadata routing is enabled."""
    return bool(sklearn.get_config()["enable_metadata_routing"])


def reject_params_without_routing(params, owner, method):
    """Raise scikit-learn's error for metadata passed while routing is disabled."""
    if params and not routing_enabled():
        raise ValueError(
            f"Passing extra keyword arguments to {type(owner).__name__}.{method} is "
            "only supported if enable_metadata_routing=True, which you can set using "
            "`sklearn.set_config`. See the User Guide "
            "<https://scikit-learn.org/stable/metadata_routing.html> for more "
            f"details. Extra parameters passed are: {set(params)}"
        )


def request_name(method):
    """The routed method whose requests ``method`` follows (``anomaly_score``'s is
    ``decision_function``'s)."""
    return ANOMALY_SCORE_REQUEST if method == "anomaly_score" else method


def requested_metadata(estimator, method, metadata, request=None):
    """The entries of ``metadata`` that ``estimator`` requests for ``method``.

    ``request`` is ``get_routing_for_object(estimator)`` where the caller has it.
    """
    if not metadata:
        return {}
    if request is None:
        request = get_routing_for_object(estimator)
    consumed = request.consumes(request_name(method), metadata)
    return {name: value for name, value in metadata.items() if name in consumed}


def anomaly_scores(estimator, X, **metadata):
    """``estimator.anomaly_score(X)``, else ``-estimator.score_samples(X)``, as float64.

    Raises
    ------
    AttributeError
        If the estimator has neither method.
    """
    if hasattr(estimator, "anomaly_score"):
        return np.asarray(estimator.anomaly_score(X, **metadata), dtype=np.float64)
    if hasattr(estimator, "score_samples"):
        return -np.asarray(estimator.score_samples(X, **metadata), dtype=np.float64)
    raise AttributeError(
        f"{type(estimator).__name__} has none of the following attributes: "
        "anomaly_score, score_samples."
    )


def call_with_metadata(model, method, X, **metadata):
    """``model.<method>(X)``, passing each entry of ``metadata`` that the model requests.

    ``fit`` passes what the model requests for ``fit`` (``machine_id``, ``domain``,
    ``attributes``: e.g. ``KNeighborsDetector`` fits one model per domain,
    ``AuxiliaryClassifierDetector`` learns classes from IDs and attributes);
    ``anomaly_score``, ``predict`` and ``anomaly_map`` pass what ``anomaly_score``
    takes (``machine_id`` for ``IDConditionedAE``). Entries given as None are not
    passed.

    Parameters
    ----------
    model : estimator or Pipeline
    method : str
        ``"fit"``, ``"anomaly_score"``, ``"predict"`` or ``"anomaly_map"``.
    X : array-like or list
        The clips (or their features).
    **metadata : array-like of shape (n_clips,), DataFrame or None
        Per-clip metadata by name (``attributes``: one row per clip).

    Returns
    -------
    result : object
        What the method returns.

    Raises
    ------
    ValueError
        If the model requests ``machine_id`` and none is given, unless it is
        scoring and was fitted on one machine (its clips then get that ID): a
        one-line error telling to give ``--machine-id``.
    """
    with sklearn.config_context(enable_metadata_routing=True):
        request = "fit" if method == "fit" else "anomaly_score"
        wanted = requested_metadata(model, request, dict.fromkeys(metadata, True))
        if "machine_id" in wanted and metadata["machine_id"] is None:
            metadata = {**metadata, "machine_id": _only_machine(model, method, len(X))}
        given = {name: metadata[name] for name in wanted if metadata[name] is not None}
        if "machine_id" in given:
            given["machine_id"] = np.asarray(given["machine_id"])
        return getattr(model, method)(X, **given)


def _only_machine(model, method, n_clips):
    """The machine ID of every clip for a model fitted on one machine ID, which
    needs no ``--machine-id`` to score; else the one-line error asking for it."""
    final = model[-1] if hasattr(model, "steps") else model
    known = getattr(final, "machine_ids_", None)
    if method != "fit" and known is not None and len(known) == 1 and known[0] is not None:
        return np.full(n_clips, known[0], dtype=object)
    listed = "" if known is None else f" (it knows {', '.join(map(str, known))})"
    raise ValueError(f"this model needs the machine ID of the clips{listed}: "
                     "give --machine-id")
