"""Fit models on recordings and score new ones with them (``sklasd fit`` / ``score``)."""

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sklasd._log import LOGGER, PROGRESS
from ._plan import duration_notes, durations
from sklasd.models import DEFAULT_MODEL

from . import _folder
from ._run import (RUN_LEVEL, RunSettings, _fit, _run_level_fit, clip_metadata, listed,
                   load_clips, new_model, score_clips, screen_clips)
from ._run_level import learns_across_machine_types, type_model

__all__ = ["fit_models", "score_models", "ScoreResult", "select_model", "audio_paths"]


def _training_clips(frame):
    """Normal clips of the ``train`` split if the folder has one, else all normals;
    without any normal clip, every unlabeled clip (one's own recordings)."""
    for candidates in (frame["target"] == 0, frame["target"] == -1):
        in_split = candidates & (frame["split"] == "train")
        if candidates.any():
            return np.flatnonzero(in_split if in_split.any() else candidates)
    raise ValueError("no normal or unlabeled clips to train on: every clip is "
                     "labelled anomalous")


def fit_models(data, *, model=DEFAULT_MODEL, epochs=None, random_state=0, device="cpu",
               n_jobs=None, denoiser=None, skip_bad=False):
    """Fit one model per machine type on the normal (or unlabeled) clips of ``data``.

    A model whose detector learns across machine types (``"embedding"``) is
    fitted once on every machine type's clips, as :func:`run` fits it; each machine
    type gets its restriction of it.

    Parameters
    ----------
    data : str, path-like, list or sklearn.utils.Bunch
        Folders (any layout) and audio files, or a Bunch, as :func:`run` takes them.
        The normal clips of a ``train`` split are used where there is one, else
        every normal clip, else every unlabeled clip (taken to be mostly normal).
    model, epochs, random_state, device, n_jobs, denoiser, skip_bad
        As in :func:`run`.

    Returns
    -------
    models : dict of str -> sklasd.pipeline.Pipeline
        The fitted pipeline of each machine type, for
        :func:`sklasd.engine.save_models`.
    skipped : list of (str, str)
        Files left out by ``skip_bad`` and why.

    Raises
    ------
    ValueError
        If every clip is labelled anomalous, or as :func:`run` raises.
    """
    settings = RunSettings(model, epochs, random_state, device, n_jobs,
                           denoiser=denoiser).check()
    bunch, unlisted = listed(load_clips, data)
    kept, skipped = screen_clips(bunch.data, skip_bad,
                                 new_model(settings, denoise=False) if skip_bad else None,
                                 unlisted=unlisted)
    frame = bunch.frame
    train = np.intersect1d(_training_clips(frame), kept)
    types = sorted(set(frame["machine_type"].to_numpy()[train]))
    if learns_across_machine_types(new_model(settings, denoise=False)):
        LOGGER.info("[%s] fitting one model on %d clips of %s", RUN_LEVEL, len(train),
                    ", ".join(types))
        PROGRESS.plan(1)
        model = _run_level_fit(settings, frame, bunch.data, train)
        return {machine_type: type_model(model, machine_type) for machine_type in types}, \
            skipped
    models = {}
    PROGRESS.plan(len(types))
    for machine_type in types:
        rows = train[frame["machine_type"].to_numpy()[train] == machine_type]
        kind = "normal" if (frame["target"].to_numpy()[rows] == 0).all() else "unlabeled"
        LOGGER.info("[%s] fitting on %d %s clips", machine_type, len(rows), kind)
        models[machine_type] = _fit(new_model(settings, machine_type), bunch.data[rows],
                                    clip_metadata(frame, rows))
    return models, skipped


