"""The protocol's valve split through ``sklasd.run``, laid out as a DCASE folder.

The development protocol's DCASE 2023 valve split (``benchmarks/protocol.py``: the 2
training clips and the first 25 source normal test clips train, the other 175 clips
are scored; ``--target 10`` also moves the first 10 target normals to training) is
laid out as a DCASE 2023 folder in a temporary folder (hard links, else copies,
removed afterwards; the clips that train are named ``*_train_normal_*``), and
``sklasd.run`` scores it with each ``--model``, side by side in one run: AUC, pAUC,
AUC (source), AUC (target), the official score (their harmonic mean) and the wall time
of the run. The issue's targets: the best model AUC >= 0.95, pAUC >= 0.85, AUC (source)
>= 0.97, AUC (target) >= 0.93; the default AUC >= 0.93.

Usage: python benchmarks/bench_run_valve.py [--models knn embedding] [--target 0]
"""
import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import sklasd
from sklasd.metrics import official_score

from protocol import valve_set


def dcase_folder(root, n_target):
    """The valve split as ``root/valve/{train,test}``; returns the folder."""
    _, frame, [(train, _)] = valve_set(n_target)
    train = set(train.tolist())
    for i, path in enumerate(frame["filename"]):
        name = Path(path).name
        split = "train" if i in train else "test"
        if split == "train":
            name = name.replace("_test_normal_", "_train_normal_")
        destination = Path(root, "valve", split, name)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, destination)
        except OSError:
            shutil.copyfile(path, destination)
    return Path(root)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["knn", "embedding"])
    parser.add_argument("--target", type=int, default=0,
                        help="target normal clips moved to training (default: 0)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        folder = dcase_folder(root, args.target)
        print(f"valve split, {args.target} target clips in training; sklasd.run(folder, "
              "model=M) on 2 threads")
        print(f"{'model':<12} {'AUC':>6} {'pAUC':>6} {'source':>7} {'target':>7} "
              f"{'official':>9} {'seconds':>8}")
        for model in args.models:
            start = time.perf_counter()
            result = sklasd.run(folder, model=model, n_jobs=2)
            seconds = time.perf_counter() - start
            row = result.metrics.loc[("valve", "section_00")]
            official = official_score(result.metrics.drop(columns=["notes", "training"]))
            print(f"{model:<12} {row['AUC']:6.3f} {row['pAUC']:6.3f} "
                  f"{row['AUC (source)']:7.3f} {row['AUC (target)']:7.3f} "
                  f"{official:9.3f} {seconds:8.0f}")


if __name__ == "__main__":
    main()
