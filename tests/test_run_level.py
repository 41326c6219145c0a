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


def test_a_model_of_one_machine_scores_without_its_id():
    recorder = _Recorder()
    recorder.machine_ids_ = np.array(["id_07"])
    call_with_metadata(recorder, "anomaly_score", [0, 1], machine_id=None)
    assert recorder.scored_with_["machine_id"].tolist() == ["id_07", "id_07"]
    recorder.machine_ids_ = np.array(["id_07", "id_08"])
    with pytest.raises(ValueError, match=r"\(it knows id_07, id_08\): give --machine-id"):
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


# --- run-level models ------------------------------------------------------------------
def _tiny_embedding():
    from sklasd.detectors import AuxiliaryClassifierDetector
    from sklasd.features import LogMelTransformer
    from sklasd.pipeline import make_pipeline

    return make_pipeline(LogMelTransformer(n_mels=32), AuxiliaryClassifierDetector(
        channels=(8, 8), embedding_dim=8, excerpt_length=16, max_epochs=2,
        random_state=0))


def _scores(model, clips, machine_id):
    return call_with_metadata(model, "anomaly_score", clips, machine_id=machine_id)


@pytest.fixture(scope="module")
def two_types(tmp_path_factory):
    """Generated machine sounds as a DCASE 2020 folder of two machine types, each
    with id_00 and id_01 (6 normal training clips each, 2 normal and 3 anomalous
    test clips)."""
    import soundfile as sf

    from sklasd.datasets import make_machine_sounds

    root = tmp_path_factory.mktemp("two_types")
    for machine_type, seed in (("motor", 0), ("pump", 1)):
        bunch = make_machine_sounds(n_normal=8, n_anomalous=3, duration=1.0,
                                    random_state=seed)
        for name, y in zip(bunch.filenames, bunch.data):
            path = root / machine_type / name.split("/", 1)[1]
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, y, bunch.sr)
    return root


@pytest.fixture(scope="module")
def recorded_run(two_types):
    """A run-level run whose fits and scoring calls are recorded: the fitted
    network of each fit with its training files, and the network and files of each
    scoring call. min_train_clips=7 borrows a test clip of each ID: scored out of
    fold."""
    from sklasd.engine import _run

    fits, scored = {}, []
    fit, score = _run._fit, _run.score_clips

    def recording_fit(model, X, metadata):
        fit(model, X, metadata)
        fits[id(model[-1].net_)] = (set(X), model)
        return model

    def recording_score(model, X, machine_id):
        scored.append((id(model[-1].net_), set(X)))
        return score(model, X, machine_id)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_run, "_fit", recording_fit)
        patch.setattr(_run, "score_clips", recording_score)
        result = sklasd.run(two_types, model=_tiny_embedding(), min_train_clips=7)
    return result, fits, scored


def test_one_network_learns_every_machine_type_of_the_run(recorded_run):
    result, fits, _ = recorded_run
    joint = next(iter(fits.values()))[1][-1]  # the first fit: the run-level model
    assert set(joint.machine_ids_) == {"motor/id_00", "motor/id_01", "pump/id_00",
                                       "pump/id_01"}
    assert {c.split("/")[0] for c in joint.classes_} == {"motor", "pump"}
    # per type, the same network under the plain IDs
    for machine_type in ("motor", "pump"):
        final = result.models[machine_type][-1]
        assert final.net_ is joint.net_
        assert final.machine_ids_.tolist() == ["id_00", "id_01"]
    assert "one model for every machine type of the run (motor, pump)" in \
        result.training[("pump", "id_01")]
    assert set(result.metrics.index.get_level_values(0)) == {"motor", "pump", "all"}


