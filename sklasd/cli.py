"""The ``sklasd`` command: fit, score and evaluate detectors on folders of audio.

``sklasd run [DATA_DIR]`` is the main job: for each machine type in a folder of any
layout the loaders recognise (or in built-in synthetic data when no folder is given),
fit the default pipeline on the normal training clips, score the test clips, and write
DCASE-style result files, a metrics table, plots and the fitted pipelines
(DESIGN.md sections 8 and 9). ``sklasd fit`` / ``sklasd score`` train a model on a
folder and score new recordings with it.

Bad input (a folder with no audio, a corrupt or empty file, an unusable rate) is one
line on stderr and exit status 2; with ``--skip-bad`` the file is skipped with a
warning and listed. Outputs are written to a staging folder and moved into place only
when everything succeeded, so a failed run leaves no partial files.
"""

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from sklasd.audio import AudioError, load_audio

from sklasd.models import DEFAULT_MODEL, MODELS, make_model

__all__ = ["main", "make_model", "MODELS"]


def _routed(model, method, X, machine_id):
    """``model.<method>(X)``, passing ``machine_id`` metadata if the model requests it.

    The machine IDs travel as metadata (DESIGN.md section 5) to a detector that
    requests them (IDConditionedAE); the other models get none.
    """
    import sklearn
    from sklearn.utils.metadata_routing import get_routing_for_object

    with sklearn.config_context(enable_metadata_routing=True):
        routing = get_routing_for_object(model)
        request = "fit" if method == "fit" else "decision_function"
        if not routing.consumes(request, ["machine_id"]):
            return getattr(model, method)(X)
        if machine_id is None:
            raise ValueError("this model needs the machine ID of the clips: "
                             "give --machine-id")
        return getattr(model, method)(X, machine_id=np.asarray(machine_id))


def _score_and_label(model, X, machine_id):
    """Anomaly scores and decisions (1 = anomaly, from the detector's ``predict``).

    The features are computed once and given to both methods of the final step.
    """
    Xt = model[:-1].transform(X)
    labels = _routed(model[-1], "predict", Xt, machine_id)
    return _routed(model[-1], "anomaly_score", Xt, machine_id), (labels == -1).astype(int)


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


def _screen(data, skip_bad, log):
    """Positions of the clips to use and the skipped files with their reasons.

    Without ``--skip-bad`` nothing is decoded here: the pipeline validates every clip
    and its AudioError names the bad file. With it, every file is decoded once first
    so that bad ones can be dropped with a warning.
    """
    if not skip_bad or not isinstance(data[0], str):
        return np.arange(len(data)), []
    kept, skipped = [], []
    for i, path in enumerate(data):
        try:
            load_audio(path)
        except AudioError as exc:
            warnings.warn(f"skipped: {exc}", stacklevel=2)
            skipped.append((path, str(exc)))
            continue
        kept.append(i)
    if skipped:
        log(f"skipped {len(skipped)} bad file(s) (--skip-bad)")
    return np.asarray(kept, dtype=int), skipped


def _train_test(frame, train_fraction, min_train, seed):
    """Training and test positions for one machine type, and what each ID trained on.

    An ID with at least ``min_train`` normal clips in its ``train`` split trains on
    them and is scored on all its other clips. An ID with fewer (most folders of
    real recordings hold test clips only) also trains on a seeded ``train_fraction``
    of its other normal clips, per domain where the data has domains, and is scored
    on the rest; a domain or ID without normal clips only contributes test clips.
    A machine type without any normal clip (a DCASE evaluation test set, one's own
    unlabeled recordings) trains on its unlabeled clips, taken to be mostly normal
    (those of the ``train`` split if there are any), and every clip is scored.
    """
    train, test = [], []
    for machine_id, rows in frame.groupby("machine_id", sort=True):
        pos = rows.index.to_numpy()
        normal = (rows["target"] == 0).to_numpy()
        in_train = (rows["split"] == "train").to_numpy() & normal
        others = ~(rows["split"] == "train").to_numpy()
        if in_train.sum() < min_train:
            in_train |= _fraction_of_normals(rows, others & normal, train_fraction, seed)
        train.append(pos[in_train])
        test.append(pos[~in_train & (others | ~normal)])
    train, test = np.concatenate(train), np.concatenate(test)
    if train.size == 0:  # no labelled normal clip anywhere: the unlabeled ones
        unlabeled = (frame["target"] == -1).to_numpy()
        from_split = unlabeled & (frame["split"] == "train").to_numpy()
        train = frame.index.to_numpy()[from_split if from_split.any() else unlabeled]
        test = frame.index.to_numpy()[~from_split] if from_split.any() else \
            frame.index.to_numpy()
    return np.sort(train), np.sort(test), _describe_training(frame, train, test)


