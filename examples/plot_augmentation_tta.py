"""
Spectrogram augmentation and test-time augmentation
===================================================

Schlüter and Grill (ISMIR 2015) augment training examples on the fly: pitch shift and
time stretch (scaling a linear-frequency spectrogram before the mel filterbank),
random frequency filters, loudness changes, noise; and at test time they average the
predictions over pitch shifts. The augmentations of :mod:`sklasd.augment` work on
whole torch batches; a classifier applies them to its training batches only when
given ``augment=[...]``, and ``tta=`` averages ``predict_proba`` over pitch-shift
factors.

The augmentations that act before mel scaling need linear spectrograms as the
classifier's input and a ``frontend``: the
:class:`~sklasd.features.LogMelTransformer` whose mel filterbank and logarithm the
network then applies itself.
"""

# %%
# What the augmentations do to one clip
# -------------------------------------
# A harmonic tone (300 Hz and its overtones) with a rising onset, as a linear power
# spectrogram, then each augmentation, shown in dB.
import matplotlib.pyplot as plt
import numpy as np
import torch

from sklasd.augment import FrequencyFilter, Loudness, pitch_shift, time_stretch
from sklasd.features import LogMelTransformer

SR = 16000
t = np.arange(SR) / SR


def tone(f0, onset):
    """One second of a harmonic tone starting at ``onset`` seconds."""
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    return (0.2 * wave * (t > onset)).astype(np.float32)


linear = LogMelTransformer(sr=SR, n_fft=512, hop_length=256, n_mels=None, log=None)
X = torch.from_numpy(linear.fit_transform(tone(300.0, 0.3)[None]))
freqs = np.fft.rfftfreq(512, 1 / SR)
views = {
    "original": X,
    "pitch shift x 1.3": pitch_shift(X, 1.3),
    "time stretch x 1.5": time_stretch(X, 1.5),
    "frequency filter": FrequencyFilter(10.0, random_state=1)(X, freqs=freqs, power=2),
    "loudness -6 dB (after log)": Loudness(6.0, random_state=0)(10 * torch.log10(X + 1e-10)),
}
fig, axes = plt.subplots(1, len(views), figsize=(14, 3), sharey=True)
for ax, (title, V) in zip(axes, views.items()):
    V = V[0].numpy()
    db = V if title.startswith("loudness") else 10 * np.log10(V + 1e-10)
    ax.imshow(db, origin="lower", aspect="auto", vmin=-80, vmax=db.max(),
              extent=[0, 1, 0, SR / 2000])
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("time (s)")
axes[0].set_ylabel("frequency (kHz)")
fig.tight_layout()

# %%
# Training with augmentation, predicting with TTA
# -----------------------------------------------
# Three classes of tones (200, 400 and 800 Hz fundamentals, random onsets). The test
# tones are 15 % higher than any training tone: pitch-shift augmentation at training
# and TTA at test time both help the classifier to generalize to them. The network is
# tiny and trains for a few epochs.
from sklasd.augment import PitchShift
from sklasd.classifiers import PrunedCNNClassifier

rng = np.random.default_rng(0)
classes = {"low": 200.0, "mid": 400.0, "high": 800.0}
labels = np.repeat(list(classes), 12)
audio = np.stack([tone(classes[c] * rng.uniform(0.95, 1.05), rng.uniform(0, 0.4))
                  for c in labels])
test_labels = np.repeat(list(classes), 4)
test_audio = np.stack([tone(classes[c] * 1.15, rng.uniform(0, 0.4)) for c in test_labels])

frontend = LogMelTransformer(sr=SR, n_fft=512, hop_length=256, n_mels=40)
X_train, X_test = linear.transform(audio), linear.transform(test_audio)
common = dict(architecture="vgg", blocks=(1, 1, 0, 0), filters=8, pruning=None,
              frontend=frontend, max_epochs=15, lr=3e-3, batch_size=12, random_state=0)
plain = PrunedCNNClassifier(**common).fit(X_train, labels)
augmented = PrunedCNNClassifier(augment=[PitchShift(0.2)], **common).fit(X_train, labels)

results = {
    "no augmentation": plain.score(X_test, test_labels),
    "+ pitch-shift augmentation": augmented.score(X_test, test_labels),
    "+ augmentation and TTA": augmented.set_params(tta=(0.8, 0.9, 1.0, 1.1, 1.2))
    .score(X_test, test_labels),
}
for name, accuracy in results.items():
    print(f"{name:<28} accuracy on tones 15 % higher: {accuracy:.2f}")

fig, ax = plt.subplots(figsize=(6, 2.5))
ax.barh(list(results), list(results.values()))
ax.set_xlim(0, 1)
ax.set_xlabel("accuracy on the shifted test tones")
fig.tight_layout()
plt.show()
