"""Throughput and peak memory of LogMelTransformer against a per-clip librosa loop.

Both run in the same process on the same clips with the DCASE settings (16 kHz,
n_fft 1024, hop 512, 128 mels, 10 s clips): from a 2-D float32 array, and from wav
files (decoding included: soundfile for both). The librosa reference is warmed up
first (its first call costs about 2 s of numba compilation). Each figure is the median
of ``--repeats`` runs; peak memory is measured in a separate run with tracemalloc
(numpy reports its buffers to it).

Usage: python benchmarks/bench_features.py [DATA_DIR] [--repeats 5]
DATA_DIR defaults to ../shared/data/dcase2023-task2-valve (202 ten-second clips).
"""

import argparse
import statistics
import time
import tracemalloc
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf

from sklasd.features import LogMelTransformer

DCASE = dict(sr=16000, n_fft=1024, hop_length=512, n_mels=128)
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "dcase2023-task2-valve"


def librosa_loop(clips, from_files):
    out = []
    for clip in clips:
        y = sf.read(clip, dtype="float32")[0] if from_files else clip
        S = librosa.feature.melspectrogram(y=y, **DCASE)
        out.append(10 * np.log10(S + np.finfo(np.float64).eps))
    return out


def median_rate(func, n_clips, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return n_clips / statistics.median(times)


def peak_mib(func):
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", nargs="?", default=DEFAULT_DIR, type=Path)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    paths = sorted(map(str, args.data_dir.rglob("*.wav")))
    X = np.stack([sf.read(p, dtype="float32")[0] for p in paths])
    n = len(paths)
    print(f"{n} clips of {X.shape[1] / 16000:.1f} s from {args.data_dir}")
    librosa_loop(X[:3], from_files=False)  # warm up numba

    rows = []
    for source, clips, files in (("array", X, False), ("wav files", paths, True)):
        ref = lambda: librosa_loop(clips, files)  # noqa: E731
        ref_rate = median_rate(ref, n, args.repeats)
        ref_mem = peak_mib(ref)
        for precision in ("single", "double"):
            for n_jobs in (1, 2):
                t = LogMelTransformer(precision=precision, n_jobs=n_jobs, **DCASE).fit()
                ours = lambda: t.transform(clips)  # noqa: E731
                rate = median_rate(ours, n, args.repeats)
                rows.append((source, f"{precision}, n_jobs={n_jobs}", rate, ref_rate,
                             rate / ref_rate, peak_mib(ours), ref_mem))

    header = (f"{'input':<10} {'LogMelTransformer':<22} {'clips/s':>8} {'librosa':>8} "
              f"{'ratio':>6} {'peak MiB':>9} {'librosa MiB':>11}")
    print(header)
    for source, config, rate, ref_rate, ratio, mem, ref_mem in rows:
        print(f"{source:<10} {config:<22} {rate:8.0f} {ref_rate:8.0f} {ratio:6.2f} "
              f"{mem:9.0f} {ref_mem:11.0f}")
    print("(librosa: per-clip librosa.feature.melspectrogram loop, warmed up; medians of "
          f"{args.repeats} runs; peak = tracemalloc peak of one run, output included)")


if __name__ == "__main__":
    main()
