"""``sklasd.run``: fit, score and evaluate one model per machine type of a data set."""

import dataclasses
import functools
import numbers
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sklasd._log import LOGGER, PROGRESS
from ._plan import (N_FOLDS, duration_notes, durations, scored_out_of_fold,
                             stand_in_candidates, stand_ins, train_test)
from sklasd.audio import AudioError, load_audio
from sklasd.models import DEFAULT_MODEL, MODELS, make_model, with_denoiser
from sklasd.parallel import map_chunks, map_machine_types
from sklasd.utils._routing import call_with_metadata

from . import _folder, _run_level

__all__ = ["run", "RunResult", "RunSettings", "score_clips", "screen_clips",
           "load_clips", "new_model", "clip_metadata", "ATTRIBUTE_PREFIX"]

#: Prefix of the columns of a :func:`load_clips` frame that hold the clips' attributes.
ATTRIBUTE_PREFIX = "attribute:"

@dataclasses.dataclass(frozen=True)
class RunSettings:
    """The settings of a run, as plain picklable values (sent to Dask workers).

    Parameters
    ----------
    model : str or sklasd.pipeline.Pipeline, default="knn"
        A :data:`sklasd.models.MODELS` name or an unfitted pipeline (cloned for
        every model the run fits).
    epochs : int or None, default=None
        Training epochs of neural detectors; None is each model's own setting
        (:data:`sklasd.models.MODEL_EPOCHS`: 100, as the DCASE baseline, or 30 for
        ``"embedding"``).
    random_state : int, default=0
        Seed of the models, the borrowed clips and the folds.
    device : str, default="cpu"
        torch device of neural detectors.
    n_jobs : int or None, default=None
        Threads for decoding and feature extraction.
    train_fraction : float, default=0.5
        See :func:`run`.
    min_train_clips : int, default=10
        See :func:`run`.
    denoiser : transformer or None, default=None
        A fitted waveform denoiser put in front of every pipeline.
    """

    model: object = DEFAULT_MODEL
    epochs: object = None
    random_state: int = 0
    device: str = "cpu"
    n_jobs: object = None
    train_fraction: float = 0.5
    min_train_clips: int = 10
    denoiser: object = None

    @property
    def model_name(self):
        """The model's name, or its class name for a pipeline given as an object."""
        return self.model if isinstance(self.model, str) else type(self.model).__name__

    def check(self):
        """Raise one-line errors for settings that cannot run, before any work.

        Returns
        -------
        self : RunSettings

        Raises
        ------
        ValueError
            For an unknown model name or a setting out of range.
        """
        if isinstance(self.model, str) and self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of "
                             f"{sorted(MODELS)}")
        if self.epochs is not None:
            _check_int("epochs", self.epochs, 1)
        _check_int("min_train_clips", self.min_train_clips, 1)
        _check_int("random_state", self.random_state, None)
        if not (isinstance(self.train_fraction, numbers.Real)
                and 0 < self.train_fraction < 1):
            raise ValueError("train_fraction must be between 0 and 1 (exclusive), got "
                             f"{self.train_fraction!r}")
        if self.n_jobs == 0:
            raise ValueError("n_jobs must be a positive count, or -1 for all cores, not 0")
        if self.denoiser is not None and not hasattr(self.denoiser, "transform"):
            raise ValueError(f"the denoiser {type(self.denoiser).__name__} has no "
                             "transform method")
        return self


def _check_int(name, value, least):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or (
            least is not None and value < least):
        more = f" of at least {least}" if least is not None else ""
        raise ValueError(f"{name} must be an integer{more}, got {value!r}")


