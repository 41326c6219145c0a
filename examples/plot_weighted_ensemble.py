"""
A weighted ensemble of detectors
================================

Daniluk et al. (DCASE 2020 Task 2) combine their detectors by a weighted mean of
standardized scores, the weights searched on a grid on labelled validation clips.
:class:`~sklasd.detectors.WeightedEnsembleDetector` does the same for any detectors:
``fit(X, y)`` splits the clips with :class:`~sklasd.model_selection.NormalOnlyKFold`,
fits every member on the normal clips of each training fold, standardizes their
out-of-fold scores, searches the weights on the simplex (step ``weight_step``) for
the best pAUC, and refits the members on all normal clips.

The members here are the DCASE 2020 baseline autoencoder on stacked frames and the
pooled log-mel Gaussian mixture, both from the same spectrograms of generated motor
sounds. The autoencoder trains for a few epochs only.
"""

# %%
# Two detectors on the same spectrograms
# --------------------------------------
import matplotlib.pyplot as plt
import numpy as np

from sklasd.datasets import make_machine_sounds
from sklasd.detectors import (
    AutoencoderDetector, GaussianMixtureDetector, WeightedEnsembleDetector,
)
from sklasd.features import FrameStacker, LogMelTransformer, TemporalPooling
from sklasd.pipeline import make_pipeline

data = make_machine_sounds(n_normal=40, n_anomalous=20, machine_ids=("id_00",),
                           random_state=0)
S = LogMelTransformer(sr=data.sr, n_mels=64).fit_transform(data.data)
y = data.target
rng = np.random.default_rng(0)
search_part = rng.permutation(len(y))[: len(y) // 2]
test = np.setdiff1d(np.arange(len(y)), search_part)

members = [
    ("ae", make_pipeline(FrameStacker(n_frames=5),
                         AutoencoderDetector(max_epochs=5, random_state=0))),
    ("gmm", make_pipeline(TemporalPooling(), GaussianMixtureDetector(random_state=0))),
]
ensemble = WeightedEnsembleDetector(members, weight_step=0.05, cv=3, random_state=0)
ensemble.fit(S[search_part], y[search_part])
print("weights:", {name: round(float(w), 2)
                   for name, w in zip(["ae", "gmm"], ensemble.weights_)})
print(f"validation pAUC of the search: {ensemble.validation_score_:.3f}")

# %%
# Each member and the ensemble on clips the search did not see
# ------------------------------------------------------------
from sklasd.metrics import partial_auc
from sklearn.metrics import roc_auc_score

rows = {name: member.anomaly_score(S[test])
        for name, member in ensemble.named_estimators_.items()}
rows["ensemble"] = ensemble.anomaly_score(S[test])
for name, s in rows.items():
    print(f"{name:<9} AUC {roc_auc_score(y[test], s):.3f}  "
          f"pAUC {partial_auc(y[test], s):.3f}")

fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
for ax, (name, s) in zip(axes, rows.items()):
    for label, text in [(0, "normal"), (1, "anomalous")]:
        ax.hist(s[y[test] == label], bins=12, alpha=0.6, label=text)
    ax.set_title(f"{name}: AUC {roc_auc_score(y[test], s):.2f}")
    ax.set_xlabel("anomaly score")
axes[0].legend()
fig.tight_layout()
plt.show()