def _fraction_of_normals(rows, candidates, train_fraction, seed):
    """Mask of a seeded ``train_fraction`` of the ``candidates`` of ``rows``, drawn in
    each domain that has normal clips (a domain without any gives none)."""
    from sklasd.model_selection import normal_train_test_split

    mask = np.zeros(len(rows), dtype=bool)
    where = np.flatnonzero(candidates)
    if where.size:
        tr, _ = normal_train_test_split(
            np.zeros(where.size, dtype=int), groups=rows["domain"].to_numpy()[where],
            train_size=train_fraction, random_state=seed)
        mask[where[tr]] = True
    return mask


def _clips(n, what):
    return f"{n} {what} clip{'s' if n != 1 else ''}"


def _describe_training(frame, train, test):
    """``{machine_id: what the model scoring it was trained on}``, in plain words."""
    used = frame.loc[train]
    machine_type = frame["machine_type"].iloc[0]
    if (used["target"] == -1).all():
        in_sample = "; each clip is also scored" if np.isin(train, test).any() else ""
        text = (f"trained on {_clips(len(train), 'unlabeled')} of {machine_type}, "
                f"taken as normal{in_sample}")
        return {machine_id: text for machine_id in frame["machine_id"].unique()}
    described = {}
    for machine_id in frame["machine_id"].unique():
        mine = used[used["machine_id"] == machine_id]
        others = used[used["machine_id"] != machine_id]
        name = machine_id or "the folder"
        if mine.empty:
            described[machine_id] = (
                f"no normal clips of {name} to train on: scored by the {machine_type} "
                f"model, trained on {_clips(len(others), 'normal')} of "
                f"{', '.join(sorted(set(others['machine_id'])))}")
            continue
        text = f"trained on {_clips(len(mine), 'normal')} of {name}{_domains(mine)}"
        drawn = int((mine["split"] != "train").sum())
        if drawn:
            text += f", {drawn} of them drawn from its clips outside a train folder"
        if not others.empty:
            text += (f", in one {machine_type} model with {len(others)} of "
                     f"{', '.join(sorted(set(others['machine_id'])))}")
        described[machine_id] = text
    return described


def _domains(rows):
    """`` (source)`` or `` (20 source, 7 target)``: the domains of some clips."""
    counts = rows["domain"][rows["domain"] != ""].value_counts().sort_index()
    if counts.empty:
        return ""
    if len(counts) == 1:
        return f" ({counts.index[0]})"
    return " (" + ", ".join(f"{n} {d}" for d, n in counts.items()) + ")"


def _duration_notes(paths, reference):
    """Per-file note where a duration differs by >10 % from the training clips'."""
    from sklasd.features import duration_outliers

    notes = np.full(len(paths), "", dtype=object)
    if reference is None or not isinstance(paths[0], str):
        return notes
    seconds = _durations(paths)
    for i in duration_outliers(seconds, reference):
        notes[i] = (f"duration {seconds[i]:.2f} s differs by more than 10% from the "
                    f"training clips' {reference:.2f} s")
    return notes


def _durations(paths):
    """Durations in seconds from the file headers (NaN where one cannot be read)."""
    import soundfile as sf

    return np.array([_seconds(sf, path) for path in paths])


def _seconds(sf, path):
    try:
        return sf.info(path).duration
    except (sf.LibsndfileError, RuntimeError, OSError):
        return np.nan


