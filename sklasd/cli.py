"""The ``sklasd`` command: fit, score and evaluate detectors on folders of audio.

``sklasd run [DATA_DIR]`` is the main job: for each machine type in a folder of any
layout the loaders recognise (or in built-in synthetic data when no folder is given),
fit the default pipeline on the normal training clips, score the test clips, and write
DCASE-style result files, a metrics table, plots, the fitted pipelines and
``report.html`` (sklasd.report), which ``sklasd report OUT_DIR`` writes again.
``sklasd fit`` / ``sklasd score`` train a model on a
folder and score new recordings with it. ``sklasd run --scheduler`` fits the machine
types on a Dask cluster and scores there in chunks (sklasd.parallel).

Bad input (a folder with no audio, a corrupt or empty file, an unusable rate) is one
line on stderr and exit status 2; with ``--skip-bad`` the file is skipped with a
warning and listed. Outputs are written to a staging folder and moved into place only
when everything succeeded, so a failed, interrupted (exit status 130) or killed run
leaves no partial files; an input is never overwritten, nor an existing output unless
``--overwrite`` is given. Results go to stdout, messages to stderr.

Model files hold pickles: **loading one runs code**, so use only model files you made
or trust.
"""

import argparse
import contextlib
import contextvars
import functools
import os
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sklasd import __version__
from sklasd._interrupt import Interrupted, check_interrupted, signals_interrupt
from sklasd._log import LOGGER, PROGRESS, logging_to_stderr
from sklasd._modelfile import MAGIC, load_models, save_models
from sklasd._outputs import output_file, output_folder, write_csv
from sklasd._runplan import cross_fitted, duration_notes, durations, train_test
from sklasd.audio import AudioError, load_audio
from sklasd.models import DEFAULT_MODEL, MODELS, make_model, with_denoiser
from sklasd.parallel import check_scheduler, map_chunks, map_machine_types
from sklasd.utils._routing import call_with_machine_id

__all__ = ["main", "make_model", "MODELS", "load_models", "save_models"]


def _score_and_label(model, X, machine_id):
    """Anomaly scores and decisions (1 = anomaly, from the detector's ``predict``).

    The features are computed once and given to both methods of the final step.
    """
    PROGRESS.phase("scoring")
    Xt = model[:-1].transform(X)
    labels = call_with_machine_id(model[-1], "predict", Xt, machine_id)
    scores = call_with_machine_id(model[-1], "anomaly_score", Xt, machine_id)
    return scores, (labels == -1).astype(int)


# --- data ---------------------------------------------------------------------
def _load(data_dir, seed):
    from sklasd.datasets import make_machine_sounds

    if data_dir is None:
        return make_machine_sounds(random_state=seed)
    return _load_inputs([data_dir])


def _load_inputs(items):
    """Folders (any layout) and audio files as one Bunch of machine-sound clips.

    A folder in a sound-event or classification layout (whose labels are classes,
    not normal / anomaly) is read as a folder of unlabeled recordings.
    """
    from sklearn.utils import Bunch

    from sklasd.datasets import load_audio_files, load_audio_folder, load_folder

    frames = []
    files = [item for item in items if not Path(item).is_dir()]
    for item in items:
        if Path(item).is_dir():
            bunch = load_folder(item)
            if bunch.target.dtype.kind not in "iu":
                bunch = load_audio_folder(item)
            frames.append(bunch.frame)
    if files:
        frames.append(load_audio_files(files).frame)
    frame = pd.concat(frames, ignore_index=True)
    for column in ("machine_type", "machine_id", "split", "domain"):
        frame[column] = frame[column].fillna("").astype(str)
    return Bunch(data=frame["filename"].to_numpy(dtype=str), frame=frame,
                 **{c: frame[c].to_numpy() for c in ("target", "machine_type",
                                                      "machine_id", "split", "domain")})


def _listed(load, *args):
    """``load(*args)`` and the folders it could not list, warned about as any warning,
    as ``(folder, reason)`` rows for ``skipped.csv``."""
    from sklasd.datasets._layout import UnlistedFolderWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = load(*args)
    unlisted = {}
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if isinstance(w.message, UnlistedFolderWarning):
            unlisted.setdefault(w.message.path, str(w.message))
    return result, list(unlisted.items())


