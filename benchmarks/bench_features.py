"""Throughput and peak memory of LogMelTransformer against librosa (loop and batched).

All run in the same process on the same clips with the DCASE settings (16 kHz,
n_fft 1024, hop 512, 128 mels, 10 s clips): from a 2-D float32 array, and from wav
files (decoding included: soundfile for all). References: a warm per-clip
``librosa.feature.melspectrogram`` loop, librosa on the whole batch at once, and
sklasd's previous algorithm (dense mel matmul, fresh arrays per chunk: kept here only,
as ``previous_transform``) so that before / after are compared under the same load.
librosa is warmed up first (its first call costs about 2 s of numba compilation).
Each figure is the median of ``--repeats`` runs; peak memory is measured in a
separate run with tracemalloc (numpy reports its buffers to it). The last column is
the fraction of the arithmetic bound of about 3000 clips/s (50 MFLOP a clip with a
dense mel product at 150-170 GFLOP/s on these cores).

Usage: python benchmarks/bench_features.py [DATA_DIR] [--repeats 5] [--quick]
DATA_DIR defaults to ../shared/data/dcase2023-task2-valve (202 ten-second clips).
"""

import argparse
import statistics
import time
import tracemalloc
from pathlib import Path

import librosa
import numpy as np
import scipy.fft
import soundfile as sf
from joblib import Parallel, delayed
from threadpoolctl import threadpool_limits

from sklasd.features import LogMelTransformer, log_mel

DCASE = dict(sr=16000, n_fft=1024, hop_length=512, n_mels=128)
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "dcase2023-task2-valve"
BOUND = 3000  # clips/s, see the module docstring


def librosa_loop(clips, from_files):
    out = []
    for clip in clips:
        y = sf.read(clip, dtype="float32")[0] if from_files else clip
        S = librosa.feature.melspectrogram(y=y, **DCASE)
        out.append(10 * np.log10(S + np.finfo(np.float64).eps))
    return out


def librosa_batched(clips, from_files):
    y = np.stack([sf.read(c, dtype="float32")[0] for c in clips]) if from_files else clips
    return 10 * np.log10(librosa.feature.melspectrogram(y=y, **DCASE)
                         + np.finfo(np.float64).eps)


def previous_transform(t, clips, from_files):
    """sklasd's algorithm before the banded mel product and the reused buffers."""
    n_samples = sf.info(clips[0]).frames if from_files else clips.shape[1]
    out = np.empty((len(clips), DCASE["n_mels"], 1 + n_samples // 512), np.float32)

    def chunk(start):
        part = clips[start:start + t.batch_size]
        batch = np.stack([sf.read(c, dtype="float32")[0] for c in part]) if from_files \
            else np.asarray(part, dtype=np.float32)
        batch = np.pad(batch, ((0, 0), (512, 512)))
        frames = np.lib.stride_tricks.sliding_window_view(batch, 1024, axis=-1)
        Z = scipy.fft.rfft(frames[:, ::512] * t.window_, axis=-1)
        S = np.square(Z.real) + np.square(Z.imag)
        out[start:start + len(part)] = log_mel(S.transpose(0, 2, 1), t.mel_basis_)

    with threadpool_limits(limits=1 if t.n_jobs > 1 else None, user_api="blas"):
        Parallel(n_jobs=t.n_jobs, prefer="threads")(
            delayed(chunk)(k) for k in range(0, len(clips), t.batch_size))
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
    parser.add_argument("--quick", action="store_true",
                        help="64 clips, 3 repeats, single precision only")
    args = parser.parse_args()

    paths = sorted(map(str, args.data_dir.rglob("*.wav")))
    if args.quick:
        paths, args.repeats = paths[:64], 3
    X = np.stack([sf.read(p, dtype="float32")[0] for p in paths])
    n = len(paths)
    print(f"{n} clips of {X.shape[1] / 16000:.1f} s from {args.data_dir}")
    librosa_loop(X[:3], from_files=False)  # warm up numba

    rows = []
    for source, clips, files in (("array", X, False), ("wav files", paths, True)):
        loop_rate = None
        for name, func in reference_runs(clips, files):
            rate = median_rate(func, n, args.repeats)
            loop_rate = loop_rate or rate
            rows.append((source, name, rate, rate / loop_rate, peak_mib(func)))
        for precision in (("single",) if args.quick else ("single", "double")):
            for n_jobs in (1, 2):
                t = LogMelTransformer(precision=precision, n_jobs=n_jobs, **DCASE).fit()
                runs = [(f"sklasd {precision}, n_jobs={n_jobs}",
                         lambda: t.transform(clips))]  # noqa: B023
                if precision == "single":
                    runs.append((f"  previous algorithm, n_jobs={n_jobs}",
                                 lambda: previous_transform(t, clips, files)))  # noqa: B023
                for name, func in runs:
                    rate = median_rate(func, n, args.repeats)
                    rows.append((source, name, rate, rate / loop_rate, peak_mib(func)))

    print(f"{'input':<10} {'method':<32} {'clips/s':>8} {'x loop':>7} {'of bound':>9} "
          f"{'peak MiB':>9}")
    for source, name, rate, ratio, mem in rows:
        print(f"{source:<10} {name:<32} {rate:8.0f} {ratio:7.2f} {rate / BOUND:9.0%} "
              f"{mem:9.0f}")
    print("(x loop: ratio to the warm per-clip librosa loop on the same input, same run; "
          f"medians of {args.repeats} runs; peak = tracemalloc peak of one run, output "
          f"included; bound = {BOUND} clips/s)")


def reference_runs(clips, files):
    return [("librosa per-clip loop", lambda: librosa_loop(clips, files)),
            ("librosa batched", lambda: librosa_batched(clips, files))]


if __name__ == "__main__":
    main()