def new_model(settings, label=None, *, denoise=True):
    """A fresh pipeline of ``settings`` (``label``, a machine type, names the step
    of the progress line), with the denoiser in front unless ``denoise=False``."""
    from sklearn.base import clone

    if label is not None:
        PROGRESS.begin(label)
    if isinstance(settings.model, str):
        model = make_model(settings.model, max_epochs=settings.epochs,
                           random_state=settings.random_state, device=settings.device,
                           verbose=0, n_jobs=settings.n_jobs)
    else:
        model = clone(settings.model)
    if denoise and settings.denoiser is not None:
        model = with_denoiser(model, settings.denoiser)
    return model


def _fit(model, X, metadata):
    """Fit ``model`` with the ``metadata`` it requests (:func:`clip_metadata`), its
    epochs shown on the progress line meanwhile: the callback is attached for this
    fit only and is no part of the fitted model (nor its file)."""
    final = model[-1]
    if "callbacks" not in final.get_params(deep=False):
        return call_with_metadata(model, "fit", X, **metadata)
    from sklasd._epochs import EpochProgress

    given = final.callbacks
    final.set_params(callbacks=[*(given or []), EpochProgress()])
    try:
        call_with_metadata(model, "fit", X, **metadata)
    finally:
        final.set_params(callbacks=given)
        net = getattr(final, "net_", None)  # the fitted skorch net holds copies
        if net is not None:
            net.callbacks = [cb for cb in net.callbacks
                             if not isinstance(cb, EpochProgress)]
            net.callbacks_ = [(name, cb) for name, cb in net.callbacks_
                              if not isinstance(cb, EpochProgress)]
    return model


def score_clips(model, X, machine_id):
    """Anomaly scores and decisions (1 = anomaly: score above ``threshold_``).

    The scores are computed once; the decisions follow from them and the final
    step's threshold, as its ``predict`` would give them.
    """
    PROGRESS.phase("scoring")
    Xt = model[:-1].transform(X) if len(model) > 1 else X
    scores = np.asarray(call_with_metadata(model[-1], "anomaly_score", Xt,
                                           machine_id=machine_id), dtype=float)
    return scores, (scores > model[-1].threshold_).astype(int)


# --- data ---------------------------------------------------------------------------
def listed(load, *args):
    """``load(*args)`` and the folders it could not list, warned about as any warning,
    as ``(folder, reason)`` rows for ``skipped.csv``."""
    from sklasd.datasets import UnlistedFolderWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load(*args)
    unlisted = {}
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if isinstance(w.message, UnlistedFolderWarning):
            unlisted.setdefault(w.message.path, str(w.message))
    return result, list(unlisted.items())


def load_clips(data):
    """Folders (any layout) and audio files, or a Bunch, as one Bunch of clips.

    A folder in a sound-event or classification layout (whose labels are classes,
    not normal / anomaly) is read as a folder of unlabeled recordings. The returned
    Bunch has ``data`` (paths or waveforms) and ``frame`` with the columns
    ``filename``, ``target``, ``machine_type``, ``machine_id``, ``split``, ``domain``,
    and one column ``"attribute:<name>"`` per attribute of DCASE 2021+ clips
    (``pat``, ``vel``, ...; ``""`` where a clip has none): :func:`clip_metadata`
    passes them to a model that requests ``attributes``.
    """
    from sklearn.utils import Bunch

    from sklasd.datasets import load_audio_files, load_audio_folder, load_folder

    if isinstance(data, Bunch):
        frame = _with_attributes(data)
        clips = np.asarray(data.data) if isinstance(data.data[0], str) else data.data
    else:
        items = [data] if isinstance(data, (str, Path)) else list(data)
        if not items:
            raise ValueError("no data: give a folder, audio files or a Bunch")
        frames = []
        files = [item for item in items if not Path(item).is_dir()]
        for item in items:
            if Path(item).is_dir():
                bunch = load_folder(item)
                if bunch.target.dtype.kind not in "iu":
                    bunch = load_audio_folder(item)
                frames.append(_with_attributes(bunch))
        if files:
            frames.append(load_audio_files(files).frame)
        frame = pd.concat(frames, ignore_index=True)
        clips = frame["filename"].to_numpy(dtype=str)
    for column in ("machine_type", "machine_id", "split", "domain"):
        frame[column] = frame[column].fillna("").astype(str) if column in frame else ""
    for column in frame.columns[frame.columns.str.startswith(ATTRIBUTE_PREFIX)]:
        frame[column] = frame[column].fillna("").astype(str)
    return Bunch(data=clips, frame=frame)