def _screen(data, skip_bad, log, model=None, unlisted=()):
    """Positions of the clips to use and the skipped files with their reasons.

    Without ``--skip-bad`` nothing is decoded here: the pipeline validates every clip
    and its AudioError names the bad file. With it, every file is decoded once first
    (at the rate of the model's first step, which must get one ``n_fft`` frame) so
    that bad ones can be dropped with a warning; the folders that could not be
    listed (``unlisted``, see :func:`_listed`) are skipped too.
    """
    if not skip_bad or not isinstance(data[0], str):
        return np.arange(len(data)), []
    # ``model``: a --model name or a fitted pipeline; its feature step sets the needs
    first = (make_model(model) if model is None or isinstance(model, str) else model)[0]
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
        log(f"skipped {len(skipped)} bad file(s) (--skip-bad)")
    if not kept:
        raise ValueError(f"--skip-bad skipped all {len(skipped)} file(s): no usable "
                         "clip is left")
    return np.asarray(kept, dtype=int), skipped


# --- outputs --------------------------------------------------------------------
#: The command's open output (an ExitStack), published by :func:`_staging`; not an
#: attribute of ``args``, which is pickled to Dask workers.
_OUTPUT = contextvars.ContextVar("sklasd_output")


@contextlib.contextmanager
def _staging(args):
    """The command's staging folder or file, opened by :func:`main` before any work.

    Its contents replace the output (``-o``) when the block ends without an exception
    or a signal (``sklasd._outputs``), so that the results printed and the messages
    logged after the block come only once the results are in place. The progress
    line ends here.
    """
    try:
        yield args.stage
    finally:
        PROGRESS.close()
    _OUTPUT.get().close()  # publishes


def _result_names(filenames):
    """Clip names of the DCASE result files: the file names, or where two clips
    share one ("normal/0001.wav", "anomaly/0001.wav"), the paths below their common
    folder, so that every line names one clip."""
    names = [Path(f).name for f in filenames]
    if len(set(names)) == len(names):
        return names
    common = os.path.commonpath([os.path.abspath(f) for f in filenames])
    return [Path(os.path.relpath(os.path.abspath(f), common)).as_posix() for f in filenames]


def _write_csv_rows(path, names, values):
    """DCASE result files: ``<file name>,<value>`` per line, no header."""
    write_csv(pd.DataFrame({"f": names, "v": values}), path, header=False, index=False)


def result_suffix(machine_type, machine_id, filename):
    """The part of the DCASE result file names after ``anomaly_score_``.

    As each year's official evaluator reads them: DCASE 2020
    ``<machine_type>_id_XX``; DCASE 2021+ ``<machine_type>_section_XX_test`` (2021's
    ``source_test`` / ``target_test`` folders give ``..._section_XX_source_test``);
    other folders ``<machine_type>[_<machine_id>]``.
    """
    if machine_id.startswith("section_"):
        folder = Path(filename).parent.name
        test_dir = folder if folder in ("source_test", "target_test") else "test"
        return f"{machine_type}_{machine_id}_{test_dir}"
    return f"{machine_type}_{machine_id}" if machine_id else machine_type


def _write_type_results(stage, machine_type, frame, scores, decisions):
    """The evaluator's files: one line ``<file name>,<value>`` per clip, no header."""
    suffixes = [result_suffix(machine_type, i, f)
                for i, f in zip(frame["machine_id"], frame["filename"])]
    for suffix, rows in frame.groupby(np.asarray(suffixes), sort=True):
        pos = rows.index.to_numpy()
        names = _result_names(rows["filename"])
        _write_csv_rows(stage / f"anomaly_score_{suffix}.csv", names, scores[pos])
        _write_csv_rows(stage / f"decision_result_{suffix}.csv", names, decisions[pos])


def _save_plots(stage, machine_type, frame, scores, threshold):
    """``roc_<type>.png`` (where both classes are labelled) and
    ``score_histogram_<type>.png``."""
    import matplotlib.pyplot as plt

    from sklasd.report import summary_figures

    names = {"roc": "roc", "histogram": "score_histogram"}
    rows = frame.assign(anomaly_score=scores)
    for kind, figure in summary_figures(machine_type, rows, threshold).items():
        figure.savefig(stage / f"{names[kind]}_{machine_type}.png", dpi=100)
        plt.close(figure)


