"""Peak memory of ``sklasd score`` on one long recording: 10 s, 30 min and 2 h.

For each duration, a 16 kHz, 16-bit mono wav is generated into a temporary folder
(machine-like sound: the built-in generator's 10 s normal clips joined end to end,
written block by block, so this script never holds a long recording), and
``python -m sklasd score MODEL FILE -o OUT`` runs in a fresh process; its peak
resident memory (``ru_maxrss`` of that child, from ``os.wait4``) is printed beside
the issue's bound, 300 MB plus twice the file's decoded size (float32: 4 bytes a
sample), and the process's peak for the 10 s file (the imports and the model).
MODEL is the default pipeline (``--model knn``: log-mel, GWRP pooling, nearest
neighbour) or the one given by ``--model``, fitted with ``sklasd fit`` on 16
generated 10 s clips.

With ``--before REF`` (a git commit, e.g. the one before the block-wise
processing), the same runs use that commit's code too (exported with
``git archive`` into the temporary folder), and the scores of both are compared
(largest relative difference). Durations can be chosen with ``--minutes``.

Usage: python benchmarks/bench_long_recordings.py [--before REF] [--model knn]
[--minutes 0.1667 30 120]
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SR = 16000


def _write_clips(folder, n, duration, seed):
    import soundfile as sf

    from sklasd.datasets import make_machine_sounds

    bunch = make_machine_sounds(n_normal=n, n_anomalous=1, duration=duration,
                                machine_type="fan", machine_ids=("id_00",),
                                random_state=seed)
    for name, y in zip(bunch.filenames, bunch.data):
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, bunch.sr, subtype="PCM_16")
    return bunch


def _write_long(path, seconds, pieces):
    """``seconds`` of audio: the 10 s ``pieces`` in turn, written block by block."""
    import soundfile as sf

    n = int(round(seconds * SR))
    with sf.SoundFile(path, "w", SR, 1, subtype="PCM_16") as f:
        done, k = 0, 0
        while done < n:
            piece = pieces[k % len(pieces)][: n - done]
            f.write(piece)
            done, k = done + len(piece), k + 1
    return n


def _sklasd(code, *args):
    """Run ``python -m sklasd ARGS`` with ``code`` first on the path; peak RSS in MB."""
    env = {**os.environ, "PYTHONPATH": str(code)}
    # run from the code's folder: ``-m`` puts the working directory first on the path
    proc = subprocess.Popen([sys.executable, "-m", "sklasd", *map(str, args), "--quiet"],
                            env=env, cwd=code, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"sklasd {' '.join(map(str, args))} failed: {stderr}")
    return usage.ru_maxrss / 1024  # kilobytes on Linux


def _export(ref, into):
    into.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "sklasd"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="REF", help="also measure this git commit")
    parser.add_argument("--model", default="knn")
    parser.add_argument("--minutes", type=float, nargs="+", default=[10 / 60, 30, 120])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        codes = {"after": ROOT}
        if args.before:
            codes = {"before": _export(args.before, tmp / "before"), **codes}
        bunch = _write_clips(tmp / "train", 16, 10.0, seed=0)
        model = tmp / "model.joblib"
        _sklasd(ROOT, "fit", tmp / "train" / "fan", "-o", model, "--model", args.model,
                "--epochs", "2")
        pieces = [y.astype(np.float32) for y in bunch.data[bunch.target == 0]]
        print(f"model: {args.model}; peak resident memory of `sklasd score` on one file "
              "(MB)")
        print(f"{'recording':>10} {'decoded MB':>10} {'bound MB':>9} "
              + " ".join(f"{name:>8}" for name in codes) + "  scores")
        for minutes in args.minutes:
            wav = tmp / "long" / "recording.wav"
            wav.parent.mkdir(exist_ok=True)
            n = _write_long(wav, minutes * 60, pieces)
            decoded = 4 * n / 1e6
            peaks, scores = {}, {}
            for name, code in codes.items():
                out = tmp / f"out-{name}"
                peaks[name] = _sklasd(code, "score", model, wav, "-o", out)
                scores[name] = pd.read_csv(out / "results.csv")["anomaly_score"].to_numpy()
                subprocess.run(["rm", "-r", str(out)], check=True)
            wav.unlink()
            compare = ""
            if len(scores) == 2:
                before, after = scores.values()
                diff = np.max(np.abs(after - before) / np.maximum(np.abs(before), 1e-30))
                compare = f"max relative difference {diff:.1e}"
            label = f"{minutes * 60:.0f} s" if minutes < 1 else f"{minutes:g} min"
            print(f"{label:>10} {decoded:10.1f} {300 + 2 * decoded:9.0f} "
                  + " ".join(f"{peaks[name]:8.0f}" for name in codes) + f"  {compare}",
                  flush=True)


if __name__ == "__main__":
    main()
