"""ONNX export: file size, scoring speed, peak memory and the int8 change per model (issue 27).

Detectors (``--models``, default every ``sklasd.models`` pipeline but ``idcae``, which
needs machine IDs the valve section does not have) are fitted on
the normal clips of DCASE 2023 Task 2 valve section 00 whose index is even (sorted
names) and scored on the others (normal and anomalous); the pruned CNN
(``PrunedCNNClassifier`` V(2, 2, 3, 3), 16 filters, on the paper's log-mel features at
44.1 kHz) is trained on DCASE 2016 Task 2 event clips (11 classes, 3 s, stratified
75 / 25 split, seed 0) and pruned to the paper's final sparsity 0.8 (Ooi et al.,
DCASE 2020 Task 1B, section 3.2) with the polynomial schedule compressed into
``--cnn-epochs`` epochs. Per model it prints:

- ``onnx_kb``, ``int8_kb``, ``joblib_kb``: file sizes of the ONNX graph, of its int8
  version (neural networks only) and of the sklasd model file (a pickle);
- ``rel_diff``: the largest relative difference between the ONNX and sklasd scores
  (probabilities for the classifier) on the test clips;
- ``ort_clips_s``, ``sklasd_clips_s``, ``ratio``: scoring speed from waveforms in
  memory (decoding excluded), one thread each (onnxruntime ``intra_op_num_threads=1``;
  ``torch.set_num_threads(1)`` and one BLAS thread for sklasd), median of ``--repeat``
  runs measured in one process, and onnxruntime / sklasd;
- ``ort_peak_mb``, ``sklasd_peak_mb``: peak resident memory of a fresh process that
  loads the model and scores the test clips: numpy + onnxruntime for the ONNX file
  (what a device runs), sklasd (``load_models``) for the model file;
- ``auc``, ``int8_auc`` (detectors: ROC AUC of the test clips; classifier: accuracy)
  of the float ONNX graph and of the int8 one.

Run: ``python benchmarks/bench_export.py [--quick]`` (``--quick``: fewer clips and
epochs). Speeds depend on the machine's load; sizes, differences and AUCs do not.
"""
import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
DETECTORS = ["knn", "gmm", "mahalanobis", "ensemble", "ae", "ae_mahalanobis", "hvae",
             "wavenet"]


def _read(paths, sr=None, seconds=None):
    import soundfile as sf

    from sklasd.audio import load_audio
    from sklasd.features import _fit_length

    clips = [load_audio(p, sr=sr)[0] if sr else sf.read(p, dtype="float32")[0]
             for p in paths]
    if seconds:
        clips = [_fit_length(c, int(seconds * sr), "constant") for c in clips]
    return np.stack(clips)


def _valve(quick):
    folder = DATA / "dcase2023-task2-valve"
    frame = pd.read_csv(folder / "manifest.csv").sort_values("path")
    normal = frame[frame["target"] == 0]
    train = normal.iloc[::2]
    test = frame.drop(train.index)
    if quick:
        train, test = train.head(12), pd.concat([test[test.target == 0].head(8),
                                                 test[test.target == 1].head(8)])
    return (_read(folder / p for p in train["path"]),
            _read([folder / p for p in test["path"]]), test["target"].to_numpy())


def _events(quick):
    from sklearn.model_selection import train_test_split

    folder = DATA / "dcase2016-task2-events"
    frame = pd.read_csv(folder / "manifest.csv")
    if quick:
        frame = frame.groupby("label").head(6)
    X = _read([folder / p for p in frame["path"]], sr=44100, seconds=3.0)
    y = frame["label"].to_numpy()
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


def _detector(name, X, epochs):
    from sklasd.models import make_model

    return make_model(name, max_epochs=epochs, random_state=0).fit(X)


