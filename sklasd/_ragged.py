"""Clips of unequal length: grouping by shape, per-group calls, equal training pieces.

A clip's features and score never depend on the other clips of a call, so clips of
unequal length travel through a pipeline as a list of per-clip arrays (a *ragged*
input) and each estimator processes every group of equal-shaped clips as one
ordinary stacked array.
"""

import functools

import numpy as np

__all__ = ["is_ragged", "shape_groups", "per_shape", "equal_pieces", "ragged_scores",
           "ragged_fit"]


def is_ragged(X):
    """True for a list, tuple or 1-D object array of arrays of unequal shapes."""
    if isinstance(X, np.ndarray):
        if X.dtype != object or X.ndim != 1:
            return False
    elif not isinstance(X, (list, tuple)):
        return False
    if len(X) < 2 or not all(hasattr(x, "shape") for x in X):
        return False
    return len({np.shape(x) for x in X}) > 1


def shape_groups(X):
    """``[(shape, positions), ...]`` of the clips of ``X``, in order of first appearance.

    Raises
    ------
    ValueError
        If the clips differ in rank or along more than one axis (only their length,
        the time axis, may differ).
    """
    shapes = [np.shape(x) for x in X]
    if len({len(s) for s in shapes}) > 1:
        raise ValueError(f"clips of unequal rank: shapes {sorted(set(shapes))[:4]}")
    varying = [ax for ax in range(len(shapes[0])) if len({s[ax] for s in shapes}) > 1]
    if len(varying) > 1:
        raise ValueError(
            f"clips may differ in length (one axis) only; got shapes "
            f"{sorted(set(shapes))[:4]}")
    groups = {}
    for i, s in enumerate(shapes):
        groups.setdefault(s, []).append(i)
    return [(s, np.asarray(pos)) for s, pos in groups.items()]


def per_shape(function, X, **metadata):
    """``function(stack, **metadata)`` on each group of equal-shaped clips, reassembled.

    Parameters
    ----------
    function : callable
        Takes a stacked array ``(n_group, ...)`` and per-clip metadata arrays and
        returns one result per clip (an array of shape ``(n_group, ...)`` or a list).
    X : list of ndarray
    **metadata : array-like of shape (n_clips,)

    Returns
    -------
    results : ndarray of shape (n_clips,) or list
        An array when ``function`` returns 1-D arrays (clip scores), else a list
        with one result per clip in the order of ``X``.
    """
    out = [None] * len(X)
    scalar = True
    for _, pos in shape_groups(X):
        stack = np.stack([np.asarray(X[i]) for i in pos])
        meta = {k: np.asarray(v)[pos] for k, v in metadata.items() if v is not None}
        result = function(stack, **meta)
        scalar &= isinstance(result, np.ndarray) and result.ndim == 1
        for k, i in enumerate(pos):
            out[i] = result[k]
    return np.asarray(out) if scalar else out


def equal_pieces(X):
    """Cut clips of unequal length into equal pieces of the shortest clip's length.

    Each clip is cut along its time axis (the one axis whose size differs) into
    consecutive pieces; its last piece ends at the clip's end (it may overlap the one
    before), so every frame is used and no padding is added.

    Returns
    -------
    pieces : ndarray of shape (n_pieces, ...)
    owner : ndarray of shape (n_pieces,), int
        Index of the clip each piece comes from.
    """
    shapes = [np.shape(x) for x in X]
    shape_groups(X)  # validates that one axis varies
    axis = next(ax for ax in range(len(shapes[0])) if len({s[ax] for s in shapes}) > 1)
    length = min(s[axis] for s in shapes)
    pieces, owner = [], []
    for i, x in enumerate(X):
        n = np.shape(x)[axis]
        starts = list(range(0, n - length + 1, length))
        if starts[-1] + length < n:
            starts.append(n - length)
        for s in starts:
            pieces.append(np.take(x, np.arange(s, s + length), axis=axis))
            owner.append(i)
    return np.stack(pieces), np.asarray(owner)


def ragged_scores(method):
    """Decorate ``method(self, X, **metadata)`` to score a ragged ``X`` group by group."""
    @functools.wraps(method)
    def wrapper(self, X, **metadata):
        if not is_ragged(X):
            return method(self, X, **metadata)
        return per_shape(functools.partial(method, self), X, **metadata)
    return wrapper


def ragged_fit(method):
    """Decorate a detector's ``fit(self, X, y=None, **metadata)`` for clips of unequal length.

    The detector is trained on :func:`equal_pieces` of the clips (the metadata of a
    clip goes with each of its pieces), then its threshold is refitted on the scores
    of the whole clips, each scored at its own length.
    """
    @functools.wraps(method)
    def wrapper(self, X, y=None, **metadata):
        if not is_ragged(X):
            return method(self, X, y, **metadata)
        pieces, owner = equal_pieces(X)
        method(self, pieces, y, **{k: np.asarray(v)[owner] for k, v in metadata.items()
                                   if v is not None})
        self._fit_threshold(self.anomaly_score(X, **metadata))
        return self
    return wrapper