def test_each_types_model_scores_as_the_run_level_model(recorded_run):
    from sklasd.engine._run_level import SEPARATOR

    result, fits, scored = recorded_run
    joint = next(iter(fits.values()))[1]
    for machine_type, rows in result.results.groupby("machine_type"):
        clips = rows["filename"].tolist()
        ids = rows["machine_id"].to_numpy()
        np.testing.assert_allclose(
            _scores(result.models[machine_type], clips, ids),
            _scores(joint, clips, machine_type + SEPARATOR + ids))
    # the clips the run-level model did not train on got exactly those scores
    in_model = {clip for net, clips in scored if net == id(joint[-1].net_)
                for clip in clips}
    rows = result.results[result.results["filename"].isin(in_model)]
    assert len(rows) == len(result.results) - 4  # one borrowed clip per ID
    for machine_type, part in rows.groupby("machine_type"):
        np.testing.assert_allclose(
            part["anomaly_score"], _scores(result.models[machine_type],
                                           part["filename"].tolist(), part["machine_id"]))


def test_out_of_fold_clips_are_scored_by_joint_fold_models_without_them(recorded_run):
    from sklasd.engine._plan import N_FOLDS

    result, fits, scored = recorded_run
    # 4 borrowed clips (one per ID), folds drawn over both types' clips together:
    # 4 fold models, not 2 per type
    assert len(fits) == 1 + min(N_FOLDS, 4)
    for net, clips in scored:
        assert not clips & fits[net][0]
    for train, model in list(fits.values())[1:]:
        assert {"motor", "pump"} <= {m.split("/")[0] for m in model[-1].machine_ids_}
    assert sum(len(clips) for _, clips in scored) == len(result.results)


def test_a_types_model_file_scores_alone(recorded_run, two_types, tmp_path):
    from sklasd.cli import main
    from sklasd.engine import load_models

    result = recorded_run[0]
    result.save(tmp_path / "run", report=False)
    models = load_models(tmp_path / "run" / "model_pump.joblib")
    clips = sorted(str(p) for p in (two_types / "pump" / "test").glob("*id_01*.wav"))
    expected = _scores(result.models["pump"], clips, ["id_01"] * 5)
    np.testing.assert_allclose(_scores(models["pump"], clips, ["id_01"] * 5), expected)
    out = tmp_path / "scores"
    assert main(["score", str(tmp_path / "run" / "model_pump.joblib"), *clips,
                 "-o", str(out), "--machine-id", "id_01", "--quiet"]) == 0
    import pandas as pd

    table = pd.read_csv(out / "anomaly_score_pump_id_01.csv", header=None)
    np.testing.assert_allclose(table[1], expected, rtol=1e-6)


def test_fit_models_fits_one_network_for_every_type(two_types):
    from sklasd.engine import fit_models

    models, _ = fit_models(two_types, model=_tiny_embedding())
    assert set(models) == {"motor", "pump"}
    assert models["motor"][-1].net_ is models["pump"][-1].net_
    assert len(models["motor"][-1].classes_) == 4  # both types' IDs
    assert models["pump"][-1].machine_ids_.tolist() == ["id_00", "id_01"]


def test_machines_without_ids_are_scored_without_machine_id(tmp_path):
    # a folder of one's own recordings: machine folders, no IDs; each type's model
    # of the one network scores its files as `sklasd score` calls it (no --machine-id)
    import soundfile as sf

    from sklasd.datasets import make_machine_sounds
    from sklasd.engine import fit_models, score_models

    for machine, seed in (("Ventil A", 0), ("Schieber B", 1)):
        bunch = make_machine_sounds(n_normal=6, n_anomalous=1, machine_ids=("id_00",),
                                    duration=1.0, random_state=seed)
        for i, y in enumerate(bunch.data[bunch.target == 0]):
            (tmp_path / machine / "normal").mkdir(parents=True, exist_ok=True)
            sf.write(tmp_path / machine / "normal" / f"{i} Messung.wav", y, bunch.sr)
    models, _ = fit_models(tmp_path, model=_tiny_embedding())
    assert models["Ventil A"][-1].net_ is models["Schieber B"][-1].net_
    files = sorted(str(p) for p in (tmp_path / "Ventil A").rglob("*.wav"))
    result = score_models(models, files, machine_type="Ventil A")
    assert len(result.results) == len(files)
    assert np.isfinite(result.results["anomaly_score"]).all()
