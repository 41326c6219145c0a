"""Tests of sklasd.monitor and ``sklasd watch``, with real writer processes."""
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sklasd.engine import save_models
from sklasd.datasets import make_machine_sounds
from sklasd.models import make_model
from sklasd.monitor import Monitor, read_events, watch

REPO = Path(__file__).resolve().parents[1]

# Writes each planned file: in chunks with pauses ("chunks"), or whole under a
# temporary name that is then renamed ("rename"); after each file, one JSON line
# with its path and the time just before its close or rename, the earliest moment
# at which it may be read.
WRITER = textwrap.dedent("""
    import json, os, sys, time
    plan = json.load(open(sys.argv[1]))
    done = open(sys.argv[2], "a")
    for item in plan:
        data = open(item["source"], "rb").read()
        target = item["path"]
        written = target + ".part" if item["mode"] == "rename" else target
        with open(written, "wb") as f:
            for start in range(0, len(data), item["chunk"]):
                time.sleep(item["pause"])
                f.write(data[start:start + item["chunk"]])
                f.flush()
            complete = time.time()
        if item["mode"] == "rename":
            complete = time.time()
            os.rename(written, target)
        done.write(json.dumps({"path": target, "time": complete}) + "\\n")
        done.flush()
        time.sleep(item.get("gap", 0))
""")


@pytest.fixture(scope="module")
def clips():
    bunch = make_machine_sounds(n_normal=14, n_anomalous=4, duration=1.0, random_state=0)
    normal, anomalous = bunch.data[bunch.target == 0], bunch.data[bunch.target == 1]
    return {"train": normal[:8], "normal": normal[8:], "anomalous": anomalous,
            "sr": bunch.sr}


@pytest.fixture(scope="module")
def model(clips):
    return make_model("knn").fit(clips["train"])


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "motor.sklasd"
    save_models({"motor": model}, path)
    return path


