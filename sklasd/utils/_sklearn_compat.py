"""The only module of sklasd that imports private scikit-learn names.

Each name below has no public equivalent in scikit-learn 1.6-1.9; importing it in
one place means a scikit-learn release that moves it breaks (and is fixed) here
only. Everything else in sklasd imports public scikit-learn API.
"""
# Constraint objects of `_parameter_constraints`: `BaseEstimator._validate_params`
# (public) accepts only these for numeric ranges and string choices, and
# scikit-learn exposes no public constructor for them.
from sklearn.utils._param_validation import Interval, StrOptions

# Listed in scikit-learn's public API reference despite the underscore (see the
# comment in `sklearn/utils/__init__.py`): row selection of arrays, lists and
# DataFrames alike (the ensemble's folds of paths, audio or features).
from sklearn.utils import _safe_indexing

# The number of clips of any array-like (list of paths, ndarray, DataFrame), with
# scikit-learn's own error for a scalar; no public function returns it.
from sklearn.utils.validation import _num_samples

# Slices every per-clip metadata array to a fold's indices, leaving scalars alone,
# as scikit-learn's own cross-validation does; no public equivalent.
from sklearn.utils.validation import _check_method_params

# get_params / set_params / name validation of a list of (name, estimator) steps,
# the base of Pipeline and VotingClassifier; no public equivalent.
from sklearn.utils.metaestimators import _BaseComposition

__all__ = [
    "Interval",
    "StrOptions",
    "_safe_indexing",
    "_num_samples",
    "_check_method_params",
    "_BaseComposition",
]
