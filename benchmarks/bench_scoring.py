"""Speed and detection quality of the DCASE 2020 baseline AE pipeline (``--model ae``).

Prints, in one run on 2 CPU cores:

1. speed: seconds per training epoch (median over epochs, from skorch's history) on the
   75 normal training clips of slider id_00, scoring throughput in ten-second clips per
   second end to end from wav files (decoding, log-mel with ``n_jobs=2``, windows, AE;
   median of ``--repeats`` runs over the 202 clips of the DCASE 2023 valve set) in
   float32 and with ``precision="bfloat16"``, beside PyOD's ``AudioAE`` scoring the
   same files (its scoring rate does not depend on its training, so it is fitted for
   one epoch); WaveNetPredictor's scoring rate likewise (``make_model("wavenet")``):
   its channels-last scoring layout beside the previous ``(batch, C, T)`` layout
   (with the earlier 8192 frames per forward pass in float32 too), in float32 and
   bfloat16, runs interleaved, with the float32 scores' largest relative difference;
   the HVAE's seconds per training epoch on the slider clips and where they go (torch
   profiler shares by op); and the peak resident memory of this process;
2. quality: ``sklasd run`` on each real folder of ``../shared/data`` that has labels,
   with AUC / pAUC (and AUC (source) / AUC (target) on the valve set) per machine type
   and ID / section and the number of clips beside each figure, next to a non-neural
   reference computed on the same training and test clips (mean distance to the 3
   nearest training clips in standardized clip-mean log-mel space) and the official
   DCASE 2020 baseline's published development-set figure for that machine ID.

Usage: python benchmarks/bench_scoring.py [--epochs 100] [--repeats 3] [--speed-only]
[--threads N]
"""

import argparse
import contextlib
import io
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from bench_features import median_rate
from sklasd.cli import main as sklasd_main
from sklasd.cli import make_model
from sklasd.datasets import load_folder
from sklasd.features import LogMelTransformer
from sklasd.metrics import anomaly_report

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
FOLDERS = ("dcase2020-task2-lite", "dcase2023-task2-valve")
# y-kawagu/dcase2020_task2_baseline README.md, "Check results" (development set, per ID)
PUBLISHED = {
    ("ToyCar", "id_04"): (0.869477, 0.701461),
    ("ToyConveyor", "id_01"): (0.793497, 0.650428),
    ("fan", "id_06"): (0.72277, 0.529961),
    ("pump", "id_04"): (0.8886, 0.676842),
    ("slider", "id_00"): (0.963315, 0.818451),
    ("valve", "id_02"): (0.674083, 0.512281),
}


def pyod_rate(train_paths, paths, repeats):
    """PyOD's AudioAE scoring rate on the same clips (fitted 1 epoch: speed only)."""
    try:
        from pyod.models.audio_ae import AudioAE
    except ImportError:
        return None
    model = AudioAE(sr=16000, epoch_num=1, random_state=0).fit(list(train_paths))
    return median_rate(lambda: model.decision_function(list(paths)), len(paths), repeats)


def speed(epochs, repeats):
    slider = load_folder(SHARED / "dcase2020-task2-lite" / "slider")
    train = slider.data[(slider.split == "train") & (slider.target == 0)]
    model = make_model("ae", max_epochs=epochs, random_state=0, n_jobs=2)
    start = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - start
    epoch_s = statistics.median(model[-1].net_.history[:, "dur"])
    print(f"fit on {len(train)} clips ({epochs} epochs): {fit_s:.1f} s in all, "
          f"{epoch_s:.3f} s per epoch (median)")
    valve = load_folder(SHARED / "dcase2023-task2-valve")
    reference = pyod_rate(train, valve.data, repeats)
    print(f"scoring end to end from wav files, {len(valve.data)} clips, median of "
          f"{repeats} runs (ten-second clips/s; PyOD AudioAE: "
          + ("not installed)" if reference is None else f"{reference:.0f})"))
    for precision in ("float32", "bfloat16"):
        model[-1].set_params(precision=precision)
        rate = median_rate(lambda: model.anomaly_score(valve.data), len(valve.data),
                           repeats)
        ratio = "" if reference is None else f", {rate / reference:.2f}x PyOD AudioAE"
        print(f"  sklasd ae, n_jobs=2, precision={precision}: {rate:.0f} clips/s{ratio}")


