"""
DCASE 2020 Task 2 baseline autoencoder
======================================

The official DCASE 2020 Task 2 baseline as a scikit-learn pipeline: 64 log-mel bins
(n_fft 1024, hop 512), 5 stacked frames (320 inputs), a dense autoencoder
128 x 4 / 8 / 128 x 4 with batch normalization and ReLU, Adam (lr 1e-3), 100 epochs of
batches of 512, 10 % of the training clips held out, and the clip score = mean
reconstruction MSE of its windows. These are the defaults of
:class:`~sklasd.detectors.AutoencoderDetector`.

The example trains on the normal training clips of a real DCASE 2020 slider (machine
ID 00) and scores its test clips when ``SKLASD_EXAMPLES_DATA`` holds the
``dcase2020-task2-lite`` folder, and on generated machine sounds otherwise.
``MAX_EPOCHS`` and ``WINDOWS_PER_CLIP`` are cut so that it runs in seconds; the
baseline trains 100 epochs on every window.
"""

# %%
# Load the clips
# --------------
# :func:`~sklasd.datasets.load_dcase2020_task2` reads a DCASE 2020 folder
# (``<machine_type>/{train,test}/<normal|anomaly>_id_XX_NNNNNNNN.wav``): ``data`` holds
# the paths, ``target`` the labels (1 = anomaly) and ``split`` the folder.
import os
from pathlib import Path

import matplotlib.pyplot as plt

from sklasd.datasets import load_dcase2020_task2, make_machine_sounds

root = os.environ.get("SKLASD_EXAMPLES_DATA")
folder = Path(root, "dcase2020-task2-lite", "slider") if root else None
if folder is not None and folder.is_dir():
    data = load_dcase2020_task2(folder)
    sr, source = 16000, "DCASE 2020 slider id_00"
else:
    data = make_machine_sounds(n_normal=40, n_anomalous=10, machine_ids=("id_00",),
                               random_state=0)
    sr, source = data.sr, "generated motor sounds"
train = (data.split == "train") & (data.target == 0)
test = data.split == "test"
print(f"{source}: {train.sum()} normal training clips, {test.sum()} test clips "
      f"({data.target[test].sum()} anomalous)")

# %%
# Fit the baseline on normal clips only
# -------------------------------------
from sklasd.detectors import AutoencoderDetector
from sklasd.features import FrameStacker, LogMelTransformer
from sklasd.pipeline import make_pipeline

MAX_EPOCHS = 10  # 100 in the baseline
WINDOWS_PER_CLIP = 32  # the baseline trains on all ~300 windows of every clip

pipe = make_pipeline(
    LogMelTransformer(sr=sr, n_fft=1024, hop_length=512, n_mels=64),
    FrameStacker(n_frames=5),
    AutoencoderDetector(max_epochs=MAX_EPOCHS, windows_per_clip=WINDOWS_PER_CLIP,
                        random_state=0),
)
pipe.fit(data.data[train])

# %%
# Score the test clips
# --------------------
# ``anomaly_score`` is higher for more anomalous clips; ``score`` is the ROC AUC
# against ``y`` (1 = anomaly); ``predict`` returns -1 above ``threshold_``, the 0.9
# quantile of a gamma distribution fitted to the training clip scores.
scores = pipe.anomaly_score(data.data[test])
print(f"AUC = {pipe.score(data.data[test], data.target[test]):.3f}")
print(f"threshold_ = {pipe[-1].threshold_:.2f}; "
      f"{(pipe.predict(data.data[test]) == -1).sum()} test clips flagged anomalous")

# %%
# The scores and the training curve
# ---------------------------------
from sklasd.plotting import plot_score_histogram

fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
plot_score_histogram(data.target[test], scores, threshold=pipe[-1].threshold_, bins=10,
                     ax=ax0)
ax0.set_title(f"test clips, {source}")
history = pipe[-1].net_.history
ax1.plot(history[:, "train_loss"], label="training windows")
ax1.plot(history[:, "valid_loss"], label="held-out 10 % of the clips")
ax1.set_xlabel("epoch")
ax1.set_ylabel("reconstruction MSE")
ax1.legend()
fig.tight_layout()
plt.show()
