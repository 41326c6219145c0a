"""Do anomaly maps point at the anomaly? Peak hit rate of every ``sklasd run --model`` pipeline.

On generated sounds with localized anomalies (``make_machine_sounds`` with
``anomaly_types=("impact", "rattle")``: 1-4 knocks within 0.1 s, or a 0.15-0.4 s
rattling episode, at a random time of a 2 s clip), every pipeline of
``sklasd.models.MODELS`` is fitted on the training normals and maps the
anomalous test clips (``Pipeline.anomaly_map``). A clip is a hit when the peak of
its map's time profile (the sum over mel bins; the frame with the largest value)
lies inside the injected anomaly, ``[anomaly_onset - 0.1 s, anomaly_offset +
0.1 s]``. Printed per pipeline and anomaly kind: the hit rate (and, for the
impacts, ``impact band``: the share whose strongest region of
``sklasd.maps.anomaly_regions`` has a band that meets the impact's resonance
band), and two
references that need no model: ``chance`` (the mean share of the clip that the
widened span covers: a uniformly random peak's hit rate) and ``loudest`` (the
peak at the clip's loudest log-mel frame, the sum over bins of the power).

The anomalies of these clips are louder than the machine while they last, so the
loudest frame finds them too. ``--normal-events`` adds to every clip, normal or
not, a normal knock at a random time (a broadband burst decaying in 20 ms,
-6 dB re. the clip's power, louder than the anomalies): the loudest frame is
then the knock, and a map must tell the normal event from the anomaly.

Usage: python benchmarks/bench_maps.py [--quick] [--normal-events] [--models knn ae ...]
[--seed 0]
(``--quick`` trains the neural pipelines for 3 epochs instead of 20, on fewer
clips.)
"""
import argparse
import time
import warnings

import numpy as np
import pandas as pd
import sklearn
import torch

from sklasd.datasets import make_machine_sounds
from sklasd.maps import anomaly_regions
from sklasd.models import MODELS, make_model

TOLERANCE = 0.1  # s on either side of the injected anomaly
NEURAL = {"ae", "ae_mahalanobis", "hvae", "idcae", "wavenet"}


def peak_seconds(maps, log_mel):
    """Time (s) of the largest value of each map's time profile."""
    return np.array([np.argmax(np.atleast_2d(m).sum(axis=0)) for m in maps]) * (
        log_mel.hop_length / log_mel.sr)


def hits(peaks, data, rows):
    return ((peaks >= data.anomaly_onset[rows] - TOLERANCE)
            & (peaks <= data.anomaly_offset[rows] + TOLERANCE))


def band_hits(maps, log_mel, data, rows):
    """Share of the clips ``rows`` whose strongest region's band meets the true band."""
    position = {clip: i for i, clip in enumerate(np.flatnonzero(data.target == 1))}
    met = []
    for clip in rows:
        regions = anomaly_regions(maps[position[clip]], sr=log_mel.sr,
                                  hop_length=log_mel.hop_length, fmin=log_mel.fmin,
                                  fmax=log_mel.fmax)
        met.append(bool(regions) and regions[0].fmin <= data.anomaly_fmax[clip]
                   and data.anomaly_fmin[clip] <= regions[0].fmax)
    return np.mean(met)


def add_normal_knocks(data, rng):
    """Add a normal knock to every clip of ``data.data`` in place (module docstring)."""
    n_clips, n_samples = data.data.shape
    t = np.arange(int(0.1 * data.sr)) / data.sr
    for clip in data.data:
        knock = rng.standard_normal(len(t)) * np.exp(-t / 0.02)
        knock *= np.sqrt(np.mean(clip.astype(np.float64) ** 2) * n_samples
                         * 10 ** (-6 / 10) / np.sum(knock ** 2))
        start = rng.integers(0, n_samples - len(t))
        clip[start:start + len(t)] += knock.astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--normal-events", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    sklearn.set_config(enable_metadata_routing=True)  # idcae takes machine_id

    n_normal, n_anomalous = (16, 10) if args.quick else (40, 20)
    data = make_machine_sounds(n_normal, n_anomalous, anomaly_types=("impact", "rattle"),
                               random_state=args.seed)
    if args.normal_events:
        add_normal_knocks(data, np.random.default_rng(args.seed))
    train = np.flatnonzero((data.split == "train") & (data.target == 0))
    anomalous = np.flatnonzero(data.target == 1)
    kinds = data.attributes.anomaly_type.to_numpy()[anomalous]
    duration = data.data.shape[1] / data.sr
    span = (np.minimum(data.anomaly_offset[anomalous] + TOLERANCE, duration)
            - np.maximum(data.anomaly_onset[anomalous] - TOLERANCE, 0))
    print(f"{len(anomalous)} anomalous clips ({dict(zip(*np.unique(kinds, return_counts=True)))}), "
          f"{len(train)} training normals, seed {args.seed}, tolerance +-{TOLERANCE} s, "
          f"normal knocks: {args.normal_events}")

    rows = []
    for name in args.models:
        model = make_model(name, max_epochs=(3 if args.quick else 20) if name in NEURAL
                           else 100, random_state=args.seed)
        meta = {"machine_id": data.machine_id} if name == "idcae" else {}
        model.fit(data.data[train], **{k: v[train] for k, v in meta.items()})
        start = time.perf_counter()
        maps = model.anomaly_map(data.data[anomalous],
                                 **{k: v[anomalous] for k, v in meta.items()})
        seconds = time.perf_counter() - start
        hit = hits(peak_seconds(maps, model[0]), data, anomalous)
        rows.append({"model": name, **{k: hit[kinds == k].mean() for k in ("impact", "rattle")},
                     "all": hit.mean(), "impact band": band_hits(maps, model[0], data,
                                                                 anomalous[kinds == "impact"]),
                     "map s/clip": seconds / len(anomalous)})
        print(f"{name}: hit rate {hit.mean():.3f}", flush=True)

    log_mel = make_model("knn")[0]
    power = [10 ** (S / 10) for S in log_mel.fit_transform(data.data[anomalous])]
    loud = hits(peak_seconds(power, log_mel), data, anomalous)
    for reference, hit in (("chance", span / duration), ("loudest", loud)):
        rows.append({"model": reference, **{k: hit[kinds == k].mean()
                                            for k in ("impact", "rattle")}, "all": hit.mean()})
    print(pd.DataFrame(rows).to_string(index=False, float_format="%.3f"))


if __name__ == "__main__":
    main()
