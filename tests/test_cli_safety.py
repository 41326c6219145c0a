"""The sklasd command left running: safe outputs, model files, signals, a clean terminal.

The signal cases run the command in a real child process (``python -m sklasd``).
"""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from sklasd._outputs import MANIFEST_NAME
from sklasd.cli import main

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--epochs", "1", "--quiet"]
FOREVER = ["--model", "ae", "--epochs", "100000", "-v"]  # trains until a signal arrives


def _spawn(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("NO_COLOR", None)
    return subprocess.Popen([sys.executable, "-m", "sklasd", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_training(proc):
    """Read the child's stderr until its first epoch ended (-v), return what was read."""
    seen = []
    while True:
        line = proc.stderr.readline()
        assert line, "the command ended before training: " + "".join(seen)
        seen.append(line)
        if " epoch 1/" in line:
            return "".join(seen)


def _leftovers(folder):
    return [p.name for p in Path(folder).iterdir() if p.name.startswith(".sklasd-")]


@pytest.mark.parametrize("signum, status, word", [(signal.SIGINT, 130, "interrupted"),
                                                  (signal.SIGTERM, 143, "terminated")])
def test_signal_while_training_ends_the_run_with_no_results(machine_folder, tmp_path,
                                                            signum, status, word):
    out = tmp_path / "out"
    proc = _spawn("run", machine_folder, "-o", out, *FOREVER)
    _wait_for_training(proc)
    proc.send_signal(signum)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == status
    assert f"sklasd: error: {word}: no results written" in stderr
    assert stdout == ""  # no results table: the stopped training never looks complete
    assert not out.exists() and _leftovers(tmp_path) == []


def _signal_at(data, out, delay, signum):
    """Send ``signum`` ``delay`` s into ``sklasd fit`` (training until a signal arrives);
    the seconds from the signal to the exit, the exit status, stdout, stderr."""
    proc = _spawn("fit", data, "-o", out / "model.joblib", "--model", "ae",
                  "--epochs", "100000", "--quiet")
    time.sleep(delay)
    sent = time.monotonic()
    proc.send_signal(signum)
    try:
        proc.wait(timeout=2)
    finally:
        latency = time.monotonic() - sent
        stdout, stderr = proc.communicate(timeout=120)  # kills nothing: ends it if late
    return latency, proc.returncode, stdout, stderr


# importing, decoding / numba's compile (librosa), building the net, training
@pytest.mark.parametrize("delay, signum", [(0.3, signal.SIGTERM), (1.0, signal.SIGINT),
                                           (2.0, signal.SIGTERM), (4.0, signal.SIGINT)])
def test_a_signal_anywhere_in_the_first_seconds_ends_the_command(machine_folder, tmp_path,
                                                                 delay, signum):
    out = tmp_path / "out"
    out.mkdir()
    latency, status, stdout, stderr = _signal_at(machine_folder, out, delay, signum)
    word = "interrupted" if signum == signal.SIGINT else "terminated"
    assert (status, stdout, stderr) == (128 + signum, "",
                                        f"sklasd: error: {word}: no results written\n")
    assert latency < 2
    assert list(out.iterdir()) == []


def test_a_signal_where_no_check_comes_still_ends_the_command(tmp_path):
    """A signal during one long call (here a sleep) with no check: the watcher removes
    what was staged and exits, 0.5 s after the signal."""
    staged = tmp_path / "staged"
    staged.write_text("x")
    code = ("import time, pathlib, sys; from sklasd._interrupt import install, on_abort; "
            "install(); p = pathlib.Path(sys.argv[1]); "
            "ctx = on_abort(p.unlink); ctx.__enter__(); print('ready', flush=True); "
            "time.sleep(30); print('not interrupted')")
    proc = subprocess.Popen([sys.executable, "-c", code, str(staged)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.stdout.readline() == "ready\n"
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 2
    assert (proc.returncode, stdout, stderr) == (
        143, "", "sklasd: error: terminated: no results written\n")
    assert not staged.exists()


def test_the_success_message_comes_after_the_results_are_in_place(machine_folder,
                                                                   tmp_path):
    import logging

    model = tmp_path / "model.joblib"
    seen = []

    class Spy(logging.Handler):
        def emit(self, record):
            if "written" in record.getMessage():
                seen.append(model.exists())

    spy = Spy()
    logging.getLogger("sklasd").addHandler(spy)
    try:
        assert main(["fit", str(machine_folder), "-o", str(model), "--epochs", "1"]) == 0
    finally:
        logging.getLogger("sklasd").removeHandler(spy)
    assert seen == [True]


def test_two_runs_into_one_folder(machine_folder, tmp_path, capsys):
    out = tmp_path / "out"
    first = _spawn("run", machine_folder, "-o", out, *FOREVER)
    try:
        _wait_for_training(first)
        assert main(["run", str(machine_folder), "-o", str(out), *QUICK]) == 2
        assert "another sklasd command is writing" in capsys.readouterr().err
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    assert not out.exists()


def test_a_killed_run_leaves_nothing_that_blocks_or_stays(machine_folder, tmp_path):
    out = tmp_path / "out"
    proc = _spawn("run", machine_folder, "-o", out, *FOREVER)
    _wait_for_training(proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert any(name.startswith(f".sklasd-stage-{proc.pid}-") for name in _leftovers(tmp_path))
    assert main(["run", str(machine_folder), "-o", str(out), *QUICK]) == 0
    assert _leftovers(tmp_path) == [] and (out / "metrics.csv").exists()


def test_redirected_output_holds_no_escape_codes(machine_folder, tmp_path):
    proc = _spawn("run", machine_folder, "-o", tmp_path / "out", "--model", "ae",
                  "--epochs", "2", "-v")
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    for text in (stdout, stderr):
        assert "\x1b" not in text and "\r" not in text
    assert "AUC" in stdout and "epoch" not in stdout  # results only on stdout
    assert "motor: epoch 2/2 train_loss=" in stderr  # -v: epoch rows through the log


# --- outputs -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def model_file(machine_folder, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "motor.joblib"
    assert main(["fit", str(machine_folder), "-o", str(path), *QUICK]) == 0
    return path


def test_an_input_recording_is_never_replaced(machine_folder, model_file, tmp_path, capsys):
    recording = sorted((machine_folder / "test").glob("*.wav"))[0]
    before = recording.read_bytes()
    for argv in (["score", model_file, machine_folder / "test", "-o", recording],
                 ["fit", machine_folder, "-o", recording, "--overwrite"],
                 ["score", model_file, machine_folder / "test", "-o", machine_folder,
                  "--overwrite"]):
        assert main([*map(str, argv), "--quiet"]) == 2
        assert "sklasd: error: output" in capsys.readouterr().err
    assert recording.read_bytes() == before


def test_existing_outputs_need_overwrite_which_leaves_no_stale_file(machine_folder,
                                                                    model_file, tmp_path,
                                                                    capsys):
    out = tmp_path / "scores"
    argv = ["score", str(model_file), str(machine_folder / "test"), "-o", str(out), "-q"]
    assert main([*argv, "--machine-id", "id_00"]) == 0
    assert main(argv) == 2
    assert "not empty: give --overwrite" in capsys.readouterr().err
    assert main([*argv, "--overwrite"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["anomaly_score_motor.csv",
                                                     "decision_result_motor.csv",
                                                     "results.csv", MANIFEST_NAME]
    assert main(["fit", str(machine_folder), "-o", str(model_file), *QUICK]) == 2
    assert "exists: give --overwrite" in capsys.readouterr().err


# --- issue 24: no data loss, even with --overwrite ------------------------------------
@pytest.fixture(scope="module")
def run_folder(machine_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", str(machine_folder), "-o", str(out), "--no-report", *QUICK]) == 0
    return out


def _contents(folder):
    return {p.name: p.read_bytes() for p in Path(folder).iterdir()}


def _refused(argv, capsys, expected):
    assert main([*map(str, argv), "--overwrite", *QUICK[2:]]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and expected in err[0], err


def test_overwrite_keeps_a_users_own_files(machine_folder, tmp_path, capsys):
    out = tmp_path / "out"  # case 1: a folder sklasd did not write
    out.mkdir()
    (out / "my_notes.txt").write_text("x\n")
    (out / "budget.csv").write_text("a,b\n")
    (out / "config.json").write_text("{}\n")
    before = _contents(out)
    _refused(["run", machine_folder, "-o", out, "--epochs", "1"], capsys,
             f"output folder '{out}' holds 'budget.csv' and no {MANIFEST_NAME}")
    assert _contents(out) == before


def test_a_model_read_through_a_link_is_not_replaced(run_folder, machine_folder, tmp_path,
                                                     capsys):
    link = tmp_path / "mlink"  # case 2: the model's folder as output, through a link
    link.symlink_to(run_folder)
    before = _contents(run_folder)
    _refused(["score", link / "model_motor.joblib", machine_folder / "test", "-o",
              run_folder], capsys, "would replace the input")
    assert _contents(run_folder) == before


def test_a_training_recording_behind_a_link_is_not_replaced(machine_folder, tmp_path,
                                                            capsys):
    folder = _copy(machine_folder, tmp_path)  # case 3: the data given through a link
    (tmp_path / "reclink").symlink_to(folder)
    recording = folder / "train" / "normal_id_00_00000003.wav"
    before = recording.read_bytes()
    _refused(["fit", tmp_path / "reclink", "-o", recording, "--epochs", "1"], capsys,
             "would replace the input")
    assert recording.read_bytes() == before


def test_report_does_not_replace_a_recording_of_its_run(run_folder, machine_folder,
                                                        capsys):
    recording = machine_folder / "test" / "normal_id_00_00000006.wav"  # case 4
    before = recording.read_bytes()
    _refused(["report", run_folder, "-o", recording], capsys,
             f"would replace the input '{recording}'")
    assert recording.read_bytes() == before


def test_overwrite_keeps_a_model_saved_into_a_results_folder(machine_folder, model_file,
                                                             tmp_path, capsys):
    out = tmp_path / "dir"  # case 5: a results folder that also holds a trained model
    argv = ["score", model_file, machine_folder / "test", "-o", out]
    assert main([*map(str, argv), "-q"]) == 0
    shutil.copy(model_file, out / "other.joblib")
    before = _contents(out)
    _refused(argv, capsys, "holds 'other.joblib', which its sklasd_manifest.json does "
                           "not list")
    assert _contents(out) == before


def test_overwrite_replaces_a_model_file_and_no_other_file(machine_folder, model_file,
                                                          tmp_path, capsys):
    mine = tmp_path / "mine.joblib"  # a file sklasd did not write, whatever its name
    mine.write_bytes(b"my own pickle")
    _refused(["fit", machine_folder, "-o", mine, "--epochs", "1"], capsys,
             f"output file '{mine}' was not written by sklasd")
    assert mine.read_bytes() == b"my own pickle"
    model = tmp_path / "model.joblib"  # a sklasd model file: recognised by its header
    shutil.copy(model_file, model)
    assert main(["fit", str(machine_folder), "-o", str(model), "--overwrite", *QUICK]) == 0


def test_a_link_to_nothing_as_output_is_refused_before_any_work(machine_folder,
                                                                tmp_path, capsys):
    link = tmp_path / "lnk"  # case 7: refused after the whole run before
    link.symlink_to(tmp_path / "missing")
    assert main(["run", str(machine_folder), "-o", str(link), "--epochs", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"sklasd: error: output '{link}' is a link to '{tmp_path}/missing', "
                   "which does not exist"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lnk"]


def test_overwrite_replaces_a_results_folder_and_report_keeps_it_replaceable(
        run_folder, machine_folder, tmp_path, capsys):
    out = tmp_path / "out"
    shutil.copytree(run_folder, out)
    assert main(["report", str(out), "-q"]) == 0  # report.html joins the manifest
    listed = json.loads((out / MANIFEST_NAME).read_text())["sha256"]
    assert set(listed) == {p.name for p in out.iterdir()} - {MANIFEST_NAME}
    assert listed["report.html"] == hashlib.sha256(
        (out / "report.html").read_bytes()).hexdigest()
    assert main(["run", str(machine_folder), "-o", str(out), "--overwrite", "--no-report",
                 *QUICK]) == 0
    assert not (out / "report.html").exists()


def test_unwritable_output_is_refused_before_any_work(machine_folder, tmp_path, capsys):
    (tmp_path / "plain").write_text("x")
    assert main(["fit", str(machine_folder), "-o", str(tmp_path / "plain" / "m.joblib"),
                 "--epochs", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0]  # no "fitting" line


def test_score_to_stdout(machine_folder, model_file, tmp_path, capsys):
    assert main(["score", str(model_file), str(machine_folder / "test"), "-o", "-",
                 "-q"]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == "file,anomaly_score,decision_result,notes" and len(lines) == 11
    assert captured.err == "" and not Path("-").exists()


def test_run_takes_o_and_out(tmp_path):
    for flag in ("-o", "--output", "--out"):
        args = build_args(["run", flag, str(tmp_path)])
        assert args.out == str(tmp_path)


def build_args(argv):
    from sklasd.cli import build_parser

    return build_parser().parse_args(argv)


# --- model files -------------------------------------------------------------------
def test_fit_without_a_usable_normal_clip_writes_no_model(machine_folder, tmp_path,
                                                          capsys):
    folder = tmp_path / "motor"
    (folder / "test").mkdir(parents=True)
    for path in (machine_folder / "test").glob("anomaly_*.wav"):
        (folder / "test" / path.name).write_bytes(path.read_bytes())
    model = tmp_path / "m.joblib"
    assert main(["fit", str(folder), "-o", str(model), *QUICK]) == 2
    assert "no normal or unlabeled clips to train on" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["motor"]


@pytest.mark.parametrize("content", [None, b"", b"\x80\x04K\xd3.", b"not a model"])
def test_bad_model_file_is_one_line_exit_2(machine_folder, tmp_path, capsys, content):
    model = tmp_path / "m.joblib"
    if content is not None:
        model.write_bytes(content)
    assert main(["score", str(model), str(machine_folder / "test"), "-o",
                 str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"sklasd: error: model file '{model}'")
    assert not (tmp_path / "out").exists()


def test_score_quiet_is_silent_although_the_model_was_fitted_verbose(machine_folder,
                                                                     tmp_path, capsys):
    model = tmp_path / "m.joblib"
    assert main(["fit", str(machine_folder), "-o", str(model), "--epochs", "1", "-v"]) == 0
    capsys.readouterr()
    assert main(["score", str(model), str(machine_folder / "test"), "-o",
                 str(tmp_path / "out"), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# --- messages ------------------------------------------------------------------------
@pytest.mark.parametrize("argv, expected", [
    (["--epochs", "0"], "argument --epochs: must be at least 1"),
    (["--n-jobs", "0"], "argument --n-jobs: must be a positive count, or -1"),
    (["--train-fraction", "1.5"], "argument --train-fraction: must be between 0 and 1"),
])
def test_bad_numbers_are_refused_by_flag_name(tmp_path, capsys, argv, expected):
    with pytest.raises(SystemExit) as info:
        main(["run", "-o", str(tmp_path / "o"), *argv])
    assert info.value.code == 2 and expected in capsys.readouterr().err


@pytest.mark.parametrize("device, expected", [
    ("bogus", "is not a torch device"), ("cuda", "no cuda device is available"),
    ("meta", "sklasd trains on cpu, cuda, cuda:N or mps only"),  # case 10
    ("xla", "sklasd trains on cpu, cuda, cuda:N or mps only")])
def test_unusable_device_is_one_line_before_any_work(tmp_path, capsys, device, expected):
    import torch

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    assert main(["run", "-o", str(tmp_path / "o"), "--device", device]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [err[0]] and expected in err[0] and f"--device '{device}'" in err[0]
    assert not (tmp_path / "o").exists()


def test_version_and_exit_statuses_in_help(capsys):
    from sklasd import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"sklasd {__version__}"
    for argv in (["--help"], ["score", "--help"]):
        with pytest.raises(SystemExit):
            main(argv)
        text = capsys.readouterr().out
        assert "130  interrupted" in text and "loading one runs code" in text


def _copy(machine_folder, tmp_path):
    return Path(shutil.copytree(machine_folder, tmp_path / "motor"))


def test_skip_bad_skips_too_short_clips_and_score_lists_them(machine_folder, model_file,
                                                             tmp_path, capsys):
    folder = _copy(machine_folder, tmp_path)
    short = folder / "test" / "normal_id_00_00000098.wav"
    sf.write(short, np.zeros(100, dtype=np.float32), 16000)  # shorter than n_fft
    out = tmp_path / "out"
    assert main(["score", str(model_file), str(folder / "test"), "-o", str(out),
                 "--skip-bad"]) == 0
    assert f"skipped: file '{short}': clip has 100 samples" in capsys.readouterr().err
    skipped = pd.read_csv(out / "skipped.csv")
    assert list(skipped.file) == [str(short)]
    assert len(pd.read_csv(out / "anomaly_score_motor.csv", header=None)) == 10


def test_skip_bad_that_drops_everything_says_so(machine_folder, model_file, tmp_path,
                                                capsys):
    folder = tmp_path / "bad"
    folder.mkdir()
    for i in range(2):
        (folder / f"clip_{i}.wav").write_bytes(b"RIFF....WAVEgarbage")
    assert main(["score", str(model_file), str(folder), "-o", str(tmp_path / "out"), "-q",
                 "--skip-bad"]) == 2
    assert "skipped all 2 file(s)" in capsys.readouterr().err


def test_file_names_are_plain_and_permission_denied_in_words(machine_folder, model_file,
                                                             tmp_path, capsys,
                                                             monkeypatch):
    folder = _copy(machine_folder, tmp_path)
    locked = sorted((folder / "test").glob("*.wav"))[0]
    import sklasd.audio

    real_access = os.access
    monkeypatch.setattr(sklasd.audio.os, "access",  # as for a user without read right
                        lambda p, mode: os.fspath(p) != str(locked) and real_access(p, mode))
    real_read = sklasd.audio.sf.read

    def read(path, *args, **kwargs):
        if os.fsdecode(path) == str(locked):  # soundfile is given the name's bytes
            raise sf.LibsndfileError(2, prefix=f"Error opening {path!r}: ")
        return real_read(path, *args, **kwargs)

    monkeypatch.setattr(sklasd.audio.sf, "read", read)
    assert main(["score", str(model_file), str(folder / "test"), "-o",
                 str(tmp_path / "out"), "--skip-bad"]) == 0
    err = capsys.readouterr().err
    assert f"file '{locked}': cannot be read: permission denied" in err
    assert "np.str_" not in err and "System error" not in err


def test_exit_statuses_are_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    assert "`130` interrupted" in readme and "run code when loaded" in readme


def test_a_name_that_is_not_utf8_is_scored_and_named_escaped(machine_folder, model_file,
                                                             tmp_path, capsys):
    folder = _copy(machine_folder, tmp_path)  # case 9
    odd = os.fsencode(folder / "test") + b"/caf\xe9.wav"
    shutil.copy(folder / "test" / "normal_id_00_00000006.wav", odd)
    with open(os.fsencode(folder / "test") + b"/bad\xff.wav", "wb") as f:
        f.write(b"RIFF....WAVEgarbage")
    out, run = tmp_path / "out", tmp_path / "run"
    assert main(["score", str(model_file), str(folder / "test"), "-o", str(out),
                 "--skip-bad"]) == 0
    assert f"skipped: file '{folder}/test/bad\\xff.wav': cannot be decoded" in \
        capsys.readouterr().err
    assert b"\ncaf\xe9.wav," in (out / "anomaly_score_motor.csv").read_bytes()
    assert b"/bad\xff.wav," in (out / "skipped.csv").read_bytes()
    assert main(["run", str(folder), "-o", str(run), "--skip-bad", *QUICK]) == 0
    assert b"/caf\xe9.wav," in (run / "results.csv").read_bytes()
    assert main(["report", str(run), "-q"]) == 0  # reads the name back


def test_a_folder_that_cannot_be_listed_is_warned_about_and_skipped(
        machine_folder, model_file, tmp_path, capsys, monkeypatch):
    folder = _copy(machine_folder, tmp_path)  # case 8
    locked = folder / "test" / "locked"
    locked.mkdir()
    shutil.copy(folder / "test" / "normal_id_00_00000006.wav", locked)
    real_scandir = os.scandir

    def scandir(path="."):  # as for a user without the right to list ``locked``
        if not isinstance(path, int) and os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    warning = (f"sklasd: warning: folder '{locked}' cannot be listed (permission "
               "denied): its recordings are left out")
    out = tmp_path / "out"
    argv = ["score", str(model_file), str(folder / "test"), "-o", str(out)]
    assert main(argv) == 0
    assert warning in capsys.readouterr().err.splitlines()
    assert main([*argv, "--skip-bad", "--overwrite"]) == 0
    assert warning in capsys.readouterr().err.splitlines()
    skipped = pd.read_csv(out / "skipped.csv")
    assert list(skipped.file) == [str(locked)] and "cannot be listed" in skipped.reason[0]
