"""Tests of the ensemble weight search (sklasd/detectors/_weights.py)."""
import numpy as np
import pytest

from sklasd.detectors._weights import search_weights, simplex_grid


def test_simplex_grid():
    grid = simplex_grid(3, 0.1)
    assert len(grid) == 66 and np.allclose(grid.sum(axis=1), 1) and grid.min() >= 0
    assert len({tuple(np.round(w * 10).astype(int)) for w in grid}) == 66
    assert len(simplex_grid(4, 0.01)) == 176851
    with pytest.raises(ValueError, match="integer"):
        simplex_grid(3, 0.3)


def test_search_weights_prefers_the_best_then_the_most_even():
    y = np.array([0, 0, 0, 1, 1, 1])
    good = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    Z = np.column_stack([good, good[::-1]])  # member 1 ranks the clips backwards
    weights, value = search_weights(simplex_grid(2, 0.5), [(Z, y)], 0.1)
    np.testing.assert_array_equal(weights, [1.0, 0.0])
    assert value == pytest.approx(1.0)
    Z = np.column_stack([good, good])  # equal members: every weighting ties
    weights, _ = search_weights(simplex_grid(2, 0.5), [(Z, y)], 0.1)
    np.testing.assert_array_equal(weights, [0.5, 0.5])
