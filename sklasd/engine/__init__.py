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

from ._modelfile import ModelFileError, load_models, save_models
from sklasd._outputs import OutputError

from ._folder import result_suffix
from ._models import ScoreResult, fit_models, score_models
from ._read import load_run, rebuild_report
from ._run import RunResult, RunSettings, run

__all__ = ["run", "RunResult", "RunSettings", "load_run", "rebuild_report",
           "fit_models", "score_models", "ScoreResult", "load_models", "save_models",
           "ModelFileError", "OutputError", "result_suffix"]
