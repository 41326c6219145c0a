"""
DCASE 2021-2024 baseline autoencoder (128 mels x 5 frames)
==========================================================

The autoencoder baselines of DCASE 2021-2024 Task 2 keep the DCASE 2020 network but
take 128 log-mel bins (n_fft 1024, hop 512) over 5 frames: 640 inputs. Their decision
threshold is the 0.9 quantile of a gamma distribution fitted to the training clip
scores, which is ``threshold_`` here; ``predict`` returns -1 for clips above it.

Runs on the DCASE 2023 valve excerpt in ``../shared/data`` when present (it holds
test clips, so a seeded half of the normal clips trains the model), otherwise on
synthetic machine sounds.
"""
from pathlib import Path

import numpy as np

from sklasd.datasets import load_dcase2021_task2, make_machine_sounds
from sklasd.detectors import AutoencoderDetector
from sklasd.features import FrameStacker, LogMelTransformer
from sklasd.pipeline import make_pipeline

MAX_EPOCHS = 10  # the baselines train for 100 epochs
folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "dcase2023-task2-valve"

if (folder / "manifest.csv").is_file():
    data = load_dcase2021_task2(folder)
    sr = 16000
else:
    data = make_machine_sounds(n_normal=40, n_anomalous=10, random_state=0)
    sr = data.sr
normal = np.flatnonzero(data.target == 0)
train = np.random.default_rng(0).permutation(normal)[: len(normal) // 2]
test = np.setdiff1d(np.arange(len(data.target)), train)

pipe = make_pipeline(
    LogMelTransformer(sr=sr, n_fft=1024, hop_length=512, n_mels=128),
    FrameStacker(n_frames=5),
    AutoencoderDetector(max_epochs=MAX_EPOCHS, batch_size=256, random_state=0),
)
pipe.fit(data.data[train])
print(f"{pipe[-1].n_features_in_} inputs; threshold_ = {pipe[-1].threshold_:.2f}")
print(f"AUC = {pipe.score(data.data[test], data.target[test]):.3f}")
decisions = pipe.predict(data.data[test]) == -1
print(f"{decisions.sum()} of {len(test)} test clips flagged anomalous")
