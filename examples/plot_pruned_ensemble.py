"""
Pruned VGG / Inception ensemble and its size
============================================

The best system of Ooi et al. (DCASE 2020 Task 1B) averages the class probabilities of five VGGNet
models V(2, 2, 3, 3) and one InceptionNet model I(2, 1, 2), each pruned during
training to 80 % sparsity per layer on the polynomial-decay schedule of the paper's
equation (1). Its features: mono down-mix, 2048-sample Hann window with 50 %
overlap, 48 mel bands from 0 Hz to sr / 2 (``OOI2020_FEATURES``, sr = 48 kHz).

The paper trains 400 epochs and prunes at epochs 100, 110, ..., 300. To run in
seconds this example fits on a few synthetic tone clips for 10 epochs with the
schedule scaled to them, then prints the size of every member and of the ensemble
(non-zero parameters and float32 KB, the paper's measure).
"""

# %%
# Features of three classes of tones
# ----------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.ensemble import VotingClassifier

from sklasd.classifiers import (
    OOI2020_FEATURES, PolynomialDecayPruning, PrunedCNNClassifier, model_size,
)
from sklasd.features import LogMelTransformer

SR = 48000
MAX_EPOCHS = 10  # the paper: 400 with PolynomialDecayPruning() (t0=100, dt=10, n=20)

# three classes of 1-s clips: noisy tones at 500 Hz, 2 kHz and 6 kHz
rng = np.random.default_rng(0)
t = np.arange(SR) / SR
labels = np.repeat(["low", "mid", "high"], 4)
freq = {"low": 500.0, "mid": 2000.0, "high": 6000.0}
audio = np.stack([0.3 * np.sin(2 * np.pi * freq[c] * t) for c in labels])
audio = (audio + 0.05 * rng.standard_normal(audio.shape)).astype(np.float32)

features = LogMelTransformer(sr=SR, **OOI2020_FEATURES)
X = features.fit_transform(audio)  # (12, 48 mels, 47 frames)
print("features:", features)
print("X:", X.shape)

# %%
# Five pruned VGG models and one pruned Inception model, soft-voted
# -----------------------------------------------------------------
schedule = PolynomialDecayPruning(begin_epoch=3, frequency=1, n_prunings=4)
common = dict(pruning=schedule, max_epochs=MAX_EPOCHS, lr=1e-2, batch_size=4)
members = [(f"vgg{i}", PrunedCNNClassifier("vgg", (2, 2, 3, 3), random_state=i, **common))
           for i in range(5)]
members.append(("inception", PrunedCNNClassifier("inception", (2, 1, 2),
                                                 random_state=5, **common)))
ensemble = VotingClassifier(members, voting="soft").fit(X, labels)

# %%
# Model sizes
# -----------
unpruned = PrunedCNNClassifier("vgg", pruning=None, max_epochs=1).fit(X, labels)
print(f"\n{'model':<12}{'non-zero params':>16}{'KB':>10}")
print(f"{'vgg unpruned':<12}{unpruned.n_nonzero_params_:>16}{unpruned.model_size_kb_:>10.1f}")
for name, member in zip([n for n, _ in members], ensemble.estimators_):
    print(f"{name:<12}{member.n_nonzero_params_:>16}{member.model_size_kb_:>10.1f}")
n, kb = model_size(ensemble)
print(f"{'ensemble':<12}{n:>16}{kb:>10.1f}")
print("\ntraining accuracy of the ensemble:", ensemble.score(X, labels))

names = ["vgg unpruned"] + [n for n, _ in members] + ["ensemble"]
sizes = ([unpruned.model_size_kb_] + [m.model_size_kb_ for m in ensemble.estimators_]
         + [kb])
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.barh(names, sizes, color=["grey"] + ["C0"] * 5 + ["C1", "C2"])
ax.set_xlabel("non-zero parameters as float32 (KB)")
ax.invert_yaxis()
fig.tight_layout()
plt.show()
