"""AUC and scoring speed of the neural pipelines in float32 and with bfloat16 autocast.

Each ``sklasd run --model`` neural pipeline is fitted once (float32 training) on the
valve split of ``bench_detectors.py`` (the 2 training clips + the first 25 source
normal test clips; the other 175 clips are the test set) and on the generated
sounds (``make_machine_sounds(random_state=0)``, its own split); the same fitted
model then scores the test clips with ``precision="float32"`` and
``precision="bfloat16"``. Printed per row: AUC and pAUC of both, their change, and
the scoring rate of both (clips per second end to end: from wav files for valve,
from arrays for generated; median of ``--repeats`` runs, log-mel ``n_jobs=2``).

Usage: python benchmarks/bench_precision.py [--epochs 100] [--repeats 3]
[--models ae hvae idcae wavenet] [--quick]  (``--quick``: 5 epochs, 1 repeat)
"""
import argparse
import statistics
import time

import pandas as pd
import sklearn
from sklearn.metrics import roc_auc_score

from bench_detectors import _call, generated_set
from protocol import clips as _clips, valve_set
from sklasd.models import make_model

NEURAL = ("ae", "hvae", "idcae", "wavenet")


def scoring(model, X, ids, repeats):
    times, scores = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        scores = _call(model, "anomaly_score", X, ids)
        times.append(time.perf_counter() - start)
    return scores, len(X) / statistics.median(times)


def rows(data, frame, train, test, models, epochs, repeats):
    X, ids = _clips(frame), frame["machine_id"].to_numpy()
    y = frame["target"].to_numpy()[test]
    for name in models:
        model = make_model(name, max_epochs=epochs, random_state=0, n_jobs=2)
        _call(model, "fit", [X[i] for i in train], ids[train])
        row = {"data": data, "model": name}
        for precision in ("float32", "bfloat16"):
            model[-1].set_params(precision=precision)
            scores, rate = scoring(model, [X[i] for i in test], ids[test], repeats)
            row[f"AUC {precision}"] = roc_auc_score(y, scores)
            row[f"pAUC {precision}"] = roc_auc_score(y, scores, max_fpr=0.1)
            row[f"clips/s {precision}"] = rate
        row["AUC change"] = row["AUC bfloat16"] - row["AUC float32"]
        row["speed-up"] = row["clips/s bfloat16"] / row["clips/s float32"]
        print(row, flush=True)
        yield row


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--models", nargs="+", default=list(NEURAL), choices=NEURAL)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.repeats = 5, 1
    table = []
    with sklearn.config_context(enable_metadata_routing=True):  # idcae's machine_id
        for data, frame, folds in (valve_set(), generated_set()):
            (train, test), = folds
            table += rows(data, frame, train, test, args.models, args.epochs,
                          args.repeats)
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.float_format", "{:.4f}".format):
        print(pd.DataFrame(table).to_string(index=False))
    print(f"({args.epochs} epochs, float32 training; one fitted model scores in both "
          "precisions; AUC change = bfloat16 - float32)")


if __name__ == "__main__":
    main()
