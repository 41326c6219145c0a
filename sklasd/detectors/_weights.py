"""Exhaustive search of ensemble weights on a grid over the simplex (Daniluk et al., DCASE 2020 Task 2, section 5)."""
import itertools

import numpy as np

from ..metrics import roc_auc_rows

# Weight vectors whose objectives tie with the best within this tolerance tie.
_TIE_TOL = 1e-12
# Entries of the (weights x clips) score matrix evaluated at once.
_CHUNK = 1 << 18


def simplex_grid(n_members, step=0.01):
    """Every weight vector of ``n_members`` non-negative multiples of ``step`` summing to 1.

    Parameters
    ----------
    n_members : int
        Length of each weight vector.
    step : float, default=0.01
        Grid step; ``1 / step`` must be an integer ``k``.

    Returns
    -------
    grid : ndarray of shape (comb(k + n_members - 1, n_members - 1), n_members)
        The weight vectors, in lexicographic order of their integer numerators
        (largest first weight first).

    Raises
    ------
    ValueError
        If ``1 / step`` is not an integer.

    Examples
    --------
    >>> from sklasd.detectors._weights import simplex_grid
    >>> simplex_grid(2, 0.5).tolist()
    [[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]]
    >>> len(simplex_grid(4, 0.01))
    176851
    """
    k = int(round(1 / step))
    if not np.isclose(k * step, 1.0, rtol=0, atol=1e-9):
        raise ValueError(f"1 / weight_step must be an integer; got weight_step={step}.")
    # stars and bars: m - 1 bar positions among k + m - 1 slots
    bars = np.array(list(itertools.combinations(range(k + n_members - 1), n_members - 1)),
                    dtype=np.int64).reshape(-1, n_members - 1)
    edges = np.column_stack([np.full(len(bars), -1), bars, np.full(len(bars), k + n_members - 1)])
    return (np.diff(edges, axis=1) - 1)[::-1] / k


def search_weights(grid, folds, max_fpr):
    """Best weights of ``grid`` for the mean over folds of (AUC + pAUC) / 2.

    Ties (within ``_TIE_TOL``) go to the most even weights (least sum of squares),
    then to the first in grid order.
    """
    objective = np.zeros(len(grid))
    for Z, y in folds:
        chunk = max(1, _CHUNK // len(y))
        for c0 in range(0, len(grid), chunk):
            auc, pauc = roc_auc_rows(grid[c0:c0 + chunk] @ Z.T, y, max_fpr)
            objective[c0:c0 + chunk] += (auc + pauc) / 2
    objective /= len(folds)
    best = np.flatnonzero(objective >= objective.max() - _TIE_TOL)
    best = best[np.argmin((grid[best] ** 2).sum(axis=1))]
    return grid[best], float(objective[best])