def _pruned_cnn(X, y, epochs):
    from sklasd.classifiers import PrunedCNNClassifier
    from sklasd.classifiers.pruned_cnn import OOI2020_FEATURES
    from sklasd.classifiers.pruning import PolynomialDecayPruning
    from sklasd.features import LogMelTransformer
    from sklasd.pipeline import make_pipeline

    # the paper's schedule (s_i 0.1, s_f 0.8, 20 prunings) compressed into `epochs`
    begin = max(1, epochs // 4)
    frequency = max(1, (epochs - begin - 1) // 20)
    schedule = PolynomialDecayPruning(begin_epoch=begin, frequency=frequency,
                                      n_prunings=min(20, (epochs - begin - 1) // frequency))
    clf = PrunedCNNClassifier(pruning=schedule, max_epochs=epochs, lr=1e-3, random_state=0)
    model = make_pipeline(LogMelTransformer(sr=44100, **OOI2020_FEATURES), clf).fit(X, y)
    body = model[-1].net_.module_.body
    weights = [m.weight for m in body.modules() if hasattr(m, "weight") and m.weight.dim() > 1]
    sparsity = float(sum((w == 0).sum() for w in weights) / sum(w.numel() for w in weights))
    return model, sparsity


def _clips_per_second(score, X, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        score(X)
        times.append(time.perf_counter() - start)
    return len(X) / statistics.median(times)


def _peak_mb(kind, model_path, clips_path):
    """Peak RSS in MB of a fresh process scoring the clips (see ``--peak``)."""
    done = subprocess.run([sys.executable, __file__, "--peak", kind, str(model_path),
                           str(clips_path)], capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1]) / 1024


def _peak(kind, model_path, clips_path):
    """The ``--peak`` child: load and score with one thread, print its peak RSS in KB."""
    X = np.load(clips_path)
    if kind == "onnx":  # the device: numpy + onnxruntime only
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(model_path, options)
        for start in range(0, len(X), 16):
            session.run(None, {"waveform": X[start:start + 16]})
    else:
        import torch
        from threadpoolctl import threadpool_limits

        from sklasd.engine import load_models

        torch.set_num_threads(1)
        with threadpool_limits(1):
            (model,) = load_models(model_path).values()
            (model.predict_proba if hasattr(model[-1], "classes_")
             else model.anomaly_score)(X)
    # VmHWM: this process's own peak (ru_maxrss would start from the parent's at fork)
    status = Path("/proc/self/status").read_text().split("\n")
    print(next(line.split()[1] for line in status if line.startswith("VmHWM")))


def _measure(name, model, X_test, y_test, folder, repeat):
    import torch
    from sklearn.metrics import roc_auc_score
    from threadpoolctl import threadpool_limits

    from sklasd.engine import save_models
    from sklasd.export import ExportError, OnnxModel, quantize_int8, to_onnx

    classifier = hasattr(model[-1], "classes_")
    paths = {k: folder / f"{name}.{k}" for k in ("onnx", "int8", "joblib", "npy")}
    n_samples = X_test.shape[1] if classifier else None
    paths["onnx"].write_bytes(to_onnx(model, n_samples=n_samples).SerializeToString())
    save_models({name: model}, paths["joblib"])
    np.save(paths["npy"], X_test)
    try:
        quantize_int8(paths["onnx"], paths["int8"])
    except ExportError:  # no neural network
        paths.pop("int8")
    ort_model = OnnxModel(paths["onnx"], n_threads=1)

    def quality(m):
        if classifier:
            return float(np.mean(m.predict(X_test) == y_test))
        return roc_auc_score(y_test, m.anomaly_score(X_test))

    if classifier:
        ours, theirs = model.predict_proba(X_test), ort_model.predict_proba(X_test)
    else:
        ours, theirs = model.anomaly_score(X_test), ort_model.anomaly_score(X_test)
    torch.set_num_threads(1)
    with threadpool_limits(1):
        method = "predict_proba" if classifier else "anomaly_score"
        sklasd_rate = _clips_per_second(getattr(model, method), X_test, repeat)
        ort_rate = _clips_per_second(getattr(ort_model, method), X_test, repeat)
    int8 = "int8" in paths
    return {
        "model": name,
        "onnx_kb": paths["onnx"].stat().st_size / 1024,
        "int8_kb": paths["int8"].stat().st_size / 1024 if int8 else np.nan,
        "joblib_kb": paths["joblib"].stat().st_size / 1024,
        "rel_diff": float(np.max(np.abs(theirs - ours) / np.maximum(np.abs(ours), 1e-12))),
        "ort_clips_s": ort_rate, "sklasd_clips_s": sklasd_rate,
        "ratio": ort_rate / sklasd_rate,
        "ort_peak_mb": _peak_mb("onnx", paths["onnx"], paths["npy"]),
        "sklasd_peak_mb": _peak_mb("sklasd", paths["joblib"], paths["npy"]),
        "auc": quality(ort_model),
        "int8_auc": quality(OnnxModel(paths["int8"], n_threads=1)) if int8 else np.nan,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", nargs="+", default=[*DETECTORS, "pruned_cnn"])
    parser.add_argument("--epochs", type=int, default=20, help="detectors' epochs")
    parser.add_argument("--cnn-epochs", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--peak", nargs=3, metavar=("KIND", "MODEL", "CLIPS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak:
        return _peak(*args.peak)
    warnings.simplefilter("ignore")
    epochs = 2 if args.quick else args.epochs
    cnn_epochs = 12 if args.quick else args.cnn_epochs
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        detectors = [m for m in args.models if m != "pruned_cnn"]
        if detectors:
            X_train, X_test, y_test = _valve(args.quick)
            print(f"valve: {len(X_train)} normal training clips, {len(X_test)} test clips "
                  f"({int(y_test.sum())} anomalous); detectors trained {epochs} epochs",
                  flush=True)
            for name in detectors:
                model = _detector(name, X_train, epochs)
                rows.append(_measure(name, model, X_test, y_test, Path(tmp), args.repeat))
                print(rows[-1], flush=True)
        if "pruned_cnn" in args.models:
            X_train, X_test, y_train, y_test = _events(args.quick)
            model, sparsity = _pruned_cnn(X_train, y_train, cnn_epochs)
            print(f"pruned CNN: {len(X_train)} training / {len(X_test)} test event clips, "
                  f"{cnn_epochs} epochs, weight sparsity {sparsity:.3f}, "
                  f"{model[-1].model_size_kb_:.1f} KB of non-zero float32 parameters",
                  flush=True)
            rows.append(_measure("pruned_cnn", model, X_test, y_test, Path(tmp),
                                 args.repeat))
    table = pd.DataFrame(rows).set_index("model")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.round({"onnx_kb": 0, "int8_kb": 0, "joblib_kb": 0, "ort_clips_s": 1,
                           "sklasd_clips_s": 1, "ratio": 2, "ort_peak_mb": 0,
                           "sklasd_peak_mb": 0, "auc": 3, "int8_auc": 3}).to_string())
        print("(classifier rows: auc / int8_auc are accuracies; speeds under the load of "
              "the moment, one thread each)")


if __name__ == "__main__":
    main()
