"""
Your own recordings: fit on normal sounds, score new ones
=========================================================

The everyday job: a folder of recordings of a machine running normally, and new
recordings to check. ``sklasd fit`` trains a detector (here ``--model ae``, the DCASE
2020 baseline autoencoder; ``sklasd fit --help`` lists the others) on the normal
folder and saves it; ``sklasd score`` scores every
file of the new folder with the saved model and writes the DCASE result files
(``anomaly_score_<type>.csv``, ``decision_result_<type>.csv``) into a folder. Here the
library calls beneath the two commands do the same from Python::

    sklasd fit my_machine/normal -o model.joblib --model ae --epochs 5
    sklasd score model.joblib my_machine/new -o scores/

(:func:`sklasd.engine.fit_models`, :func:`sklasd.engine.save_models`,
:func:`sklasd.engine.score_models`; :func:`sklasd.run` is ``sklasd run``).

The recordings are real DCASE 2020 slider clips when ``SKLASD_EXAMPLES_DATA`` holds
the ``dcase2020-task2-lite`` folder, and generated motor sounds written as wav files
otherwise. ``--epochs 5`` keeps the example short; the default is 100.
"""

# %%
# A folder of normal recordings and a folder of new ones
# ------------------------------------------------------
# Any names and any sub-folders will do; only the audio matters.
import os
import shutil
import tempfile
from pathlib import Path

import soundfile as sf

from sklasd.datasets import load_dcase2020_task2, make_machine_sounds

work = Path(tempfile.mkdtemp(prefix="sklasd_example_"))
(work / "normal").mkdir()
(work / "new").mkdir()

root = os.environ.get("SKLASD_EXAMPLES_DATA")
folder = Path(root, "dcase2020-task2-lite", "slider") if root else None
if folder is not None and folder.is_dir():
    data = load_dcase2020_task2(folder)
    train = [p for p, s, t in zip(data.data, data.split, data.target)
             if s == "train" and t == 0][:20]
    for path in train:
        shutil.copy(path, work / "normal" / Path(path).name)
    for path in data.data[data.split == "test"]:
        shutil.copy(path, work / "new" / Path(path).name)
else:
    data = make_machine_sounds(n_normal=24, n_anomalous=3, machine_ids=("id_00",),
                               random_state=0)
    for clip, name, split in zip(data.data, data.filenames, data.split):
        target = "normal" if split == "train" else "new"
        sf.write(work / target / Path(name).name, clip, data.sr)
print(len(list((work / "normal").iterdir())), "normal recordings,",
      len(list((work / "new").iterdir())), "new recordings")

# %%
# Fit, then score
# ---------------
from sklasd.engine import fit_models, load_models, save_models, score_models

models, skipped = fit_models(work / "normal", model="ae", epochs=5)
save_models(models, work / "model.joblib")
result = score_models(load_models(work / "model.joblib"), work / "new")
(work / "scores").mkdir()
result.write(work / "scores")  # the files `sklasd score -o scores` writes

# %%
# Read the results
# ----------------
# Two CSV files without a header, one row per file, as the DCASE baselines write
# them: the anomaly score (higher = more anomalous) and the decision (1 = anomalous),
# which compares the score with the threshold learnt from the normal recordings (the
# 0.9 quantile of a gamma distribution fitted to their scores). The model file holds
# one fitted pipeline per machine type; :func:`sklasd.engine.load_models` reads it back
# (it checks the file's header and checksum first: load only model files you trust).
import matplotlib.pyplot as plt
import pandas as pd

out = work / "scores"
print(sorted(p.name for p in out.iterdir()))
scores = pd.read_csv(next(out.glob("anomaly_score_*.csv")), header=None,
                     names=["file", "anomaly_score"])
decisions = pd.read_csv(next(out.glob("decision_result_*.csv")), header=None,
                        names=["file", "is_anomaly"])
scores = scores.merge(decisions, on="file")
print(scores.to_string(index=False))

model = next(iter(load_models(work / "model.joblib").values()))
threshold = model[-1].threshold_

fig, ax = plt.subplots(figsize=(8, 4))
colors = ["tab:red" if a else "tab:blue" for a in scores["is_anomaly"]]
ax.barh(scores["file"], scores["anomaly_score"], color=colors)
ax.axvline(threshold, color="k", linestyle="--", label="threshold_")
ax.set_xlabel("anomaly score")
ax.set_title("new recordings (red: flagged anomalous)")
ax.legend()
fig.tight_layout()
plt.show()

shutil.rmtree(work)
