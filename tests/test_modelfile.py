"""sklasd model files (sklasd.engine._modelfile): checked before anything is unpickled."""
import hashlib
import json
import os
import pickle

import joblib
import numpy as np
import pytest

from sklasd.engine._modelfile import MAGIC, ModelFileError, load_models, save_models
from sklasd.datasets import make_machine_sounds
from sklasd.models import make_model


@pytest.fixture(scope="module")
def fitted():
    bunch = make_machine_sounds(n_normal=4, n_anomalous=1, duration=1.0, random_state=0)
    model = make_model("ae", max_epochs=1, verbose=1)
    return model.fit(bunch.data[bunch.frame.target.to_numpy() == 0]), bunch.data[:3]


def test_round_trip_keeps_scores_and_silences_the_model(fitted, tmp_path):
    model, X = fitted
    path = tmp_path / "m.joblib"
    save_models({"motor": model}, path)
    assert path.read_bytes().startswith(MAGIC)
    loaded = load_models(path)
    assert list(loaded) == ["motor"]
    np.testing.assert_array_equal(loaded["motor"].anomaly_score(X), model.anomaly_score(X))
    assert all(step.get_params(deep=False).get("verbose", 0) == 0
               for _, step in loaded["motor"].steps)


def test_no_model_is_refused(tmp_path):
    with pytest.raises(ModelFileError, match="no model to save"):
        save_models({}, tmp_path / "m.joblib")
    assert not (tmp_path / "m.joblib").exists()


def test_unfitted_model_is_refused(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        save_models({"motor": make_model("ae")}, tmp_path / "m.joblib")


class _Payload:
    """A pickle that runs code when loaded, as a hostile model file would."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("make", ["missing", "empty", "foreign", "bare", "truncated",
                                  "tampered", "folder"])
def test_bad_model_file_is_one_clear_error(fitted, tmp_path, make):
    path = tmp_path / "m.joblib"
    marker = tmp_path / "payload-ran"
    if make == "empty":
        path.write_bytes(b"")
    elif make == "foreign":
        path.write_bytes(pickle.dumps(_Payload(marker)))
    elif make == "bare":
        joblib.dump(fitted[0], path)  # a pipeline saved without sklasd's header
    elif make in ("truncated", "tampered"):
        save_models({"motor": fitted[0]}, path)
        blob = path.read_bytes()
        blob = blob[:-100] if make == "truncated" else blob[:-100] + b"x" * 100
        path.write_bytes(blob)
    elif make == "folder":
        path.mkdir()
    expected = {"missing": "not found", "empty": "is empty", "foreign": "not a sklasd model",
                "bare": "not a sklasd model", "truncated": "is truncated",
                "tampered": "checksum mismatch", "folder": "is a folder"}[make]
    with pytest.raises(ModelFileError, match=expected) as info:
        load_models(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    assert not marker.exists()  # the hostile payload never ran


def _with_header(payload):
    """A file with sklasd's valid header (and checksum) around any pickle payload."""
    header = {"format": 1, "sklasd": "0", "machine_types": [], "sha256":
              hashlib.sha256(payload).hexdigest(), "payload_bytes": len(payload)}
    return MAGIC + json.dumps(header).encode() + b"\n" + payload


@pytest.mark.parametrize("make, expected", [  # issue 24 case 11: each fault its words
    (lambda blob: blob + b"12345678",
     "has 8 unexpected byte(s) after its model data (something was appended to it)"),
    (lambda blob: blob[:-8], "is truncated: "),
    (lambda blob: _with_header(pickle.dumps({})),
     "has a valid sklasd header but holds dict of 0 item(s), not pipelines by machine "
     "type: it was altered or forged"),
    (lambda blob: _with_header(pickle.dumps({"motor": [1, 2]})),
     "has a valid sklasd header but holds machine type 'motor': expected a sklasd "
     "Pipeline, got list"),
])
def test_each_model_file_fault_is_said_in_its_own_words(fitted, tmp_path, make, expected):
    path = tmp_path / "m.joblib"
    save_models({"motor": fitted[0]}, path)
    path.write_bytes(make(path.read_bytes()))
    with pytest.raises(ModelFileError) as info:
        load_models(path)
    message = str(info.value)
    assert expected in message and "to save" not in message and "\n" not in message
