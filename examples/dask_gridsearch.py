"""
A hyperparameter search and batch scoring on a Dask cluster
===========================================================

scikit-learn's searches run on a Dask cluster through joblib's Dask backend, and
:class:`~sklasd.model_selection.NormalOnlyKFold` keeps the anomalous clips out of
every training fold there as it does locally. The search below runs on a
``LocalCluster`` of two workers; give :func:`sklasd.parallel.connect` a scheduler
address (``"tcp://host:8786"``) to run the same code on a real cluster. The results
equal those of the same search run sequentially.

:func:`sklasd.parallel.score_files` then scores a list of wav files with
``client.map`` over chunks: the workers read the files from their paths, so on a
real cluster the folder must be at the same path on every worker.

Needs ``pip install "sklasd[dask]"``.
"""
import tempfile
from pathlib import Path

import joblib
import numpy as np
import soundfile as sf
from sklearn.model_selection import GridSearchCV

from sklasd.datasets import make_machine_sounds
from sklasd.detectors import KNeighborsDetector
from sklasd.features import LogMelTransformer, TemporalPooling
from sklasd.model_selection import NormalOnlyKFold
from sklasd.parallel import connect, score_files
from sklasd.pipeline import make_pipeline

data = make_machine_sounds(n_normal=30, n_anomalous=10, snr_db=-5.0, random_state=0)
y = data.target

pipe = make_pipeline(LogMelTransformer(sr=data.sr, n_mels=64),
                     TemporalPooling(method="mean"), KNeighborsDetector())
grid = {"kneighborsdetector__n_neighbors": [1, 3, 5]}
cv = NormalOnlyKFold(n_splits=3, shuffle=True, random_state=0)

sequential = GridSearchCV(pipe, grid, cv=cv, refit=False).fit(data.data, y)

# processes=False keeps the example light; on a cluster: connect("tcp://host:8786")
with connect("local:2", processes=False) as client:
    with joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(pipe, grid, cv=cv, refit=False).fit(data.data, y)
    for params, auc in zip(on_dask.cv_results_["params"],
                           on_dask.cv_results_["mean_test_score"]):
        print(f"{params}: mean fold AUC {auc:.3f}")
    print("same as sequential:", np.array_equal(on_dask.cv_results_["mean_test_score"],
                                                sequential.cv_results_["mean_test_score"]))

    # refit the best setting on the normal clips only, then score files on the workers
    best = pipe.set_params(**on_dask.best_params_).fit(data.data[y == 0])
    with tempfile.TemporaryDirectory() as folder:
        paths = [str(Path(folder) / f"clip_{i:03d}.wav") for i in range(len(y))]
        for path, clip in zip(paths, data.data):
            sf.write(path, clip, data.sr)
        scores = score_files(best, paths, client, chunk_size=16)
    print(f"scored {len(scores)} files; highest score on an anomaly: "
          f"{bool(y[np.argmax(scores)])}")
