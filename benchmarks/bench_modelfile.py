"""Model files: sklasd's checked format beside plain joblib and skops (issue 14).

Fits each ``--model`` pipeline (1 epoch on synthetic machine sounds, the network's
size does not depend on the epochs), then times loading it ``--repeat`` times as

- ``joblib``: ``joblib.load`` of the bare pickle (runs code, no checks);
- ``sklasd``: ``sklasd.engine.load_models`` (header and SHA-256 checked before the same
  joblib unpickling, verbose switched off);
- ``skops``: ``skops.io.dump`` / ``load`` with the file's own untrusted types
  trusted, the format that cannot run code, when skops is installed; it prints why
  not when it fails.

It prints the file size and the median load time of each, and the ratio sklasd /
joblib. Run: ``python benchmarks/bench_modelfile.py [--quick]``.
"""
import argparse
import statistics
import tempfile
import time
from pathlib import Path

import joblib
import torch

# imported here, not in the functions, so that the --help smoke test checks them
from sklasd.datasets import make_machine_sounds
from sklasd.engine import fit_models, load_models, save_models
from sklasd.models import MODELS


def _fitted(name):
    bunch = make_machine_sounds(n_normal=8, n_anomalous=1, duration=1.0, random_state=0)
    models, _ = fit_models(bunch, model=name, epochs=1)  # with IDs where needed
    return models["motor"]


def _median_seconds(load, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        load()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _skops(model, folder, repeat):
    try:
        import skops.io as sio
    except ImportError:
        return "skops is not installed"
    path = folder / "m.skops"
    try:
        sio.dump(model, path)
        trusted = sio.get_untrusted_types(file=path)
        seconds = _median_seconds(lambda: sio.load(path, trusted=trusted), repeat)
    except Exception as exc:  # report, do not stop the benchmark
        return f"cannot save or load: {type(exc).__name__}: {str(exc)[:80]}"
    return f"{path.stat().st_size / 1e6:7.2f} MB  {seconds * 1e3:8.2f} ms"


def main():

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the ae model, 3 loads")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    names, repeat = (["ae"], 3) if args.quick else (sorted(MODELS), args.repeat)
    print(f"{'model':8} {'format':7} {'size':>10} {'load (median)':>14}")
    for name in names:
        model = _fitted(name)
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            joblib.dump(model, folder / "m.joblib")
            save_models({"motor": model}, folder / "m.sklasd")
            plain = _median_seconds(lambda: joblib.load(folder / "m.joblib"), repeat)
            checked = _median_seconds(lambda: load_models(folder / "m.sklasd"), repeat)
            for label, path, seconds in (("joblib", "m.joblib", plain),
                                         ("sklasd", "m.sklasd", checked)):
                size = (folder / path).stat().st_size / 1e6
                print(f"{name:8} {label:7} {size:7.2f} MB {seconds * 1e3:11.2f} ms")
            print(f"{name:8} {'skops':7} {_skops(model, folder, repeat)}")
            print(f"{name:8} ratio sklasd / joblib load time: {checked / plain:.2f}")


if __name__ == "__main__":
    main()
