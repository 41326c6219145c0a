import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from sklasd.cli import load_models, main

FAST = ["--epochs", "2", "--quiet"]


def test_run_on_default_data_writes_dcase_outputs(tmp_path, capsys):
    assert main(["run", "--out", str(tmp_path), *FAST]) == 0
    table = capsys.readouterr().out
    assert "AUC" in table and "harmonic mean" in table
    names = {p.name for p in tmp_path.iterdir()}
    for machine_id in ("id_00", "id_01"):
        assert f"anomaly_score_motor_{machine_id}.csv" in names
        assert f"decision_result_motor_{machine_id}.csv" in names
    assert {"metrics.csv", "roc_motor.png", "score_histogram_motor.png",
            "model_motor.joblib"} <= names
    assert not any(n.startswith(".sklasd-") for n in names)  # staging folder removed
    scores = pd.read_csv(tmp_path / "anomaly_score_motor_id_00.csv", header=None)
    decisions = pd.read_csv(tmp_path / "decision_result_motor_id_00.csv", header=None)
    assert len(scores) == 20 and scores[0].str.endswith(".wav").all()
    assert set(decisions[1]) <= {0, 1}
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    training = metrics.loc[metrics.machine_id == "id_00", "training"].iloc[0]
    assert training.startswith("trained on ") and " normal clips of id_00" in training


def test_run_on_real_folder_uses_train_fraction(dcase2020_lite, tmp_path, capsys):
    assert main(["run", str(dcase2020_lite / "pump"), "--out", str(tmp_path), *FAST]) == 0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    row = metrics[metrics.machine_id == "id_04"].iloc[0]
    assert row.training == ("trained on 1 normal clip of id_04, 1 of them drawn from its "
                            "clips outside a train folder and scored out of fold, by "
                            "models fitted without them (other normal clips of the ID "
                            "in their place)")
    # 3 normal test clips: one also trains, and all are scored with the 3 anomalies
    assert (row.n_normal, row.n_anomalous) == (3, 3)
    # no clip is scored by a model that trained on it (its nearest neighbour: 0)
    results = pd.read_csv(tmp_path / "results.csv")
    assert len(results) == 6 and (results.anomaly_score > 0).all()
    assert 0.0 <= row.AUC <= 1.0


def test_run_reports_domains_on_dcase2023(dcase2023_valve, tmp_path, capsys):
    assert main(["run", str(dcase2023_valve), "--out", str(tmp_path), *FAST]) == 0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert {"AUC (source)", "AUC (target)", "pAUC"} <= set(metrics.columns)
    row = metrics[metrics.machine_id == "section_00"].iloc[0]
    # 2 training clips are too few: half of the 50 + 50 normal test clips train too
    assert row.training.startswith(
        "trained on 52 normal clips of section_00 (27 source, 25 target), 50 of them "
        "drawn from its clips outside a train folder and scored out of fold")
    # every test clip is scored once, the 50 borrowed ones by models without them
    assert (row.n_normal, row.n_anomalous) == (100, 100)
    # the name the DCASE 2021+ evaluators read
    scored = pd.read_csv(tmp_path / "anomaly_score_valve_section_00_test.csv", header=None)
    test_clips = sorted(p.name for p in (dcase2023_valve / "valve" / "test").glob("*.wav"))
    assert sorted(scored[0]) == test_clips


def test_fit_then_score_round_trip(machine_folder, tmp_path):
    model = tmp_path / "model.joblib"
    assert main(["fit", str(machine_folder), "-o", str(model), *FAST]) == 0
    assert set(load_models(model)) == {"motor"}
    out = tmp_path / "scores"
    assert main(["score", str(model), str(machine_folder / "test"), "-o", str(out),
                 "--quiet"]) == 0
    table = pd.read_csv(out / "anomaly_score_motor.csv", header=None)
    assert len(table) == 2 * (2 + 3)  # test normals and anomalies of both IDs
    assert table[0].str.endswith(".wav").all() and np.isfinite(table[1]).all()
    decisions = pd.read_csv(out / "decision_result_motor.csv", header=None)
    assert list(decisions[0]) == list(table[0]) and set(decisions[1]) <= {0, 1}


def _folder_with_corrupt_file(machine_folder, tmp_path):
    folder = tmp_path / "motor"
    for path in machine_folder.rglob("*.wav"):
        target = folder / path.relative_to(machine_folder)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
    bad = folder / "test" / "normal_id_00_00000099.wav"
    bad.write_bytes(b"RIFF....WAVEgarbage")
    return folder, bad