def _with_attributes(bunch):
    """A copy of ``bunch.frame`` with the attributes of DCASE 2021+ clips as
    ``attribute:<name>`` columns. Those name a machine's operating condition (the
    valve's ``pat``); the other loaders' attributes describe a recording (a
    generated clip's rotation speed, MIMII's SNR, a ToyADMOS file code) and would
    make classes of single clips, so they are left out."""
    from sklasd.datasets._dcase import DCASE2021_DESCR

    frame = bunch.frame.copy()
    attributes = bunch.get("attributes")
    if bunch.get("DESCR") != DCASE2021_DESCR or attributes is None:
        return frame
    for name in attributes.columns:
        frame[ATTRIBUTE_PREFIX + str(name)] = attributes[name].to_numpy()
    return frame


def clip_metadata(frame, rows):
    """The metadata of the clips ``rows`` (positions) of a :func:`load_clips` frame
    that a model may request at fit (:func:`sklasd.utils._routing.call_with_metadata`).

    Parameters
    ----------
    frame : pandas.DataFrame
        A clip table of :func:`load_clips`.
    rows : array-like of int
        Positions of the clips.

    Returns
    -------
    metadata : dict
        ``machine_id`` (ndarray of str), ``domain`` (ndarray of str, None where no
        clip has one) and ``attributes`` (DataFrame of the attribute columns that
        some of these clips have, one row per clip; None without any).
    """
    rows = frame.iloc[np.asarray(rows, dtype=int)]
    domain = rows["domain"].to_numpy(dtype=str)
    columns = [c for c in rows.columns
               if str(c).startswith(ATTRIBUTE_PREFIX) and (rows[c] != "").any()]
    attributes = (rows[columns].reset_index(drop=True)
                  .rename(columns=lambda c: c[len(ATTRIBUTE_PREFIX):]) if columns else None)
    return {"machine_id": rows["machine_id"].to_numpy(dtype=str),
            "domain": domain if (domain != "").any() else None,
            "attributes": attributes}


def screen_clips(data, skip_bad, model, log=LOGGER.info, unlisted=()):
    """Positions of the clips to use and the skipped files with their reasons.

    Without ``skip_bad`` nothing is decoded here: the pipeline validates every clip
    and its AudioError names the bad file. With it, every file is decoded once first
    (at the rate of the model's first step, which must get one ``n_fft`` frame) so
    that bad ones can be dropped with a warning; the folders that could not be
    listed (``unlisted``, see :func:`listed`) are skipped too.
    """
    if not skip_bad or not isinstance(data[0], str):
        return np.arange(len(data)), []
    first = model[0]
    needs = {"sr": getattr(first, "sr", None), "min_samples": getattr(first, "n_fft", 1)}
    kept, skipped = [], list(unlisted)
    for i, path in enumerate(data):
        try:
            load_audio(path, **needs)
        except AudioError as exc:
            warnings.warn(f"skipped: {exc}", stacklevel=2)
            skipped.append((path, str(exc)))
            continue
        kept.append(i)
    if skipped:
        log(f"skipped {len(skipped)} bad file(s) (skip_bad)")
    if not kept:
        raise ValueError(f"skip_bad skipped all {len(skipped)} file(s): no usable "
                         "clip is left")
    return np.asarray(kept, dtype=int), skipped


