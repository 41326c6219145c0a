"""sklasd.engine: sklasd.run, RunResult, the run folder read back."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import sklasd
from sklasd.cli import main
from sklasd.engine import RunResult, fit_models, load_run, rebuild_report


def test_run_then_save_equals_the_command(dcase2020_lite, tmp_path, capsys):
    folder = dcase2020_lite / "pump"
    assert main(["run", str(folder), "-o", str(tmp_path / "cli"), "--quiet"]) == 0
    result = sklasd.run(folder)
    assert isinstance(result, RunResult) and set(result.models) == {"pump"}
    result.save(tmp_path / "api")
    for name in ("results.csv", "metrics.csv", "anomaly_score_pump_id_04.csv",
                 "decision_result_pump_id_04.csv", "report_data.json",
                 "model_pump.joblib", "roc_pump.png"):
        assert (tmp_path / "api" / name).read_bytes() == \
            (tmp_path / "cli" / name).read_bytes(), name
    # every test clip of the DCASE layout has one line, the borrowed one too
    test_clips = sorted(str(p.resolve()) for p in (folder / "test").glob("*.wav"))
    assert sorted(result.results["filename"]) == test_clips
    assert result.training[("pump", "id_04")].startswith("trained on 1 normal clip")


def test_load_run_reads_back_what_save_wrote(machine_folder, tmp_path):
    result = sklasd.run(machine_folder, random_state=1)
    result.save(tmp_path / "run", report=False)
    loaded = load_run(tmp_path / "run")
    pd.testing.assert_frame_equal(loaded.results, result.results, check_dtype=False)
    assert loaded.metrics.index.equals(result.metrics.index)
    np.testing.assert_allclose(loaded.metrics["AUC"], result.metrics["AUC"])
    assert loaded.training == result.training
    assert loaded.settings.random_state == 1 and loaded.settings.model == "knn"
    clips = list(result.results["filename"][:3])
    np.testing.assert_array_equal(loaded.models["motor"].anomaly_score(clips),
                                  result.models["motor"].anomaly_score(clips))
    # the report is written later from the folder alone
    page = rebuild_report(tmp_path / "run").read_text()
    assert "Most anomalous clips" in page


def test_save_refuses_a_non_empty_folder(machine_folder, tmp_path):
    from sklasd.engine import OutputError

    result = sklasd.run(machine_folder)
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(OutputError, match="not empty"):
        result.save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.md"]


@pytest.mark.parametrize("options, message", [
    ({"model": "nope"}, "unknown model 'nope'"),
    ({"train_fraction": 1.0}, "train_fraction must be between 0 and 1"),
    ({"epochs": 0}, "epochs must be an integer of at least 1"),
    ({"min_train_clips": 2.5}, "min_train_clips must be an integer"),
])
def test_bad_settings_are_one_line_errors_before_any_work(options, message):
    with pytest.raises(ValueError, match=message):
        sklasd.run("/no/such/folder", **options)


def test_run_takes_a_bunch_and_a_pipeline():
    from sklasd.datasets import make_machine_sounds
    from sklasd.detectors import MahalanobisDetector
    from sklasd.features import LogMelTransformer, TemporalPooling
    from sklasd.pipeline import make_pipeline

    bunch = make_machine_sounds(n_normal=8, n_anomalous=3, duration=1.0, random_state=0)
    model = make_pipeline(LogMelTransformer(n_mels=32), TemporalPooling(),
                          MahalanobisDetector())
    result = sklasd.run(bunch, model=model)
    assert result.settings.model_name == "Pipeline"
    assert len(result.results) == (bunch.frame["split"] == "test").sum()
    assert not hasattr(model[-1], "threshold_")  # cloned, the given one stays unfitted


def test_epoch_progress_is_attached_for_the_fit_only(machine_folder):
    from sklasd.detectors import AutoencoderDetector
    from sklasd.features import FrameStacker, LogMelTransformer
    from sklasd.pipeline import make_pipeline

    model = make_pipeline(LogMelTransformer(n_mels=16), FrameStacker(n_frames=2),
                          AutoencoderDetector(hidden_layer_sizes=(8,), bottleneck=2,
                                              max_epochs=1, random_state=0))
    models, _ = fit_models(machine_folder, model=model)
    final = models["motor"][-1]
    assert final.callbacks is None
    names = [type(cb).__name__ for _, cb in final.net_.callbacks_]
    assert "EpochProgress" not in names
    assert "EpochTimer" in names  # skorch's own callbacks stay


_TORCH_FREE = """
import sys
import sklasd, sklasd.detectors
from sklasd.datasets import make_machine_sounds
from sklasd.models import make_model
bunch = make_machine_sounds(n_normal=6, n_anomalous=2, duration=1.0, random_state=0)
normal = bunch.data[bunch.target == 0]
for name in sys.argv[1:]:
    make_model(name).fit(normal).anomaly_score(bunch.data)
sklasd.run(bunch)
loaded = [m for m in ("torch", "skorch") if m in sys.modules]
assert not loaded, loaded
"""


def test_no_torch_without_a_network():
    from sklasd.models import MODELS, make_model

    pooled = [name for name in MODELS
              if "callbacks" not in make_model(name)[-1].get_params(deep=False)]  # skorch
    assert "knn" in pooled and "ae" not in pooled
    subprocess.run([sys.executable, "-c", _TORCH_FREE, *pooled], check=True)


def test_built_in_data_is_a_folder_of_audio_files():
    import soundfile as sf

    from sklasd.datasets import machine_sounds_folder, make_machine_sounds

    folder = machine_sounds_folder(random_state=3)
    assert machine_sounds_folder(random_state=3) == folder  # written once, reused
    bunch = make_machine_sounds(random_state=3)
    assert len(list(folder.rglob("*.wav"))) == len(bunch.data)
    y, sr = sf.read(folder / bunch.filenames[-1], dtype="float32")
    assert sr == bunch.sr
    np.testing.assert_array_equal(y, bunch.data[-1])  # the waveforms exactly


def test_score_names_section_files_as_the_dcase_2021_evaluator(machine_folder, tmp_path):
    from sklasd.engine import score_models

    models, _ = fit_models(machine_folder)
    result = score_models(models, machine_folder / "test", machine_id="section_00")
    result.write(tmp_path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["anomaly_score_motor_section_00_test.csv",
                     "decision_result_motor_section_00_test.csv", "results.csv"]
    lines = pd.read_csv(tmp_path / names[0], header=None)
    assert len(lines) == len(list((machine_folder / "test").glob("*.wav")))


@pytest.mark.parametrize("name, epochs", [("ae", 100), ("embedding", 30)])
def test_epochs_default_to_the_models_own_setting(name, epochs):
    from sklasd.engine import RunSettings
    from sklasd.engine._run import new_model

    assert new_model(RunSettings(name))[-1].max_epochs == epochs
    assert new_model(RunSettings(name, epochs=7))[-1].max_epochs == 7
