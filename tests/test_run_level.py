"""sklasd.run's metadata passing and run-level models (one network for every type)."""
import numpy as np
import pytest

from sklearn.base import BaseEstimator

import sklasd
from sklasd.engine._run import clip_metadata, load_clips
from sklasd.utils._routing import call_with_metadata


class _Recorder(BaseEstimator):
    """Records the metadata it gets; requests domain and attributes at fit and
    machine_id for scoring."""

    __metadata_request__fit = {"domain": True, "attributes": True}
    __metadata_request__decision_function = {"machine_id": True}

    def fit(self, X, **metadata):
        self.got_ = metadata
        return self

    def anomaly_score(self, X, **metadata):
        self.scored_with_ = metadata
        return np.zeros(len(X))

    decision_function = anomaly_score


def test_call_with_metadata_passes_what_the_model_requests_and_nothing_else():
    given = {"machine_id": ["a", "b"], "domain": np.array(["source", "target"]),
             "attributes": None}
    recorder = call_with_metadata(_Recorder(), "fit", [0, 1], **given)
    assert list(recorder.got_) == ["domain"]  # attributes given as None: not passed
    np.testing.assert_array_equal(recorder.got_["domain"], given["domain"])
    call_with_metadata(recorder, "anomaly_score", [0, 1], machine_id=["a", "b"],
                       domain=given["domain"])
    assert list(recorder.scored_with_) == ["machine_id"]
    with pytest.raises(ValueError, match="needs the machine ID.*--machine-id"):
        call_with_metadata(recorder, "anomaly_score", [0], machine_id=None)


def test_dcase2021_attributes_travel_in_the_clip_table(dcase2023_valve, dcase2020_lite):
    frame = load_clips([dcase2023_valve, dcase2020_lite / "pump"]).frame
    valve = np.flatnonzero(frame["machine_type"] == "valve")
    metadata = clip_metadata(frame, valve)
    assert list(metadata["attributes"].columns) == ["pat"]
    assert set(metadata["attributes"]["pat"]) == {"00", "01", "02", "03"}
    assert set(metadata["domain"]) == {"source", "target"}
    pump = clip_metadata(frame, np.flatnonzero(frame["machine_type"] == "pump"))
    assert pump["attributes"] is None and pump["domain"] is None  # DCASE 2020: none
    # the generated clips' per-clip attributes (rotation speed) are no classes
    from sklasd.datasets import make_machine_sounds

    bunch = make_machine_sounds(n_normal=2, n_anomalous=1, duration=0.2, random_state=0)
    assert clip_metadata(load_clips(bunch).frame, [0, 1])["attributes"] is None


def test_run_fits_the_default_model_per_domain(dcase2023_valve):
    # valve's training clips, borrowed from both domains, reach knn's fit per domain
    result = sklasd.run(dcase2023_valve)
    assert result.models["valve"][-1].domains_.tolist() == ["source", "target"]
