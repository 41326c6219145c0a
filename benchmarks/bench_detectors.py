"""Every ``sklasd run --model`` pipeline and PyOD's AudioAE on the real folders and generated sounds.

Prints, in one run, one row per (data set, pipeline): AUC, pAUC (max_fpr 0.1),
AUC (source) and AUC (target) where the data have domains, the official score
(``sklasd.metrics.official_score``: harmonic mean over sections of AUC(source),
AUC(target) and pAUC, or of AUC and pAUC without domains), fit seconds and
scoring throughput (clips per second, end to end from wav files, ``n_jobs=2``,
median of 3 timed scorings; the generated set is scored from arrays). Then the mean official score over the
real sets, by which ``sklasd.models.DEFAULT_MODEL`` is chosen.

Data sets (the development suite of ``benchmarks/protocol.py``, which chooses the
settings and the default among pooled candidates, plus a generated set):

- ``valve``: ``../shared/data/dcase2023-task2-valve``; train = the 2 training clips
  + the first 25 ``section_00_source_test_normal_*`` clips sorted by name; test =
  the other 175 clips (AUC(source) pools the source normals with all anomalies,
  AUC(target) likewise, as the DCASE 2023 evaluator does).
- ``slider id_00``: ``dcase2020-task2-lite`` slider id_00, its 75 training clips;
  test = its 6 test clips (3 normal, 3 anomalous: a coarse figure).
- ``mimii/<type>``: ``mimii-lite`` (one normal and one abnormal 8-channel clip per
  ID, down-mixed): leave one ID out: fitted on the normal clips of the other three
  IDs, scored on the left-out ID's two clips; the 8 scores of the 4 folds are
  pooled into one section (4 normal, 4 anomalous: very coarse, and a test of
  generalisation to an unseen ID of the same type).
- ``generated``: ``sklasd.datasets.make_machine_sounds(random_state=0)``, its own
  train / test split.

PyOD's ``AudioAE`` (``pip install pyod``; a benchmark-only dependency) is fitted on
the same file lists; where PyOD is missing the row says so.

``ensemble (searched)`` on valve: ``WeightedEnsembleDetector`` over the fitted
pooled pipelines (``gmm``, ``knn``, ``mahalanobis``, wrapped in
``FrozenEstimator``), its weights searched on labelled clips and cross-fitted: the
test clips are split in two halves (stratified, seeded); the weights searched on
half A score half B and vice versa. The standardisation statistics are the
members' scores on the training clips plus the normal clips of the searching half.

Usage: python benchmarks/bench_detectors.py [--quick] [--models gmm knn ...]
[--sets valve slider mimii generated] [--no-pyod]
(``--quick`` trains the neural pipelines and AudioAE for 5 epochs instead of 100
and 40; the pooled pipelines have no epochs.)
"""
import argparse
import time
import warnings

import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.frozen import FrozenEstimator
from sklearn.utils.metadata_routing import get_routing_for_object

from sklasd.detectors import WeightedEnsembleDetector

from sklasd.datasets import make_machine_sounds
from sklasd.models import DEFAULT_MODEL, MODELS, make_model

from protocol import clips, evaluate, fit_pyod, mimii_sets, slider_set, valve_set
N_JOBS = 2
REPEATS = 3  # scoring is timed this many times; the median rate is reported


