"""A finished run folder read back: :func:`load_run` and :func:`rebuild_report`."""

import os
from pathlib import Path

from . import _folder
from ._run import _IN_MEMORY, RunResult, RunSettings

__all__ = ["load_run", "rebuild_report"]

_GENERATED = "built-in generated machine sounds"


def _checked_inputs(run_dir):
    data = _folder.read_report_data(run_dir)
    inputs = _folder.run_inputs(run_dir, data)
    missing = [str(p) for p in inputs if not p.is_file()]
    if missing:
        raise ValueError(f"cannot read the run folder: {missing[0]} is missing")
    return data, inputs


def _generated_audio(data):
    """The clips of a run folder written by sklasd 0.1 on its built-in generated
    data (``data_dir`` null), generated again; later runs read them from files."""
    if data["data_dir"] is not None or data.get("in_memory"):
        return None
    from sklasd.datasets import make_machine_sounds

    bunch = make_machine_sounds(random_state=data["seed"])
    return dict(zip(bunch.frame["filename"], bunch.data))


def load_run(run_dir):
    """Read a run folder written by ``sklasd run`` or :meth:`RunResult.save`.

    Parameters
    ----------
    run_dir : str or path-like
        The run folder.

    Returns
    -------
    result : RunResult
        ``results`` and ``metrics`` as written, the fitted ``models`` (loading a
        model file runs code: read only run folders you made or trust), the
        ``training`` notes from the metrics table and the ``skipped`` files. The
        ``notes`` logged during the run are not kept in the folder.

    Raises
    ------
    ValueError
        If ``run_dir`` was not written by a run or a file of it is missing or
        damaged.
    """
    from ._modelfile import load_models

    data, inputs = _checked_inputs(run_dir)
    results = _folder.read_results(inputs[0])
    metrics = _folder.read_metrics(inputs[1])
    models = {}
    for path in inputs[2:]:
        models.update(load_models(path))
    skipped_file = Path(run_dir) / _folder.SKIPPED
    skipped = []
    if skipped_file.is_file():
        import pandas as pd

        table = pd.read_csv(skipped_file, dtype=str, keep_default_na=False)
        skipped = list(table.itertuples(index=False, name=None))
    training = {key: text for key, text in metrics.get("training", {}).items()
                if isinstance(text, str) and text}
    settings = RunSettings(model=data["model"], random_state=data["seed"])
    return RunResult(results=results, metrics=metrics, models=models, training=training,
                     skipped=skipped, settings=settings, data_dir=data["data_dir"],
                     audio=_generated_audio(data))


def rebuild_report(run_dir, *, output=None, overwrite=None, **kwargs):
    """Write the report of a finished run folder again (``sklasd report``).

    Reads ``results.csv``, ``metrics.csv``, ``report_data.json`` and the
    ``model_<type>.joblib`` files (loading a model file runs code: use only run
    folders you made or trust), and recomputes the figures and maps.

    Parameters
    ----------
    run_dir : str or path-like
        The run folder.
    output : str or path-like or None, default=None
        The page to write; None is ``run_dir/report.html``.
    overwrite : bool or None, default=None
        Replace an existing file; None replaces ``run_dir/report.html`` (rebuilding
        it is the point) but not an existing ``output`` elsewhere.
    **kwargs
        Passed to :func:`sklasd.report.render_report` (``n_top``, ``n_near``,
        ``max_embed_bytes``).

    Returns
    -------
    output : pathlib.Path
        The page written (``output``, or ``run_dir/report.html``).

    Raises
    ------
    ValueError
        If ``run_dir`` was not written by a run or a file is missing or damaged.
    """
    import pandas as pd

    from ._modelfile import load_models
    from sklasd._outputs import output_file
    from sklasd.report import REPORT_SIGNATURE, render_report

    data, inputs = _checked_inputs(run_dir)
    results = _folder.read_results(inputs[0])
    # the run's recordings are inputs too: the page may not replace one
    recordings = [] if data["data_dir"] is None else list(results["filename"])
    output = Path(run_dir) / _folder.REPORT if output is None else Path(output)
    own = output.name == _folder.REPORT and \
        os.path.realpath(output.parent) == os.path.realpath(run_dir)
    with output_file(output, overwrite=own if overwrite is None else overwrite,
                     inputs=[*inputs, *recordings], signature=REPORT_SIGNATURE,
                     record=own) as stage:
        models = {}
        for path in inputs[2:]:
            models.update(load_models(path))
        audio = _generated_audio(data)
        source = data["data_dir"] or (_GENERATED if audio else _IN_MEMORY)
        run_info = {"data": source, "model": data["model"], "seed": data["seed"]}
        page = render_report(results, pd.read_csv(inputs[1]), models,
                             audio=audio, run_info=run_info,
                             base_dir=Path(os.path.abspath(output.parent)), **kwargs)
        stage.write_text(page, encoding="utf-8", errors="backslashreplace")
    return output
