import numpy as np
import pandas as pd
import pytest

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
    assert (metrics.loc[metrics.machine_id == "id_00", "training"] == "train split").all()


def test_run_on_real_folder_uses_train_fraction(dcase2020_lite, tmp_path, capsys):
    assert main(["run", str(dcase2020_lite / "pump"), "--out", str(tmp_path), *FAST]) == 0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    row = metrics[metrics.machine_id == "id_04"].iloc[0]
    assert row.training == "0 train-split + train-fraction 0.5 of 3 normals"
    # 3 normal test clips: one trains, two are scored with the 3 anomalies
    assert (row.n_normal, row.n_anomalous) == (2, 3)
    assert 0.0 <= row.AUC <= 1.0


def test_run_reports_domains_on_dcase2023(dcase2023_valve, tmp_path, capsys):
    assert main(["run", str(dcase2023_valve), "--out", str(tmp_path), *FAST]) == 0
    metrics = pd.read_csv(tmp_path / "metrics.csv")
    assert {"AUC (source)", "AUC (target)", "pAUC"} <= set(metrics.columns)
    row = metrics[metrics.machine_id == "section_00"].iloc[0]
    # 2 training clips are too few: half of the 50 + 50 normal test clips train too
    assert row.training == "2 train-split + train-fraction 0.5 of 100 normals"
    assert (row.n_normal, row.n_anomalous) == (50, 100)
    scored = pd.read_csv(tmp_path / "anomaly_score_valve_section_00.csv", header=None)
    assert len(scored) == 150


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