# --- one machine type -----------------------------------------------------------------
@dataclasses.dataclass
class _Plan:
    """What a machine type trains on and how its test clips are scored (positions in
    its clip table)."""

    train: np.ndarray
    test: np.ndarray
    out_of_fold: np.ndarray  # mask over test: scored by fold models
    candidates: np.ndarray  # stand-ins for the held-out clips of fold models
    how: dict = None
    test_frame: pd.DataFrame = None


def _plan_type(settings, machine_type, frame, data, log):
    """The :func:`train_test` split of one machine type's clips, logged, with the
    test clips' rows (duration notes against the training clips' median)."""
    train, test, how = train_test(frame, settings.train_fraction,
                                  settings.min_train_clips, settings.random_state)
    for machine_id, rule in how.items():
        log(f"[{machine_type}] {machine_id or machine_type}: {rule}")
    log(f"[{machine_type}] fitting on {len(train)} clips, scoring {len(test)}")
    seconds = durations(data, frame)  # from the headers the loader read
    reference = float(np.nanmedian(seconds[train])) if isinstance(data[0], str) else None
    test_frame = frame.loc[test].assign(notes=duration_notes(seconds[test], reference))
    return _Plan(train, test, scored_out_of_fold(frame, train, test),
                 stand_in_candidates(frame, train, test), how,
                 test_frame.reset_index(drop=True))


def _score_plan(settings, model, frame, data, plan, score=score_clips):
    """Scores and decisions of the test clips of ``plan``, each scored once: by the
    fitted ``model``, or, for those it trained on, out of fold."""
    ids = frame["machine_id"].to_numpy()
    test, in_fold = plan.test, plan.out_of_fold
    scores, decisions = np.empty(len(test)), np.empty(len(test), dtype=int)
    if not in_fold.all():  # in chunks of clips on the workers under a scheduler
        rest = test[~in_fold]
        scores[~in_fold], decisions[~in_fold] = map_chunks(score, model, data[rest],
                                                           ids[rest])
    if in_fold.any():
        scores[in_fold], decisions[in_fold] = _out_of_fold(
            settings, frame, data, plan.train, test[in_fold], plan.candidates, score)
    return scores, decisions


def _run_type(settings, machine_type, frame, data, log):
    """Fit one machine type's model and score each of its test clips once.

    Test clips the model also trains on (borrowed from a test folder, or every clip
    of unlabeled recordings) are scored out of fold by models fitted without them.
    """
    plan = _plan_type(settings, machine_type, frame, data, log)
    model = _fit(new_model(settings, machine_type), data[plan.train],
                 clip_metadata(frame, plan.train))
    scores, decisions = _score_plan(settings, model, frame, data, plan)
    return model, plan.test_frame, scores, decisions, plan.how


def _out_of_fold(settings, frame, data, train, scored, candidates, score=score_clips):
    """Scores and decisions of the clips ``scored``, which are among ``train``, each
    from a model fitted without it (k-fold): a clip scored by a model that saw it
    looks normal (a nearest-neighbour detector would give it 0). Each fold model
    trains on the other training clips and on stand-ins for those it holds out
    (sklasd.engine._plan.stand_ins); ``score(model, X, machine_id)`` scores."""
    from sklearn.model_selection import KFold

    ids = frame["machine_id"].to_numpy()
    rng = np.random.default_rng(settings.random_state)
    scores, decisions = np.empty(len(scored)), np.empty(len(scored), dtype=int)
    folds = ([np.arange(1)] if len(scored) == 1 else
             (held_out for _, held_out in KFold(min(N_FOLDS, len(scored)), shuffle=True,
                                                random_state=settings.random_state)
              .split(scored)))
    for held_out in folds:
        fit_on = np.union1d(np.setdiff1d(train, scored[held_out]),
                            stand_ins(frame, scored[held_out], candidates, rng))
        model = _fit(new_model(settings), data[fit_on], clip_metadata(frame, fit_on))
        scores[held_out], decisions[held_out] = score(
            model, data[scored[held_out]], ids[scored[held_out]])
    return scores, decisions


