"""sklasd.export: ONNX graphs of fitted pipelines agree with sklasd on real clips."""
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

onnx = pytest.importorskip("onnx", reason="sklasd[onnx] is not installed")
pytest.importorskip("onnxruntime", reason="sklasd[onnx] is not installed")
pytest.importorskip("skl2onnx", reason="sklasd[onnx] is not installed")

from sklasd.export import ExportError, OnnxModel, quantize_int8, to_onnx  # noqa: E402
from sklasd.models import make_model  # noqa: E402

from .conftest import shared_folder  # noqa: E402

pytestmark = pytest.mark.shared_data

# the pooled detectors, the autoencoder in both score modes, the HVAE and the ensemble
MODELS = ["knn", "gmm", "mahalanobis", "ensemble", "ae", "ae_mahalanobis", "hvae"]
SMALL_NETS = {"ae": dict(hidden_layer_sizes=(32, 32)),
              "ae_mahalanobis": dict(hidden_layer_sizes=(32, 32)),
              "hvae": dict(hidden_layer_sizes=(64, 32))}


def _read(folder, rows):
    return np.stack([sf.read(folder / p, dtype="float32")[0] for p in rows["path"]])


@pytest.fixture(scope="module", params=["valve", "slider"])
def clips(request):
    """6 normal training clips and 4 test clips (2 normal, 2 anomalous) of one set."""
    if request.param == "valve":
        folder = shared_folder("dcase2023-task2-valve")
    else:
        folder = shared_folder("dcase2020-task2-lite")
    frame = pd.read_csv(folder / "manifest.csv")
    frame = frame[frame["machine_type"] == request.param]
    train = frame[frame["split"] == "train"].head(6)
    test = pd.concat([frame[(frame["split"] == "test") & (frame["target"] == t)].head(2)
                      for t in (0, 1)])
    return _read(folder, train), _read(folder, test)


def _onnx(model, **kwargs):
    return OnnxModel(to_onnx(model, **kwargs).SerializeToString())


@pytest.mark.parametrize("name", MODELS)
def test_scores_match_sklasd(clips, name):
    train, test = clips
    model = make_model(name, max_epochs=1)
    model[-1].set_params(**SMALL_NETS.get(name, {}))
    model.fit(train)
    expected = model.anomaly_score(test)
    got = _onnx(model, machine_type="valve").anomaly_score(test)
    # the ensemble's standardized scores cross 0: its tolerance is 1e-4 of their spread
    atol = 1e-4 * expected.std() if name == "ensemble" else 0.0
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=atol)
    np.testing.assert_array_equal(_onnx(model).predict(test), model.predict(test))