# --- commands --------------------------------------------------------------------
def _run_type(args, machine_type, frame, data, log):
    train, test, how = train_test(frame, args.train_fraction, args.min_train_clips,
                                   args.seed)
    for machine_id, rule in how.items():
        log(f"[{machine_type}] {machine_id or machine_type}: {rule}")
    log(f"[{machine_type}] fitting on {len(train)} clips, scoring {len(test)}")
    model = _new_model(args, machine_type)
    reference = (float(np.nanmedian(durations(data[train])))
                 if isinstance(data[0], str) else None)
    test_frame = frame.loc[test].assign(notes=duration_notes(data[test], reference))
    test_frame = test_frame.reset_index(drop=True)
    ids = frame["machine_id"].to_numpy()
    call_with_machine_id(model, "fit", data[train], ids[train])
    if cross_fitted(train, test):  # one's own recordings, unlabeled
        scores, decisions = _cross_fitted(args, machine_type, data, ids, train)
    else:  # in chunks of clips on the workers under --scheduler, one call otherwise
        scores, decisions = map_chunks(_score_and_label, model, data[test], ids[test])
    return model, test_frame, scores, decisions, how


def _cross_fitted(args, machine_type, data, ids, clips, n_folds=5):
    """Scores and decisions of the clips a model trains on, each clip's from a model
    fitted on the other folds (k-fold): a clip scored by a model that saw it looks
    normal (a nearest-neighbour detector would give it 0)."""
    from sklearn.model_selection import KFold

    scores, decisions = np.empty(len(clips)), np.empty(len(clips), dtype=int)
    folds = KFold(min(n_folds, len(clips)), shuffle=True, random_state=args.seed)
    for fit_on, held_out in folds.split(clips):
        model = _new_model(args, machine_type)
        call_with_machine_id(model, "fit", data[clips[fit_on]], ids[clips[fit_on]])
        scores[held_out], decisions[held_out] = _score_and_label(
            model, data[clips[held_out]], ids[clips[held_out]])
    return scores, decisions


def _group_notes(report, results):
    """The report's own note joined with a count of the clips of unusual duration."""
    notes = report["note"] if "note" in report else pd.Series("", index=report.index)
    odd = results[results["notes"] != ""].groupby(["machine_type", "machine_id"]).size()
    extra = [f"{odd[k]} clip(s) of unusual duration (see results.csv)" if k in odd
             else "" for k in report.index]
    return ["; ".join(t for t in pair if t) for pair in zip(notes, extra)]


def _fit_type(args, item, log):
    """``_run_type`` on one machine type's rows and clips, its warnings logged as notes.

    Under ``--scheduler`` it runs on a Dask worker (sklasd.parallel).
    """
    machine_type, rows, data = item
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = _run_type(args, machine_type, rows, data, log)
    # one line per distinct warning (e.g. too few clips for a gamma fit)
    for message in dict.fromkeys(str(w.message) for w in caught):
        log(f"[{machine_type}] note: {message}")
    return result


def cmd_run(args, log):
    from sklasd.metrics import anomaly_report

    bunch, unlisted = _listed(_load, args.data_dir, args.seed)
    kept, skipped = _screen(bunch.data, args.skip_bad, log, args.model, unlisted)
    frame = bunch.frame.iloc[kept].reset_index(drop=True)
    data = bunch.data[kept]
    tested, training, models = [], {}, {}
    PROGRESS.plan(frame["machine_type"].nunique())
    with _staging(args) as stage:
        items = [(machine_type, rows.reset_index(drop=True), data[rows.index.to_numpy()])
                 for machine_type, rows in frame.groupby("machine_type", sort=True)]
        fitted = map_machine_types(functools.partial(_fit_type, args), items,
                                   args.scheduler, log)
        for (machine_type, _, _), (model, test_frame, scores, decisions, how) in zip(
                items, fitted):
            _write_type_results(stage, machine_type, test_frame, scores, decisions)
            _save_plots(stage, machine_type, test_frame, scores, model[-1].threshold_)
            save_models({machine_type: model}, stage / f"model_{machine_type}.joblib")
            models[machine_type] = model
            test_frame["anomaly_score"] = scores
            test_frame["decision_result"] = decisions
            tested.append(test_frame)
            training.update({(machine_type, i): rule for i, rule in how.items()})
        results = pd.concat(tested, ignore_index=True)
        has_domain = results["domain"].isin(["source", "target"]).all()
        report = anomaly_report(
            results["target"], results["anomaly_score"],
            machine_type=results["machine_type"], machine_id=results["machine_id"],
            domain=results["domain"] if has_domain else None,
        )
        report["notes"] = _group_notes(report, results)
        report = report.drop(columns=[c for c in ("note",) if c in report])
        report["training"] = [training.get(key, "") for key in report.index]
        write_csv(report, stage / "metrics.csv")
        write_csv(results[["filename", "machine_type", "machine_id", "domain", "target",
                           "anomaly_score", "decision_result", "notes"]],
                  stage / "results.csv", index=False)
        if skipped:
            write_csv(pd.DataFrame(skipped, columns=["file", "reason"]),
                      stage / "skipped.csv", index=False)
        _write_run_report(args, stage, results, report, models, frame, data)
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.max_colwidth", 60,
                           "display.float_format", "{:.4f}".format):
        print(report.drop(columns=["training"]).to_string())
    log(f"results written to {Path(args.out).resolve()}")
    return 0


