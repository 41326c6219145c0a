"""
Tuning the ID Conditioned Auto-Encoder with GridSearchCV
========================================================

The IDCAE (papers/003, section 3) conditions its code on the machine ID, so the IDs
must reach every ``fit`` and every score of a cross-validation. They travel as
metadata (DESIGN.md section 5): with ``enable_metadata_routing=True``,
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
import numpy as np
import sklearn
from sklearn.model_selection import GridSearchCV, train_test_split

from sklasd.datasets import make_machine_sounds
from sklasd.detectors.idcae import IDConditionedAE
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

normal = tune[y[tune] == 0]
pipe.set_params(**search.best_params_).fit(spectrograms[normal], machine_id=ids[normal])
auc = pipe.score(spectrograms[held_out], y[held_out], machine_id=ids[held_out])
print(f"held-out AUC of the tuned IDCAE: {auc:.3f}")
print("machine IDs:", pipe[-1].machine_ids_.tolist())
