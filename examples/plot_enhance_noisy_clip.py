"""
Enhancing a noisy clip with a dynamic time-frequency mask
=========================================================

Kim et al. (Interspeech 2020) put a learned mask ``m`` in [0, 1] in front of a frozen pre-trained
classifier: a filter generator reads the clip and produces the weights of a small
dilated-convolution network that outputs ``m`` (dynamic feature enhancement); DSL
applies that stage twice with shared weights. The classifier then reads ``x * m``.

To run in seconds this example trains a tiny CNN-FC and a tiny DSL ``MaskEnhancer``
on synthetic tone clips (the paper's features: 16 kHz, Hamming 512 / 256, 40 mels,
per-clip min-max, here on 1-s clips), mixes white noise into one clip at 5 dB SNR
and plots its clean, noisy, mask and enhanced features.
"""

# %%
# Tone-burst clips and their features
# -----------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.pipeline import make_pipeline

from sklasd.classifiers import KIM2020_FEATURES, CNNFCClassifier, MaskEnhancer
from sklasd.datasets import mix_at_snr
from sklasd.features import LogMelTransformer, SpectrogramScaler
from sklasd.plotting import plot_spectrogram

SR = 16000
rng = np.random.default_rng(0)

# three classes of 1-s clips: tone bursts at 500 Hz, 1.5 kHz and 4 kHz
t = np.arange(SR) / SR
labels = np.repeat(["low", "mid", "high"], 8)
freq = {"low": 500.0, "mid": 1500.0, "high": 4000.0}
onsets = rng.uniform(0.0, 0.5, len(labels))
audio = np.stack([0.3 * np.sin(2 * np.pi * freq[c] * t) * ((t > o) & (t < o + 0.4))
                  for c, o in zip(labels, onsets)])
audio = (audio + 0.01 * rng.standard_normal(audio.shape)).astype(np.float32)

features = make_pipeline(LogMelTransformer(**{**KIM2020_FEATURES, "duration": 1.0}),
                         SpectrogramScaler(per="minmax"))
X = features.fit_transform(audio)  # (24, 40 mels, 63 frames) in [0, 1]

# %%
# A frozen classifier, then the mask in front of it
# -------------------------------------------------
# the paper: CNN-FC (12, 36, 72, 96, 96), generator (12, 72, 256), mask layer
# (24, 96, 96, 96, 1), 100 epochs each; tiny and short here
clf = CNNFCClassifier(channels=(8, 16, 16), max_epochs=30, lr=3e-3, batch_size=8,
                      random_state=0).fit(X, labels)
enhancer = MaskEnhancer(clf, mode="dsl", generator_channels=(8, 16, 32),
                        mask_channels=(8, 8, 1), mask_dilations=(1, 2, 1),
                        max_epochs=10, lr=3e-3, batch_size=8, random_state=0)
enhancer.fit(X, labels)

# %%
# Noisy clips
# -----------
noise = rng.standard_normal(SR).astype(np.float32)
noisy_audio = np.stack([mix_at_snr(a, noise, 5.0, random_state=i)
                        for i, a in enumerate(audio)])
X_noisy = features.transform(noisy_audio)
print(f"accuracy clean / 5 dB: classifier {clf.score(X, labels):.2f} / "
      f"{clf.score(X_noisy, labels):.2f}, DSL enhancer {enhancer.score(X, labels):.2f}"
      f" / {enhancer.score(X_noisy, labels):.2f}")

# %%
# One noisy clip, its mask and the enhanced features
# --------------------------------------------------
clip = X_noisy[:1]
panels = {"clean": X[0], "noisy (5 dB white noise)": clip[0],
          "DSL mask": enhancer.mask(clip)[0], "enhanced (noisy x mask)":
          enhancer.transform(clip)[0]}
fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.2 * len(panels)))
for ax, (title, S) in zip(axes, panels.items()):
    plot_spectrogram(S, sr=SR, hop_length=256, ax=ax, title=title, vmin=0, vmax=1)
    fig.axes[-1].yaxis.set_major_formatter("{x:.1f}")  # min-max units, not dB
fig.tight_layout()
plt.show()