def _write_run_report(args, stage, results, metrics, models, frame, data):
    """``report_data.json`` and, unless ``--no-report``, ``report.html``."""
    from sklasd.report import write_report, write_report_data

    data_dir = None if args.data_dir is None else str(Path(args.data_dir).resolve())
    write_report_data(stage, data_dir=data_dir, seed=args.seed, model=args.model,
                      machine_types=models)
    if args.no_report:
        return
    PROGRESS.phase("writing the report")
    audio = None if isinstance(data[0], str) else dict(zip(frame["filename"], data))
    write_report(stage, results, metrics, models, audio=audio,
                 base_dir=Path(args.out).resolve(),
                 run_info={"data": data_dir or "built-in generated machine sounds",
                           "model": args.model, "seed": args.seed})


def cmd_report(args, log):
    from sklasd.report import rebuild_report

    path = rebuild_report(args.run_dir, output=args.output,
                          overwrite=args.overwrite or None)
    log(f"report written to {Path(path).resolve()}")
    return 0


def _training_clips(bunch):
    """Normal clips of the ``train`` split if the folder has one, else all normals;
    without any normal clip, every unlabeled clip (one's own recordings)."""
    frame = bunch.frame
    for candidates in (frame["target"] == 0, frame["target"] == -1):
        in_split = candidates & (frame["split"] == "train")
        if candidates.any():
            return np.flatnonzero(in_split if in_split.any() else candidates)
    raise ValueError("no normal or unlabeled clips to train on: every clip is "
                     "labelled anomalous")


def _new_model(args, label):
    """A fresh pipeline for ``label`` (a machine type), reporting its epochs to the
    command's progress line and logger instead of skorch's table and bar."""
    PROGRESS.begin(label)
    model = make_model(args.model, max_epochs=args.epochs, random_state=args.seed,
                       device=args.device, verbose=0, n_jobs=args.n_jobs)
    if getattr(args, "denoiser", None) is not None:
        model = with_denoiser(model, args.denoiser)
    if "callbacks" in model[-1].get_params(deep=False):
        from sklasd._epochs import EpochProgress

        model[-1].set_params(callbacks=[*(model[-1].callbacks or []), EpochProgress()])
    return model


def cmd_fit(args, log):
    bunch = _load_inputs(args.train_dir)
    kept, _ = _screen(bunch.data, args.skip_bad, log, args.model)
    train = np.intersect1d(_training_clips(bunch), kept)
    types = sorted(set(bunch.machine_type[train]))
    models = {}
    PROGRESS.plan(len(types))
    for machine_type in types:
        rows = train[bunch.machine_type[train] == machine_type]
        kind = "normal" if (bunch.target[rows] == 0).all() else "unlabeled"
        log(f"[{machine_type}] fitting on {len(rows)} {kind} clips")
        model = _new_model(args, machine_type)
        models[machine_type] = call_with_machine_id(model, "fit", bunch.data[rows],
                                                    bunch.machine_id[rows])
    with _staging(args) as stage:
        save_models(models, stage)
    log(f"model for {', '.join(types)} written to {args.output}")
    return 0


