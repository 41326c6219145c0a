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
from pathlib import Path

from sklasd import __version__
from sklasd._interrupt import Interrupted, check_interrupted, signals_interrupt
from sklasd._log import LOGGER, PROGRESS, logging_to_stderr
from sklasd._outputs import output_file, output_folder, write_csv
from sklasd.engine import MAGIC, load_models, save_models
from sklasd.models import DEFAULT_MODEL, MODELS, make_model
from sklasd.parallel import check_scheduler

__all__ = ["main", "make_model", "MODELS", "load_models", "save_models"]


def _run_options(args):
    """The keywords of the library call shared by ``run`` and ``fit``."""
    return dict(model=args.model, epochs=args.epochs, random_state=args.seed,
                device=args.device, n_jobs=args.n_jobs, denoiser=args.denoiser,
                skip_bad=args.skip_bad)


#: The command's open output (an ExitStack), set by :func:`_execute`; not an attribute
#: of ``args``.
_OUTPUT = contextvars.ContextVar("sklasd_output")


def _publish():
    """Move the staged output into place now (``sklasd._outputs``), so that the results
    printed and the messages logged after it come once the results are in place. The
    progress line ends here."""
    PROGRESS.close()
    _OUTPUT.get().close()


def _print_metrics(metrics):
    import pandas as pd

    with pd.option_context("display.width", 200, "display.max_columns", 20,
                           "display.max_colwidth", 60,
                           "display.float_format", "{:.4f}".format):
        print(metrics.drop(columns=["training"]).to_string())


# --- commands --------------------------------------------------------------------
# The library is imported by each command, so that `sklasd --version` and `--help`
# stay fast.
def cmd_run(args, stage, log):
    from sklasd.engine import run

    result = run(args.data_dir, train_fraction=args.train_fraction,
                 min_train_clips=args.min_train_clips, scheduler=args.scheduler,
                 **_run_options(args))
    result.write(stage, report=not args.no_report, base_dir=Path(args.out).resolve())
    _publish()
    _print_metrics(result.metrics)
    log(f"results written to {Path(args.out).resolve()}")
    return 0


def cmd_report(args, stage, log):
    from sklasd.engine import rebuild_report

    path = rebuild_report(args.run_dir, output=args.output,
                          overwrite=args.overwrite or None)
    log(f"report written to {Path(path).resolve()}")
    return 0


def cmd_fit(args, stage, log):
    from sklasd.engine import fit_models

    models, _ = fit_models(args.train_dir, **_run_options(args))
    save_models(models, stage)
    _publish()
    log(f"model for {', '.join(models)} written to {args.output}")
    return 0


def cmd_score(args, stage, log):
    from sklasd.engine import score_models
    from sklasd.export import load_onnx_models  # an .onnx file: onnxruntime, no pickle

    models = (load_onnx_models if str(args.model_file).lower().endswith(".onnx")
              else load_models)(args.model_file)
    result = score_models(models, args.test_dir, machine_type=args.machine_type,
                          machine_id=args.machine_id, skip_bad=args.skip_bad)
    if stage is None:
        PROGRESS.close()
        write_csv(result.results, index=False)
    else:
        result.write(stage)
    _publish()
    decisions = result.results["decision_result"]
    log(f"scored {len(decisions)} file(s) ({len(result.skipped)} skipped) into "
        f"{args.output}: {int(decisions.sum())} called anomalous (score above "
        f"{result.threshold:.4g})")
    return 0


def cmd_watch(args, stage, log):
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


def cmd_export(args, stage, log):
    from sklasd.engine import select_model
    from sklasd.export import save_onnx

    machine_type, model = select_model(load_models(args.model_file), args.machine_type)
    save_onnx(model, stage, machine_type=machine_type, machine_id=args.machine_id,
              duration=args.duration, int8=args.int8)
    log(f"[{machine_type}] ONNX model written to {args.output}")
    return 0


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
    parser.add_argument("--epochs", type=_positive_int, default=None,
                        help="training epochs (default: the model's own: 100 as the "
                             "baseline, 30 for embedding)")
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
    args.denoiser = None if getattr(args, "denoise", None) is None else \
        _load_denoiser(args.denoise)
    check_interrupted()  # a signal during the imports
    with contextlib.ExitStack() as output:  # closed by _publish, or on an error
        stage = output.enter_context(_open_output(args))
        token = _OUTPUT.set(output)
        try:
            return args.func(args, stage, LOGGER.info)
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
