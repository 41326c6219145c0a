from sklasd._skorch import batch_bounds


def test_batch_bounds_never_leave_a_batch_of_one():
    assert batch_bounds(5, 2) == [(0, 2), (2, 5)]
    assert batch_bounds(6, 2) == [(0, 2), (2, 4), (4, 6)]
    assert batch_bounds(1, 4) == [(0, 1)]
