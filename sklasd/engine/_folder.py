"""The run folder format: every file name of a run folder, written and read here.

A run folder (``sklasd run``, :meth:`sklasd.engine.RunResult.save`) holds:

- the DCASE result files, ``anomaly_score_<suffix>.csv`` and
  ``decision_result_<suffix>.csv``: ``<file name>,<value>`` per line, no header, the
  suffix as each year's official evaluator reads it (:func:`result_suffix`);
- ``results.csv`` (one row per test clip), ``metrics.csv`` (the metrics table),
  ``skipped.csv`` (files left out by ``skip_bad``, when any);
- ``roc_<type>.png`` and ``score_histogram_<type>.png``, ``model_<type>.joblib``;
- ``report_data.json`` (what the report rebuild needs beyond the other files) and
  ``report.html``.

``sklasd score`` writes the result files, ``results.csv`` and ``skipped.csv`` with
the same names.
"""

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from sklasd._outputs import write_csv
from sklasd.report import REPORT_DATA_NAME as REPORT_DATA
from sklasd.report import REPORT_NAME as REPORT

__all__ = ["RESULTS", "METRICS", "SKIPPED", "REPORT", "REPORT_DATA", "RESULT_COLUMNS",
           "model_file", "result_suffix", "result_names", "write_result_files",
           "write_table", "write_skipped", "write_plots", "write_report_data",
           "read_report_data", "read_results", "read_metrics", "run_inputs"]

RESULTS = "results.csv"
METRICS = "metrics.csv"
SKIPPED = "skipped.csv"
#: Columns of ``results.csv`` written by a run, in order.
RESULT_COLUMNS = ["filename", "machine_type", "machine_id", "domain", "target",
                  "anomaly_score", "decision_result", "notes"]
_PLOTS = {"roc": "roc", "histogram": "score_histogram"}


def model_file(machine_type):
    """``model_<machine_type>.joblib``: the fitted pipeline of one machine type."""
    return f"model_{machine_type}.joblib"


def result_suffix(machine_type, machine_id, filename):
    """The part of the DCASE result file names after ``anomaly_score_``.

    As each year's official evaluator reads them: DCASE 2020
    ``<machine_type>_id_XX``; DCASE 2021+ ``<machine_type>_section_XX_test`` (2021's
    ``source_test`` / ``target_test`` folders give ``..._section_XX_source_test``);
    other folders ``<machine_type>[_<machine_id>]``.

    Parameters
    ----------
    machine_type : str
        The clip's machine type.
    machine_id : str
        Its machine ID or section (``""`` where there is none).
    filename : str
        Its path (the folder of a DCASE 2021 clip is part of the name).

    Returns
    -------
    suffix : str

    Examples
    --------
    >>> from sklasd.engine import result_suffix
    >>> result_suffix("fan", "id_00", "fan/test/anomaly_id_00_00000000.wav")
    'fan_id_00'
    >>> result_suffix("valve", "section_00", "valve/test/section_00_0000.wav")
    'valve_section_00_test'
    """
    if machine_id.startswith("section_"):
        folder = Path(filename).parent.name
        test_dir = folder if folder in ("source_test", "target_test") else "test"
        return f"{machine_type}_{machine_id}_{test_dir}"
    return f"{machine_type}_{machine_id}" if machine_id else machine_type


def result_names(filenames):
    """Clip names of the DCASE result files: the file names, or where two clips
    share one ("normal/0001.wav", "anomaly/0001.wav"), the paths below their common
    folder, so that every line names one clip."""
    names = [Path(f).name for f in filenames]
    if len(set(names)) == len(names):
        return names
    common = os.path.commonpath([os.path.abspath(f) for f in filenames])
    return [Path(os.path.relpath(os.path.abspath(f), common)).as_posix() for f in filenames]


def _write_rows(path, names, values):
    """A DCASE result file: ``<file name>,<value>`` per line, no header."""
    write_csv(pd.DataFrame({"f": names, "v": values}), path, header=False, index=False)


def write_result_files(folder, machine_type, rows):
    """The evaluator's files of one machine type's scored clips.

    ``rows`` has the columns ``filename``, ``machine_id``, ``anomaly_score`` and
    ``decision_result``; one pair of files is written per :func:`result_suffix`.
    """
    suffixes = [result_suffix(machine_type, i, f)
                for i, f in zip(rows["machine_id"], rows["filename"])]
    for suffix, group in rows.groupby(np.asarray(suffixes), sort=True):
        names = result_names(group["filename"])
        _write_rows(Path(folder) / f"anomaly_score_{suffix}.csv", names,
                    group["anomaly_score"].to_numpy())
        _write_rows(Path(folder) / f"decision_result_{suffix}.csv", names,
                    group["decision_result"].to_numpy())


def write_table(folder, results, metrics=None):
    """``results.csv`` and, for a run, ``metrics.csv``."""
    write_csv(results, Path(folder) / RESULTS, index=False)
    if metrics is not None:
        write_csv(metrics, Path(folder) / METRICS)


def write_skipped(folder, skipped):
    """``skipped.csv`` (file, reason) when files were skipped."""
    if len(skipped):
        write_csv(pd.DataFrame(skipped, columns=["file", "reason"]),
                  Path(folder) / SKIPPED, index=False)


def write_plots(folder, figures, machine_type):
    """``roc_<type>.png`` and ``score_histogram_<type>.png`` from
    :func:`sklasd.report.summary_figures`."""
    for kind, figure in figures.items():
        figure.savefig(Path(folder) / f"{_PLOTS[kind]}_{machine_type}.png", dpi=100)


def write_report_data(folder, *, data_dir, seed, model, machine_types, in_memory=False):
    """Write ``report_data.json``, what the report rebuild needs beyond the outputs.

    Parameters
    ----------
    folder : path-like
        The run's (staging) output folder.
    data_dir : str or None
        The data folder of the run (absolute), or None when the clips were given in
        a Bunch (their paths are in ``results.csv``).
    seed : int
        The run's random seed.
    model : str
        The model's name.
    machine_types : iterable of str
        The machine types, each with its :func:`model_file`.
    in_memory : bool, default=False
        The clips were waveforms in memory: the report cannot be rebuilt with them
        (``"in_memory": true`` is written).
    """
    data = {"format": 1, "data_dir": data_dir, "seed": seed, "model": model,
            "models": {t: model_file(t) for t in machine_types}}
    if in_memory:
        data["in_memory"] = True
    (Path(folder) / REPORT_DATA).write_text(json.dumps(data, indent=1) + "\n")


def read_report_data(run_dir):
    """The contents of ``report_data.json``; a one-line error when it is missing."""
    path = Path(run_dir) / REPORT_DATA
    if not path.is_file():
        raise ValueError(f"{str(run_dir)!r} is not a folder written by `sklasd run` "
                         f"(no {REPORT_DATA})")
    return json.loads(path.read_text())


def run_inputs(run_dir, data):
    """The files a run folder is read from: results, metrics and model files."""
    run_dir = Path(run_dir)
    return [run_dir / RESULTS, run_dir / METRICS,
            *(run_dir / name for name in data["models"].values())]


def read_results(path):
    """``results.csv`` as written (empty machine IDs and domains stay strings)."""
    return pd.read_csv(path, dtype={"machine_id": str, "domain": str, "notes": str,
                                    "training": str}, keep_default_na=False,
                       encoding_errors="surrogateescape")


def read_metrics(path):
    """``metrics.csv`` with its (machine type, machine ID[, domain]) index."""
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    keys = [c for c in ("machine_type", "machine_id", "domain") if c in table]
    return table.set_index(keys)
