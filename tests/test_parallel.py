"""Tests of sklasd.parallel: local execution, and Dask on one shared LocalCluster."""
import re
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from sklasd.parallel import (check_scheduler, limit_threads, map_chunks, map_machine_types,
                             parse_scheduler)

NO_DASK = "dask.distributed is not installed (pip install 'sklasd[dask]')"


def tagged(item, log):
    """Logs one message and returns the item, its chunked doubling and torch's threads."""
    log(f"ran {item}")
    doubled = map_chunks(double, 2, np.arange(item), chunk_size=2)
    return item, doubled, torch.get_num_threads()


def double(factor, X):
    return factor * np.asarray(X), -np.asarray(X)


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed", reason=NO_DASK)
    import cloudpickle

    from sklasd.parallel import ThreadLimits

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers lack tests/
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as client:
            client.register_plugin(ThreadLimits())
            yield client


def slider_clips(dcase2020_lite):
    frame = pd.read_csv(dcase2020_lite / "manifest.csv")
    frame = frame[frame.machine_type == "slider"]
    return (np.array([str(dcase2020_lite / p) for p in frame.path]),
            frame.target.to_numpy())


def pooled_pipeline(from_files=True):
    """Log-mel (from files) -> mean pooling -> nearest-neighbour distance."""
    from sklasd.detectors import KNeighborsDetector
    from sklasd.features import LogMelTransformer, TemporalPooling
    from sklasd.pipeline import make_pipeline

    steps = [TemporalPooling(method="mean"), KNeighborsDetector(n_neighbors=1)]
    return make_pipeline(*([LogMelTransformer(n_mels=32)] if from_files else []), *steps)


# --- without Dask ----------------------------------------------------------------
def test_map_machine_types_without_scheduler_runs_here_in_order():
    messages = []
    results = list(map_machine_types(tagged, [3, 5], log=messages.append))
    assert messages == ["ran 3", "ran 5"]
    assert [r[0] for r in results] == [3, 5]
    # outside a Dask task map_chunks is one plain call
    np.testing.assert_array_equal(results[1][1][0], [0, 2, 4, 6, 8])


def test_parse_scheduler():
    assert parse_scheduler("local") == ("local", None)
    assert parse_scheduler("local:3") == ("local", 3)
    assert parse_scheduler("tcp://10.0.0.5:8786") == ("address", "tcp://10.0.0.5:8786")
    for bad in ("local:0", "local:x", "local:-1"):
        with pytest.raises(ValueError, match="positive number of workers"):
            check_scheduler(bad)


def test_limit_threads_sets_and_restores_torch_threads():
    before = torch.get_num_threads()
    with limit_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_import_sklasd_does_not_import_dask():
    import subprocess

    code = "import sklasd, sklasd.parallel, sys; print('distributed' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# --- on a LocalCluster -----------------------------------------------------------
def test_map_machine_types_on_dask_replays_logs_in_order(client):
    messages = []
    results = list(map_machine_types(tagged, [3, 5], client.scheduler.address,
                                     log=messages.append))
    assert messages[0].startswith("Dask: 2 machine type(s) on 2 worker(s) at tcp://")
    assert messages[1:] == ["ran 3", "ran 5"]
    assert [r[0] for r in results] == [3, 5]
    # the chunks ran as Dask tasks and came back joined in order, tuple kept
    np.testing.assert_array_equal(results[1][1][0], [0, 2, 4, 6, 8])
    np.testing.assert_array_equal(results[1][1][1], [0, -1, -2, -3, -4])
    assert all(r[2] == 1 for r in results)  # one torch thread per task


def test_connect_local_starts_a_cluster_of_n_workers():
    pytest.importorskip("distributed", reason=NO_DASK)
    from sklasd.parallel import connect

    with connect("local:1", processes=False) as local:
        assert len(local.scheduler_info()["workers"]) == 1


def test_connect_to_nothing_is_a_value_error():
    dask = pytest.importorskip("dask", reason=NO_DASK)
    pytest.importorskip("distributed", reason=NO_DASK)
    from sklasd.parallel import connect

    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        with pytest.raises(ValueError, match="cannot reach the Dask scheduler"):
            with connect("tcp://127.0.0.1:1"):
                pass


