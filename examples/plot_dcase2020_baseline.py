"""
DCASE 2020 Task 2 baseline autoencoder
======================================

The official DCASE 2020 Task 2 baseline (``keras_model.py``, ``baseline.yaml``) as a
scikit-learn pipeline: 64 log-mel bins (n_fft 1024, hop 512), 5 stacked frames (320
inputs), a dense autoencoder 128 x 4 / 8 / 128 x 4 with batch normalization and ReLU,
Adam (lr 1e-3), 100 epochs of batches of 512, 10 % of the training clips held out, and
the clip score = mean reconstruction MSE of its windows. These are the defaults of
:class:`sklasd.detectors.AutoencoderDetector`.

Runs on synthetic machine sounds (``make_machine_sounds``); pass a DCASE folder to
``load_dcase2020_task2`` instead for the real data. ``MAX_EPOCHS`` is reduced so the
example runs in seconds; the baseline uses 100.
"""
import matplotlib.pyplot as plt
import numpy as np

from sklasd.datasets import make_machine_sounds
from sklasd.detectors import AutoencoderDetector
from sklasd.features import FrameStacker, LogMelTransformer
from sklasd.pipeline import make_pipeline

MAX_EPOCHS = 20  # 100 in the baseline

data = make_machine_sounds(n_normal=40, n_anomalous=10, machine_ids=("id_00",),
                           random_state=0)
train = (data.split == "train") & (data.target == 0)
test = data.split == "test"

pipe = make_pipeline(
    LogMelTransformer(sr=data.sr, n_fft=1024, hop_length=512, n_mels=64),
    FrameStacker(n_frames=5),
    AutoencoderDetector(max_epochs=MAX_EPOCHS, batch_size=64, random_state=0),
)
pipe.fit(data.data[train])

scores = pipe.anomaly_score(data.data[test])
print(f"AUC = {pipe.score(data.data[test], data.target[test]):.3f}")
print(f"decision threshold (gamma 0.9 quantile) = {pipe[-1].threshold_:.2f}")

fig, ax = plt.subplots()
for label, name in [(0, "normal"), (1, "anomalous")]:
    ax.hist(scores[data.target[test] == label], bins=10, alpha=0.6, label=name)
ax.axvline(pipe[-1].threshold_, color="k", linestyle="--", label="threshold_")
ax.set_xlabel("anomaly score (mean window MSE)")
ax.set_ylabel("test clips")
ax.legend()
history = np.array(pipe[-1].net_.history[:, "train_loss"])
print(f"train loss: first epoch {history[0]:.1f}, last epoch {history[-1]:.2f}")
plt.show()