def _with_notes(label, log, func, *args):
    """``func(*args)``, its warnings logged as notes, one line per distinct one
    (e.g. too few clips for a gamma fit)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = func(*args)
    for message in dict.fromkeys(str(w.message) for w in caught):
        log(f"[{label}] note: {message}")
    return result


def _fit_type(settings, item, log):
    """``_run_type`` on one machine type's rows and clips, its warnings logged as notes.

    Under a scheduler it runs on a Dask worker (sklasd.parallel).
    """
    machine_type, rows, data = item
    return _with_notes(machine_type, log, _run_type, settings, machine_type, rows, data,
                       log)


# --- every machine type at once -----------------------------------------------------------
#: The label of the run-level model on the progress line and in the notes.
RUN_LEVEL = "every machine type"


def _run_level_fit(settings, frame, data, train):
    """One pipeline fitted on the clips ``train`` of every machine type, its machines
    named by composite IDs (:mod:`sklasd.engine._run_level`)."""
    joint = frame.assign(machine_id=_run_level.composite_ids(frame))
    return _fit(new_model(settings, RUN_LEVEL), data[train], clip_metadata(joint, train))


def _run_all_types(settings, frame, data, log):
    """A run-level model: each machine type split as :func:`_run_type` splits it, one
    model fitted on the union of their training clips, and every type's test clips
    scored by the type's restriction of it; the clips it trains on are scored out of
    fold by at most ``N_FOLDS`` such models, the folds drawn over all types' clips.
    Returns what :func:`_run_type` returns, per machine type."""
    types = sorted(frame["machine_type"].unique())
    plans, positions = [], []
    for machine_type in types:
        where = np.flatnonzero(frame["machine_type"].to_numpy() == machine_type)
        rows = frame.iloc[where].reset_index(drop=True)
        plans.append(_plan_type(settings, machine_type, rows, data[where], log))
        positions.append(where)

    def joined(name):  # the plans' positions, in the run's clip table
        return np.concatenate([where[getattr(plan, name)]
                               for plan, where in zip(plans, positions)])

    joint = _Plan(joined("train"), joined("test"),
                  np.concatenate([plan.out_of_fold for plan in plans]), joined("candidates"))
    log(f"[{RUN_LEVEL}] one {settings.model_name} model for {', '.join(types)}: "
        f"fitting on {len(joint.train)} clips, scoring {len(joint.test)}")
    model = _run_level_fit(settings, frame, data, joint.train)
    frame = frame.assign(machine_id=_run_level.composite_ids(frame))
    scores, decisions = _score_plan(settings, model, frame, data, joint, functools.partial(
        _run_level.score_by_type, score_clips))
    shared = f"; one model for every machine type of the run ({', '.join(types)})"
    ends = np.cumsum([len(plan.test) for plan in plans])
    return [(_run_level.type_model(model, machine_type), plan.test_frame,
             scores[end - len(plan.test):end], decisions[end - len(plan.test):end],
             {i: rule + shared for i, rule in plan.how.items()})
            for machine_type, plan, end in zip(types, plans, ends)]


def _group_notes(report, results):
    """The report's own note joined with a count of the clips of unusual duration."""
    notes = report["note"] if "note" in report else pd.Series("", index=report.index)
    odd = results[results["notes"] != ""].groupby(["machine_type", "machine_id"]).size()
    extra = [f"{odd[k]} clip(s) of unusual duration (see results.csv)" if k in odd
             else "" for k in report.index]
    return ["; ".join(t for t in pair if t) for pair in zip(notes, extra)]


def _metrics(results, training):
    from sklasd.metrics import anomaly_report

    has_domain = results["domain"].isin(["source", "target"]).all()
    report = anomaly_report(
        results["target"], results["anomaly_score"],
        machine_type=results["machine_type"], machine_id=results["machine_id"],
        domain=results["domain"] if has_domain else None,
    )
    report["notes"] = _group_notes(report, results)
    report = report.drop(columns=[c for c in ("note",) if c in report])
    report["training"] = [training.get(key, "") for key in report.index]
    return report