def test_score_files_equals_local_scores(client, dcase2020_lite):
    from sklasd.parallel import score_files

    paths, y = slider_clips(dcase2020_lite)
    model = pooled_pipeline().fit(paths[y == 0][:10])
    paths = paths[:30]
    scores = score_files(model, paths, client, chunk_size=8)
    # the distances' dot-product expansion depends on the batch in the last bits
    np.testing.assert_allclose(scores, model.anomaly_score(paths), rtol=1e-9, atol=1e-4)


def test_gridsearch_under_dask_backend_equals_sequential(client, dcase2020_lite):
    import joblib
    from sklearn.model_selection import GridSearchCV, cross_validate

    from sklasd.model_selection import NormalOnlyKFold

    from sklasd.features import LogMelTransformer

    paths, y = slider_clips(dcase2020_lite)
    X = LogMelTransformer(n_mels=32).fit_transform(paths)  # once, outside the search
    cv = NormalOnlyKFold(n_splits=3, shuffle=True, random_state=0)
    grid = {"kneighborsdetector__n_neighbors": [1, 3]}
    pipe = pooled_pipeline(from_files=False)
    sequential = GridSearchCV(pipe, grid, cv=cv, refit=False).fit(X, y)
    with joblib.parallel_backend("dask"):
        on_dask = GridSearchCV(pipe, grid, cv=cv, refit=False).fit(X, y)
        folds = cross_validate(pipe, X, y, cv=cv)["test_score"]
    for key in ("mean_test_score", "split0_test_score", "split2_test_score"):
        np.testing.assert_array_equal(on_dask.cv_results_[key], sequential.cv_results_[key])
    np.testing.assert_array_equal(folds, [sequential.cv_results_[f"split{k}_test_score"][0]
                                          for k in range(3)])


def test_run_on_dask_equals_local_run(client, dcase2020_lite, tmp_path):
    import sklasd.parallel
    from sklasd.cli import load_models, main

    options = [str(dcase2020_lite), "--model", "ae", "--epochs", "1", "--quiet"]
    with limit_threads(1):  # as a worker task: torch's sums depend on the thread count
        assert main(["run", *options, "--out", str(tmp_path / "local")]) == 0
    # the workers score in chunks of 2 clips
    client.run(setattr, sklasd.parallel, "CHUNK_SIZE", 2)
    try:
        assert main(["run", *options, "--out", str(tmp_path / "dask"),
                     "--scheduler", client.scheduler.address]) == 0
    finally:
        client.run(setattr, sklasd.parallel, "CHUNK_SIZE", sklasd.parallel.CHUNK_SIZE)
    local = sorted(p.name for p in (tmp_path / "local").iterdir())
    assert local == sorted(p.name for p in (tmp_path / "dask").iterdir())
    assert "metrics.csv" in local and "anomaly_score_slider_id_00.csv" in local
    for name in local:
        if name == "sklasd_manifest.json":  # checksums of the pickles and the report
            continue
        if name.endswith(".joblib"):
            a, b = (load_models(tmp_path / d / name) for d in ("local", "dask"))
            assert [m[-1].threshold_ for m in a.values()] == \
                [m[-1].threshold_ for m in b.values()]
        else:  # csv, png, json and html files byte for byte (but the report's time)
            assert _without_time(tmp_path / "local" / name) == \
                _without_time(tmp_path / "dask" / name), name


def _without_time(path):
    """The file's bytes, the report's "written: <time>" line left out."""
    return re.sub(rb"<li>written: [^<]*</li>", b"", path.read_bytes())


def test_bad_file_on_a_worker_is_one_line_exit_2(client, tmp_path, capsys):
    import soundfile as sf

    from sklasd.cli import main
    from sklasd.datasets import make_machine_sounds

    bunch = make_machine_sounds(n_normal=6, n_anomalous=2, duration=1.0, random_state=0)
    for name, y in zip(bunch.filenames, bunch.data):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(tmp_path / name, y, bunch.sr)
    bad = tmp_path / "motor" / "test" / "normal_id_00_00000099.wav"
    bad.write_bytes(b"RIFF....WAVEgarbage")
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "motor"), "--out", str(out), "--model", "knn",
                 "--scheduler", client.scheduler.address]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert bad.name in err[-1] and err[-1].startswith("sklasd: error:")
    assert not out.exists() or not any(out.iterdir())


def test_bad_scheduler_is_a_usage_error(capsys):
    from sklasd.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["run", "--scheduler", "local:0"])
    assert exit_.value.code == 2
    assert "positive number of workers" in capsys.readouterr().err
