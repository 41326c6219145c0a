"""Tests of the run report (sklasd/report.py) and of ``sklasd report``."""
import re
from html.parser import HTMLParser

import matplotlib
import matplotlib.image

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import soundfile as sf  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402

from sklasd.cli import main  # noqa: E402
from sklasd.datasets import make_machine_sounds  # noqa: E402
from sklasd.features import LogMelTransformer  # noqa: E402
from sklasd.metrics import anomaly_report  # noqa: E402
from sklasd.pipeline import Pipeline  # noqa: E402
from sklasd.report import render_report, write_report  # noqa: E402


class _Level(BaseEstimator):
    """Score: mean log-mel level above the training mean; no anomaly map."""

    def fit(self, X, y=None):
        self.mean_ = float(np.mean([np.mean(x) for x in X]))
        self.threshold_ = float(np.quantile(self.anomaly_score(X), 0.9))
        return self

    def anomaly_score(self, X):
        return np.array([np.mean(x) - self.mean_ + 50.0 for x in X])


class _Loudness(_Level):
    """The same with the interface's ``anomaly_map``: the excess level per bin."""

    def anomaly_map(self, X):
        return [np.clip(np.asarray(x) - self.mean_, 0, None).astype(np.float32) for x in X]


def _pipeline(detector):
    return Pipeline([("logmel", LogMelTransformer(n_mels=32)), ("detector", detector)])


@pytest.fixture(scope="module")
def run_parts():
    bunch = make_machine_sounds(n_normal=8, n_anomalous=3, duration=1.0, random_state=0)
    frame = bunch.frame
    train = (frame["split"] == "train").to_numpy()
    model = _pipeline(_Loudness()).fit(bunch.data[train])
    results = frame.loc[~train, ["filename", "machine_type", "machine_id", "domain",
                                 "target"]].reset_index(drop=True)
    results["domain"] = ""
    results["anomaly_score"] = model.anomaly_score(bunch.data[~train])
    metrics = anomaly_report(results["target"], results["anomaly_score"],
                             machine_type=results["machine_type"],
                             machine_id=results["machine_id"])
    audio = dict(zip(frame["filename"], bunch.data))
    return results, metrics, model, audio


class _Page(HTMLParser):
    """The parts of a report page: tags (with the clip they are in) and texts."""

    def __init__(self, page):
        super().__init__()
        self.tags, self.clips, self.texts = [], [], {}
        self._divs, self._clip, self._span = [], None, None
        self.feed(page)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "div":
            self._divs.append(attrs.get("class"))
            if attrs.get("class") == "clip":
                self._clip = len(self.clips)
                self.clips.append({"tags": [], "regions": ""})
        if tag == "span":
            self._span = attrs.get("class")
        self.tags.append((tag, attrs))
        if self._clip is not None:
            self.clips[self._clip]["tags"].append((tag, attrs))

    def handle_endtag(self, tag):
        if tag == "div" and self._divs.pop() == "clip":
            self._clip = None
        if tag == "span":
            self._span = None

    def handle_data(self, data):
        if self._span == "regions" and self._clip is not None:
            self.clips[self._clip]["regions"] += data
        self.texts.setdefault(self.lasttag, []).append(data)

    def sources(self):
        return [a.get("src") or a.get("href") for _, a in self.tags
                if a.get("src") or a.get("href")]


def _payload(src):
    import base64
    import io

    return io.BytesIO(base64.b64decode(src.split(",", 1)[1]))


def _check_self_contained(page):
    sources = page.sources()
    assert sources and not [s for s in sources if "://" in s or s.startswith("//")]
    assert not [t for t, a in page.tags if t in ("script", "link", "iframe")]


def test_report_has_every_part_and_no_external_url(run_parts, tmp_path):
    results, metrics, model, audio = run_parts
    path = write_report(tmp_path, results, metrics, {"motor": model}, audio=audio,
                        n_top=2, n_near=2)
    page = _Page(path.read_text(encoding="utf-8"))
    _check_self_contained(page)
    headers = page.texts["th"]
    assert {"AUC", "pAUC", "machine_id"} <= set(headers)  # the metrics table
    alts = [a.get("alt") for t, a in page.tags if t == "img"]
    assert alts.count("roc of motor") == 1 and alts.count("histogram of motor") == 1
    assert len(page.clips) == 4
    for clip in page.clips:
        kinds = {t: a for t, a in clip["tags"]}
        assert kinds["img"]["src"].startswith("data:image/png;base64,")
        assert matplotlib.image.imread(_payload(kinds["img"]["src"])).shape[0] > 100
        assert kinds["audio"]["src"].startswith("data:audio/wav;base64,")
        assert sf.info(_payload(kinds["audio"]["src"])).duration == 1.0
        assert "controls" in kinds["audio"]
        assert clip["regions"].strip()  # the regions in words (or "-")
    headings = page.texts["h3"]
    assert headings == ["Most anomalous clips", "Clips next to the threshold"]


