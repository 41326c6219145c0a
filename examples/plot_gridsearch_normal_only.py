"""
Tuning a detector with GridSearchCV on normal-only folds
========================================================

An anomaly detector must be trained on normal clips only, so its cross-validation
must keep anomalies out of every training fold.
:class:`~sklasd.model_selection.NormalOnlyKFold` does that: the normal clips are split
into folds, each training fold holds normal clips only and each test fold holds the
held-out normal clips plus the anomalies. ``GridSearchCV(refit=True)`` would refit the
best pipeline on every clip given to the search, anomalies included, so the search
runs with ``refit=False`` and the best parameters are refitted on the normal clips.

Half of the clips tune the parameters, the other half measures the tuned detector:
its AUC is not the one the search maximized. The detector is the pooled log-mel
Gaussian mixture (:class:`~sklasd.detectors.GaussianMixtureDetector` after
:class:`~sklasd.features.TemporalPooling`), which fits in milliseconds. The clips are
the DCASE 2023 valve section when ``SKLASD_EXAMPLES_DATA`` holds
``dcase2023-task2-valve``, and generated motor sounds otherwise.
"""

# %%
# Log-mel spectrograms, once
# --------------------------
# The log-mel transform learns nothing, so it is computed once outside the search.
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, train_test_split

from sklasd.datasets import load_dcase2021_task2, make_machine_sounds
from sklasd.features import LogMelTransformer

root = os.environ.get("SKLASD_EXAMPLES_DATA")
folder = Path(root, "dcase2023-task2-valve") if root else None
if folder is not None and folder.is_dir():
    data = load_dcase2021_task2(folder)
    sr, source = 16000, "DCASE 2023 valve"
else:
    data = make_machine_sounds(n_normal=60, n_anomalous=30, machine_ids=("id_00",),
                               random_state=0)
    sr, source = data.sr, "generated motor sounds"
X = LogMelTransformer(sr=sr, n_mels=128).fit_transform(data.data)
y = data.target
tune, held_out = train_test_split(np.arange(len(y)), train_size=0.5, stratify=y,
                                  random_state=0)
print(f"{source}: {X.shape[0]} clips, {X.shape[1]} mels x {X.shape[2]} frames")

# %%
# The search
# ----------
# ``decay`` is the ``r`` of global weighted rank pooling (0 = max, 1 = mean pooling).
from sklasd.detectors import GaussianMixtureDetector
from sklasd.features import TemporalPooling
from sklasd.model_selection import NormalOnlyKFold
from sklasd.pipeline import make_pipeline

pipe = make_pipeline(TemporalPooling(), GaussianMixtureDetector(random_state=0))
grid = {"temporalpooling__decay": [0.0, 0.25, 0.5, 0.75, 1.0],
        "gaussianmixturedetector__n_components": [1, 2, 4]}
search = GridSearchCV(pipe, grid, cv=NormalOnlyKFold(n_splits=4, shuffle=True,
                                                     random_state=0),
                      refit=False)  # refitting on all clips would train on anomalies
search.fit(X[tune], y[tune])
print("best:", search.best_params_, f"mean fold AUC {search.best_score_:.3f}")

# %%
# Refit on the normal clips, measure on the held-out half
# -------------------------------------------------------
normal = tune[y[tune] == 0]
pipe.set_params(**search.best_params_).fit(X[normal])
print(f"held-out AUC of the tuned detector: {pipe.score(X[held_out], y[held_out]):.3f}")

# %%
# The grid
# --------
# GridSearchCV sorts the parameter names; the last one varies fastest.
components = grid["gaussianmixturedetector__n_components"]
decays = grid["temporalpooling__decay"]
auc = search.cv_results_["mean_test_score"].reshape(len(components), len(decays))
fig, ax = plt.subplots(figsize=(6, 4))
image = ax.imshow(auc, origin="lower", cmap="viridis", aspect="auto")
ax.set_xticks(range(len(decays)), decays)
ax.set_yticks(range(len(components)), components)
ax.set_xlabel("GWRP decay r")
ax.set_ylabel("mixture components")
ax.set_title(f"mean AUC of the normal-only folds, {source}")
fig.colorbar(image, ax=ax, label="AUC")
fig.tight_layout()
plt.show()
