"""``sklasd watch`` under a stream: none lost, close-to-line latency, idle CPU, memory.

A writer process writes ``--n`` ten-second clips (the real DCASE 2023 valve clips,
cycled under new names) into a watched folder at ``--rate`` files per second, each
opened, written whole and closed; ``sklasd watch`` scores them with the default
model (``knn``, fitted on 50 normal valve clips). Prints, in one run:

- lost / duplicated recordings: every file must have exactly one log line;
- latency from each file's close (the writer's clock) to the moment its line is in
  the log (this process reads the log every 10 ms): median, p95 and maximum; target
  p95 < 2 s;
- throughput: lines per second over the stream;
- the watcher's CPU share of one core while idle after the stream (from
  ``/proc/PID/stat`` over ``--idle`` seconds); target < 2 %;
- its resident memory after the stream and its peak (``VmRSS``, ``VmHWM``).

The figures depend on the machine's load: say how loaded it was (other processes
share the cores). ``--n 200`` is a quick check.

Usage: python benchmarks/bench_watch.py [--n 2000] [--rate 20] [--idle 30] [--polling]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
VALVE = REPO.parent / "shared" / "data" / "dcase2023-task2-valve"

WRITER = textwrap.dedent("""
    import json, sys, time
    sources, folder, n, rate, out = json.loads(sys.argv[1])
    data = [open(s, "rb").read() for s in sources]
    closed = []
    start = time.time() + 0.5
    for i in range(n):
        time.sleep(max(0.0, start + i / rate - time.time()))
        with open(f"{folder}/clip_{i:05d}.wav", "wb") as f:
            f.write(data[i % len(data)])
        closed.append(time.time())
    json.dump(closed, open(out, "w"))
""")


def _cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _memory_mb(pid):
    status = dict(line.split(":", 1) for line in
                  Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {key: int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}


def _fit_model(folder):
    from sklasd.engine import save_models
    from sklasd.datasets import load_folder
    from sklasd.models import DEFAULT_MODEL, make_model

    bunch = load_folder(VALVE)
    normal = bunch.data[bunch.target == 0][:50]
    path = folder / "model.sklasd"
    save_models({"valve": make_model(DEFAULT_MODEL).fit(normal)}, path)
    return path, list(bunch.data), DEFAULT_MODEL


def _tail(log, n, arrived, deadline):
    """Read new lines of the log every 10 ms until ``n`` lines or ``deadline``."""
    offset, buffer = 0, b""
    while len(arrived) < n and time.time() < deadline:
        if log.exists():
            with open(log, "rb") as f:
                f.seek(offset)
                chunk = f.read()
            offset += len(chunk)
            buffer += chunk
            now = time.time()
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                arrived[json.loads(line)["file"]] = now
        time.sleep(0.01)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="clips (default: 2000)")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="clips per second (default: 20)")
    parser.add_argument("--idle", type=float, default=30.0,
                        help="seconds of idle CPU measurement (default: 30)")
    parser.add_argument("--polling", action="store_true",
                        help="watch with --polling instead of inotify")
    args = parser.parse_args()
    if not (VALVE / "manifest.csv").is_file():
        sys.exit(f"needs the DCASE 2023 valve clips in {VALVE}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model, sources, name = _fit_model(tmp)
        watched, log_dir = tmp / "in" / "valve", tmp / "log"
        watched.mkdir(parents=True)
        env = dict(os.environ, PYTHONPATH=str(REPO))
        command = [sys.executable, "-m", "sklasd", "watch", str(tmp / "in"), "-m",
                   str(model), "-o", str(log_dir), "-q"] + ["--polling"] * args.polling
        watcher = subprocess.Popen(command, env=env)
        try:
            log = log_dir / "events.jsonl"
            while not log.exists():
                time.sleep(0.05)
            time.sleep(1.0)  # the watcher is past its start
            closed_file = tmp / "closed.json"
            writer = subprocess.Popen([sys.executable, "-c", WRITER, json.dumps(
                [sources, str(watched), args.n, args.rate, str(closed_file)])])
            arrived = {}
            _tail(log, args.n, arrived, deadline=time.time() + args.n / args.rate + 120)
            writer.wait()
            time.sleep(2.0)  # a line more would be a duplicate
            _tail(log, args.n + 1, arrived, deadline=time.time())
            lines = log.read_bytes().decode().splitlines()
            memory = _memory_mb(watcher.pid)
            time.sleep(10.0)  # the last trend page is written
            cpu = _cpu_seconds(watcher.pid)
            time.sleep(args.idle)
            idle_share = (_cpu_seconds(watcher.pid) - cpu) / args.idle
        finally:
            watcher.send_signal(signal.SIGTERM)
            status = watcher.wait(timeout=30)
        closed = json.loads(closed_file.read_text())
        files = [json.loads(line)["file"] for line in lines]
        expected = [str(watched / f"clip_{i:05d}.wav") for i in range(args.n)]
        latency = np.array([arrived[f] - t for f, t in zip(expected, closed)
                            if f in arrived])
        span = max(arrived.values()) - min(closed)

    lost = len(set(expected) - set(files))
    print(f"sklasd watch{' --polling' if args.polling else ''}, model {name!r}: "
          f"{args.n} ten-second clips at {args.rate:g} per second "
          f"({os.cpu_count()} cores, shared with whatever else runs)")
    print(f"  lines: {len(files)}; lost: {lost}; "
          f"duplicated: {len(files) - len(set(files))}; exit status on SIGTERM: {status}")
    print(f"  close-to-line latency: median {np.median(latency):.3f} s, "
          f"p95 {np.percentile(latency, 95):.3f} s, max {latency.max():.3f} s "
          f"(target p95 < 2 s: {'met' if np.percentile(latency, 95) < 2 else 'NOT met'})")
    print(f"  throughput: {len(arrived) / span:.1f} lines/s over the stream")
    print(f"  idle CPU: {100 * idle_share:.2f} % of one core over {args.idle:g} s "
          f"(target < 2 %: {'met' if idle_share < 0.02 else 'NOT met'})")
    print(f"  memory after the stream: {memory['VmRSS']:.0f} MB resident, "
          f"peak {memory['VmHWM']:.0f} MB")


if __name__ == "__main__":
    main()
