"""How fast ``sklasd`` ends on SIGTERM / SIGINT, wherever the signal lands.

Sends SIGTERM and SIGINT at ``--points`` moments spread over the first ``--span``
seconds of ``sklasd fit DATA -o OUT/model.joblib --model ae --epochs 100000 --quiet``
(a training run that only a signal ends; the moments cover the imports, decoding and
librosa's numba compile, building the net and training), one fresh process per
signal and moment, on built-in generated machine sounds written to a temporary
folder. For each run it checks the contract (exit status 143 / 130, nothing written
to the output folder, stderr exactly the one ``sklasd: error: ...`` line, nothing on
stdout) and prints the seconds from the signal to the process's exit, then their
median and maximum per signal.

Usage: python benchmarks/bench_signals.py [--points 20] [--span 10]
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _write_data(root):
    import soundfile as sf

    from sklasd.datasets import make_machine_sounds

    bunch = make_machine_sounds(n_normal=8, n_anomalous=3, duration=1.0, random_state=0)
    for name, y in zip(bunch.filenames, bunch.data):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, bunch.sr)
    return root / "motor"


def _one(data, out, delay, signum):
    out.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sklasd", "fit", str(data), "-o", str(out / "model.joblib"),
         "--model", "ae", "--epochs", "100000", "--quiet"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signum)
    stdout, stderr = proc.communicate()
    latency = time.monotonic() - sent
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    problems = []
    if proc.returncode != 128 + signum:
        problems.append(f"exit status {proc.returncode}")
    if stderr != f"sklasd: error: {word}: no results written\n" or stdout:
        problems.append(f"output {stdout!r} {stderr!r}")
    if list(out.iterdir()):
        problems.append(f"left {sorted(p.name for p in out.iterdir())}")
    return latency, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--span", type=float, default=10.0)
    args = parser.parse_args()
    delays = [args.span * (k + 0.5) / args.points for k in range(args.points)]
    with tempfile.TemporaryDirectory() as tmp:
        data = _write_data(Path(tmp) / "data")
        latencies = {signal.SIGTERM: [], signal.SIGINT: []}
        failures = 0
        print(f"{'delay s':>8} {'signal':>8} {'to exit s':>10}  contract")
        for i, delay in enumerate(delays):
            for signum in latencies:
                latency, problems = _one(data, Path(tmp) / f"out{i}-{signum}", delay, signum)
                latencies[signum].append(latency)
                failures += bool(problems) or latency >= 2
                print(f"{delay:8.2f} {signal.Signals(signum).name:>8} {latency:10.3f}  "
                      f"{'; '.join(problems) or 'ok'}", flush=True)
    for signum, values in latencies.items():
        print(f"{signal.Signals(signum).name}: median {statistics.median(values):.3f} s, "
              f"max {max(values):.3f} s from the signal to the exit ({len(values)} runs)")
    print(f"runs breaking the contract (status, output, leftovers, >= 2 s): {failures}")


if __name__ == "__main__":
    main()
