"""Anomaly scores of every detector at a fixed seed on generated sounds, saved to a file.

Run it on two revisions and compare, to show that a refactoring leaves the scores
unchanged::

    python benchmarks/check_seed_parity.py before.npz            # on the old revision
    python benchmarks/check_seed_parity.py after.npz --compare before.npz
"""
import argparse

import numpy as np
import sklearn

from sklasd.datasets import make_machine_sounds
from sklasd.detectors import (AutoencoderDetector, HVAEDetector, IDConditionedAE,
                              WaveNetPredictor, WeightedEnsembleDetector)
from sklasd.features import FrameStacker, LogMelTransformer, SpectrogramScaler
from sklasd.pipeline import make_pipeline

KW = dict(max_epochs=2, random_state=0)


def pipelines():
    logmel = lambda: LogMelTransformer(n_mels=32)  # noqa: E731
    return {
        "ae": make_pipeline(logmel(), FrameStacker(n_frames=5),
                            AutoencoderDetector(**KW)),
        "hvae": make_pipeline(logmel(), FrameStacker(n_frames=5), HVAEDetector(**KW)),
        "idcae": make_pipeline(logmel(), SpectrogramScaler(), FrameStacker(n_frames=5),
                               IDConditionedAE(**KW)),
        "wavenet": make_pipeline(logmel(), WaveNetPredictor(**KW)),
        "ensemble": make_pipeline(logmel(), FrameStacker(n_frames=5),
                                  WeightedEnsembleDetector(
                                      [("ae", AutoencoderDetector(**KW)),
                                       ("hvae", HVAEDetector(**KW))], weights=[0.5, 0.5])),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--compare", default=None)
    args = parser.parse_args()
    data = make_machine_sounds(n_normal=12, n_anomalous=4, machine_ids=("id_00", "id_02"),
                               duration=2.0, random_state=0)
    train = (data.split == "train") & (data.target == 0)
    test = data.split == "test"
    results = {}
    with sklearn.config_context(enable_metadata_routing=True):
        for name, pipe in pipelines().items():
            meta = {"machine_id": data.machine_id[train]} if name == "idcae" else {}
            tmeta = {"machine_id": data.machine_id[test]} if name == "idcae" else {}
            pipe.fit(data.data[train], **meta)
            results[name] = pipe.anomaly_score(data.data[test], **tmeta)
            results[name + "_threshold"] = np.array([pipe[-1].threshold_])
    np.savez(args.output, **results)
    if args.compare:
        before = np.load(args.compare)
        for name, after in results.items():
            rel = np.max(np.abs(after - before[name]) / np.maximum(np.abs(before[name]), 1e-12))
            print(f"{name:20s} max relative difference {rel:.3g}")


if __name__ == "__main__":
    main()