def test_classifier_matches_sklasd(clips):
    from sklasd.classifiers import PrunedCNNClassifier
    from sklasd.classifiers.pruned_cnn import OOI2020_FEATURES
    from sklasd.classifiers.pruning import PolynomialDecayPruning
    from sklasd.features import LogMelTransformer
    from sklasd.pipeline import make_pipeline

    train, test = clips
    X = np.concatenate([train, test])
    y = np.array(["normal"] * len(train) + ["test"] * len(test))
    schedule = PolynomialDecayPruning(begin_epoch=1, frequency=1, n_prunings=2)
    model = make_pipeline(
        LogMelTransformer(sr=16000, **OOI2020_FEATURES),
        PrunedCNNClassifier(blocks=(1, 1, 0, 0), filters=4, pruning=schedule, max_epochs=3,
                            lr=1e-2, excerpt_frames=64, random_state=0)).fit(X, y)
    exported = _onnx(model, n_samples=X.shape[1])
    np.testing.assert_allclose(exported.predict_proba(X), model.predict_proba(X),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(exported.predict(X), model.predict(X))
    with pytest.raises(ExportError, match="PrunedCNNClassifier needs a fixed clip length"):
        to_onnx(model)


@pytest.fixture(scope="module")
def knn_valve():
    folder = shared_folder("dcase2023-task2-valve")
    paths = sorted((folder / "valve" / "train").glob("*.wav"))[:6]
    return make_model("knn").fit(paths), paths


def test_any_length_and_fixed_length(knn_valve):
    model, paths = knn_valve
    y = sf.read(paths[0], dtype="float32")[0]
    clips = [y[:40000], y[5000:128000]]  # unequal lengths, each at its own length
    np.testing.assert_allclose(_onnx(model).anomaly_score(clips),
                               model.anomaly_score(clips), rtol=1e-4)
    fixed = _onnx(model, duration=4.0)  # crops from the start, pads with zeros
    assert fixed.n_samples == 64000
    short = np.pad(y[:40000], (0, 24000))
    np.testing.assert_allclose(fixed.anomaly_score([y, y[:40000]]),
                               model.anomaly_score(np.stack([y[:64000], short])), rtol=1e-4)


def test_metadata(knn_valve):
    model, _ = knn_valve
    props = {p.key: p.value for p in to_onnx(model, machine_type="valve",
                                             duration=10.0).metadata_props}
    assert float(props["threshold"]) == model[-1].threshold_
    assert (props["sr"], props["n_samples"], props["machine_type"]) == (
        "16000", "160000", "valve")
    assert props["sklasd_version"] == __import__("sklasd").__version__
    assert props["kind"] == "detector"


def test_reads_without_unpickling(knn_valve, tmp_path, monkeypatch):
    model, paths = knn_valve
    path = tmp_path / "model.onnx"
    path.write_bytes(to_onnx(model).SerializeToString())

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    import joblib

    monkeypatch.setattr(joblib, "load", refuse)
    scores = OnnxModel(path).anomaly_score(paths[:2])
    assert scores.shape == (2,) and np.isfinite(scores).all()


def test_unexportable_step_is_named(knn_valve):
    from sklearn.preprocessing import FunctionTransformer

    from sklasd.pipeline import Pipeline

    model, _ = knn_valve
    odd = Pipeline([*model.steps[:2], ("squash", FunctionTransformer(np.tanh).fit([[0]])),
                    model.steps[2]])
    with pytest.raises(ExportError, match=r"step 'squash' \(FunctionTransformer\) cannot"):
        to_onnx(odd)
    with pytest.raises(ExportError, match="must start with a LogMelTransformer"):
        to_onnx(model[1:])
    with pytest.raises(ExportError, match="differs from the pipeline's sample rate"):
        to_onnx(model, sr=48000)


def test_unexportable_setting_is_named():
    X = np.random.default_rng(0).uniform(-0.1, 0.1, (4, 16000)).astype("float32")
    model = make_model("ae", max_epochs=1)
    model[-1].set_params(hidden_layer_sizes=(8,), aggregation="winmed")
    with pytest.raises(ExportError, match="aggregation='winmed'"):
        to_onnx(model.fit(X))


def test_int8_quantization(clips, tmp_path):
    train, test = clips
    model = make_model("ae", max_epochs=1).fit(train)
    float_model = to_onnx(model)
    quantize_int8(float_model, tmp_path / "int8.onnx")
    int8 = onnx.load(tmp_path / "int8.onnx")
    assert "MatMulInteger" in {n.op_type for n in int8.graph.node}
    assert int8.ByteSize() < float_model.ByteSize()
    got, expected = OnnxModel(tmp_path / "int8.onnx").anomaly_score(test), \
        model.anomaly_score(test)
    np.testing.assert_allclose(got, expected, rtol=0.1)  # int8 weights: close, not equal
    with pytest.raises(ExportError, match="no neural network"):
        quantize_int8(to_onnx(make_model("knn").fit(train)), tmp_path / "knn.onnx")


def test_bad_onnx_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ValueError, match="is not a readable ONNX model"):
        OnnxModel(bad)
    with pytest.raises(ValueError, match="not found"):
        OnnxModel(tmp_path / "missing.onnx")


def _sklasd(*args):
    return subprocess.run([sys.executable, "-m", "sklasd", *map(str, args)],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])


def test_cli_export_and_score(machine_folder, tmp_path):
    model_file, onnx_file = tmp_path / "model.joblib", tmp_path / "model.onnx"
    assert _sklasd("fit", machine_folder, "-o", model_file, "-q").returncode == 0
    done = _sklasd("export", model_file, "-o", onnx_file)
    assert done.returncode == 0, done.stderr
    test = machine_folder / "test"
    tables = [_sklasd("score", m, test, "-o", "-", "-q") for m in (model_file, onnx_file)]
    assert all(t.returncode == 0 for t in tables), tables[1].stderr
    joblib_scores, onnx_scores = (pd.read_csv(__import__("io").StringIO(t.stdout))
                                  for t in tables)
    np.testing.assert_allclose(onnx_scores["anomaly_score"],
                               joblib_scores["anomaly_score"], rtol=1e-4)
    np.testing.assert_array_equal(onnx_scores["decision_result"],
                                  joblib_scores["decision_result"])
    refused = _sklasd("export", model_file, "-o", onnx_file)  # exists: not replaced
    assert refused.returncode == 2 and "exists" in refused.stderr
