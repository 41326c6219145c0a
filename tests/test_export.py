"""sklasd.export: ONNX graphs of fitted pipelines agree with sklasd on real clips."""
import io
import pickle

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
MODELS = ["knn", "gmm", "mahalanobis", "ensemble", "ae", "ae_mahalanobis", "hvae",
          "wavenet"]
SMALL_NETS = {"ae": dict(hidden_layer_sizes=(32, 32)),
              "ae_mahalanobis": dict(hidden_layer_sizes=(32, 32)),
              "hvae": dict(hidden_layer_sizes=(64, 32)),
              "wavenet": dict(n_blocks=2, channel_multiplier=1)}


def _read(folder, rows, seconds=4):
    """The clips' first ``seconds`` (real recordings, cropped: faster tests)."""
    return np.stack([sf.read(folder / p, dtype="float32", frames=16000 * seconds)[0]
                     for p in rows["path"]])


@pytest.fixture(scope="module", params=["valve", "slider"])
def clips(request):
    """6 normal training clips and 4 test clips (2 other normal, 2 anomalous) of one set
    (DCASE 2023 valve has 2 training clips: its normal clips train, whatever the split)."""
    if request.param == "valve":
        folder = shared_folder("dcase2023-task2-valve")
    else:
        folder = shared_folder("dcase2020-task2-lite")
    frame = pd.read_csv(folder / "manifest.csv")
    frame = frame[frame["machine_type"] == request.param]
    normal = frame[frame["target"] == 0].sort_values(["split", "path"], ascending=False)
    train = normal.head(6)
    test = pd.concat([normal.iloc[6:8], frame[frame["target"] == 1].head(2)])
    return _read(folder, train), _read(folder, test)


def _onnx(model, **kwargs):
    return OnnxModel(to_onnx(model, **kwargs).SerializeToString(), n_threads=1)


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


def test_wavenet_gaussian_scoring(clips):
    train, test = clips
    model = make_model("wavenet", max_epochs=1)
    model[-1].set_params(n_blocks=1, channel_multiplier=1, scoring="gaussian")
    model.fit(train)
    np.testing.assert_allclose(_onnx(model).anomaly_score(test), model.anomaly_score(test),
                               rtol=1e-4)


def test_id_conditioned_ae(clips):
    from sklasd.utils._routing import call_with_metadata

    train, test = clips
    model = make_model("idcae", max_epochs=1)
    model[-1].set_params(encoder_layer_sizes=(32,), decoder_layer_sizes=(32,))
    call_with_metadata(model, "fit", train, machine_id=["id_00", "id_01"] * 3)
    expected = call_with_metadata(model, "anomaly_score", test,
                                  machine_id=["id_01"] * len(test))
    np.testing.assert_allclose(_onnx(model, machine_id="id_01").anomaly_score(test),
                               expected, rtol=1e-4)
    with pytest.raises(ExportError, match="fitted with machine IDs"):
        to_onnx(model)


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
    frame = pd.read_csv(folder / "manifest.csv")
    paths = [folder / p for p in sorted(frame.loc[frame["target"] == 0, "path"])[:6]]
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


def test_int8_quantization(knn_valve, tmp_path):
    train = np.stack([sf.read(p, dtype="float32", frames=64000)[0] for p in knn_valve[1]])
    train, test = train[:4], train[4:]
    model = make_model("ae", max_epochs=1)
    model[-1].set_params(hidden_layer_sizes=(32, 32))
    model.fit(train)
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


def test_cli_export_and_score(machine_folder, tmp_path, capsys):
    from sklasd.cli import main

    model_file, onnx_file = tmp_path / "model.joblib", tmp_path / "model.onnx"
    assert main(["fit", str(machine_folder), "-o", str(model_file), "--epochs", "1",
                 "-q"]) == 0
    assert main(["export", str(model_file), "-o", str(onnx_file), "-q"]) == 0
    test = str(machine_folder / "test")
    tables = []
    for model in (model_file, onnx_file):
        capsys.readouterr()
        assert main(["score", str(model), test, "-o", "-", "-q"]) == 0
        tables.append(pd.read_csv(io.StringIO(capsys.readouterr().out)))
    np.testing.assert_allclose(tables[1]["anomaly_score"], tables[0]["anomaly_score"],
                               rtol=1e-4)
    np.testing.assert_array_equal(tables[1]["decision_result"], tables[0]["decision_result"])
    # an existing output is not replaced
    assert main(["export", str(model_file), "-o", str(onnx_file)]) == 2
    assert "exists" in capsys.readouterr().err
