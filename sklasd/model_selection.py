"""Cross-validation for anomaly detectors: train on normal clips only.

A detector is fitted on normal clips and evaluated on normal
and anomalous clips, so its folds are not complements of each other: the
anomalous clips never enter a training fold.
"""

import numbers

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_consistent_length, column_or_1d

from .utils._validation import check_labels

__all__ = ["NormalOnlyKFold", "normal_train_test_split"]


def _group_members(idx, groups):
    """The indices `idx` split by their group, in sorted group order."""
    labels, inverse = np.unique(groups[idx], return_inverse=True)
    return [idx[inverse == k] for k in range(len(labels))]


def _fold_sizes(n, n_splits, offset):
    """Sizes of `n` items in `n_splits` folds; the remainder starts at `offset`.

    Rotating the start of the remainder from group to group keeps the folds of a
    stratified split within one clip of each other.
    """
    sizes = np.full(n_splits, n // n_splits)
    sizes[(offset + np.arange(n % n_splits)) % n_splits] += 1
    return sizes


def _stratified_folds(idx, groups, n_splits, rng):
    """Assign the indices `idx` to `n_splits` folds, every group spread evenly.

    A group with fewer than `n_splits` members is put whole in every fold.
    """
    folds = [[] for _ in range(n_splits)]
    offset = 0
    for members in _group_members(idx, groups):
        if rng is not None:
            members = rng.permutation(members)
        if len(members) < n_splits:
            parts = [members] * n_splits
        else:
            sizes = _fold_sizes(len(members), n_splits, offset)
            offset += len(members) % n_splits
            parts = np.split(members, np.cumsum(sizes)[:-1])
        for fold, part in zip(folds, parts):
            fold.append(part)
    return [np.concatenate(fold) if fold else np.array([], int) for fold in folds]


def _check_groups(groups, n_samples):
    if groups is None:
        return np.full(n_samples, "all clips", dtype=object)
    return column_or_1d(groups)


def _check_normal_counts(y, groups, minimum, reason):
    """Raise if a group has fewer than `minimum` normal clips."""
    labels, inverse = np.unique(groups, return_inverse=True)
    counts = np.bincount(inverse, weights=y == 0, minlength=len(labels))
    for label, count in zip(labels.tolist(), counts.astype(int)):
        if count < minimum:
            raise ValueError(f"group {label!r} has {count} normal clips; {reason}")


class NormalOnlyKFold(BaseCrossValidator):
    """K-fold splitter whose training folds hold normal clips only.

    The normal clips are split into `n_splits` folds; test fold ``i`` is normal
    fold ``i`` plus anomalous fold ``i``, and training fold ``i`` is every normal
    clip outside normal fold ``i``. Anomalous clips are never trained on.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    shuffle : bool, default=False
        Whether to shuffle each group's clips before splitting them into folds
        (otherwise folds are consecutive clips, as in ``KFold``).
    random_state : int, RandomState instance or None, default=None
        Seed of the shuffling; only with ``shuffle=True``.

    Raises
    ------
    ValueError
        If `n_splits` is not an integer of at least 2, or `random_state` is set
        while `shuffle` is False.

    See Also
    --------
    normal_train_test_split : one normal-only train/test split.

    Notes
    -----
    With `groups` (the ``machine_id`` of each clip), the
    normal clips of every group are split into `n_splits` near-equal folds
    separately, so every group is in every training and every test fold; a group
    with fewer than `n_splits` normal clips is an error. The anomalous clips of
    each group are split the same way when the group has at least `n_splits` of
    them; otherwise every test fold gets all of that group's anomalous clips
    (so that every test fold can be scored). Without `groups` all clips form one
    group. The normal test folds differ in size by at most one clip.

    ``GridSearchCV(refit=True)`` refits the best estimator on all of ``X``,
    anomalous clips included: pass ``refit=False`` and fit the best parameters on
    the normal clips, or fit the search on ``X[y == 0]`` with another splitter.

    References
    ----------
    The DCASE Task 2 setting: detectors train on normal clips only.

    Examples
    --------
    >>> from sklasd.model_selection import NormalOnlyKFold
    >>> y = [0, 0, 0, 0, 0, 0, 1, 1]
    >>> for train, test in NormalOnlyKFold(n_splits=2).split(None, y):
    ...     print(train, test)
    [3 4 5] [0 1 2 6]
    [0 1 2] [3 4 5 7]
    """

    # groups is optional and used when given: request it by default.
    __metadata_request__split = {"groups": True}

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        if not isinstance(n_splits, numbers.Integral) or n_splits < 2:
            raise ValueError(
                f"n_splits must be an integer of at least 2; got {n_splits!r}."
            )
        if not isinstance(shuffle, bool):
            raise TypeError(f"shuffle must be True or False; got {shuffle!r}.")
        if not shuffle and random_state is not None:
            raise ValueError(
                "Setting a random_state has no effect since shuffle is False; "
                "leave random_state to None or set shuffle=True."
            )
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Generate the indices of normal-only training folds and mixed test folds.

        Parameters
        ----------
        X : array-like of shape (n_clips, ...) or None
            The clips; only their number is used (None: taken from `y`).
        y : array-like of shape (n_clips,)
            1 for anomalous clips, 0 for normal clips. Required.
        groups : array-like of shape (n_clips,), default=None
            Machine ID of each clip; folds are stratified by it.

        Yields
        ------
        train : ndarray of shape (n_train,), int
            Sorted indices of the training clips, all normal.
        test : ndarray of shape (n_test,), int
            Sorted indices of the test clips, normal and anomalous.

        Raises
        ------
        ValueError
            If `y` is missing or not 0/1, the lengths differ, or a group has fewer
            than `n_splits` normal clips (the message names it).
        """
        if y is None:
            raise ValueError(
                "NormalOnlyKFold.split needs y (1 = anomalous, 0 = normal) to keep "
                "anomalous clips out of the training folds."
            )
        y = check_labels(y, name="y")
        check_consistent_length(X, y, groups)
        groups = _check_groups(groups, len(y))
        _check_normal_counts(
            y, groups, self.n_splits,
            f"at least n_splits={self.n_splits} are needed so that it is in every "
            "training fold.",
        )
        rng = check_random_state(self.random_state) if self.shuffle else None
        normal = np.flatnonzero(y == 0)
        normal_folds = _stratified_folds(normal, groups, self.n_splits, rng)
        anomaly_folds = _stratified_folds(
            np.flatnonzero(y == 1), groups, self.n_splits, rng
        )
        for normal_test, anomaly_test in zip(normal_folds, anomaly_folds):
            train = np.setdiff1d(normal, normal_test)
            yield train, np.sort(np.concatenate([normal_test, anomaly_test]))

    def get_n_splits(self, X=None, y=None, groups=None):
        """Return the number of splits, `n_splits`.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for API compatibility.

        Returns
        -------
        n_splits : int
            The number of splitting iterations.
        """
        return self.n_splits


def normal_train_test_split(y, *, groups=None, train_size=0.5, random_state=None):
    """Split clips into normal-only training clips and held-out test clips.

    Parameters
    ----------
    y : array-like of shape (n_clips,)
        1 for anomalous clips, 0 for normal clips.
    groups : array-like of shape (n_clips,), default=None
        Machine ID of each clip; the share is taken in every group.
    train_size : float, default=0.5
        Share of each group's normal clips used for training, in (0, 1).
    random_state : int, RandomState instance or None, default=None
        Seed of the draw of training clips.

    Returns
    -------
    train_idx : ndarray of shape (n_train,), int
        Sorted indices of the training clips, all normal.
    test_idx : ndarray of shape (n_test,), int
        Sorted indices of the other clips: the remaining normal clips and all
        anomalous clips.

    Raises
    ------
    ValueError
        If `y` is not 0/1, the lengths differ, `train_size` is not in (0, 1), or
        a group has no normal clip (the message names it).

    Notes
    -----
    Each group with ``m`` normal clips trains on ``max(1, floor(train_size * m))``
    of them drawn at random; with ``m >= 2`` at least one normal clip is left for
    testing. This is how the ``sklasd`` command gets training clips for a machine
    ID that has none (``--train-fraction``).

    References
    ----------
    The DCASE Task 2 setting: detectors train on normal clips only.

    Examples
    --------
    >>> from sklasd.model_selection import normal_train_test_split
    >>> y = [0, 0, 0, 0, 1, 0, 0, 1]
    >>> groups = ["id_00"] * 4 + ["id_02"] * 4
    >>> train, test = normal_train_test_split(y, groups=groups, random_state=0)
    >>> train, test
    (array([2, 3, 5]), array([0, 1, 4, 6, 7]))
    """
    if not isinstance(train_size, numbers.Real) or not 0 < train_size < 1:
        raise ValueError(f"train_size must be a float in (0, 1); got {train_size!r}.")
    y = check_labels(y, name="y")
    check_consistent_length(y, groups)
    groups = _check_groups(groups, len(y))
    _check_normal_counts(y, groups, 1, "at least one is needed for training.")
    rng = check_random_state(random_state)
    train = [
        rng.permutation(members)[: max(1, int(train_size * len(members)))]
        for members in _group_members(np.flatnonzero(y == 0), groups)
    ]
    train = np.sort(np.concatenate(train)) if train else np.array([], dtype=int)
    return train, np.setdiff1d(np.arange(len(y)), train)