def test_bad_file_is_one_line_exit_2_and_no_outputs(machine_folder, tmp_path, capsys):
    folder, bad = _folder_with_corrupt_file(machine_folder, tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and bad.name in err[0] and err[0].startswith("sklasd: error:")
    assert not out.exists() or not any(out.iterdir())


def test_skip_bad_lists_the_file_and_goes_on(machine_folder, tmp_path, capsys):
    folder, bad = _folder_with_corrupt_file(machine_folder, tmp_path)
    out = tmp_path / "out"
    assert main(["run", str(folder), "--out", str(out), "--skip-bad", "--epochs",
                 "2"]) == 0
    assert f"sklasd: warning: skipped: file '{bad}'" in capsys.readouterr().err
    skipped = pd.read_csv(out / "skipped.csv")
    assert skipped.file.str.endswith(bad.name).all() and len(skipped) == 1


def test_folder_without_audio_is_exit_2(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["run", str(tmp_path / "empty"), "--out", str(tmp_path / "o"), *FAST]) == 2
    assert "no audio" in capsys.readouterr().err


@pytest.mark.parametrize("n_clips, rule", [
    (1, "scored by the model fitted on it"),
    (2, "each clip is scored by a model fitted without it (5-fold)")])
def test_too_few_clips_to_hold_out_are_scored_not_lost(tmp_path, capsys, n_clips, rule):
    rng = np.random.default_rng(0)
    for i in range(n_clips):  # normal training clips only: no test clip
        path = tmp_path / "data" / "press" / "train" / "normal" / f"{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * rng.standard_normal(16000), 16000)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "data"), "--out", str(out), *FAST[:2]]) == 0
    captured = capsys.readouterr()
    assert rule in captured.out + captured.err
    assert len(pd.read_csv(out / "results.csv")) == n_clips


def test_result_files_name_each_clip_once(tmp_path):
    rng = np.random.default_rng(0)
    for rel in ("train/normal/0.wav", "train/normal/1.wav", "test/normal/0.wav",
                "test/anomaly/0.wav"):  # the two test clips share a file name
        path = tmp_path / "data" / "press" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * rng.standard_normal(16000), 16000)
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "data"), "--out", str(out), "--min-train-clips",
                 "1", *FAST]) == 0
    names = pd.read_csv(out / "anomaly_score_press.csv", header=None)[0].tolist()
    assert sorted(names) == ["anomaly/0.wav", "normal/0.wav"]


def test_python_m_sklasd_help():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "sklasd", "--help"],
                          capture_output=True, text=True, check=True)
    assert "run" in done.stdout and "score" in done.stdout


@pytest.mark.parametrize("model", ["hvae", "idcae", "wavenet"])
def test_run_with_papers_003_detectors(model, tmp_path):
    assert main(["run", "--model", model, "--out", str(tmp_path), "--epochs", "1",
                 "--quiet"]) == 0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert metrics.AUC.between(0, 1).all()
    assert (tmp_path / "anomaly_score_motor_id_01.csv").exists()


def test_idcae_scores_new_files_with_machine_id(machine_folder, tmp_path, capsys):
    model = tmp_path / "idcae.joblib"
    assert main(["fit", str(machine_folder), "-o", str(model), "--model", "idcae",
                 *FAST]) == 0
    out = tmp_path / "scores"
    test_dir = str(machine_folder / "test")
    assert main(["score", str(model), test_dir, "-o", str(out), "--quiet"]) == 2
    assert "--machine-id" in capsys.readouterr().err
    assert not out.exists()
    assert main(["score", str(model), test_dir, "-o", str(out), "--quiet",
                 "--machine-id", "id_00"]) == 0
    assert len(pd.read_csv(out / "anomaly_score_motor_id_00.csv", header=None)) == 10
    assert main(["score", str(model), test_dir, "-o", str(tmp_path / "other"), "--quiet",
                 "--machine-id", "id_09"]) == 2
    assert "id_09" in capsys.readouterr().err


# --- real folders as people have them (issue: any folder, labels optional) ------------
def _link(source, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source)


def _evaluator_rows(path):
    return pd.read_csv(path, header=None, names=["file", "value"])


