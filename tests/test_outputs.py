"""The output policy of the sklasd command (sklasd._outputs)."""
import hashlib
import json
import os
import subprocess
import sys

import pytest

from sklasd._interrupt import Interrupted, signals_interrupt
from sklasd._outputs import (MANIFEST_NAME, OutputError, output_file, output_folder,
                             remove_stale, write_csv)


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def _results(folder, **files):
    """``folder`` written by sklasd (with its manifest) holding ``files``."""
    with output_folder(folder, overwrite=True) as stage:
        for name, text in files.items():
            (stage / name).write_text(text)
    return folder


def test_folder_is_written_only_on_success(tmp_path):
    out = tmp_path / "out"
    with output_folder(out) as stage:
        (stage / "metrics.csv").write_text("x")
        assert not out.exists()
    assert _names(out) == ["metrics.csv", MANIFEST_NAME]
    assert _names(tmp_path) == ["out"]  # no staging folder or lock file left
    listed = json.loads((out / MANIFEST_NAME).read_text())["sha256"]
    assert listed == {"metrics.csv": hashlib.sha256(b"x").hexdigest()}


def test_failed_block_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), output_folder(out) as stage:
        (stage / "metrics.csv").write_text("x")
        raise RuntimeError("boom")
    assert _names(tmp_path) == []


def test_non_empty_folder_needs_overwrite_which_replaces_it_whole(tmp_path):
    out = _results(tmp_path / "out", **{"anomaly_score_old_id_99.csv": "old",
                                        "skipped.csv": "old"})
    with pytest.raises(OutputError, match="not empty: give --overwrite"):
        with output_folder(out):
            pass
    assert _names(out) == ["anomaly_score_old_id_99.csv", "skipped.csv", MANIFEST_NAME]
    with output_folder(out, overwrite=True) as stage:
        (stage / "metrics.csv").write_text("new")
    assert _names(out) == ["metrics.csv", MANIFEST_NAME]  # no stale file of the earlier run
    assert _names(tmp_path) == ["out"]


def test_empty_existing_folder_is_fine(tmp_path):
    (tmp_path / "out").mkdir()
    with output_folder(tmp_path / "out") as stage:
        (stage / "a.csv").write_text("1")
    assert _names(tmp_path / "out") == ["a.csv", MANIFEST_NAME]


def test_overwrite_never_replaces_a_folder_of_other_files(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "recording.wav").write_bytes(b"RIFF")
    with pytest.raises(OutputError, match="'recording.wav' and no sklasd_manifest.json"):
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
    target.write_text("SKLASD old")
    with pytest.raises(OutputError, match="exists: give --overwrite"):
        with output_file(target, signature=b"SKLASD"):
            pass
    with output_file(target, overwrite=True, signature=b"SKLASD") as stage:
        stage.write_text("SKLASD new")
    assert target.read_text() == "SKLASD new" and _names(tmp_path) == ["model.joblib"]


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
    with output_folder(out, overwrite=True):  # the lock is released
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


# --- the manifest: --overwrite replaces only what sklasd wrote -----------------------
_FOREIGN = {
    "file": (lambda out: (out / "my_notes.txt").write_text("mine"),
             "holds 'my_notes.txt', which its sklasd_manifest.json does not list"),
    "changed": (lambda out: (out / "metrics.csv").write_text("edited"),
                "holds 'metrics.csv', changed since sklasd wrote it"),
    "folder": (lambda out: (out / "plots").mkdir(), "holds 'plots', a folder its"),
    "link": (lambda out: (out / "link.csv").symlink_to(out / "metrics.csv"),
             "holds 'link.csv', which its sklasd_manifest.json does not list"),
}


@pytest.mark.parametrize("kind", sorted(_FOREIGN))
def test_overwrite_replaces_only_the_unchanged_files_of_the_manifest(tmp_path, kind):
    make, expected = _FOREIGN[kind]
    out = _results(tmp_path / "out", **{"metrics.csv": "old"})
    make(out)
    before = {p.name: p.is_symlink() or p.is_dir() or p.read_text() for p in out.iterdir()}
    with pytest.raises(OutputError, match=expected) as info:
        with output_folder(out, overwrite=True):
            pass
    assert "\n" not in str(info.value)
    assert {p.name: p.is_symlink() or p.is_dir() or p.read_text()
            for p in out.iterdir()} == before


