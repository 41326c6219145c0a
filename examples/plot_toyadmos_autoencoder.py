"""
ToyADMOS autoencoder (Koizumi et al., 2019)
===========================================

The benchmark system of the ToyADMOS paper (Koizumi et al., WASPAA 2019, section 4): 64 log-mel bins
with 10 frames of context on each side (21 frames, 1344 inputs), a dense autoencoder
with 512-unit hidden layers and a 128-dimensional code, ReLU and no batch
normalization, lr 1e-4 fixed for 100 epochs then decreased linearly to 1/100 of it by
epoch 200, and a clip flagged anomalous when any frame exceeds the threshold, i.e.
the clip score is the maximum over its frames (``aggregation="max"``).

The learning-rate schedule is a skorch ``LRScheduler`` callback around
``torch.optim.lr_scheduler.LambdaLR``. ``SCALE`` shortens the schedule so the example
runs in seconds; ``SCALE = 1`` is the paper's 200 epochs. The clips are generated
motor sounds.
"""

# %%
# The learning-rate schedule
# --------------------------
import matplotlib.pyplot as plt
from skorch.callbacks import LRScheduler
from torch.optim.lr_scheduler import LambdaLR

from sklasd.datasets import make_machine_sounds
from sklasd.detectors import AutoencoderDetector
from sklasd.features import FrameStacker, LogMelTransformer
from sklasd.pipeline import make_pipeline

SCALE = 10  # 200 / SCALE epochs
FIXED, TOTAL = 100 // SCALE, 200 // SCALE


def toyadmos_lr_factor(epoch):
    """1 for the first FIXED epochs, then linear down to 1/100 at epoch TOTAL."""
    if epoch < FIXED:
        return 1.0
    return 1.0 - 0.99 * min(epoch - FIXED + 1, TOTAL - FIXED) / (TOTAL - FIXED)


# %%
# The detector: clip score = maximum over its frames
# --------------------------------------------------
detector = AutoencoderDetector(
    hidden_layer_sizes=(512, 512, 512, 512),
    bottleneck=128,
    batch_norm=False,
    lr=1e-4,
    max_epochs=TOTAL,
    callbacks=[LRScheduler(LambdaLR, lr_lambda=toyadmos_lr_factor)],
    aggregation="max",
    random_state=0,
)

# %%
# Fit and score
# -------------
data = make_machine_sounds(n_normal=40, n_anomalous=10, machine_ids=("id_00",),
                           random_state=0)
train = (data.split == "train") & (data.target == 0)
test = data.split == "test"
pipe = make_pipeline(
    LogMelTransformer(sr=data.sr, n_fft=1024, hop_length=512, n_mels=64),
    FrameStacker(n_frames=21),
    detector,
)
pipe.fit(data.data[train])
final_lr = pipe[-1].net_.optimizer_.param_groups[0]["lr"]
print(f"final learning rate {final_lr:.1e} (1e-6 at the end of the schedule)")
print(f"AUC (max over frames) = {pipe.score(data.data[test], data.target[test]):.3f}")

history = pipe[-1].net_.history
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.5))
ax0.plot([1e-4 * toyadmos_lr_factor(e) for e in range(TOTAL)])
ax0.set_yscale("log")
ax0.set_xlabel("epoch")
ax0.set_ylabel("learning rate")
ax1.plot(history[:, "train_loss"], label="training")
ax1.plot(history[:, "valid_loss"], label="held out")
ax1.set_xlabel("epoch")
ax1.set_ylabel("reconstruction MSE")
ax1.legend()
fig.tight_layout()
plt.show()