# --- outputs --------------------------------------------------------------------
@contextlib.contextmanager
def _staging(out_dir):
    """A temporary folder whose files move into ``out_dir`` only on success."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".sklasd-", dir=out_dir))
    try:
        yield stage
        for path in sorted(stage.iterdir()):
            os.replace(path, out_dir / path.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _write_csv_rows(path, names, values):
    """DCASE result files: ``<file name>,<value>`` per line, no header."""
    pd.DataFrame({"f": names, "v": values}).to_csv(path, header=False, index=False)


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
        names = [Path(f).name for f in rows["filename"]]
        _write_csv_rows(stage / f"anomaly_score_{suffix}.csv", names, scores[pos])
        _write_csv_rows(stage / f"decision_result_{suffix}.csv", names, decisions[pos])


def _save_plots(stage, machine_type, frame, scores, threshold):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklasd.plotting import plot_roc, plot_score_histogram

    y = frame["target"].to_numpy()
    if {0, 1} <= set(y):
        ax = plot_roc(y, scores, groups=frame["machine_id"].to_numpy(), max_fpr=0.1)
        ax.set_title(f"ROC: {machine_type}")
        ax.figure.savefig(stage / f"roc_{machine_type}.png", dpi=100)
    ax = plot_score_histogram(y, scores, threshold=threshold)
    ax.set_title(f"Anomaly scores: {machine_type}")
    ax.figure.savefig(stage / f"score_histogram_{machine_type}.png", dpi=100)
    plt.close("all")


# --- commands --------------------------------------------------------------------
def _run_type(args, machine_type, frame, data, log):
    train, test, how = _train_test(frame, args.train_fraction, args.min_train_clips,
                                   args.seed)
    for machine_id, rule in how.items():
        log(f"[{machine_type}] {machine_id or machine_type}: {rule}")
    log(f"[{machine_type}] fitting on {len(train)} clips, scoring {len(test)}")
    model = make_model(args.model, max_epochs=args.epochs, random_state=args.seed,
                       device=args.device, verbose=int(not args.quiet), n_jobs=args.n_jobs)
    reference = (float(np.nanmedian(_durations(data[train])))
                 if isinstance(data[0], str) else None)
    test_frame = frame.loc[test].assign(notes=_duration_notes(data[test], reference))
    test_frame = test_frame.reset_index(drop=True)
    ids = frame["machine_id"]
    _routed(model, "fit", data[train], ids.loc[train].to_numpy())
    scores, decisions = _score_and_label(model, data[test], ids.loc[test].to_numpy())
    return model, test_frame, scores, decisions, how


def _group_notes(report, results):
    """The report's own note joined with a count of the clips of unusual duration."""
    notes = report["note"] if "note" in report else pd.Series("", index=report.index)
    odd = results[results["notes"] != ""].groupby(["machine_type", "machine_id"]).size()
    extra = [f"{odd[k]} clip(s) of unusual duration (see results.csv)" if k in odd
             else "" for k in report.index]
    return ["; ".join(t for t in pair if t) for pair in zip(notes, extra)]


def cmd_run(args, log):
    import joblib

    from sklasd.metrics import anomaly_report

    bunch = _load(args.data_dir, args.seed)
    kept, skipped = _screen(bunch.data, args.skip_bad, log)
    frame = bunch.frame.iloc[kept].reset_index(drop=True)
    data = bunch.data[kept]
    tested, training = [], {}
    with _staging(args.out) as stage:
        for machine_type, rows in frame.groupby("machine_type", sort=True):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model, test_frame, scores, decisions, how = _run_type(
                    args, machine_type, rows, data, log)
            # one line per distinct warning (e.g. too few clips for a gamma fit)
            for message in dict.fromkeys(str(w.message) for w in caught):
                log(f"[{machine_type}] note: {message}")
            _write_type_results(stage, machine_type, test_frame, scores, decisions)
            _save_plots(stage, machine_type, test_frame, scores, model[-1].threshold_)
            joblib.dump(model, stage / f"model_{machine_type}.joblib")
            test_frame["anomaly_score"] = scores
            test_frame["is_anomaly"] = decisions
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
        report.to_csv(stage / "metrics.csv")
        results[["filename", "machine_type", "machine_id", "domain", "target",
                 "anomaly_score", "is_anomaly", "notes"]].to_csv(
            stage / "results.csv", index=False)
        if skipped:
            pd.DataFrame(skipped, columns=["file", "reason"]).to_csv(
                stage / "skipped.csv", index=False)
    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.max_colwidth", 60,
                           "display.float_format", "{:.4f}".format):
        print(report.drop(columns=["training"]).to_string())
    log(f"results written to {Path(args.out).resolve()}")
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


def cmd_fit(args, log):
    import joblib

    bunch = _load_inputs(args.train_dir)
    kept, _ = _screen(bunch.data, args.skip_bad, log)
    train = np.intersect1d(_training_clips(bunch), kept)
    types = sorted(set(bunch.machine_type[train]))
    models = {}
    for machine_type in types:
        rows = train[bunch.machine_type[train] == machine_type]
        kind = "normal" if (bunch.target[rows] == 0).all() else "unlabeled"
        log(f"[{machine_type}] fitting on {len(rows)} {kind} clips")
        model = make_model(args.model, max_epochs=args.epochs, random_state=args.seed,
                           device=args.device, verbose=int(not args.quiet),
                           n_jobs=args.n_jobs)
        models[machine_type] = _routed(model, "fit", bunch.data[rows],
                                       bunch.machine_id[rows])
    with _staging(Path(args.output).resolve().parent) as stage:
        joblib.dump(models, stage / Path(args.output).name)
    log(f"model for {', '.join(types)} written to {args.output}")
    return 0