# --- the run ----------------------------------------------------------------------------
@dataclasses.dataclass
class RunResult:
    """What :func:`run` returns: scores, metrics and fitted models of a run.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per test clip, the columns of ``results.csv``: ``filename``,
        ``machine_type``, ``machine_id``, ``domain`` (empty strings where the data
        have none), ``target`` (1 anomalous, 0 normal, -1 unlabeled),
        ``anomaly_score`` (float64, higher = more anomalous), ``decision_result``
        (1 = score above the machine type's threshold) and ``notes``.
    metrics : pandas.DataFrame
        ``metrics.csv``: :func:`sklasd.metrics.anomaly_report` indexed by
        (machine type, machine ID), with the columns ``notes`` and ``training``
        (what each ID's model trained on, in words).
    models : dict of str -> sklasd.pipeline.Pipeline
        The fitted pipeline of each machine type (of a run-level model, the type's
        restriction of the one fitted pipeline).
    training : dict of (str, str) -> str
        What the model scoring each (machine type, machine ID) trained on.
    notes : list of str
        The run's messages: training rules and each distinct warning per machine
        type.
    skipped : list of (str, str)
        Files left out by ``skip_bad`` and why.
    settings : RunSettings
        The run's settings.
    data_dir : str or None
        The data folder (absolute) when the run read one folder, the files' common
        folder for a list; None for a Bunch.
    audio : dict of str -> ndarray or None
        The waveforms by file name when the clips were given in memory (the
        report draws them); None when they are files.
    """

    results: pd.DataFrame
    metrics: pd.DataFrame
    models: dict
    training: dict = dataclasses.field(default_factory=dict)
    notes: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    settings: RunSettings = dataclasses.field(default_factory=RunSettings)
    data_dir: object = None
    audio: object = dataclasses.field(default=None, repr=False)

    def save(self, path, *, overwrite=False, report=True):
        """Write the run folder: staged beside ``path``, moved into place when done.

        Parameters
        ----------
        path : str or path-like
            The folder to write; it may not exist yet or be empty.
        overwrite : bool, default=False
            Replace a non-empty folder of earlier results (never one holding other
            files).
        report : bool, default=True
            Also write ``report.html`` (``report_data.json`` is always written, so
            the report can be rebuilt later).

        Returns
        -------
        path : pathlib.Path
            The run folder.

        Raises
        ------
        sklasd.engine.OutputError (ValueError)
            Before anything is written, if the folder holds other files, is not
            empty without ``overwrite``, or would replace a recording of the run.
        """
        from sklasd._outputs import output_folder

        inputs = [self.data_dir] if self.data_dir else []
        with output_folder(path, overwrite=overwrite, inputs=inputs) as stage:
            self.write(stage, report=report, base_dir=Path(path).resolve())
        return Path(path)

    def write(self, folder, *, report=True, base_dir=None):
        """Write the run's files into ``folder`` as they are (no staging).

        :meth:`save` stages a folder and calls this; the ``sklasd run`` command
        calls it on the staging folder it opened before the run.

        Parameters
        ----------
        folder : path-like
            An existing, empty folder.
        report : bool, default=True
            Also write ``report.html``.
        base_dir : path-like or None, default=None
            Where the folder will end up (the report links large audio files
            relative to it); None is ``folder``.
        """
        from ._modelfile import save_models
        from sklasd.report import summary_figures

        for machine_type, rows in self.results.groupby("machine_type", sort=True):
            rows = rows.reset_index(drop=True)
            model = self.models[machine_type]
            _folder.write_result_files(folder, machine_type, rows)
            _folder.write_plots(folder, summary_figures(machine_type, rows,
                                                        model[-1].threshold_),
                                machine_type)
            save_models({machine_type: model}, Path(folder) / _folder.model_file(
                machine_type))
        _folder.write_table(folder, self.results, self.metrics)
        _folder.write_skipped(folder, self.skipped)
        _folder.write_report_data(folder, data_dir=self.data_dir,
                                  in_memory=self.audio is not None,
                                  seed=self.settings.random_state,
                                  model=self.settings.model_name,
                                  machine_types=self.models)
        if report:
            from sklasd.report import write_report

            PROGRESS.phase("writing the report")
            write_report(folder, self.results, self.metrics, self.models,
                         audio=self.audio,
                         base_dir=Path(base_dir or folder),
                         run_info={"data": self.data_dir or _IN_MEMORY,
                                   "model": self.settings.model_name,
                                   "seed": self.settings.random_state})