def median_timed(function):
    """``(result, median seconds)`` of ``REPEATS`` calls of ``function()``."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return result, float(np.median(times))


def generated_set():
    bunch = make_machine_sounds(random_state=0)
    frame = bunch.frame.reset_index(drop=True).assign(data=list(bunch.data))
    train = (frame["split"] == "train").to_numpy()
    return "generated", frame, [(np.flatnonzero(train), np.flatnonzero(~train))]


def _call(model, method, X, machine_id):
    """``model.<method>(X)`` with ``machine_id`` where the model requests it."""
    request = "fit" if method == "fit" else "decision_function"
    if get_routing_for_object(model).consumes(request, ["machine_id"]):
        return getattr(model, method)(X, machine_id=machine_id)
    return getattr(model, method)(X)


FITTED = {}  # (data set, pipeline) -> fitted pipeline, for the searched ensemble


def run_sklasd(name, frame, train, test, epochs):
    X, ids = clips(frame), frame["machine_id"].to_numpy()
    model = make_model(name, max_epochs=epochs, random_state=0, n_jobs=N_JOBS)
    start = time.perf_counter()
    _call(model, "fit", [X[i] for i in train], ids[train])
    fit_s = time.perf_counter() - start
    scores, seconds = median_timed(
        lambda: _call(model, "anomaly_score", [X[i] for i in test], ids[test]))
    rate = len(test) / seconds
    FITTED[name] = model
    return scores, fit_s, rate


def halves(y, seed=0):
    """Two halves of the positions ``0 .. len(y) - 1``, each with both classes."""
    rng = np.random.default_rng(seed)
    a = np.zeros(len(y), bool)
    for label in (0, 1):
        pos = rng.permutation(np.flatnonzero(y == label))
        a[pos[: (len(pos) + 1) // 2]] = True
    return np.flatnonzero(a), np.flatnonzero(~a)


def run_searched_ensemble(frame, train, test, members, step=0.01):
    """Cross-fitted weight search over fitted members; returns the row inputs."""
    X = np.asarray(clips(frame), dtype=object)
    y_test = frame["target"].to_numpy()[test]
    scores, weights = np.empty(len(test)), []
    start = time.perf_counter()
    a, b = halves(y_test)
    for search, score in ((a, b), (b, a)):
        idx = np.r_[train, test[search]]
        y = np.r_[np.zeros(len(train), int), y_test[search]]
        ens = WeightedEnsembleDetector(
            [(m, FrozenEstimator(FITTED[m])) for m in members], weight_step=step,
            cv=[(np.arange(len(train)), np.arange(len(train), len(idx)))])
        ens.fit(list(X[idx]), y)
        scores[score] = ens.anomaly_score(list(X[test[score]]))
        weights.append(dict(zip(members, ens.weights_.round(2).tolist())))
    print(f"  ensemble (searched) weights, half A / half B: {weights[0]} / {weights[1]}")
    return scores, time.perf_counter() - start


def run_pyod(frame, train, test, epochs):
    model, X, fit_s = fit_pyod(frame, train, epochs)
    scores, seconds = median_timed(lambda: model.decision_function([X[i] for i in test]))
    return np.asarray(scores, dtype=np.float64), fit_s, len(test) / seconds


def run_logmel(frame, train, test):
    """The feature extractor alone on the test clips: the bound of every rate."""
    from sklasd.features import LogMelTransformer

    X = clips(frame)
    _, seconds = median_timed(
        lambda: LogMelTransformer(n_jobs=N_JOBS).fit_transform([X[i] for i in test]))
    return None, 0.0, len(test) / seconds


def warm_up(sets):
    """One untimed fit and score of the default pipeline on a few clips first: the
    first pipeline timed would otherwise pay for thread-pool start-up and first-call
    costs that the others do not."""
    _, frame, _ = sets[0]
    few = clips(frame)[:4]
    make_model(n_jobs=N_JOBS).fit(few).anomaly_score(few)


def run_folds(run, frame, folds):
    """Scores of every fold's test clips (concatenated), total fit s, overall rate."""
    scores, fit_s, score_s, tests = [], 0.0, 0.0, []
    for train, test in folds:
        s, f, rate = run(frame, train, test)
        scores.append(s)
        fit_s += f
        score_s += len(test) / rate
        tests.append(test)
    test = np.concatenate(tests)
    if scores[0] is None:
        return None, test, fit_s, len(test) / score_s
    return np.concatenate(scores), test, fit_s, len(test) / score_s