def _write_scores(stage, machine_type, machine_id, table):
    """DCASE-style score and decision files of ``score``, or a table on stdout."""
    if stage is None:
        write_csv(table, index=False)
        return
    suffix = machine_type if machine_id is None else f"{machine_type}_{machine_id}"
    names = _result_names(table["file"])
    _write_csv_rows(stage / f"anomaly_score_{suffix}.csv", names, table["anomaly_score"])
    _write_csv_rows(stage / f"decision_result_{suffix}.csv", names,
                    table["decision_result"])
    write_csv(table, stage / "results.csv", index=False)


def _machine_model(models, machine_type):
    """``(machine_type, pipeline)`` of a model file: the one asked for, or its only one."""
    if machine_type is None and len(models) > 1:
        raise ValueError(f"the model holds several machine types {sorted(models)}: "
                         "choose one with --machine-type")
    machine_type = machine_type or next(iter(models))
    if machine_type not in models:
        raise ValueError(f"machine type {machine_type!r} is not in the model "
                         f"(it has {sorted(models)})")
    return machine_type, models[machine_type]


def cmd_score(args, log):
    from sklasd.export import load_onnx_models  # an .onnx file: onnxruntime, no pickle

    models = (load_onnx_models if str(args.model_file).lower().endswith(".onnx")
              else load_models)(args.model_file)
    machine_type, model = _machine_model(models, args.machine_type)
    paths, unlisted = _listed(_audio_paths, args.test_dir)
    positions, skipped = _screen(paths, args.skip_bad, log, model, unlisted)
    kept = list(paths[positions])
    PROGRESS.plan(1)
    PROGRESS.begin(machine_type)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores, decisions = _score_and_label(
            model, kept, None if args.machine_id is None else [args.machine_id] * len(kept))
    for message in dict.fromkeys(str(w.message) for w in caught):
        log(f"note: {message}")
    table = pd.DataFrame({"file": kept, "anomaly_score": scores,
                          "decision_result": decisions,
                          "notes": duration_notes(
                              kept, getattr(model[0], "training_duration_", None))})
    with _staging(args) as stage:
        _write_scores(stage, machine_type, args.machine_id, table)
        if skipped and stage is not None:
            write_csv(pd.DataFrame(skipped, columns=["file", "reason"]),
                      stage / "skipped.csv", index=False)
    log(f"scored {len(kept)} file(s) ({len(skipped)} skipped) into {args.output}: "
        f"{int(decisions.sum())} called anomalous (score above {model[-1].threshold_:.4g})")
    return 0


def cmd_watch(args, log):
    from sklasd.monitor import load_watch_models, watch

    models = load_watch_models(args.model)
    info = {"watching": ", ".join(str(Path(f).resolve()) for f in args.folders),
            "model": str(Path(args.model).resolve())}
    try:
        watch(args.folders, models, args.output, once=args.once, polling=args.polling,
              settle=args.settle, on_anomaly=args.on_anomaly, info=info,
              alert_after=args.alert_after, drift_window=args.drift_window)
    except Interrupted as exc:
        log(f"{exc}: stopped; the log in {args.output} is complete")
        return exc.exit_status
    return 0


def cmd_export(args, log):
    from sklasd.export import save_onnx

    machine_type, model = _machine_model(load_models(args.model_file), args.machine_type)
    save_onnx(model, args.stage, machine_type=machine_type, machine_id=args.machine_id,
              duration=args.duration, int8=args.int8)
    log(f"[{machine_type}] ONNX model written to {args.output}")
    return 0


def _audio_paths(items):
    """The audio files of folders (recursively, sorted) and of file arguments."""
    from sklasd.datasets import list_audio

    paths = []
    for item in items:
        paths += ([str(p) for p in list_audio(item)[1]] if Path(item).is_dir()
                  else [str(Path(item).resolve())])
    return np.asarray(paths, dtype=str)


# --- argument parsing -----------------------------------------------------------------
EXIT_STATUSES = """exit status:
  0    success: all outputs written
  2    bad input or usage (one line on stderr; nothing written)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM): nothing written

Model files are pickles: loading one runs code. Use only model files you made or
trust."""


def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _n_jobs(text):
    value = int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be a positive count, or -1 for all cores "
                                         "(-2 for all but one), not 0")
    return value


