"""
Scoring on a device: a fitted pipeline as one ONNX graph
========================================================

A detector listens where the machine stands, on a small computer without Python's
machine-learning stack. :func:`sklasd.export.to_onnx` turns a fitted pipeline into
one ONNX graph from the waveform to the anomaly score: the log-mel front end (an FFT
as ONNX matrix products and the mel matrix), the pooling or frame stacking, and the
detector, with the threshold and sample rate in its metadata. onnxruntime scores it with numpy and
soundfile beside it, no torch, no scikit-learn, nothing unpickled (an ONNX file is
data; a sklasd model file is a pickle, which runs code when loaded).

Here the default pipeline (GWRP-pooled log-mel, nearest normal clip) and the DCASE
2020 baseline autoencoder are fitted on generated motor sounds, exported, and the
ONNX scores compared with sklasd's; the autoencoder is also stored with int8
weights. On the command line: ``sklasd export model.joblib -o model.onnx``, then
``sklasd score model.onnx new_clips/ -o scores/``.
"""

# %%
# Fit two pipelines and export them
# ---------------------------------
import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from sklasd.datasets import make_machine_sounds
from sklasd.export import OnnxModel, quantize_int8, to_onnx
from sklasd.models import make_model

data = make_machine_sounds(n_normal=24, n_anomalous=8, machine_ids=("id_00",),
                           random_state=0)
train = np.flatnonzero(data.target == 0)[:16]
test = np.setdiff1d(np.arange(len(data.target)), train)

folder = Path(tempfile.mkdtemp())
models, files = {}, {}
for name in ("knn", "ae"):
    models[name] = make_model(name, max_epochs=3, random_state=0).fit(data.data[train])
    files[name] = folder / f"{name}.onnx"
    files[name].write_bytes(to_onnx(models[name], machine_type="motor").SerializeToString())
quantize_int8(files["ae"], folder / "ae_int8.onnx")
for path in sorted(folder.iterdir()):
    print(f"{path.name:12s} {path.stat().st_size / 1024:8.1f} KB")

# %%
# The ONNX scores are sklasd's
# ----------------------------
# :class:`~sklasd.export.OnnxModel` runs the graph through onnxruntime with the same
# ``anomaly_score`` / ``predict`` as the pipeline. The int8 autoencoder's scores move
# a little; its ranking of the clips (the AUC) barely does.
from sklearn.metrics import roc_auc_score

X, y = data.data[test], data.target[test]
fig, axes = plt.subplots(1, 3, figsize=(11, 3.4), layout="constrained")
for ax, (name, path) in zip(axes, [("knn", files["knn"]), ("ae", files["ae"]),
                                   ("ae", folder / "ae_int8.onnx")]):
    ours, theirs = models[name].anomaly_score(X), OnnxModel(path).anomaly_score(X)
    ax.scatter(ours, theirs, c=y, cmap="coolwarm", s=18)
    ax.plot([ours.min(), ours.max()], [ours.min(), ours.max()], "k:", lw=1)
    ax.set(xlabel="sklasd score", ylabel="onnxruntime score",
           title=f"{path.name}: AUC {roc_auc_score(y, theirs):.3f}")
    print(f"{path.name:12s} largest relative difference "
          f"{np.max(np.abs(theirs - ours) / np.abs(ours)):.1e}")

# %%
# On the device: numpy, soundfile and onnxruntime only
# ----------------------------------------------------
# The graph's input is a float32 ``(n_clips, n_samples)`` waveform at the model's
# rate; its outputs are the score and the decision. A clip read with
# ``soundfile.read(path, dtype="float32")`` goes in the same way.
import onnxruntime as ort

session = ort.InferenceSession(files["knn"])
meta = session.get_modelmeta().custom_metadata_map
print({k: meta[k] for k in ("sr", "threshold", "machine_type", "sklasd_version")})
waveform = np.asarray(X[:3], dtype=np.float32)
score, is_anomaly = session.run(["anomaly_score", "is_anomaly"], {"waveform": waveform})
print(score.round(2), is_anomaly, y[:3])
