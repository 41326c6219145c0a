"""AUC / pAUC and speed of AE, HVAE, IDCAE, WaveNet and their weighted ensemble on real data.

For each machine type of ``../shared/data/dcase2020-task2-lite`` and for
``dcase2023-task2-valve`` (the folders with labels), prints one row per method: AUC,
pAUC (max_fpr 0.1), clips scored (normal / anomalous), fit seconds and scoring
throughput (clips per second, end to end from wav files).

Training clips follow ``sklasd run`` (``sklasd.cli._train_test``): an ID with fewer
than 10 normal training clips also trains on a seeded half of its other normal
clips, per domain; the rest are held out. The ensemble
(``WeightedEnsembleDetector`` over the already fitted members, wrapped in
``FrozenEstimator`` that keeps their metadata requests) is cross-fitted on the held-out clips: they are split in two
halves (stratified by label, seeded); the weights searched on half A score half B
and vice versa, so every held-out clip gets an ensemble score from weights chosen on
other clips and all rows are computed on the same clips. The standardization
statistics are the members' scores on the training clips plus the normal clips of
the validation half. With 3 held-out normal clips per lite machine type these
figures are very noisy (a validation half holds 1 normal clip).

Usage: python benchmarks/bench_detectors.py [--epochs 5] [--step 0.01]
"""
import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import roc_auc_score
from sklearn.utils.metadata_routing import get_routing_for_object

from sklasd.cli import _train_test
from sklasd.datasets import load_folder
from sklasd.detectors.autoencoder import AutoencoderDetector
from sklasd.detectors.ensemble import WeightedEnsembleDetector
from sklasd.detectors.wavenet import WaveNetPredictor
from sklasd.features import FrameStacker, LogMelTransformer, SpectrogramScaler
from sklasd.pipeline import make_pipeline

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FOLDERS = ("dcase2020-task2-lite", "dcase2023-task2-valve")


class Frozen(FrozenEstimator):
    """FrozenEstimator that keeps the metadata requests of the estimator it wraps."""

    def get_metadata_routing(self):
        return get_routing_for_object(self.estimator)


def make_members(epochs):
    """name -> (pipeline factory, whether it takes machine_id)."""
    members = {
        "AE": (lambda: make_pipeline(
            LogMelTransformer(n_mels=64), FrameStacker(n_frames=5),
            AutoencoderDetector(max_epochs=epochs, random_state=0)), False),
        "WaveNet": (lambda: make_pipeline(
            LogMelTransformer(n_fft=2048, hop_length=512, n_mels=128),
            WaveNetPredictor(max_epochs=epochs, random_state=0)), False),
    }
    try:
        from sklasd.detectors.hvae import HVAEDetector
        members["HVAE"] = (lambda: make_pipeline(
            LogMelTransformer(n_mels=128), FrameStacker(n_frames=5),
            HVAEDetector(max_epochs=epochs, random_state=0)), False)
    except ImportError as exc:
        print(f"note: HVAE row left out ({exc})")
    try:
        from sklasd.detectors.idcae import IDConditionedAE
        members["IDCAE"] = (lambda: make_pipeline(
            LogMelTransformer(n_mels=128), SpectrogramScaler(), FrameStacker(n_frames=10),
            IDConditionedAE(max_epochs=epochs, random_state=0)), True)
    except ImportError as exc:
        print(f"note: IDCAE row left out ({exc})")
    return members


def halves(y, seed):
    """Two halves of the held-out positions, each with both classes where possible."""
    rng = np.random.default_rng(seed)
    a = np.zeros(len(y), bool)
    for label in (0, 1):
        pos = rng.permutation(np.flatnonzero(y == label))
        a[pos[: (len(pos) + 1) // 2]] = True
    return np.flatnonzero(a), np.flatnonzero(~a)


def run_type(name, frame, data, members, args, rows):
    train, test, _ = _train_test(frame, 0.5, 10, 0)
    y_test = frame["target"].to_numpy()[test]
    ids = frame["machine_id"].to_numpy()
    fitted, test_scores = {}, {}
    for method, (factory, takes_id) in members.items():
        meta = lambda idx: {"machine_id": ids[idx]} if takes_id else {}  # noqa: E731
        try:
            start = time.perf_counter()
            model = factory().fit(data[train], **meta(train))
            fit_s = time.perf_counter() - start
            start = time.perf_counter()
            scores = model.anomaly_score(data[test], **meta(test))
            rate = len(test) / (time.perf_counter() - start)
        except Exception as exc:  # a member that cannot run here is reported, not fatal
            print(f"note: {name} {method} failed: {type(exc).__name__}: {exc}")
            continue
        fitted[method], test_scores[method] = model, scores
        rows.append(_row(name, method, y_test, scores, fit_s, rate))
    # ensemble, cross-fitted over two halves of the held-out clips
    names = list(fitted)
    ens_scores = np.empty(len(test))
    weights = []
    start = time.perf_counter()
    for val, score in (halves(y_test, 0), halves(y_test, 0)[::-1]):
        idx = np.r_[train, test[val]]
        y = np.r_[np.zeros(len(train), int), y_test[val]]
        ens = WeightedEnsembleDetector(
            [(m, Frozen(fitted[m])) for m in names], weight_step=args.step,
            cv=[(np.arange(len(train)), np.arange(len(train), len(idx)))])
        ens.fit(data[idx], y, machine_id=ids[idx])
        ens_scores[score] = ens.anomaly_score(data[test[score]], machine_id=ids[test[score]])
        weights.append(dict(zip(names, ens.weights_.round(2).tolist())))
    fit_s = time.perf_counter() - start
    rows.append(_row(name, "ensemble", y_test, ens_scores, fit_s, np.nan))
    print(f"{name}: {len(train)} training clips; ensemble weights (half A, half B): "
          f"{weights[0]}, {weights[1]}")


def _row(name, method, y, scores, fit_s, rate):
    return {"data": name, "method": method, "AUC": roc_auc_score(y, scores),
            "pAUC": roc_auc_score(y, scores, max_fpr=0.1),
            "clips (n/a)": f"{(y == 0).sum()}/{(y == 1).sum()}",
            "fit s": fit_s, "score clips/s": rate}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--step", type=float, default=0.01)
    args = parser.parse_args()
    sklearn.set_config(enable_metadata_routing=True)  # machine_id reaches IDCAE
    members = make_members(args.epochs)
    print(f"settings: {args.epochs} epochs per member (reduced; papers use 100-300), "
          f"weight step {args.step}, members {list(members)}, seed 0")
    rows = []
    for folder in FOLDERS:
        bunch = load_folder(SHARED / folder)
        frame = bunch.frame
        for machine_type, sub in frame.groupby("machine_type", sort=True):
            sub = sub.reset_index(drop=True)
            data = np.asarray(sub["filename"])
            run_type(f"{folder.split('-')[0]}/{machine_type}", sub, data, members, args,
                     rows)
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(table.to_string(index=False))
        print("\nmean over data sets:")
        print(table.groupby("method")[["AUC", "pAUC", "fit s"]].mean().to_string())
    print("ensemble 'fit s' = both cross-fitted weight searches incl. member scoring; "
          "its members are the rows above (already fitted)")


if __name__ == "__main__":
    main()