def _fraction(text):
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def _messages(parser, skip_bad=True):
    parser.add_argument("-q", "--quiet", action="store_const", const=-1, dest="verbosity",
                        default=0, help="errors only: no notes, warnings or progress")
    parser.add_argument("-v", "--verbose", action="store_const", const=1, dest="verbosity",
                        help="also log the training losses of every epoch")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an earlier sklasd output: a folder whole, if it "
                             "holds only the unchanged files its sklasd_manifest.json "
                             "lists; a file, if sklasd wrote it")
    if not skip_bad:
        return
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip unreadable or too short files with a warning instead "
                             "of failing, and list them in skipped.csv")


def _common(parser):
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS),
                        help=f"pipeline to fit (default: {DEFAULT_MODEL}): " + "; ".join(
                            f"{name}: {desc}" for name, (desc, _) in MODELS.items()))
    parser.add_argument("--epochs", type=_positive_int, default=100,
                        help="training epochs (default: 100, as the baseline)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--device", default="cpu",
                        help="torch device: cpu, cuda, cuda:1, mps (default: cpu)")
    parser.add_argument("--n-jobs", type=_n_jobs, default=None,
                        help="threads for decoding and features; -1 for all cores "
                             "(default: 1)")
    parser.add_argument("--denoise", default=None, metavar="MODEL",
                        help="denoise the recordings first with this denoiser: a model "
                             "file holding one pipeline of waveform transformers, e.g. "
                             "save_models({'denoiser': make_pipeline(ComplexUNetDenoiser"
                             "(...).fit(...))}, MODEL) (a pickle: loading it runs code)")
    _messages(parser)