def row(data, method, frame, test, scores, fit_s, rate):
    if scores is None:  # the log-mel reference row
        return {"data": data, "method": "(log-mel only)", "score clips/s": rate}
    return evaluate(data, method, frame, test, scores, **{"fit s": fit_s,
                                                          "score clips/s": rate})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="5 training epochs for the neural pipelines and AudioAE")
    parser.add_argument("--models", nargs="*", default=list(MODELS),
                        help="pipelines of sklasd.models.MODELS to run (default: all)")
    parser.add_argument("--no-pyod", action="store_true", help="leave out PyOD's AudioAE")
    parser.add_argument("--sets", nargs="*", default=["valve", "slider", "mimii", "generated"],
                        help="data sets to run: valve, slider, mimii (or mimii/slider, "
                        "mimii/valve), generated (default: all but the two mimii halves)")
    args = parser.parse_args()
    torch.set_num_threads(N_JOBS)
    sklearn.set_config(enable_metadata_routing=True)
    warnings.filterwarnings("ignore", category=UserWarning)
    epochs, pyod_epochs = (5, 5) if args.quick else (100, 40)
    print(f"settings: neural pipelines {epochs} epochs"
          f"{' (--quick: reduced from 100)' if args.quick else ''}, PyOD AudioAE "
          f"{pyod_epochs} epochs, n_jobs={N_JOBS}, seed 0; pooled pipelines have no epochs; "
          f"scoring rates: median of {REPEATS} timed runs")
    pyod_note = None
    if args.no_pyod:
        pyod_note = "left out (--no-pyod)"
    else:
        try:
            import pyod.models.audio_ae  # noqa: F401
        except ImportError as exc:
            pyod_note = f"left out: PyOD's AudioAE cannot be imported ({exc})"
    makers = {"valve": lambda: [valve_set()], "slider": lambda: [slider_set()],
              "mimii": lambda: list(mimii_sets()), "generated": lambda: [generated_set()],
              "mimii/slider": lambda: [s for s in mimii_sets() if s[0] == "mimii/slider"],
              "mimii/valve": lambda: [s for s in mimii_sets() if s[0] == "mimii/valve"]}
    sets = [s for name in args.sets for s in makers[name]()]
    warm_up(sets)
    rows = []
    for data, frame, folds in sets:
        print(f"{data}: {len(folds)} fold(s), training clips per fold "
              f"{[len(tr) for tr, _ in folds]}, test clips {sum(len(te) for _, te in folds)}",
              flush=True)
        runs = []
        if pyod_note is None:
            runs.append(("PyOD AudioAE", lambda f, tr, te: run_pyod(f, tr, te, pyod_epochs)))
        runs += [(m, lambda f, tr, te, m=m: run_sklasd(m, f, tr, te, epochs))
                 for m in args.models]
        runs.append(("log-mel", run_logmel))  # last: the files are in the page cache
        for method, run in runs:
            try:
                scores, test, fit_s, rate = run_folds(run, frame, folds)
            except Exception as exc:  # a pipeline that cannot run here is reported
                print(f"note: {data} {method} failed: {type(exc).__name__}: {exc}")
                continue
            rows.append(row(data, method, frame, test, scores, fit_s, rate))
            print("  " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}"
                                   for k, v in rows[-1].items()), flush=True)
        members = [m for m in ("gmm", "knn", "mahalanobis") if m in FITTED]
        if data == "valve" and len(members) > 1:
            (train, test), = folds
            scores, fit_s = run_searched_ensemble(frame, train, test, members)
            rows.append(row(data, "ensemble (searched)", frame, test, scores, fit_s, np.nan))
        FITTED.clear()
    if pyod_note:
        print(f"note: PyOD AudioAE {pyod_note}")
    table = pd.DataFrame(rows)
    table = table[[c for c in table if c != "score clips/s"] + ["score clips/s"]]
    real = table[(table["data"] != "generated") & table["official"].notna()]
    with pd.option_context("display.width", 250, "display.max_rows", 500,
                           "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
        print("\nmean over the real sets (valve, slider id_00, mimii/slider, mimii/valve):")
        means = real.groupby("method")[["official", "AUC", "pAUC", "fit s"]].mean()
        # a mean over fewer sets is not comparable: such methods are listed apart
        n_sets = real.groupby("method")["data"].nunique()
        complete = n_sets == real["data"].nunique()
        print(means[complete].sort_values("official", ascending=False).to_string())
        if not complete.all():
            print("not run on every real set (no mean): "
                  + ", ".join(f"{m} ({n} of {real['data'].nunique()})"
                              for m, n in n_sets[~complete].items()))
    best = means[complete & means.index.isin(list(MODELS))]["official"].idxmax()
    print(f"\nbest mean official score of a sklasd pipeline over the real sets: {best!r}; "
          f"sklasd.models.DEFAULT_MODEL = {DEFAULT_MODEL!r}")


if __name__ == "__main__":
    main()
