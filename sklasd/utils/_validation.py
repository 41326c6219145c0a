"""Input checks shared by several sklasd modules."""
import numpy as np
from sklearn.utils.validation import column_or_1d, validate_data


def first_bad(values, bad):
    """``"[i] = value"`` text of the first bad entry, numpy scalars as Python."""
    value = values[bad[0]]
    if isinstance(value, np.generic):
        value = value.item()
    return f"[{bad[0]}] = {value!r}"


def check_labels(y, name="y_true", allow_unlabeled=False):
    """Return `y` as a 1-D int array of 0 (normal) / 1 (anomalous) [/ -1 (unlabeled)]."""
    y = column_or_1d(y)
    allowed = (0, 1, -1) if allow_unlabeled else (0, 1)
    bad = np.flatnonzero(~np.isin(y, allowed))
    if bad.size:
        unlabeled = " or -1 (unlabeled)" if allow_unlabeled else ""
        raise ValueError(
            f"{name} must be 1 (anomalous) or 0 (normal){unlabeled}; got {name}"
            f"{first_bad(y, bad)}."
        )
    return y.astype(int)


def check_spectrograms(estimator, X, reset):
    """Validate ``X`` as float32 spectrograms ``(n_clips, n_mels, n_frames)``.

    scikit-learn's ``validate_data`` does the generic checks (sparse, complex,
    empty, ``n_features_in_``, which is ``n_mels`` for 3-D input); a 2-D
    ``(n_clips, n_features)`` input becomes ``(n_clips, 1, n_features)``.
    """
    name = type(estimator).__name__
    X = np.asarray(X) if isinstance(X, list) else X
    if getattr(X, "ndim", 3) > 3:
        raise ValueError(
            f"{name} expects spectrograms of shape (n_clips, n_mels, n_frames), "
            f"got shape {X.shape}"
        )
    X = validate_data(
        estimator, X, reset=reset, allow_nd=True, dtype=np.float32,
        ensure_all_finite=False, ensure_min_features=1,
    )
    finite = np.isfinite(X).reshape(len(X), -1).all(axis=1)
    if not finite.all():
        bad = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{name}: sample {bad} holds NaN or inf")
    return X[:, np.newaxis, :] if X.ndim == 2 else X
