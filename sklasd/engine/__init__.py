"""The run engine: :func:`run`, its :class:`RunResult`, and the run folder.

:func:`run` fits, scores and evaluates one model per machine type of a data set and
returns a :class:`RunResult`; :meth:`RunResult.save` writes the run folder that the
``sklasd run`` command writes, :func:`load_run` reads one back and
:func:`rebuild_report` writes its report again. :func:`fit_models` and
:func:`score_models` are ``sklasd fit`` and ``sklasd score``. Every file name of a
run folder is defined once, in this subpackage.

Model files hold pickles: **loading one runs code**, so load only model files and
run folders you made or trust.
"""

from sklasd.utils._lazy import lazy_attributes

# public name -> module that defines it, imported when first used (PEP 562), so that
# the command's --help and --version, and model files, do not import the whole engine
_MODULES = {
    "run": "._run", "RunResult": "._run", "RunSettings": "._run",
    "load_run": "._read", "rebuild_report": "._read",
    "fit_models": "._models", "score_models": "._models", "ScoreResult": "._models",
    "select_model": "._models",
    "load_models": "._modelfile", "save_models": "._modelfile",
    "ModelFileError": "._modelfile", "MAGIC": "._modelfile",
    "OutputError": "sklasd._outputs",
    "result_suffix": "._folder",
}

__all__ = list(_MODULES)


__getattr__, __dir__ = lazy_attributes(__name__, _MODULES)
