"""
The ID Conditioned Auto-Encoder: machine IDs as routed metadata
================================================================

The IDCAE (Daniluk et al., DCASE 2020 Task 2, section 3) conditions its code on the
machine ID, so the IDs must reach every ``fit`` and every score of a cross-validation.
They travel as scikit-learn metadata: with ``enable_metadata_routing=True``,
``GridSearchCV.fit(X, y, machine_id=ids, groups=ids)`` slices ``machine_id`` per
fold and routes it to the pipeline's ``IDConditionedAE`` (which requests it by
default), and ``groups`` to :class:`~sklasd.model_selection.NormalOnlyKFold`, which
trains on normal clips only and keeps every machine ID in every training fold.

``GridSearchCV(refit=True)`` would refit the best pipeline on all clips given to
the search, anomalies included. The search is therefore run with ``refit=False``
and the best parameters are refitted by hand on the normal clips.

The log-mel spectrograms are computed once, outside the search: the transform
learns nothing, so recomputing it in every fold would only cost time. The per-bin
standardization does learn (means and deviations), so it stays in the pipeline and
is fitted on each training fold. ``max_epochs`` and ``windows_per_clip`` are cut
from the paper's 100 and 300 so that the example runs in seconds.
"""

# %%
# Spectrograms of two machines
# ----------------------------
import matplotlib.pyplot as plt
import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV, train_test_split

from sklasd.datasets import make_machine_sounds
from sklasd.detectors import IDConditionedAE
from sklasd.features import FrameStacker, LogMelTransformer, SpectrogramScaler
from sklasd.model_selection import NormalOnlyKFold
from sklasd.pipeline import make_pipeline

sklearn.set_config(enable_metadata_routing=True)

data = make_machine_sounds(n_normal=30, n_anomalous=12, machine_ids=("id_00", "id_01"),
                           random_state=0)
spectrograms = LogMelTransformer(sr=data.sr, n_fft=1024, hop_length=512,
                                 n_mels=128).fit_transform(data.data)
y, ids = data.target, data.machine_id

# Half of every (machine ID, label) group tunes the parameters, the other half
# measures the tuned detector: its AUC is not the one the search maximized.
tune, held_out = train_test_split(np.arange(len(y)), train_size=0.5, random_state=0,
                                  stratify=np.char.add(ids, y.astype(str)))

# %%
# The search, with the IDs routed to the detector and the splitter
# ----------------------------------------------------------------
pipe = make_pipeline(
    SpectrogramScaler(per="bin"),
    FrameStacker(n_frames=10),
    IDConditionedAE(max_epochs=10, windows_per_clip=32, batch_size=64, random_state=0),
)
search = GridSearchCV(
    pipe,
    {"idconditionedae__loss": ["l1", "l2"], "idconditionedae__alpha": [0.75, 0.9]},
    cv=NormalOnlyKFold(n_splits=3, shuffle=True, random_state=0),
    refit=False,  # refitting on all clips would train on anomalies
)
search.fit(spectrograms[tune], y[tune], machine_id=ids[tune], groups=ids[tune])
for params, auc in zip(search.cv_results_["params"],
                       search.cv_results_["mean_test_score"]):
    print(f"{params}: mean fold AUC {auc:.3f}")
print("best:", search.best_params_)

# %%
# Refit on the normal clips, score the held-out half
# --------------------------------------------------
normal = tune[y[tune] == 0]
pipe.set_params(**search.best_params_).fit(spectrograms[normal], machine_id=ids[normal])
auc = pipe.score(spectrograms[held_out], y[held_out], machine_id=ids[held_out])
print(f"held-out AUC of the tuned IDCAE: {auc:.3f}")
print("machine IDs:", pipe[-1].machine_ids_.tolist())

scores = pipe.anomaly_score(spectrograms[held_out], machine_id=ids[held_out])
fig, ax = plt.subplots(figsize=(6, 3.5))
for k, machine in enumerate(pipe[-1].machine_ids_):
    for label, marker in [(0, "o"), (1, "x")]:
        mask = (ids[held_out] == machine) & (y[held_out] == label)
        ax.scatter(np.full(mask.sum(), k) + 0.1 * (label - 0.5), scores[mask],
                   marker=marker, color=f"C{label}",
                   label=("normal", "anomalous")[label] if k == 0 else None)
ax.set_xticks(range(len(pipe[-1].machine_ids_)), pipe[-1].machine_ids_)
ax.set_ylabel("anomaly score")
ax.set_title("held-out clips per machine ID")
ax.legend()
fig.tight_layout()
plt.show()