def _subparser(sub, name, help):
    return sub.add_parser(name, help=help, description=help, epilog=EXIT_STATUSES,
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _scheduler(text):
    try:
        return check_scheduler(text)
    except (ValueError, ImportError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def build_parser():
    """The argument parser of the ``sklasd`` command."""
    parser = argparse.ArgumentParser(
        prog="sklasd", description="Anomalous sound detection with scikit-learn pipelines.",
        epilog=EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"sklasd {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = _subparser(sub, "run", "fit, score and evaluate per machine type")
    run.add_argument("data_dir", nargs="?", default=None,
                     help="folder in a DCASE / MIMII / ToyADMOS layout "
                          "(default: built-in synthetic machine sounds)")
    run.add_argument("-o", "--output", "--out", dest="out", default="sklasd_results",
                     metavar="DIR",
                     help="output folder (default: sklasd_results)")
    run.add_argument("--train-fraction", type=_fraction, default=0.5,
                     help="share of the normal test clips used for training where an "
                          "ID has too few training clips (default: 0.5)")
    run.add_argument("--min-train-clips", type=_positive_int, default=10,
                     help="an ID with fewer normal training clips also trains on "
                          "--train-fraction of its other normal clips (default: 10)")
    run.add_argument("--scheduler", default=None, type=_scheduler, metavar="ADDRESS",
                     help="run on Dask (sklasd[dask]): a scheduler address or scheduler "
                          "file, or local[:N] for a LocalCluster of N workers; the workers "
                          "read the files, so DATA_DIR must be at the same path on them")
    run.add_argument("--no-report", action="store_true",
                     help="do not write report.html (report_data.json is still "
                          "written, so `sklasd report` can write it later)")
    _common(run)
    run.set_defaults(func=cmd_run, output_kind="folder", output_attr="out")

    report = _subparser(sub, "report", "write report.html of a finished `sklasd run` "
                                       "folder again (its model files are loaded: a "
                                       "model file runs code, use only trusted ones)")
    report.add_argument("run_dir", help="output folder of `sklasd run`")
    report.add_argument("-o", "--output", default=None, metavar="FILE",
                        help="the page to write (default: RUN_DIR/report.html, which "
                             "is replaced)")
    _messages(report, skip_bad=False)
    report.set_defaults(func=cmd_report, output_kind=None, output_attr="output")

    fit = _subparser(sub, "fit", "fit a model on a folder of (normal) recordings")
    fit.add_argument("train_dir", nargs="+",
                     help="folder(s) of recordings (any layout) or audio files")
    fit.add_argument("-o", "--output", required=True, metavar="FILE",
                     help="model file to write (a pickle: loading it runs code)")
    _common(fit)
    fit.set_defaults(func=cmd_fit, output_kind="file", output_attr="output")

    score = _subparser(sub, "score", "score recordings with a saved model (a model file "
                                     "runs code when loaded: use only trusted ones)")
    score.add_argument("model_file", help="model file written by `sklasd fit`, or an "
                                          ".onnx file of `sklasd export` (no code runs)")
    score.add_argument("test_dir", nargs="+",
                       help="folder(s) of recordings or audio files to score")
    score.add_argument("-o", "--output", required=True, metavar="DIR",
                       help="output folder for the DCASE-style anomaly_score_*.csv and "
                            "decision_result_*.csv files and results.csv (with notes); "
                            "- writes one CSV table (file, anomaly_score, "
                            "decision_result, notes) to stdout")
    score.add_argument("--machine-type", default=None,
                       help="which machine type's model to use, if it holds several")
    score.add_argument("--machine-id", default=None,
                       help="machine ID of the recordings, for models trained with IDs "
                            "(idcae)")
    _messages(score)
    score.set_defaults(func=cmd_score, output_kind="folder", output_attr="output")

    watch = _subparser(sub, "watch", "score recordings as they arrive under folders, "
                                     "once each, with alerts and a trend page (a model "
                                     "file runs code when loaded: use only trusted ones)")
    watch.add_argument("folders", nargs="+", metavar="DIR",
                       help="folder(s) to watch, with their subfolders")
    watch.add_argument("-m", "--model", required=True, metavar="MODEL",
                       help="model file of `sklasd fit`, or output folder of `sklasd "
                            "run` (the machine type of a recording is read from its "
                            "folders, as `sklasd run` reads them)")
    watch.add_argument("-o", "--output", required=True, metavar="LOG_DIR",
                       help="folder of the log (events.jsonl: one line per recording, "
                            "appended; it says what is scored, so a restart goes on "
                            "where the watch stopped) and trend.html")
    watch.add_argument("--once", action="store_true",
                       help="score what the folders hold and exit (for cron)")
    watch.add_argument("--polling", action="store_true",
                       help="poll the folders instead of kernel events (network shares)")
    watch.add_argument("--settle", type=float, default=2.0, metavar="SECONDS",
                       help="a file whose close is not seen (found at start, moved in, "
                            "--polling) is complete when unchanged this long (default: 2)")
    watch.add_argument("--alert-after", type=_positive_int, default=1, metavar="N",
                       help="alert after N anomalous recordings in a row of one machine "
                            "type (default: 1)")
    watch.add_argument("--on-anomaly", default=None, metavar="CMD",
                       help="command run at each alert, without a shell, with the file, "
                            "machine type, score and threshold as its last arguments and "
                            "in SKLASD_FILE, SKLASD_MACHINE_TYPE, SKLASD_SCORE, "
                            "SKLASD_THRESHOLD")
    watch.add_argument("--drift-window", type=_positive_int, default=20, metavar="K",
                       help="a machine type is 'changing' while the median of its last "
                            "K scores is above the 0.8 quantile of its training scores "
                            "(default: 20)")
    watch.add_argument("-q", "--quiet", action="store_const", const=-1,
                       dest="verbosity", default=0,
                       help="errors only: no notes, alerts or warnings")
    watch.add_argument("-v", "--verbose", action="store_const", const=1,
                       dest="verbosity", help="also a line per recording scored")
    watch.set_defaults(func=cmd_watch, output_kind=None, output_attr="output")

    export = _subparser(sub, "export", "export a model file's pipeline to ONNX "
                                       "(sklasd[onnx]; the model file runs code when "
                                       "loaded, the ONNX file does not)")
    export.add_argument("model_file", help="model file written by `sklasd fit` or `run`")
    export.add_argument("-o", "--output", required=True, metavar="FILE",
                        help="the .onnx file to write")
    export.add_argument("--machine-type", default=None,
                        help="which machine type's pipeline, if the model holds several")
    export.add_argument("--machine-id", default=None,
                        help="for an idcae model: the machine ID the graph scores as")
    export.add_argument("--duration", type=float, default=None, metavar="SECONDS",
                        help="fixed clip length of the graph (default: any length, "
                             "or the length the pipeline crops clips to)")
    export.add_argument("--int8", action="store_true",
                        help="store the neural network's weights as int8")
    _messages(export, skip_bad=False)
    export.set_defaults(func=cmd_export, output_kind="file", output_attr="output")
    return parser


def _check_device(device):
    """One-line errors for a device torch cannot train on here, before any work."""
    import torch

    try:
        parsed = torch.device(device)
        kind = parsed.type
    except (RuntimeError, ValueError):
        raise ValueError(f"--device {device!r} is not a torch device (cpu, cuda, "
                         "cuda:1, mps, ...)") from None
    if kind not in ("cpu", "cuda", "mps"):  # meta, xla, ...: no training there
        raise ValueError(f"--device {device!r}: sklasd trains on cpu, cuda, cuda:N or "
                         "mps only")
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": torch.backends.mps.is_available()}
    if not available.get(kind, True):
        raise ValueError(f"--device {device!r}: no {kind} device is available on this "
                         f"machine (torch {torch.__version__}); use --device cpu")
    if kind == "cuda" and (parsed.index or 0) >= torch.cuda.device_count():
        raise ValueError(f"--device {device!r}: this machine has "
                         f"{torch.cuda.device_count()} CUDA device(s), numbered from 0")


def _open_output(args):
    """Open the command's output before any work (sklasd._outputs): staging, lock."""
    path = getattr(args, args.output_attr)
    if args.output_kind is None:  # the command opens its output itself
        return contextlib.nullcontext(None)
    inputs = []
    for name in ("data_dir", "train_dir", "test_dir", "model_file", "denoise"):
        given = getattr(args, name, None) or []
        inputs += [given] if isinstance(given, str) else list(given)  # nargs="+" lists
    if path == "-":
        if args.command != "score":
            raise ValueError(f"-o -: `sklasd {args.command}` writes files; only "
                             "`sklasd score` can write to stdout")
        return contextlib.nullcontext(None)
    if args.output_kind == "folder":
        return output_folder(path, overwrite=args.overwrite, inputs=inputs)
    return output_file(path, overwrite=args.overwrite, inputs=inputs, signature=MAGIC)


def _load_denoiser(path):
    """The one pipeline of a ``--denoise`` model file, checked before any work."""
    models = load_models(path)
    if len(models) != 1:
        raise ValueError(f"--denoise {path}: expected one denoiser pipeline, the file "
                         f"holds {len(models)} ({', '.join(sorted(models))})")
    (denoiser,) = models.values()
    if not hasattr(denoiser, "transform") or hasattr(denoiser[-1], "anomaly_score"):
        raise ValueError(f"--denoise {path}: {type(denoiser[-1]).__name__} is a "
                         "detector, not a denoiser")
    return denoiser


def _execute(args):
    if getattr(args, "device", "cpu") != "cpu":
        _check_device(args.device)
    if getattr(args, "denoise", None) is not None:
        args.denoiser = _load_denoiser(args.denoise)
    check_interrupted()  # a signal during the imports
    with contextlib.ExitStack() as output:  # closed by _staging, or on an error
        args.stage = output.enter_context(_open_output(args))
        token = _OUTPUT.set(output)
        try:
            return args.func(args, LOGGER.info)
        finally:
            _OUTPUT.reset(token)


def main(argv=None):
    """Run the ``sklasd`` command.

    Returns
    -------
    status : int
        0 on success, 2 on bad input or usage (one line on stderr, nothing written),
        130 when interrupted by Ctrl-C and 143 by SIGTERM (nothing written).
    """
    args = build_parser().parse_args(argv)
    with logging_to_stderr(args.verbosity), signals_interrupt():
        try:
            return _execute(args)
        except Interrupted as exc:
            LOGGER.error("%s: no results written", exc)
            return exc.exit_status
        except KeyboardInterrupt:
            LOGGER.error("interrupted: no results written")
            return 130
        except ValueError as exc:  # AudioError, OutputError, ModelFileError: one line
            LOGGER.error("%s", exc)
            return 2
        except OSError as exc:  # e.g. a data folder that may not be listed
            reason = (exc.strerror or str(exc)).lower()
            LOGGER.error("%s", f"{exc.filename}: {reason}" if exc.filename else reason)
            return 2