def test_clips_shown_are_the_top_and_those_next_to_the_threshold(run_parts):
    results, metrics, model, audio = run_parts
    scores = results["anomaly_score"].to_numpy()
    noted = results.assign(notes=np.where(scores == scores.max(), "duration 0.5 s", ""))
    page = render_report(noted, metrics, {"motor": model}, audio=audio, n_top=1,
                         n_near=1)
    names = _Page(page).texts["h4"]
    assert page.count("Note: duration 0.5 s") == 1
    top = results["filename"][np.argmax(scores)].split("/")[-1]
    others = np.abs(scores - model[-1].threshold_)
    others[np.argmax(scores)] = np.inf
    near = results["filename"][np.argmin(others)].split("/")[-1]
    assert names == [top, near]


def test_large_audio_file_is_linked_and_unlabeled_clips_get_no_roc(run_parts, tmp_path):
    results, metrics, model, audio = run_parts
    rows = results.iloc[:3].copy()
    for i, name in enumerate(rows["filename"]):
        rows.loc[i, "filename"] = str(tmp_path / "audio" / f"clip {i}.wav")
        (tmp_path / "audio").mkdir(exist_ok=True)
        sf.write(rows.loc[i, "filename"], audio[name], 16000)
    rows["target"] = -1
    out = tmp_path / "out"
    path = write_report(out, rows, metrics, {"motor": model}, max_embed_bytes=1000)
    page = _Page(path.read_text(encoding="utf-8"))
    _check_self_contained(page)
    players = [a["src"] for t, a in page.tags if t == "audio"]
    assert sorted(players) == [f"../audio/clip%20{i}.wav" for i in (0, 1, 2)]
    alts = [a.get("alt") for t, a in page.tags if t == "img"]
    assert "roc of motor" not in alts and "histogram of motor" in alts


def test_model_without_map_shows_spectrograms_only(run_parts):
    results, metrics, model, audio = run_parts
    plain = _pipeline(_Level()).fit(list(audio.values())[:4])
    page = _Page(render_report(results, metrics, {"motor": plain}, audio=audio,
                               n_top=1, n_near=0))
    (clip,) = page.clips
    assert [t for t, _ in clip["tags"]].count("img") == 1
    assert clip["regions"] == "no anomaly map: this model does not compute one"


def test_write_report_refuses_an_existing_page(run_parts, tmp_path):
    results, metrics, model, audio = run_parts
    (tmp_path / "report.html").write_text("mine")
    with pytest.raises(ValueError, match="exists"):
        write_report(tmp_path, results, metrics, {"motor": model}, audio=audio)
    assert (tmp_path / "report.html").read_text() == "mine"


def test_run_writes_the_report_and_report_rebuilds_it(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "-o", str(out), "--quiet"]) == 0
    page = _Page((out / "report.html").read_text(encoding="utf-8"))
    _check_self_contained(page)
    assert len(page.clips) == 6 and [t for t, _ in page.tags].count("audio") == 6
    top = page.clips[0]["regions"]  # the default pipeline's map, in words
    # times and bands to 0.1, or finer where a region is narrower (describe_regions)
    assert re.fullmatch(r"\d+\.\d+-\d+\.\d+ s, \d+\.\d+-\d+\.\d+ kHz(; .*)?", top), top
    (out / "report.html").unlink()
    assert main(["report", str(out), "--quiet"]) == 0
    again = _Page((out / "report.html").read_text(encoding="utf-8"))
    assert again.texts["h4"] == page.texts["h4"]
    assert [a for t, a in again.tags if t == "audio"] == [
        a for t, a in page.tags if t == "audio"]  # the generated clips, made again
    assert main(["run", "-o", str(out), "--quiet", "--overwrite"]) == 0  # .html replaced


def test_no_report_then_report_later(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", "-o", str(out), "--quiet", "--no-report"]) == 0
    assert not (out / "report.html").exists() and (out / "report_data.json").is_file()
    elsewhere = tmp_path / "page.html"
    assert main(["report", str(out), "-o", str(elsewhere), "--quiet"]) == 0
    assert elsewhere.is_file()
    assert main(["report", str(out), "-o", str(elsewhere), "--quiet"]) == 2  # exists
    assert main(["report", str(tmp_path), "--quiet"]) == 2  # not a run folder
    assert "not a folder written by `sklasd run`" in capsys.readouterr().err


def test_report_of_a_real_folder_embeds_its_files(dcase2023_valve, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(dcase2023_valve), "-o", str(out), "--quiet"]) == 0
    page = _Page((out / "report.html").read_text(encoding="utf-8"))
    _check_self_contained(page)
    alts = [a.get("alt") for t, a in page.tags if t == "img"]
    assert alts.count("roc of valve") == 1 and alts.count("histogram of valve") == 1
    assert len(page.clips) == 6
    assert all(a["src"].startswith("data:audio/wav;base64,")
               for t, a in page.tags if t == "audio")


def test_rebuild_after_the_recordings_moved_says_so(machine_folder, tmp_path, capsys):
    import shutil

    data = shutil.copytree(machine_folder, tmp_path / "motor")
    out = tmp_path / "run"
    assert main(["run", str(data), "-o", str(out), "--quiet"]) == 0
    shutil.rmtree(data)
    assert main(["report", str(out), "--quiet"]) == 0
    page = _Page((out / "report.html").read_text(encoding="utf-8"))
    assert len(page.clips) == 6 and not [t for t, _ in page.tags if t == "audio"]
    notes = " ".join(page.texts["p"])
    assert notes.count("audio file not found") == 6 and "no spectrogram" in notes