def _wav_bytes(y, sr):
    buffer = io.BytesIO()
    sf.write(buffer, y, sr, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _sources(clips, folder):
    """Each clip as a complete WAV file outside the watched folder, and its score
    as the pipeline gives it for the complete file."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind in ("normal", "anomalous"):
        for i, y in enumerate(clips[kind]):
            path = folder / f"{kind}_{i}.wav"
            path.write_bytes(_wav_bytes(y, clips["sr"]))
            paths.append(path)
    return paths


def _wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _watcher(args, tmp_path, name="watch"):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    stderr = open(tmp_path / f"{name}.err", "ab")
    return subprocess.Popen([sys.executable, "-m", "sklasd", "watch", *map(str, args)],
                            stderr=stderr, stdout=subprocess.DEVNULL, env=env)


def _writer(plan, tmp_path, name):
    plan_file = tmp_path / f"{name}.json"
    plan_file.write_text(json.dumps(plan))
    return subprocess.Popen([sys.executable, "-c", WRITER, str(plan_file),
                             str(tmp_path / "done.jsonl")])


def _log_lines(log_dir):
    path = Path(log_dir) / "events.jsonl"
    return path.read_bytes() if path.exists() else b""


def _check_log(log_dir, expected, model):
    """Every expected recording has exactly one complete line, scored from the
    complete file after it was complete."""
    data = _log_lines(log_dir)
    assert data.endswith(b"\n")
    rows = [json.loads(line) for line in data.decode().splitlines()]
    files = [row["file"] for row in rows]
    assert sorted(files) == sorted(expected)  # each once, none missing, none extra
    done = {}
    for line in (Path(log_dir).parent / "done.jsonl").read_text().splitlines():
        item = json.loads(line)
        done[item["path"]] = item["time"]
    for row in rows:
        if row["file"] in done:  # written while watched: read only once complete
            scored = np.datetime64(row["time"].replace("+00:00", ""), "ms")
            assert scored.astype(float) / 1e3 >= done[row["file"]] - 0.001, row
        if row["decision"] != "error":
            reference = model.anomaly_score([row["file"]])[0]
            assert row["score"] == pytest.approx(reference, rel=1e-9), row["file"]
    return rows


# --- Monitor ----------------------------------------------------------------------------
def test_check_scores_waveforms_and_files_and_bad_files_get_a_row(model, clips,
                                                                    tmp_path):
    monitor = Monitor({"motor": model})
    row = monitor.check(clips["anomalous"][0])
    assert row["file"] == "waveform 1" and row["decision"] == "anomalous"
    assert row["score"] == pytest.approx(model.anomaly_score(clips["anomalous"][:1])[0])
    assert row["threshold"] == model[-1].threshold_
    path = tmp_path / "motor" / "clip.wav"
    path.parent.mkdir()
    sf.write(path, clips["normal"][0], clips["sr"])
    row = monitor.check(path)
    assert row["file"] == str(path) and row["machine_type"] == "motor"
    assert row["score"] == pytest.approx(model.anomaly_score([str(path)])[0])
    (tmp_path / "motor" / "empty.wav").write_bytes(b"")
    with pytest.warns(UserWarning, match="empty.wav"):
        row = monitor.check(tmp_path / "motor" / "empty.wav")
    assert row["decision"] == "error" and row["score"] is None and "empty" in row["notes"]


def test_alert_after_n_in_a_row_once_per_run(model):
    monitor = Monitor({"motor": model}, alert_after=3)
    threshold = model[-1].threshold_
    decisions = "AANAAAAANAAA"
    alerts = []
    for i, d in enumerate(decisions):
        row = {"file": f"{i}.wav", "machine_type": "motor",
               "score": threshold + (1 if d == "A" else -1),
               "decision": "anomalous" if d == "A" else "normal"}
        alerts.append(monitor.update(row)["alert"])
    assert [i for i, a in enumerate(alerts) if a] == [5, 11]


def test_drift_rises_before_recordings_cross_the_threshold(model):
    monitor = Monitor({"motor": model}, alert_after=1, drift_window=5)
    level, threshold = monitor.drift_levels_["motor"], model[-1].threshold_
    assert level == pytest.approx(np.quantile(model[-1].training_scores_, 0.8))
    assert level < threshold
    # scores rising slowly from the training median to above the threshold
    start = np.median(model[-1].training_scores_)
    scores = np.linspace(start, threshold + 0.2 * (threshold - start), 40)
    rows = [monitor.update({"file": f"{i}.wav", "machine_type": "motor", "score": s,
                            "decision": "anomalous" if s > threshold else "normal"})
            for i, s in enumerate(scores)]
    first_changing = next(i for i, r in enumerate(rows) if r["changing"])
    first_alert = next(i for i, r in enumerate(rows) if r["alert"])
    assert first_changing < first_alert
    assert not any(r["changing"] for r in rows[:5])  # the window is not full yet


def test_models_without_training_scores_follow_no_drift(model):
    import copy

    old = copy.deepcopy(model)
    del old[-1].training_scores_
    monitor = Monitor({"motor": old}, drift_window=1)
    assert monitor.drift_levels_ == {"motor": None}
    row = monitor.update({"file": "a.wav", "machine_type": "motor", "score": 1e9,
                          "decision": "anomalous"})
    assert row["alert"] and not row["changing"]


def test_machine_type_from_the_folders(model, clips, tmp_path):
    monitor = Monitor({"pump (Site A)": model, "pump (Site B)": model, "fan": model})
    for folder in ("Site A/pump/2026-12-01", "Site B/pump", "fan/normal", "valve"):
        (tmp_path / folder).mkdir(parents=True)
        sf.write(tmp_path / folder / "x.wav", clips["normal"][0], clips["sr"])
    found = {}
    with pytest.warns(UserWarning, match="no model for machine type 'valve'"):
        for folder in ("Site A/pump/2026-12-01", "Site B/pump", "fan/normal", "valve"):
            found[folder] = monitor.check(tmp_path / folder / "x.wav")["machine_type"]
    assert found == {"Site A/pump/2026-12-01": "pump (Site A)",
                     "Site B/pump": "pump (Site B)", "fan/normal": "fan", "valve": None}


# --- the log ------------------------------------------------------------------------------
def test_once_scores_each_file_once_and_keeps_bad_files(model, clips, tmp_path):
    folder = tmp_path / "in" / "motor"
    sources = _sources(clips, folder)
    (folder / "corrupt.wav").write_bytes(b"RIFF not really a wav file")
    (folder / "notes.txt").write_text("not audio")
    (folder / ".hidden.wav").write_bytes(b"")
    log_dir = tmp_path / "log"
    with pytest.warns(UserWarning, match="corrupt.wav"):
        assert watch([tmp_path / "in"], {"motor": model}, log_dir, once=True,
                     settle=0.2) == len(sources) + 1
    rows = read_events(log_dir)
    assert sorted(r["file"] for r in rows) == sorted(
        [str(p) for p in sources] + [str(folder / "corrupt.wav")])
    (bad,) = [r for r in rows if r["decision"] == "error"]
    assert bad["file"].endswith("corrupt.wav") and "cannot be decoded" in bad["notes"]
    assert watch([tmp_path / "in"], {"motor": model}, log_dir, once=True) == 0
    # a half-written last line (power cut): cut off, its recording scored again
    with open(log_dir / "events.jsonl", "ab") as f:
        f.write(b'{"time": "2026-12-07T10:00:00.000+00:00", "file": "')
    first = rows[0]["file"]
    data = (log_dir / "events.jsonl").read_bytes()
    kept = b"".join(line + b"\n" for line in data.split(b"\n")[:-1]
                    if json.loads(line)["file"] != first)
    (log_dir / "events.jsonl").write_bytes(kept + data[data.rfind(b"\n") + 1:])
    assert watch([tmp_path / "in"], {"motor": model}, log_dir, once=True) == 1
    again = read_events(log_dir)
    assert len(again) == len(rows) and sorted(r["file"] for r in again) == sorted(
        r["file"] for r in rows)
    assert (log_dir / "events.jsonl").read_bytes().endswith(b"}\n")


def test_one_watch_per_log(model, tmp_path):
    from sklasd.monitor._events import EventLog

    with EventLog(tmp_path):
        with pytest.raises(ValueError, match="another sklasd watch"):
            watch([tmp_path], {"motor": model}, tmp_path, once=True)


def test_on_anomaly_gets_arguments_without_a_shell(model, clips, tmp_path):
    folder = tmp_path / "in" / "motor"
    folder.mkdir(parents=True)
    odd = folder / "a; touch PWNED $(touch PWNED2) 'x'.wav"
    sf.write(odd, clips["anomalous"][0], clips["sr"])
    sf.write(folder / "normal.wav", clips["normal"][0], clips["sr"])
    script = tmp_path / "alert.py"
    script.write_text("import json, os, sys\n"
                      "json.dump({'argv': sys.argv[1:], 'file': os.environ['SKLASD_FILE']},"
                      " open(sys.argv[1], 'w'))\n")
    out = tmp_path / "alert.json"
    watch([tmp_path / "in"], {"motor": model}, tmp_path / "log", once=True,
          on_anomaly=f"{sys.executable} {script} {out}", settle=0.2)
    called = json.loads(out.read_text())
    assert called["argv"][1] == str(odd) == called["file"]
    assert called["argv"][2] == "motor"
    assert float(called["argv"][3]) > float(called["argv"][4])
    assert not list(tmp_path.rglob("PWNED*"))
    with pytest.raises(ValueError, match="no such command"):
        watch([folder], {"motor": model}, tmp_path / "log2", once=True,
              on_anomaly="no-such-command-sklasd --x")


# --- the command, with writer processes ------------------------------------------------------
def _plan(sources, folder, mode, chunk=4096, pause=0.03, gap=0.0):
    return [{"source": str(s), "path": str(folder / f"{mode}_{s.name}"), "mode": mode,
             "chunk": chunk, "pause": pause, "gap": gap} for s in sources]


def test_watch_stream_chunks_renames_kill_and_restart(model_file, model, clips,
                                                      tmp_path):
    sources = _sources(clips, tmp_path / "sources")
    folder = tmp_path / "in" / "motor"
    folder.mkdir(parents=True)
    before = folder / "before.wav"  # arrived while no watcher ran
    before.write_bytes(sources[0].read_bytes())
    (tmp_path / "done.jsonl").touch()
    log_dir = tmp_path / "log"
    args = [tmp_path / "in", "-m", model_file, "-o", log_dir, "-v"]
    watcher = _watcher(args, tmp_path)
    try:
        _wait_for(lambda: b"before.wav" in _log_lines(log_dir), what="the file of before")
        slow = _writer(_plan(sources[:3], folder, "chunks", pause=0.05), tmp_path, "a")
        renamed = _writer(_plan(sources[6:], folder, "rename", pause=0.01, gap=0.1),
                          tmp_path, "b")
        _wait_for(lambda: _log_lines(log_dir).count(b"\n") >= 4, what="4 lines")
        watcher.send_signal(signal.SIGKILL)  # in the middle of the stream
        watcher.wait(timeout=10)
        assert slow.wait(timeout=60) == 0 and renamed.wait(timeout=60) == 0
        # more files arrive while it is down, one still being written at restart
        late = _writer(_plan(sources[:2], folder, "late", pause=0.1), tmp_path, "c")
        time.sleep(0.5)
        watcher = _watcher(args, tmp_path)
        assert late.wait(timeout=60) == 0
        expected = [str(before)] + [str(folder / f"{m}_{s.name}") for m, group in (
            ("chunks", sources[:3]), ("rename", sources[6:]), ("late", sources[:2]))
            for s in group]
        _wait_for(lambda: _log_lines(log_dir).count(b"\n") >= len(expected),
                  what="every line")
        time.sleep(0.5)  # no line more comes
        _wait_for(lambda: (log_dir / "trend.html").exists(), what="the trend page")
        watcher.send_signal(signal.SIGTERM)
        assert watcher.wait(timeout=20) == 143
    finally:
        watcher.kill()
    rows = _check_log(log_dir, expected, model)
    assert {r["decision"] for r in rows} == {"normal", "anomalous"}
    err = (tmp_path / "watch.err").read_text()
    assert "terminated: stopped" in err and "Traceback" not in err
    assert not list(folder.glob("*.part"))
    _check_trend(log_dir / "trend.html", ["motor"])


def test_watch_polling_and_bad_files(model_file, model, clips, tmp_path):
    sources = _sources(clips, tmp_path / "sources")[:4]
    folder = tmp_path / "in" / "motor"
    folder.mkdir(parents=True)
    (tmp_path / "done.jsonl").touch()
    log_dir = tmp_path / "log"
    watcher = _watcher([tmp_path / "in", "-m", model_file, "-o", log_dir, "--polling",
                        "--settle", "1", "--alert-after", "2"], tmp_path)
    try:
        _wait_for(lambda: (log_dir / "events.jsonl").exists(), what="the log")
        writer = _writer(_plan(sources, folder, "chunks", pause=0.05), tmp_path, "a")
        assert writer.wait(timeout=60) == 0
        (folder / "broken.wav").write_bytes(b"RIFF" + bytes(40))
        expected = [str(folder / f"chunks_{s.name}") for s in sources]
        expected.append(str(folder / "broken.wav"))
        _wait_for(lambda: _log_lines(log_dir).count(b"\n") >= len(expected),
                  what="every line")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(timeout=20) == 130
    finally:
        watcher.kill()
    rows = _check_log(log_dir, expected, model)
    assert [r["decision"] for r in rows if r["file"].endswith("broken.wav")] == ["error"]
    err = (tmp_path / "watch.err").read_text()
    assert "broken.wav" in err and "interrupted: stopped" in err


# --- the trend page ---------------------------------------------------------------------------
class _Page(HTMLParser):
    def __init__(self, page):
        super().__init__()
        self.tags = []
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _check_trend(path, machine_types):
    import base64

    import matplotlib.image

    page = _Page(path.read_text(encoding="utf-8"))
    sources = [a.get("src") or a.get("href") for _, a in page.tags
               if a.get("src") or a.get("href")]
    assert sources and not [s for s in sources if "://" in s or s.startswith("//")]
    assert not [t for t, _ in page.tags if t in ("script", "link", "iframe")]
    images = {a["alt"]: a["src"] for t, a in page.tags if t == "img"}
    for machine_type in machine_types:
        src = images[f"trend of {machine_type}"]
        image = matplotlib.image.imread(io.BytesIO(base64.b64decode(src.split(",")[1])))
        assert image.shape[0] > 100
    return page


def test_trend_page_shows_recent_anomalies_with_players(model, clips, tmp_path):
    folder = tmp_path / "in" / "motor"
    _sources(clips, folder)
    watch([tmp_path / "in"], {"motor": model}, tmp_path / "log", once=True, settle=0.1,
          drift_window=3)
    page = _check_trend(tmp_path / "log" / "trend.html", ["motor"])
    players = [a for t, a in page.tags if t == "audio"]
    maps = [a for t, a in page.tags
            if t == "img" and a["alt"] == "log-mel spectrogram and anomaly map"]
    assert len(players) == len(maps) == 3  # the three most recent anomalous ones
    assert all(p["src"].startswith("data:audio/wav;base64,") for p in players)
    text = (tmp_path / "log" / "trend.html").read_text()
    assert "Most recent anomalous recordings (3 shown)" in text


@pytest.mark.parametrize("script", ["bench_watch.py", "check_html_chromium.py"])
def test_benchmark_help(script):
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / script), "--help"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "usage:" in done.stdout


def test_command_errors_are_one_line_exit_2(model_file, tmp_path, capsys):
    from sklasd.cli import main

    assert main(["watch", str(tmp_path / "missing"), "-m", str(model_file), "-o",
                 str(tmp_path / "log"), "--once"]) == 2
    assert "is not an existing folder" in capsys.readouterr().err
    (tmp_path / "in").mkdir()
    (tmp_path / "fake.sklasd").write_bytes(b"not a model")
    assert main(["watch", str(tmp_path / "in"), "-m", str(tmp_path / "fake.sklasd"),
                 "-o", str(tmp_path / "log"), "--once"]) == 2
    err = capsys.readouterr().err
    assert "not a sklasd model file" in err and "Traceback" not in err
    assert main(["watch", str(tmp_path / "in"), "-m", str(model_file), "-o",
                 str(tmp_path / "log"), "--once", "-q"]) == 0  # nothing to score yet
    assert read_events(tmp_path / "log") == []


def test_a_run_folder_is_a_model(clips, tmp_path, capsys):
    from sklasd.cli import main
    from sklasd.monitor import load_watch_models

    data = tmp_path / "data" / "motor"
    data.mkdir(parents=True)
    for i, y in enumerate(clips["train"][:6]):
        sf.write(data / f"normal_{i}.wav", y, clips["sr"])
    assert main(["run", str(data), "-o", str(tmp_path / "run"), "--no-report", "-q"]) == 0
    assert list(load_watch_models(tmp_path / "run")) == ["motor"]
    with pytest.raises(ValueError, match="neither a model file nor"):
        load_watch_models(tmp_path / "data")


def test_a_file_seen_written_waits_for_its_close_past_the_settle_time(tmp_path):
    import threading

    from sklasd.monitor._arrivals import Arrivals

    arrivals = Arrivals([tmp_path], set(), settle=0.2)
    if not arrivals.closes:
        arrivals.stop()
        pytest.skip("no inotify observer on this system")
    path = tmp_path / "slow.wav"
    closing = threading.Event()

    def write():
        with open(path, "wb") as f:
            f.write(b"RIFF" + bytes(1000))
            f.flush()
            time.sleep(1.0)  # paused five times the settle time, still open
            f.write(bytes(1000))
            closing.set()

    writer = threading.Thread(target=write)
    try:
        writer.start()
        taken = []
        while not closing.is_set():
            taken += arrivals.take(timeout=0.1)
            assert taken == [] or closing.is_set(), "handed out before its close"
        _wait_for(lambda: taken.extend(arrivals.take(timeout=0.1)) or taken, timeout=10,
                  what="the closed file")
        assert taken == [str(path)]
    finally:
        writer.join()
        arrivals.stop()