def cmd_score(args, log):
    import joblib

    models = joblib.load(args.model_file)
    if args.machine_type is None and len(models) > 1:
        raise ValueError(f"the model holds several machine types {sorted(models)}: "
                         "choose one with --machine-type")
    machine_type = args.machine_type or next(iter(models))
    if machine_type not in models:
        raise ValueError(f"machine type {machine_type!r} is not in the model "
                         f"(it has {sorted(models)})")
    paths = _audio_paths(args.test_dir)
    positions, skipped = _screen(paths, args.skip_bad, log)
    kept = list(paths[positions])
    model = models[machine_type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores, decisions = _score_and_label(
            model, kept, None if args.machine_id is None else [args.machine_id] * len(kept))
    for message in dict.fromkeys(str(w.message) for w in caught):
        log(f"note: {message}")
    table = pd.DataFrame({"file": kept, "anomaly_score": scores, "is_anomaly": decisions,
                          "notes": _duration_notes(
                              kept, getattr(model[0], "training_duration_", None))})
    with _staging(Path(args.output).resolve().parent) as stage:
        table.to_csv(stage / Path(args.output).name, index=False)
    log(f"scored {len(kept)} file(s) ({len(skipped)} skipped) into {args.output}: "
        f"{int(decisions.sum())} called anomalous (score above {model[-1].threshold_:.4g})")
    return 0


def _audio_paths(items):
    """The audio files of folders (recursively, sorted) and of file arguments."""
    from sklasd.datasets._base import list_audio

    paths = []
    for item in items:
        paths += ([str(p) for p in list_audio(item)[1]] if Path(item).is_dir()
                  else [str(Path(item).resolve())])
    return np.asarray(paths, dtype=str)


# --- argument parsing -----------------------------------------------------------------
def _common(parser):
    parser.add_argument("--model", default=DEFAULT_MODEL, choices=sorted(MODELS),
                        help=f"pipeline to fit (default: {DEFAULT_MODEL}): " + "; ".join(
                            f"{name}: {desc}" for name, (desc, _) in MODELS.items()))
    parser.add_argument("--epochs", type=int, default=100,
                        help="training epochs (default: 100, as the baseline)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--n-jobs", type=int, default=None,
                        help="threads for decoding and features (default: 1)")
    parser.add_argument("--skip-bad", action="store_true",
                        help="skip unreadable files with a warning instead of failing")
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def build_parser():
    """The argument parser of the ``sklasd`` command."""
    parser = argparse.ArgumentParser(
        prog="sklasd", description="Anomalous sound detection with scikit-learn pipelines.")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="fit, score and evaluate per machine type")
    run.add_argument("data_dir", nargs="?", default=None,
                     help="folder in a DCASE / MIMII / ToyADMOS layout "
                          "(default: built-in synthetic machine sounds)")
    run.add_argument("--out", default="sklasd_results",
                     help="output folder (default: sklasd_results)")
    run.add_argument("--train-fraction", type=float, default=0.5,
                     help="share of the normal test clips used for training where an "
                          "ID has too few training clips (default: 0.5)")
    run.add_argument("--min-train-clips", type=int, default=10,
                     help="an ID with fewer normal training clips also trains on "
                          "--train-fraction of its other normal clips (default: 10)")
    _common(run)
    run.set_defaults(func=cmd_run)

    fit = sub.add_parser("fit", help="fit a model on a folder of (normal) recordings")
    fit.add_argument("train_dir", nargs="+",
                     help="folder(s) of recordings (any layout) or audio files")
    fit.add_argument("-o", "--output", required=True, help="model file (.joblib)")
    _common(fit)
    fit.set_defaults(func=cmd_fit)

    score = sub.add_parser("score", help="score recordings with a saved model")
    score.add_argument("model_file")
    score.add_argument("test_dir", nargs="+",
                       help="folder(s) of recordings or audio files to score")
    score.add_argument("-o", "--output", required=True, help="scores file (.csv)")
    score.add_argument("--machine-type", default=None,
                       help="which machine type's model to use, if it holds several")
    score.add_argument("--machine-id", default=None,
                       help="machine ID of the recordings, for models trained with IDs "
                            "(idcae)")
    score.add_argument("--skip-bad", action="store_true",
                       help="skip unreadable files with a warning instead of failing")
    score.add_argument("--quiet", action="store_true", help="no progress output")
    score.set_defaults(func=cmd_score)
    return parser


def main(argv=None):
    """Run the ``sklasd`` command; returns the exit status (2 on bad input)."""
    args = build_parser().parse_args(argv)

    def log(message):
        if not args.quiet:
            print(message, file=sys.stderr)

    try:
        return args.func(args, log)
    except ValueError as exc:  # AudioError included: bad input, one line
        print(f"sklasd: error: {exc}", file=sys.stderr)
        return 2
