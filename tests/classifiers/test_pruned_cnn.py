"""Tests of PrunedCNNClassifier (sklasd/classifiers/pruned_cnn.py)."""
import numpy as np
import pytest
import torch
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklasd.classifiers import OOI2020_FEATURES, PrunedCNNClassifier
from sklasd.classifiers.pruning import PolynomialDecayPruning

TINY_SCHEDULE = PolynomialDecayPruning(final_sparsity=0.5, begin_epoch=1, frequency=1,
                                       n_prunings=2)
# enough capacity and epochs to pass check_classifiers_train (accuracy > 0.83)
SMALL = dict(blocks=(1, 0, 0, 0), filters=8, pruning=TINY_SCHEDULE, max_epochs=10,
             lr=3e-2, batch_size=32, random_state=0)

EXPECTED_FAILED = {}  # every check passes


@parametrize_with_checks(
    [PrunedCNNClassifier(**SMALL), PrunedCNNClassifier("inception", (1, 0, 0), **{
        k: v for k, v in SMALL.items() if k != "blocks"})],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    check(estimator)
