"""
Embeddings learnt from auxiliary classification, beside the pooled default
==========================================================================

The systems that top the DCASE anomalous sound detection challenges train a network
to classify the normal clips' metadata (machine ID or section, attribute values such
as the valve's ``pat``) with an angular margin loss, and score a clip by the cosine
distance of its embedding to the normal training embeddings (Giri et al., DCASE 2020
Workshop; Wilkinghoff, ICASSP 2023).
:class:`~sklasd.detectors.AuxiliaryClassifierDetector` is that system as an
estimator: here it is trained on the clips' attributes and scored per domain, side by
side with sklasd's default (max-pooled log-mel, each bin standardized, 1-nearest
neighbour), and its occlusion anomaly map shows where in an anomalous clip the score
comes from.

On the DCASE 2023 valve section (when ``SKLASD_EXAMPLES_DATA`` holds
``dcase2023-task2-valve``) a seeded half of the normal test clips trains both
detectors, as the section has only two training clips; otherwise the clips are
generated motor sounds of two machine IDs. The network trains for 10 epochs here
to keep the example short (30 is its default). With a few dozen training clips the
learnt embedding does not reach the pooled default: such networks are trained on
thousands of clips of many machines.
"""

# %%
# Load the clips and compute the log-mel spectrograms
# ---------------------------------------------------
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import sklearn

from sklasd.datasets import load_dcase2021_task2, make_machine_sounds
from sklasd.features import LogMelTransformer

sklearn.set_config(enable_metadata_routing=True)  # routes attributes and domain

root = os.environ.get("SKLASD_EXAMPLES_DATA")
folder = Path(root, "dcase2023-task2-valve") if root else None
if folder is not None and folder.is_dir():
    data = load_dcase2021_task2(folder)
    source, ids = "DCASE 2023 valve, section 00", data.machine_id
    metadata = {"attributes": data.attributes, "domain": data.domain}
else:
    data = make_machine_sounds(n_normal=40, n_anomalous=15, random_state=0)
    source, ids = "generated motor sounds", data.machine_id
    metadata = {"machine_id": ids}
frontend = LogMelTransformer(n_fft=1024, hop_length=512, n_mels=128)
S = frontend.fit_transform(data.data)
normal = np.flatnonzero(data.target == 0)
train = np.sort(np.random.default_rng(0).permutation(normal)[: len(normal) // 2])
test = np.setdiff1d(np.arange(len(data.target)), train)


def rows(values, index):
    """Metadata values of the clips ``index`` (a DataFrame's rows or an array's)."""
    return values.iloc[index] if hasattr(values, "iloc") else np.asarray(values)[index]


# %%
# The pooled default and the embedding detector
# ----------------------------------------------
from sklasd.detectors import AuxiliaryClassifierDetector, KNeighborsDetector
from sklasd.features import TemporalPooling
from sklasd.metrics import anomaly_report
from sklasd.pipeline import make_pipeline

detectors = {
    "pooled default (knn)": make_pipeline(TemporalPooling(method="max"),
                                          KNeighborsDetector(1, standardize=True)),
    "embedding": AuxiliaryClassifierDetector(max_epochs=10, random_state=0),
}
domain = getattr(data, "domain", None)
has_domain = domain is not None and set(np.asarray(domain)) <= {"source", "target"}
scores = {}
for name, detector in detectors.items():
    fit_metadata = {k: rows(v, train) for k, v in metadata.items()
                    if name == "embedding" or k == "domain"}
    detector.fit(S[train], **fit_metadata)
    score_metadata = ({"machine_id": ids[test]}
                      if name == "embedding" and "machine_id" in metadata else {})
    scores[name] = detector.anomaly_score(S[test], **score_metadata)
    report = anomaly_report(data.target[test], scores[name], machine_type="machine",
                            machine_id=ids[test],
                            domain=np.asarray(domain)[test] if has_domain else None)
    for machine_id in np.unique(ids[test]):
        row = report.loc[("machine", machine_id)].drop(["n_normal", "n_anomalous"])
        print(f"{name:<22} {machine_id:<11}", "  ".join(
            f"{k} {v:.3f}" for k, v in row.items() if isinstance(v, float)))

# %%
# Where the embedding's score comes from
# --------------------------------------
# The occlusion map: each cell of a grid of 16 mel bins by a quarter excerpt is
# replaced by the training mean in turn, and the drop of the clip's score is the
# map there.
from sklasd.plotting import plot_anomaly_map

anomalous = test[data.target[test] == 1]
worst = anomalous[np.argmax(scores["embedding"][data.target[test] == 1])]
embedding = detectors["embedding"]
map_metadata = {"machine_id": ids[[worst]]} if "machine_id" in metadata else {}
(clip_map,) = embedding.anomaly_map(S[[worst]], **map_metadata)
fig, ax = plt.subplots(figsize=(8, 4))
plot_anomaly_map(S[worst], clip_map, sr=frontend.sr, hop_length=frontend.hop_length,
                 ax=ax)
ax.set_title(f"{source}: the anomalous clip the embedding scores highest")
fig.tight_layout()
plt.show()