def test_a_file_added_while_the_command_runs_is_kept(tmp_path):
    out = _results(tmp_path / "out", **{"metrics.csv": "old"})
    with pytest.raises(OutputError, match="changed while the command ran"):
        with output_folder(out, overwrite=True) as stage:
            (stage / "metrics.csv").write_text("new")
            (out / "my_notes.txt").write_text("mine")
    assert (out / "my_notes.txt").read_text() == "mine"
    assert (out / "metrics.csv").read_text() == "old" and _names(tmp_path) == ["out"]


def test_links_and_second_names_do_not_hide_an_input(tmp_path):
    models = _results(tmp_path / "models", **{"pump.joblib": "model"})
    (tmp_path / "mlink").symlink_to(models)
    # the model read through a link, the output its folder (issue case 2)
    with pytest.raises(OutputError, match="would replace the input"):
        with output_folder(models, overwrite=True, inputs=[tmp_path / "mlink/pump.joblib"]):
            pass
    # the output a link to an input folder, or a second (hard) name of an input file
    os.link(models / "pump.joblib", tmp_path / "hard.joblib")
    for target, opener in [(tmp_path / "mlink", output_folder),
                           (tmp_path / "hard.joblib", output_file)]:
        with pytest.raises(OutputError, match="would replace the input"):
            with opener(target, overwrite=True, inputs=[models / "pump.joblib"],
                        **({"signature": b"model"} if opener is output_file else {})):
                pass
    assert (models / "pump.joblib").read_text() == "model"


def test_writing_through_a_link_replaces_what_it_points_to(tmp_path):
    real = _results(tmp_path / "real", **{"a.csv": "old"})
    (tmp_path / "link").symlink_to(real)
    with output_folder(tmp_path / "link", overwrite=True) as stage:
        (stage / "a.csv").write_text("new")
    assert (tmp_path / "link").is_symlink() and (real / "a.csv").read_text() == "new"


def test_a_link_to_nothing_is_refused_before_any_work(tmp_path):
    (tmp_path / "lnk").symlink_to(tmp_path / "missing")
    ran = []
    for opener in (output_folder, output_file):
        with pytest.raises(OutputError, match="is a link to .*missing', which does not"):
            with opener(tmp_path / "lnk"):
                ran.append(1)
    assert ran == [] and _names(tmp_path) == ["lnk"]


def test_a_file_is_replaced_only_if_sklasd_wrote_it(tmp_path):
    mine = tmp_path / "notes.txt"
    mine.write_text("mine")
    with pytest.raises(OutputError, match="was not written by sklasd"):
        with output_file(mine, overwrite=True, signature=b"SKLASD"):
            pass
    assert mine.read_text() == "mine"
    out = _results(tmp_path / "out", **{"report.html": "old"})
    with output_file(out / "report.html", overwrite=True) as stage:  # listed: replaced
        stage.write_text("new")
    with output_file(out / "extra.html", record=True) as stage:  # recorded
        stage.write_text("extra")
    listed = json.loads((out / MANIFEST_NAME).read_text())["sha256"]
    assert listed == {name: hashlib.sha256(text).hexdigest()
                      for name, text in [("report.html", b"new"), ("extra.html", b"extra")]}
    with output_folder(out, overwrite=True):  # still replaceable as a whole
        pass
    assert _names(out) == [MANIFEST_NAME]


def test_result_files_keep_names_that_are_not_utf8(tmp_path):
    import pandas as pd

    name = os.fsdecode(b"caf\xe9.wav")
    write_csv(pd.DataFrame({"f": [name, "b.wav"], "v": [1, 2]}), tmp_path / "r.csv",
              header=False, index=False)
    assert (tmp_path / "r.csv").read_bytes() == b"caf\xe9.wav,1\nb.wav,2\n"
