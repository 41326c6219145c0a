"""The output policy of the sklasd command (sklasd._outputs)."""
import os
import subprocess
import sys

import pytest

from sklasd._interrupt import Interrupted, signals_interrupt
from sklasd._outputs import OutputError, output_file, output_folder, remove_stale


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_folder_is_written_only_on_success(tmp_path):
    out = tmp_path / "out"
    with output_folder(out) as stage:
        (stage / "metrics.csv").write_text("x")
        assert not out.exists()
    assert _names(out) == ["metrics.csv"]
    assert _names(tmp_path) == ["out"]  # no staging folder or lock file left


def test_failed_block_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), output_folder(out) as stage:
        (stage / "metrics.csv").write_text("x")
        raise RuntimeError("boom")
    assert _names(tmp_path) == []


def test_non_empty_folder_needs_overwrite_which_replaces_it_whole(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "anomaly_score_old_id_99.csv").write_text("old")
    (out / "skipped.csv").write_text("old")
    with pytest.raises(OutputError, match="not empty: give --overwrite"):
        with output_folder(out):
            pass
    assert _names(out) == ["anomaly_score_old_id_99.csv", "skipped.csv"]
    with output_folder(out, overwrite=True) as stage:
        (stage / "metrics.csv").write_text("new")
    assert _names(out) == ["metrics.csv"]  # no stale file of the earlier run
    assert _names(tmp_path) == ["out"]


def test_empty_existing_folder_is_fine(tmp_path):
    (tmp_path / "out").mkdir()
    with output_folder(tmp_path / "out") as stage:
        (stage / "a.csv").write_text("1")
    assert _names(tmp_path / "out") == ["a.csv"]


def test_overwrite_never_replaces_a_folder_of_other_files(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "recording.wav").write_bytes(b"RIFF")
    with pytest.raises(OutputError, match="recording.wav.*not a sklasd result"):
        with output_folder(tmp_path / "mine", overwrite=True):
            pass
    assert (tmp_path / "mine" / "recording.wav").read_bytes() == b"RIFF"


@pytest.mark.parametrize("overwrite", [False, True])
def test_an_input_is_never_replaced(tmp_path, overwrite):
    data = tmp_path / "data"
    data.mkdir()
    wav = data / "normal_0.wav"
    wav.write_bytes(b"RIFF")
    for target, opener in [(wav, output_file), (data, output_folder),
                           (tmp_path, output_folder)]:
        with pytest.raises(OutputError, match="would replace the input"):
            with opener(target, overwrite=overwrite, inputs=[data]):
                pass
    assert wav.read_bytes() == b"RIFF"
    with output_file(data / "scores.csv", inputs=[data]) as stage:  # a new file is fine
        stage.write_text("x")
    assert (data / "scores.csv").read_text() == "x"


def test_existing_file_needs_overwrite(tmp_path):
    target = tmp_path / "model.joblib"
    target.write_text("old")
    with pytest.raises(OutputError, match="exists: give --overwrite"):
        with output_file(target):
            pass
    with output_file(target, overwrite=True) as stage:
        stage.write_text("new")
    assert target.read_text() == "new" and _names(tmp_path) == ["model.joblib"]


def test_folder_and_file_kinds_are_checked(tmp_path):
    (tmp_path / "f.csv").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        with output_folder(tmp_path / "f.csv", overwrite=True):
            pass
    with pytest.raises(OutputError, match="is a folder, not a file"):
        with output_file(tmp_path, overwrite=True):
            pass


def test_unwritable_output_is_detected_before_the_block(tmp_path):
    (tmp_path / "plain").write_text("x")
    ran = []
    with pytest.raises(OutputError, match="cannot write .*plain' is a file, not a folder"):
        with output_folder(tmp_path / "plain" / "out"):
            ran.append(1)
    assert ran == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_permission_denied_is_said_in_words(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(OutputError, match="permission denied"):
        with output_file(locked / "model.joblib"):
            pass


def test_second_writer_of_the_same_output_is_refused(tmp_path):
    out = tmp_path / "out"
    with output_folder(out):
        with pytest.raises(OutputError, match="another sklasd command is writing"):
            with output_folder(out):
                pass
    with output_folder(out):  # the lock is released
        pass


def test_stale_staging_of_a_dead_process_is_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    pid = int(dead.stdout)
    stale = tmp_path / f".sklasd-stage-{pid}-abcd-out"
    stale.mkdir()
    (stale / "metrics.csv").write_text("x")
    alive = tmp_path / f".sklasd-stage-{os.getpid()}-abcd-other"
    alive.mkdir()
    remove_stale(tmp_path)
    assert not stale.exists() and alive.exists()


def test_signal_during_the_block_publishes_nothing(tmp_path):
    import signal

    out = tmp_path / "out"
    with pytest.raises(Interrupted) as info, signals_interrupt():
        with output_folder(out) as stage:
            (stage / "metrics.csv").write_text("x")
            os.kill(os.getpid(), signal.SIGTERM)
    assert info.value.exit_status == 143
    assert _names(tmp_path) == []


def test_a_swallowed_interrupt_still_publishes_nothing(tmp_path):
    import signal

    out = tmp_path / "out"
    with pytest.raises(Interrupted) as info, signals_interrupt():
        with output_folder(out) as stage:
            (stage / "metrics.csv").write_text("x")
            try:  # as skorch's training loop does with KeyboardInterrupt
                os.kill(os.getpid(), signal.SIGINT)
            except BaseException:
                pass
    assert info.value.exit_status == 130
    assert not out.exists()
