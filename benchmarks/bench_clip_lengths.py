"""End-to-end scoring from wav files of mixed lengths: each clip at its own length
(sklasd now) against padding every clip to the longest of the call (before).

A folder of real 10 s clips (DCASE 2023 valve) is mixed with a few clips of other
lengths written to a temporary folder (3 s and 6 s cuts, a 60 s recording made of
repeated clips). The DCASE 2020 baseline pipeline (``sklasd run``'s ``ae``) is fitted
once on a few clips, then scores every file: "after" with ``duration=None`` (each
clip at its own length, equal lengths batched), "before" emulated with
``duration`` set to the longest clip of the call (the old default zero-padded every
clip to it). Each figure is the median of ``--repeats`` runs, in clips per second.

Usage: python benchmarks/bench_clip_lengths.py [DATA_DIR] [--repeats 3] [--quick]
"""

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from sklasd.models import make_model

DEFAULT_DIR = (Path(__file__).resolve().parents[2] / "shared" / "data"
               / "dcase2023-task2-valve")


def mixed_files(data_dir, folder, n_clips):
    """``n_clips`` real 10 s files plus 3 s, 6 s and 60 s files written to ``folder``."""
    paths = sorted(str(p) for p in Path(data_dir).rglob("*.wav"))[:n_clips]
    y, sr = sf.read(paths[0], dtype="float32")
    extra = {"cut_3s.wav": y[: 3 * sr], "cut_6s.wav": y[: 6 * sr],
             "long_60s.wav": np.tile(y, 6)}
    for name, signal in extra.items():
        sf.write(Path(folder) / name, signal, sr)
        paths.append(str(Path(folder) / name))
    return paths, sr


def median_rate(model, paths, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.anomaly_score(paths)
        times.append(time.perf_counter() - start)
    return len(paths) / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default=DEFAULT_DIR, type=Path)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20 clips, 1 repeat")
    args = parser.parse_args()
    torch.set_num_threads(1)
    # the cuts and the long file are named in a duration warning on every call
    warnings.filterwarnings("ignore", message=".*differ in duration")
    n_clips, repeats = (20, 1) if args.quick else (100, args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        paths, sr = mixed_files(args.data_dir, folder, n_clips)
        model = make_model("ae", max_epochs=1, random_state=0).fit(paths[:8])
        longest = max(sf.info(p).frames for p in paths) / sr
        after = median_rate(model, paths, repeats)
        model.set_params(logmeltransformer__duration=longest)
        before = median_rate(model, paths, repeats)
    print(f"{len(paths)} clips (10 s, plus 3 s, 6 s and 60 s), scoring from wav, "
          "clips per second:")
    print(f"  each clip at its own length (sklasd): {after:8.1f}")
    print(f"  padded to the longest clip (before):  {before:8.1f}")
    print(f"  ratio sklasd / before: {after / before:.2f}")


if __name__ == "__main__":
    main()
