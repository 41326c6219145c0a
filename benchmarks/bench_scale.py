"""Wall time and peak memory of ``sklasd run``: locally and on a Dask LocalCluster.

A DCASE-sized folder (six machine types, 1 000 normal training clips and 200 test
clips of 10 s each, in the DCASE 2020 Task 2 layout, four machine IDs per type) is
generated with ``sklasd.datasets.make_machine_sounds`` and written as 16-bit wav
once to a cache folder outside the repository (``--cache``), then reused. The same
``sklasd run`` command runs twice in a subprocess: locally (the reference), and with
``--scheduler`` on a ``LocalCluster`` of ``--workers`` one-thread worker processes
started by this script (its start-up time is printed apart). The local run's log
gives each machine type's time; the projected time on N workers is the longest-
processing-time-first schedule of those per-type times (one type per task, so no
more than six workers help; the chunked scoring is not counted). On one machine the
workers share its cores, so the LocalCluster cannot beat the local run there: the
projection is what N machines would give.

Peak memory: of the local run's process, of the client process of the Dask run, and
of each worker process (``ru_maxrss``, read on the workers after the run).

Usage: python benchmarks/bench_scale.py [--quick] [--workers 2] [--epochs 10] [--cache DIR]
                                       [--one-thread]
``--quick`` uses 40 training and 8 test clips per machine type and 1 epoch;
``--one-thread`` adds a local run with one torch thread (``OMP_NUM_THREADS=1``), as each
worker task runs: on a busy machine two torch threads per process can be much slower.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import soundfile as sf

from sklasd.datasets import make_machine_sounds

TYPES = ("ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve")
IDS = ("id_00", "id_02", "id_04", "id_06")
# one batch: per ID 10 training + 1 normal test clip + 1 anomalous clip
PER_BATCH = dict(n_normal=11, n_anomalous=1, train_fraction=10 / 11)
BATCHES = {"full": 25, "quick": 1}  # 25 batches: 1 000 training, 200 test clips per type
DEFAULT_CACHE = Path.home() / ".cache" / "sklasd" / "bench_scale"
ROOT = Path(__file__).resolve().parents[1]


def make_folder(cache, size):
    """The generated folder (written once; a ``complete`` marker says it is whole)."""
    folder = cache / size
    if (folder / "complete").is_file():
        return folder
    counters = {}
    for t, machine_type in enumerate(TYPES):
        for batch in range(BATCHES[size]):
            bunch = make_machine_sounds(**PER_BATCH, machine_type=machine_type,
                                        machine_ids=IDS, duration=10.0,
                                        random_state=1000 * t + batch)
            for y, row in zip(bunch.data, bunch.frame.itertuples()):
                label = "anomaly" if row.target else "normal"
                key = (machine_type, row.split, row.machine_id)
                counters[key] = number = counters.get(key, -1) + 1
                path = (folder / machine_type / row.split /
                        f"{label}_{row.machine_id}_{number:08d}.wav")
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, y, bunch.sr, subtype="PCM_16")
        print(f"  generated {machine_type}", file=sys.stderr)
    (folder / "complete").touch()
    return folder


def run_sklasd(folder, out, epochs, scheduler=None, threads=None):
    """Wall time (s), peak RSS (bytes) and per-type start times of one ``sklasd run``."""
    command = [sys.executable, "-m", "sklasd", "run", str(folder), "--out", str(out),
               "--epochs", str(epochs), "--model", "ae"]
    if scheduler:
        command += ["--scheduler", scheduler]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    if threads:
        env["OMP_NUM_THREADS"] = str(threads)  # torch's thread count
    starts = {}
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env=env)
    for line in process.stderr:
        match = re.search(r"\[(\w+)\] fitting on", line)
        if match:
            starts.setdefault(match.group(1), time.perf_counter() - start)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"sklasd run failed ({command})")
    return wall, usage.ru_maxrss * 1024, starts


def per_type_times(starts, wall):
    """Each type's time: from its first log line to the next type's (or the end)."""
    order = sorted(starts, key=starts.get)
    ends = [starts[t] for t in order[1:]] + [wall]
    return {t: end - starts[t] for t, end in zip(order, ends)}


def projected(times, n_workers):
    """Makespan of the longest-first schedule of ``times`` on ``n_workers``."""
    loads = [0.0] * n_workers
    for t in sorted(times, reverse=True):
        loads[loads.index(min(loads))] += t
    return max(loads)


def run_on_cluster(folder, out, epochs, n_workers):
    import distributed

    from sklasd._dask import ThreadLimits, peak_memory

    start = time.perf_counter()
    with distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                  dashboard_address=":0") as cluster, \
            distributed.Client(cluster) as client:
        client.register_plugin(ThreadLimits())
        startup = time.perf_counter() - start
        wall, client_rss, _ = run_sklasd(folder, out, epochs, cluster.scheduler_address)
        workers = peak_memory(client)
    return startup, wall, client_rss, workers


def mib(n_bytes):
    return f"{n_bytes / 2**20:.0f} MiB"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None,
                        help="AE epochs (default: 10, or 1 with --quick)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--one-thread", action="store_true",
                        help="also run locally with one torch thread, as a worker task runs")
    args = parser.parse_args()
    size = "quick" if args.quick else "full"
    epochs = args.epochs or (1 if args.quick else 10)
    folder = make_folder(args.cache, size)
    n_clips = sum(1 for _ in folder.rglob("*.wav"))
    print(f"folder {folder}: {n_clips} clips of 10 s, 6 machine types; AE, {epochs} epoch(s)")

    with tempfile.TemporaryDirectory() as tmp:
        local_wall, local_rss, starts = run_sklasd(folder, Path(tmp) / "local", epochs)
        startup, dask_wall, client_rss, workers = run_on_cluster(
            folder, Path(tmp) / "dask", epochs, args.workers)
        same = pd.read_csv(Path(tmp) / "local" / "metrics.csv").equals(
            pd.read_csv(Path(tmp) / "dask" / "metrics.csv"))
        if args.one_thread:
            one_wall, one_rss, _ = run_sklasd(folder, Path(tmp) / "one", epochs, threads=1)

    times = per_type_times(starts, local_wall)
    print("\nper machine type, local run (s): "
          + ", ".join(f"{t} {s:.1f}" for t, s in times.items()))
    print(f"\n{'run':<34}{'wall (s)':>10}{'peak memory':>16}")
    print(f"{'local (reference)':<34}{local_wall:>10.1f}{mib(local_rss):>16}")
    if args.one_thread:
        print(f"{'local, 1 torch thread':<34}{one_wall:>10.1f}{mib(one_rss):>16}")
    print(f"{f'LocalCluster, {args.workers} workers':<34}{dask_wall:>10.1f}"
          f"{mib(client_rss):>16}  (client)")
    for address, rss in workers.items():
        print(f"{'  worker ' + address.rsplit(':', 1)[-1]:<34}{'':>10}{mib(rss):>16}")
    print(f"LocalCluster start-up {startup:.1f} s (not in the wall time); "
          f"local / LocalCluster = {local_wall / dask_wall:.2f}; "
          f"metrics.csv identical: {same}")
    print(f"\n{'N workers':<12}{'projected (s)':>14}{'speed-up':>10}")
    for n in (1, 2, 3, 6):
        span = projected(list(times.values()), n)
        print(f"{n:<12}{span:>14.1f}{local_wall / span:>10.2f}")
    print("(projection: the local per-type times scheduled longest first, one machine per "
          "worker; it leaves out start-up and the transfer of models and scores)")


if __name__ == "__main__":
    main()