def test_run_on_dcase2023_evaluation_style_copy(dcase2023_valve, tmp_path):
    """Test names without labels (section_00_0000.wav): score files, one line per clip."""
    root = tmp_path / "eval" / "valve"
    for path in sorted((dcase2023_valve / "valve" / "train").glob("*.wav")):
        _link(path, root / "train" / path.name)
    tests = sorted((dcase2023_valve / "valve" / "test").glob("*.wav"))[::10]
    for i, path in enumerate(tests):
        _link(path, root / "test" / f"section_00_{i:04d}.wav")
    out = tmp_path / "out"
    assert main(["run", str(root.parent), "--out", str(out), *FAST]) == 0
    scores = _evaluator_rows(out / "anomaly_score_valve_section_00_test.csv")
    decisions = _evaluator_rows(out / "decision_result_valve_section_00_test.csv")
    expected = [f"section_00_{i:04d}.wav" for i in range(len(tests))]
    assert scores.file.tolist() == decisions.file.tolist() == expected
    assert np.isfinite(scores.value).all() and set(decisions.value) <= {0, 1}
    row = pd.read_csv(out / "metrics.csv").iloc[0]
    assert np.isnan(row.AUC) and row.n_unlabeled == len(tests)
    assert row.notes == "no labels: scores only, no AUC"
    assert row.training == "trained on 2 normal clips of section_00 (source)"


def test_run_on_dcase2020_evaluation_style_copy(dcase2020_lite, tmp_path):
    """id_XX_NNNNNNNN.wav test clips; a type without training clips trains on them."""
    root = tmp_path / "eval"
    for machine_type in ("slider", "fan"):
        for path in sorted((dcase2020_lite / machine_type / "train").glob("*.wav"))[:12]:
            _link(path, root / machine_type / "train" / path.name)
        tests = sorted((dcase2020_lite / machine_type / "test").glob("*.wav"))
        for i, path in enumerate(tests):
            _link(path, root / machine_type / "test" / f"{path.name[-18:-13]}_{i:08d}.wav")
    out = tmp_path / "out"
    assert main(["run", str(root), "--out", str(out), *FAST]) == 0
    for name, machine_id in (("slider", "id_00"), ("fan", "id_06")):
        scores = _evaluator_rows(out / f"anomaly_score_{name}_{machine_id}.csv")
        assert scores.file.tolist() == [f"{machine_id}_{i:08d}.wav" for i in range(6)]
        assert len(_evaluator_rows(out / f"decision_result_{name}_{machine_id}.csv")) == 6
    metrics = pd.read_csv(out / "metrics.csv").set_index(["machine_type", "machine_id"])
    assert metrics.loc[("slider", "id_00"), "training"] == \
        "trained on 12 normal clips of id_00"
    assert metrics.loc[("fan", "id_06"), "training"] == (
        "trained on 6 unlabeled clips of fan, taken as normal; each clip is scored by a "
        "model fitted without it (5-fold)")


def test_run_on_mimii_lite_scores_every_clip(tmp_path):
    from tests.conftest import shared_folder

    out = tmp_path / "out"
    folder = shared_folder("mimii-lite")
    assert main(["run", str(folder), "--out", str(out), *FAST]) == 0
    metrics = pd.read_csv(out / "metrics.csv")
    sections = metrics[metrics.machine_id.str.startswith("id_")]
    # one normal clip per ID, which also trains: scored out of fold, so both classes
    assert len(sections) == 8 and (sections.n_normal == 1).all()
    assert (sections.n_anomalous == 1).all() and sections.AUC.notna().all()
    assert (out / "anomaly_score_valve_id_04.csv").exists()
    assert len(pd.read_csv(out / "results.csv")) == len(list(folder.rglob("*.wav")))


def test_run_scores_ids_without_normal_clips_with_the_type_model(dcase2020_lite, tmp_path):
    """An ID with anomalies only (here: normals of id_04 removed) is scored, not an error."""
    root = tmp_path / "fan_pump"
    for path in sorted((dcase2020_lite / "pump" / "test").glob("*.wav")):
        _link(path, root / "pump" / "test" / path.name)
    for path in sorted((dcase2020_lite / "slider" / "test").glob("anomaly_*.wav")):
        _link(path, root / "pump" / "test" / path.name.replace("id_00", "id_09"))
    out = tmp_path / "out"
    assert main(["run", str(root), "--out", str(out), *FAST]) == 0
    metrics = pd.read_csv(out / "metrics.csv").set_index("machine_id")
    assert metrics.loc["id_09", "training"] == ("no normal clips of id_09 to train on: "
                                                "scored by the pump model, trained on 1 "
                                                "normal clip of id_04")
    assert metrics.loc["id_09", "n_anomalous"] == 3 and np.isnan(metrics.loc["id_09", "AUC"])
    assert 0 <= metrics.loc["id_04", "AUC"] <= 1