def hvae_speed(epochs=3):
    """HVAE training on the slider clips: seconds per epoch and the profiler's shares.

    No previous algorithm to compare with: this prints where an epoch's time goes,
    the evidence on how much of it could be saved without changing the loss.
    """
    slider = load_folder(SHARED / "dcase2020-task2-lite" / "slider")
    train = slider.data[(slider.split == "train") & (slider.target == 0)]
    model = make_model("hvae", max_epochs=epochs, random_state=0, n_jobs=2)
    windows = model[:-1].fit_transform(train)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        model[-1].fit(windows)
    epoch_s = statistics.median(model[-1].net_.history[:, "dur"])
    ops = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in ops)
    print(f"hvae fit on {len(train)} clips ({windows.shape[0] * windows.shape[1]} "
          f"windows, {epochs} epochs, profiled, {torch.get_num_threads()} torch threads):"
          f" {epoch_s:.2f} s per epoch (median); self time by op: "
          + ", ".join(f"{e.key} {e.self_cpu_time_total / total:.0%}" for e in ops[:8]))


class _TransposedLayout(torch.nn.Module):
    """sklasd's previous WaveNet scoring path, kept for comparison: ``(batch, C, T)``
    tensors whose per-frame norms copy two transposes each (the training layout)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net.head(self.net.head_norm(self.net.blocks(x)))


def wavenet_speed(repeats):
    """WaveNet scoring end to end from wav (its rate does not depend on training).

    The configurations take turns within every repeat, so that a change in the
    machine's load hits them alike; rates are medians over the repeats.
    """
    import sklasd.detectors.wavenet as wavenet

    valve = load_folder(SHARED / "dcase2023-task2-valve")
    model = make_model("wavenet", max_epochs=1, random_state=0, n_jobs=2)
    model.fit(valve.data[:25])
    det = model[-1]
    current, previous = det.net_.module_, _TransposedLayout(det.net_.module_)
    configs = {  # name: (module, frames per forward, precision)
        "previous layout, 8192 frames, float32": (previous, 8192, "float32"),
        "previous layout, float32": (previous, wavenet.SCORE_FRAMES, "float32"),
        "previous layout, bfloat16": (previous, wavenet.SCORE_FRAMES, "bfloat16"),
        "channels-last, float32": (current, wavenet.SCORE_FRAMES, "float32"),
        "channels-last, bfloat16": (current, wavenet.SCORE_FRAMES, "bfloat16"),
    }
    default = wavenet.SCORE_FRAMES
    times = {name: [] for name in configs}
    for _ in range(repeats):
        for name, (module, frames, precision) in configs.items():
            det.net_.module_, wavenet.SCORE_FRAMES = module, frames
            det.set_params(precision=precision)
            start = time.perf_counter()
            scores = model.anomaly_score(valve.data)
            times[name].append(time.perf_counter() - start)
            if name == "previous layout, float32":
                reference = scores
            elif name == "channels-last, float32":
                parity = np.max(np.abs(scores - reference) / np.abs(reference))
    det.net_.module_, wavenet.SCORE_FRAMES = current, default
    rates = {name: len(valve.data) / statistics.median(t) for name, t in times.items()}
    first = rates["previous layout, 8192 frames, float32"]
    print(f"wavenet scoring end to end from wav files ({len(valve.data)} clips, log-mel "
          f"n_jobs=2, {torch.get_num_threads()} torch threads, median of {repeats} "
          "interleaved runs, ten-second clips/s):")
    for name, rate in rates.items():
        same = rates["previous layout, " + name.split(", ")[-1]]
        print(f"  {name}: {rate:.0f} ({rate / same:.2f}x the previous layout, "
              f"{rate / first:.2f}x 8192 frames in float32)")
    print(f"  float32 clip scores, channels-last vs previous layout: max relative "
          f"difference {parity:.1e}")


def knn_reference(bunch, test_files):
    """Anomaly scores of the test clips: mean distance to the 3 nearest training clips."""
    frame = bunch.frame
    is_test = frame["filename"].isin(test_files).to_numpy()
    # a list when clip lengths differ (10 s and 11 s): each clip's mean over its frames
    features = np.stack([S.mean(axis=1) for S in
                         LogMelTransformer(n_mels=64).fit_transform(bunch.data)])
    scores = np.empty(len(frame))
    for _, rows in frame.groupby("machine_type"):
        pos = rows.index.to_numpy()
        train = pos[~is_test[pos] & (rows["target"] == 0).to_numpy()]
        test = pos[is_test[pos]]
        scaler = StandardScaler().fit(features[train])
        knn = NearestNeighbors(n_neighbors=min(3, len(train))).fit(
            scaler.transform(features[train]))
        scores[test] = knn.kneighbors(scaler.transform(features[test]))[0].mean(axis=1)
    return frame[is_test].assign(anomaly_score=scores[is_test])


def quality(folder, epochs):
    bunch = load_folder(SHARED / folder)
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # its own table: printed below
            sklasd_main(["run", str(SHARED / folder), "--model", "ae", "--out", out,
                         "--quiet", "--epochs", str(epochs)])
        seconds = time.perf_counter() - start
        ours = pd.read_csv(Path(out) / "metrics.csv", index_col=[0, 1])
        test_files = {name for f in Path(out).glob("anomaly_score_*.csv")
                      for name in pd.read_csv(f, header=None)[0]}
    tested = knn_reference(bunch, {f for f in bunch.frame["filename"]
                                   if Path(f).name in test_files})
    has_domain = (tested["domain"] != "").any()
    ref = anomaly_report(tested["target"], tested["anomaly_score"],
                         machine_type=tested["machine_type"],
                         machine_id=tested["machine_id"],
                         domain=tested["domain"] if has_domain else None)
    cols = ["AUC", "pAUC"] + (["AUC (source)", "AUC (target)"] if has_domain else [])
    keep = [(t, i) for t, i in ours.index if t == "all" or not i.endswith(" mean")]
    table = ours.loc[keep, cols + ["n_normal", "n_anomalous"]].copy()
    for col in cols:
        table[f"kNN {col}"] = ref[col].reindex(table.index)
    table["DCASE20 AUC"] = [PUBLISHED.get(key, (np.nan,))[0] for key in table.index]
    table["DCASE20 pAUC"] = [PUBLISHED.get(key, (np.nan, np.nan))[1] for key in table.index]
    print(f"\n{folder}: sklasd run took {seconds:.0f} s ({epochs} epochs); training "
          "clips per ID: " + "; ".join(f"{i}: {r}" for (_, i), r in ours["training"].dropna().items()))
    with pd.option_context("display.width", 250, "display.max_columns", 30,
                           "display.float_format", "{:.3f}".format):
        print(table.to_string())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--speed-only", action="store_true", help="skip the AUC tables")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    speed(args.epochs, args.repeats)
    hvae_speed()
    wavenet_speed(args.repeats)
    for folder in () if args.speed_only else FOLDERS:
        quality(folder, args.epochs)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory of this process: {peak:.0f} MiB")
    print("kNN: mean distance to the 3 nearest normal training clips, standardized "
          "clip-mean log-mel (64 mels), same clips. DCASE20: the official baseline's "
          "published development-set figure for that ID (trained on ~1000 clips per ID).")


if __name__ == "__main__":
    main()