@dataclasses.dataclass
class ScoreResult:
    """What :func:`score_models` returns.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per scored file: ``file``, ``anomaly_score``, ``decision_result``
        (1 = above the threshold), ``notes`` (an unusual duration).
    machine_type : str
        The machine type whose model scored them.
    machine_id : str or None
        The machine ID given.
    threshold : float
        The model's decision threshold.
    skipped : list of (str, str)
        Files left out by ``skip_bad`` and why.
    """

    results: pd.DataFrame
    machine_type: str
    machine_id: object
    threshold: float
    skipped: list

    def write(self, folder):
        """Write the DCASE result files, ``results.csv`` and ``skipped.csv``.

        The result files are named as the evaluators read them
        (:func:`sklasd.engine.result_suffix`); ``skipped.csv`` only when files
        were skipped.

        Parameters
        ----------
        folder : path-like
            An existing folder.
        """
        rows = self.results.rename(columns={"file": "filename"}).assign(
            machine_id=self.machine_id or "")
        _folder.write_result_files(folder, self.machine_type, rows)
        _folder.write_table(folder, self.results)
        _folder.write_skipped(folder, self.skipped)


def audio_paths(items):
    """The audio files of folders (recursively, sorted) and of file arguments."""
    from sklasd.datasets import list_audio

    paths = []
    for item in items:
        paths += ([str(p) for p in list_audio(item)[1]] if Path(item).is_dir()
                  else [str(Path(item).resolve())])
    return np.asarray(paths, dtype=str)


def select_model(models, machine_type=None):
    """The pipeline of one machine type of a model file.

    Parameters
    ----------
    models : dict of str -> sklasd.pipeline.Pipeline
        Fitted pipelines by machine type (:func:`sklasd.engine.load_models`).
    machine_type : str or None, default=None
        The machine type to use; None when ``models`` holds one.

    Returns
    -------
    machine_type : str
        The machine type chosen.
    model : sklasd.pipeline.Pipeline
        Its pipeline.

    Raises
    ------
    ValueError
        If ``machine_type`` is None and ``models`` holds several, or it is not in
        ``models``.
    """
    if machine_type is None and len(models) > 1:
        raise ValueError(f"the model holds several machine types {sorted(models)}: "
                         "choose one with --machine-type")
    machine_type = machine_type or next(iter(models))
    if machine_type not in models:
        raise ValueError(f"machine type {machine_type!r} is not in the model "
                         f"(it has {sorted(models)})")
    return machine_type, models[machine_type]


def score_models(models, data, *, machine_type=None, machine_id=None, skip_bad=False):
    """Score recordings with a fitted model of :func:`fit_models`.

    Parameters
    ----------
    models : dict of str -> sklasd.pipeline.Pipeline
        Fitted pipelines by machine type (:func:`sklasd.engine.load_models`).
    data : str, path-like or list of them
        Folders (their audio files, recursively, sorted) and audio files.
    machine_type : str or None, default=None
        Which model to use; None when ``models`` holds one.
    machine_id : str or None, default=None
        Machine ID of the recordings, for models trained with IDs (``idcae``).
    skip_bad : bool, default=False
        Skip unreadable or too short files with a warning instead of raising.

    Returns
    -------
    result : ScoreResult

    Raises
    ------
    ValueError
        If ``machine_type`` is needed or unknown, or a file cannot be used.
    """
    machine_type, model = select_model(models, machine_type)
    items = [data] if isinstance(data, (str, Path)) else list(data)
    paths, unlisted = listed(audio_paths, items)
    positions, skipped = screen_clips(paths, skip_bad, model, unlisted=unlisted)
    kept = list(paths[positions])
    PROGRESS.plan(1)
    PROGRESS.begin(machine_type)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores, decisions = score_clips(
            model, kept, None if machine_id is None else [machine_id] * len(kept))
    for message in dict.fromkeys(str(w.message) for w in caught):
        LOGGER.info("note: %s", message)
    table = pd.DataFrame({"file": kept, "anomaly_score": scores,
                          "decision_result": decisions,
                          "notes": duration_notes(
                              durations(kept),
                              getattr(model[0], "training_duration_", None))})
    return ScoreResult(table, machine_type, machine_id, float(model[-1].threshold_),
                       skipped)