_IN_MEMORY = "waveforms given in memory"


def _data_dir(data):
    """The data folder (or file) of a run, absolute, as the report names it; for a
    list of files their common folder; None for a Bunch."""
    if isinstance(data, (str, Path)):
        return str(Path(data).resolve())
    if data is None or not isinstance(data, (list, tuple)):
        return None
    import os

    return os.path.commonpath([os.path.abspath(item) for item in data])


def run(data=None, *, model=DEFAULT_MODEL, epochs=None, random_state=0, device="cpu",
        n_jobs=None, train_fraction=0.5, min_train_clips=10, denoiser=None,
        scheduler=None, skip_bad=False):
    """Fit, score and evaluate one model per machine type (``sklasd run``).

    For each machine type of ``data`` a fresh pipeline is fitted on the normal
    training clips and scores every test clip once. An ID with fewer than
    ``min_train_clips`` normal training clips (most folders of real recordings)
    also trains on a seeded ``train_fraction`` of its other normal clips; those
    borrowed clips, and every clip of unlabeled recordings, are scored out of
    fold by models fitted without them (5-fold), so that every test clip gets one
    score. Every model gets at fit the metadata it requests (``machine_id``,
    ``domain``, the ``attributes`` of DCASE 2021+ clips).

    A model whose final step declares ``learns_across_machine_types`` (the
    ``"embedding"`` model) is a run-level model: one pipeline is fitted on the
    union of every machine type's training clips (each type split as above), its
    machine IDs ``"<machine_type>/<machine_id>"`` (every type and ID a class), and
    each type's test clips are scored by that type's restriction of it
    (``select_machines``: the same network, plain IDs, the type's threshold), which
    is also what ``models`` holds; the clips it trains on are scored out of fold by
    at most 5 such models, the folds drawn over all types' clips.

    Parameters
    ----------
    data : str, path-like, list or sklearn.utils.Bunch, default=None
        A folder in any layout the loaders recognise (DCASE, MIMII, ToyADMOS, a
        folder of own recordings, ...), a list of folders and audio files, or a
        Bunch with ``data`` (paths or waveforms) and ``frame`` (columns
        ``filename``, ``target``, ``machine_type``, ``machine_id``, ``split``,
        ``domain``) as :mod:`sklasd.datasets` returns. None is the built-in
        generated data (:func:`sklasd.datasets.make_machine_sounds` with
        ``random_state``), written once as audio files
        (:func:`sklasd.datasets.machine_sounds_folder`).
    model : str or sklasd.pipeline.Pipeline, default="knn"
        A name of :data:`sklasd.models.MODELS` or an unfitted pipeline (cloned for
        every model fitted).
    epochs : int or None, default=None
        Training epochs of neural detectors; None is each model's own setting
        (:data:`sklasd.models.MODEL_EPOCHS`: 100, as the DCASE baseline, or 30 for
        ``"embedding"``).
    random_state : int, default=0
        Seed of the models, of the clips borrowed for training and of the folds.
    device : str, default="cpu"
        torch device of neural detectors.
    n_jobs : int or None, default=None
        Threads for decoding and feature extraction; -1 for all cores.
    train_fraction : float, default=0.5
        Share of an ID's other normal clips it also trains on when it has fewer
        than ``min_train_clips`` normal training clips.
    min_train_clips : int, default=10
        See ``train_fraction``.
    denoiser : transformer or None, default=None
        A fitted waveform denoiser put in front of every pipeline
        (:func:`sklasd.models.with_denoiser`).
    scheduler : str or None, default=None
        Run the machine types on a Dask cluster (:func:`sklasd.parallel.connect`
        takes the same values: an address, a scheduler file, ``"local[:N]"``).
        A run-level model is fitted in this process (a note says so).
    skip_bad : bool, default=False
        Skip unreadable or too short files with a warning (listed in ``skipped``)
        instead of raising.

    Returns
    -------
    result : RunResult
        ``results``, ``metrics``, ``models``, ``training``, ``notes``,
        ``skipped``; ``result.save(folder)`` writes the run folder that
        ``sklasd run`` writes.

    Raises
    ------
    ValueError
        For settings that cannot run, a folder without audio, or (without
        ``skip_bad``) a file that cannot be used (:class:`sklasd.audio.AudioError`
        names it).

    Examples
    --------
    >>> import sklasd
    >>> result = sklasd.run(random_state=0)  # doctest: +SKIP
    >>> result.metrics["AUC"]  # doctest: +SKIP
    >>> result.save("sklasd_results")  # doctest: +SKIP
    """
    settings = RunSettings(model, epochs, random_state, device, n_jobs, train_fraction,
                           min_train_clips, denoiser).check()
    if scheduler is not None:
        from sklasd.parallel import check_scheduler

        check_scheduler(scheduler)
    notes = []

    def log(message):
        notes.append(message)
        LOGGER.info("%s", message)

    return _run(settings, data, scheduler, skip_bad, log, notes)