def test_fit_and_score_a_plain_folder_of_own_recordings(dcase2020_lite, tmp_path, capsys):
    train = sorted((dcase2020_lite / "slider" / "train").glob("*.wav"))[:10]
    folder = tmp_path / "pump room 3"
    for i, path in enumerate(train):
        _link(path, folder / f"pump room 3 2026-11-{i + 1:02d} 08h00.wav")
    model = tmp_path / "pump.joblib"
    assert main(["fit", str(folder), "-o", str(model), *FAST]) == 0
    assert set(load_models(model)) == {"pump room 3"}
    new = tmp_path / "new"
    tests = sorted((dcase2020_lite / "slider" / "test").glob("*.wav"))
    for i, path in enumerate(tests):
        _link(path, new / f"pump room 3 2026-12-{i + 1:02d} 08h00.wav")
    short = new / "pump room 3 2026-12-24 cut.wav"
    y, sr = sf.read(tests[0])
    sf.write(short, y[: sr * 3], sr)  # a truncated recording
    out = tmp_path / "scores"
    assert main(["score", str(model), str(new), str(tests[0]), "-o", str(out),
                 "--quiet"]) == 0
    table = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert len(table) == len(tests) + 2 and np.isfinite(table.anomaly_score).all()
    noted = table[table.notes != ""]
    assert noted.file.tolist() == [str(short)]
    assert "differs by more than 10%" in noted.notes.iloc[0]


def test_run_on_a_folder_in_no_layout(mimii_noise, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(mimii_noise), "--out", str(out), *FAST]) == 0
    results = pd.read_csv(out / "results.csv", keep_default_na=False)
    assert len(results) == 42 and (results.target == -1).all()
    # out-of-fold: a nearest-neighbour model would score the clips it saw 0
    assert np.isfinite(results.anomaly_score).all() and (results.anomaly_score > 0).all()
    assert (out / "anomaly_score_VAD_noise_id_00.csv").exists()


@pytest.mark.parametrize("machine_id, filename, expected", [
    ("id_05", "/d/fan/test/id_05_00000000.wav", "fan_id_05"),  # DCASE 2020
    ("section_00", "/d/fan/test/section_00_0000.wav", "fan_section_00_test"),  # 2022+
    ("section_03", "/d/fan/source_test/section_03_source_test_0000.wav",
     "fan_section_03_source_test"),  # DCASE 2021's per-domain test folders
    ("", "/d/fan/rec.wav", "fan"),
])
def test_result_file_names_are_the_evaluators(machine_id, filename, expected):
    from sklasd.engine import result_suffix

    assert result_suffix("fan", machine_id, filename) == expected


# --- a denoiser in front (sklasd run / fit --denoise) ---------------------------------
@pytest.fixture(scope="module")
def denoiser_file(machine_folder, tmp_path_factory):
    from sklasd.audio import load_many
    from sklasd.cli import save_models
    from sklasd.denoising import ComplexUNetDenoiser
    from sklasd.pipeline import make_pipeline

    clean = np.stack(load_many(sorted((machine_folder / "train").glob("*.wav")))[0])
    noisy = clean + np.random.default_rng(0).normal(0, 0.02, clean.shape).astype("float32")
    denoiser = ComplexUNetDenoiser(channels=(4,), n_fft=64, hop_length=16, max_epochs=1,
                                   n_strengths=1, random_state=0).fit(noisy, clean)
    path = tmp_path_factory.mktemp("denoiser") / "denoiser.joblib"
    save_models({"denoiser": make_pipeline(denoiser)}, path)
    return path


def test_run_and_fit_with_a_denoiser_in_front(machine_folder, denoiser_file, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(machine_folder), "-o", str(out), "--denoise", str(denoiser_file),
                 *FAST]) == 0
    (model,) = load_models(out / "model_motor.joblib").values()
    assert [name for name, _ in model.steps][:2] == ["decode", "denoise"]
    assert np.isfinite(pd.read_csv(out / "results.csv").anomaly_score).all()
    model_file = tmp_path / "m.joblib"
    assert main(["fit", str(machine_folder), "-o", str(model_file), "--denoise",
                 str(denoiser_file), *FAST]) == 0
    scores = tmp_path / "scores"
    assert main(["score", str(model_file), str(machine_folder / "test"), "-o",
                 str(scores), "--quiet"]) == 0
    assert len(pd.read_csv(scores / "results.csv")) == 2 * (2 + 3)


def test_denoise_refuses_a_detector_model(machine_folder, tmp_path, capsys):
    detector = tmp_path / "detector.joblib"
    assert main(["fit", str(machine_folder), "-o", str(detector), *FAST]) == 0
    out = tmp_path / "out"
    assert main(["run", str(machine_folder), "-o", str(out), "--denoise", str(detector),
                 *FAST]) == 2
    assert "is a detector, not a denoiser" in capsys.readouterr().err
    assert not out.exists()
