"""
DCASE 2021-2024 baseline autoencoder (128 mels x 5 frames)
==========================================================

The autoencoder baselines of DCASE 2021-2024 Task 2 keep the DCASE 2020 network but
take 128 log-mel bins (n_fft 1024, hop 512) over 5 frames: 640 inputs. Their decision
threshold is the 0.9 quantile of a gamma distribution fitted to the training clip
scores, which is ``threshold_`` here; ``predict`` returns -1 for clips above it.

Runs on the DCASE 2023 valve section when ``SKLASD_EXAMPLES_DATA`` holds
``dcase2023-task2-valve`` (it holds test clips, so a seeded half of the normal clips
trains the model), otherwise on generated machine sounds. Valve is a hard machine type
for frame-based autoencoders: see the pooled detectors for a better one.
"""

# %%
# Data
# ----
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklasd.datasets import load_dcase2021_task2, make_machine_sounds
from sklasd.detectors import AutoencoderDetector
from sklasd.features import FrameStacker, LogMelTransformer
from sklasd.pipeline import make_pipeline

MAX_EPOCHS = 10  # the baselines train for 100 epochs
WINDOWS_PER_CLIP = 32  # and on every window of every clip

root = os.environ.get("SKLASD_EXAMPLES_DATA")
folder = Path(root, "dcase2023-task2-valve") if root else None
if folder is not None and folder.is_dir():
    data = load_dcase2021_task2(folder)
    sr, source = 16000, "DCASE 2023 valve"
else:
    data = make_machine_sounds(n_normal=40, n_anomalous=10, random_state=0)
    sr, source = data.sr, "generated motor sounds"
normal = np.flatnonzero(data.target == 0)
train = np.random.default_rng(0).permutation(normal)[: len(normal) // 2]
test = np.setdiff1d(np.arange(len(data.target)), train)

# %%
# Fit and score
# -------------
pipe = make_pipeline(
    LogMelTransformer(sr=sr, n_fft=1024, hop_length=512, n_mels=128),
    FrameStacker(n_frames=5),
    AutoencoderDetector(max_epochs=MAX_EPOCHS, windows_per_clip=WINDOWS_PER_CLIP,
                        batch_size=256, random_state=0),
)
pipe.fit(data.data[train])
print(f"{pipe[-1].n_features_in_} inputs; threshold_ = {pipe[-1].threshold_:.2f}")
scores = pipe.anomaly_score(data.data[test])
print(f"AUC = {pipe.score(data.data[test], data.target[test]):.3f}")
decisions = pipe.predict(data.data[test]) == -1
print(f"{decisions.sum()} of {len(test)} test clips flagged anomalous")

# %%
# ROC curve per domain (source / target) or machine ID
# ----------------------------------------------------
from sklasd.plotting import plot_roc

groups = data.domain[test] if (data.domain != "").all() else data.machine_id[test]
ax = plot_roc(data.target[test], scores, groups=groups)
ax.set_title(f"{source}, {MAX_EPOCHS} epochs")
plt.show()