def _run(settings, data, scheduler, skip_bad, log, notes):
    if data is None:  # the built-in data, as files: the same path as any folder
        from sklasd.datasets import machine_sounds_folder

        data = machine_sounds_folder(random_state=settings.random_state)
    bunch, unlisted = listed(load_clips, data)
    kept, skipped = screen_clips(bunch.data, skip_bad,
                                 new_model(settings, denoise=False) if skip_bad else None,
                                 log, unlisted)
    frame = bunch.frame.iloc[kept].reset_index(drop=True)
    clips = bunch.data[kept]
    if _run_level.learns_across_machine_types(new_model(settings, denoise=False)):
        if scheduler is not None:
            log(f"[{RUN_LEVEL}] note: the model learns across machine types: it is "
                "fitted here, in one process, not on the Dask workers")
        PROGRESS.plan(1)
        fitted = _with_notes(RUN_LEVEL, log, _run_all_types, settings, frame, clips, log)
        items = [(machine_type,) for machine_type in sorted(frame["machine_type"].unique())]
    else:
        PROGRESS.plan(frame["machine_type"].nunique())
        items = [(machine_type, rows.reset_index(drop=True), clips[rows.index.to_numpy()])
                 for machine_type, rows in frame.groupby("machine_type", sort=True)]
        fitted = map_machine_types(functools.partial(_fit_type, settings), items,
                                   scheduler, log)
    tested, training, models = [], {}, {}
    for (machine_type, *_), (model, test_frame, scores, decisions, how) in zip(
            items, fitted):
        models[machine_type] = model
        tested.append(test_frame.assign(anomaly_score=scores, decision_result=decisions))
        training.update({(machine_type, i): rule for i, rule in how.items()})
    results = pd.concat(tested, ignore_index=True)[_folder.RESULT_COLUMNS]
    return RunResult(
        results=results, metrics=_metrics(results, training), models=models,
        training=training, notes=notes, skipped=skipped, settings=settings,
        data_dir=_data_dir(data),
        audio=None if isinstance(clips[0], str) else dict(zip(frame["filename"], clips)))
