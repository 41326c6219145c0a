"""Run-level models: one pipeline fitted on every machine type of a run.

A detector that declares ``learns_across_machine_types`` (the embedding detector,
whose classes are the machines: each type's other types are its outlier classes) is
fitted once, on the union of every machine type's training clips, each clip's
machine named by a composite ID ``"<machine_type>/<machine_id>"``. Each machine type
then keeps the pipeline of :func:`type_model`: the same fitted steps, the final one
restricted to that type's machines under their own IDs, which works wherever a
per-type model does (model files, ``sklasd score``, ``sklasd watch``, the report).
"""
import copy

import numpy as np

__all__ = ["learns_across_machine_types", "composite_ids", "type_model",
           "score_by_type", "SEPARATOR"]

#: Joins a machine type and a machine ID into the ID of a run-level model (machine
#: types are folder names, which cannot hold it).
SEPARATOR = "/"


def learns_across_machine_types(model):
    """Whether the final step of ``model`` learns across machine types."""
    return bool(getattr(model[-1], "learns_across_machine_types", False))


def composite_ids(frame):
    """``"<machine_type>/<machine_id>"`` of each row of a clip table."""
    return (frame["machine_type"].astype(str) + SEPARATOR
            + frame["machine_id"].astype(str)).to_numpy()


def type_model(model, machine_type):
    """The pipeline of ``machine_type`` of a fitted run-level pipeline ``model``.

    The steps before the final one are shared; the final step is the detector's
    ``select_machines`` copy that knows the type's machines by their plain IDs.
    """
    prefix = machine_type + SEPARATOR
    final = model[-1]
    ids = [m for m in final.machine_ids_.tolist() if str(m).startswith(prefix)]
    if not ids:
        raise ValueError(f"the run-level model has no training clip of {machine_type!r}")
    restricted = copy.copy(model)
    restricted.steps = [*model.steps[:-1], (model.steps[-1][0], final.select_machines(
        ids, [m[len(prefix):] for m in ids]))]
    return restricted


def score_by_type(score, model, X, machine_id):
    """``score(type_model(model, t), X_t, plain IDs)`` for each machine type ``t`` of
    the composite ``machine_id``, put back in the order of ``X``: every clip is
    scored, and decided on, as its machine type's model scores it."""
    machine_id = np.asarray(machine_id, dtype=str)
    types, _, plain = np.char.partition(machine_id, SEPARATOR).T
    scores, decisions = np.empty(len(X)), np.empty(len(X), dtype=int)
    for machine_type in np.unique(types):
        rows = np.flatnonzero(types == machine_type)
        scores[rows], decisions[rows] = score(type_model(model, str(machine_type)),
                                              X[rows], plain[rows])
    return scores, decisions
