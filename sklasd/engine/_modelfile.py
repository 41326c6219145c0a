"""Model files of the ``sklasd`` command: fitted pipelines per machine type (private).

A model file is a short header and a joblib pickle::

    sklasd model file\\n
    {"format": 1, "sklasd": "0.1.0", "machine_types": [...], "payload_bytes": N,
     "sha256": "..."}\\n
    <joblib pickle of {machine_type: fitted Pipeline}>

The header is checked before anything is unpickled, so a missing, empty, truncated
or damaged file, or one that sklasd did not write (any other pickle or joblib file),
is refused with one line and never unpickled.

.. warning::
   The payload is a pickle. **Loading a model file runs code**: a file written by
   someone else can do anything your account can. Load only model files you made or
   trust, as the scikit-learn (*Model persistence*) and PyTorch (``torch.load``)
   documentation advise. The header stops foreign pickles, not a file crafted to
   look like a sklasd model. skops, which loads without running code, cannot save a
   pipeline holding torch modules (see ``benchmarks/bench_modelfile.py``).
"""

import hashlib
import io
import json

from sklasd._log import quoted

__all__ = ["ModelFileError", "save_models", "load_models"]

MAGIC = b"sklasd model file\n"
FORMAT = 1


class ModelFileError(ValueError):
    """A model file that cannot be written or read (one line, exit status 2)."""


def _content_problem(models):
    """What keeps ``models`` from being sklasd pipelines by machine type, or None."""
    from sklasd.pipeline import Pipeline

    if not isinstance(models, dict) or not models:
        return f"{type(models).__name__} {_size(models)}, not pipelines by machine type"
    for machine_type, model in models.items():
        if not isinstance(machine_type, str) or not isinstance(model, Pipeline):
            return (f"machine type {machine_type!r}: expected a sklasd Pipeline, got "
                    f"{type(model).__name__}")
    return None


def _size(obj):
    return f"of {len(obj)} item(s)" if hasattr(obj, "__len__") else "object"


def _check_fitted_models(models):
    from sklearn.utils.validation import check_is_fitted

    if isinstance(models, dict) and not models:
        raise ModelFileError("no model to save: no machine type had a usable normal "
                             "training clip")
    problem = _content_problem(models)
    if problem is not None:
        raise ModelFileError(problem)
    for model in models.values():
        check_is_fitted(model[-1])


def save_models(models, path):
    """Write fitted pipelines to a sklasd model file.

    Parameters
    ----------
    models : dict of str -> sklasd.pipeline.Pipeline
        Fitted pipelines by machine type; at least one.
    path : str or os.PathLike
        The file to write (replaced if it exists: the command writes a staging file
        and renames it).

    Raises
    ------
    ModelFileError
        If ``models`` is empty or holds something other than a sklasd Pipeline.
    sklearn.exceptions.NotFittedError
        If a pipeline is not fitted.

    Notes
    -----
    The payload is a joblib pickle: loading the file runs code, so share model files
    only with people who trust you, and load only files you trust.
    """
    import joblib

    from sklasd import __version__

    _check_fitted_models(models)
    buffer = io.BytesIO()
    joblib.dump(models, buffer)
    payload = buffer.getvalue()
    header = {"format": FORMAT, "sklasd": __version__, "machine_types": sorted(models),
              "payload_bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    with open(path, "wb") as f:
        f.write(MAGIC + json.dumps(header).encode() + b"\n" + payload)


def _read(path):
    """``(magic line, header line, payload)`` of a model file, each read once."""
    try:
        with open(path, "rb") as f:
            return f.readline(), f.readline(), f.read()
    except FileNotFoundError:
        raise ModelFileError(f"model file {quoted(path)} not found") from None
    except IsADirectoryError:
        raise ModelFileError(f"model file {quoted(path)} is a folder") from None
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ModelFileError(f"model file {quoted(path)} cannot be read: {reason}") from None


def _payload(path, magic, line, payload):
    """The checked pickle bytes of a model file, or a ModelFileError saying why not."""
    name = f"model file {quoted(path)}"
    if not magic:
        raise ModelFileError(f"{name} is empty")
    if magic != MAGIC:
        raise ModelFileError(f"{name} is not a sklasd model file (made by `sklasd fit` "
                             "or `sklasd run`); it was not loaded")
    try:
        header = json.loads(line)
        size, digest, version = header["payload_bytes"], header["sha256"], header["format"]
    except (ValueError, KeyError, TypeError):
        raise ModelFileError(f"{name} is damaged (unreadable header)") from None
    if version != FORMAT:
        raise ModelFileError(f"{name} has format {version!r}; this sklasd reads format "
                             f"{FORMAT} (refit the model with this version)")
    if len(payload) < size:
        raise ModelFileError(f"{name} is truncated: {len(payload)} of {size} bytes of "
                             "model data")
    if len(payload) > size:
        raise ModelFileError(f"{name} has {len(payload) - size} unexpected byte(s) after "
                             "its model data (something was appended to it)")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise ModelFileError(f"{name} is damaged (checksum mismatch)")
    return payload


def _silence(models):
    """No progress bars or logs when the saved pipelines are used for scoring."""
    for model in models.values():
        for _, step in model.steps:
            if "verbose" in step.get_params(deep=False):
                step.set_params(verbose=0)


def load_models(path):
    """Read a sklasd model file written by :func:`save_models`.

    Parameters
    ----------
    path : str or os.PathLike
        The model file.

    Returns
    -------
    models : dict of str -> sklasd.pipeline.Pipeline
        Fitted pipelines by machine type, with ``verbose=0`` on every step.

    Raises
    ------
    ModelFileError
        If the file is missing, unreadable, empty, truncated, damaged, not a sklasd
        model file, or holds something other than fitted sklasd pipelines. The header
        and checksum are checked before anything is unpickled.

    Warnings
    --------
    Loading a model file runs code (the payload is a pickle). Load only files you made
    or trust.
    """
    import joblib

    from sklearn.exceptions import NotFittedError

    payload = _payload(path, *_read(path))
    name = f"model file {quoted(path)}"
    try:
        models = joblib.load(io.BytesIO(payload))
    except Exception as exc:  # an unpickling error names internals: one line instead
        raise ModelFileError(f"{name} cannot be loaded: {type(exc).__name__}: "
                             f"{exc}") from exc
    try:
        _check_fitted_models(models)
    except (ModelFileError, NotFittedError) as exc:
        problem = _content_problem(models) or "an unfitted pipeline"
        raise ModelFileError(f"{name} has a valid sklasd header but holds {problem}: "
                             "it was altered or forged, not written by sklasd") from exc
    _silence(models)
    return models
