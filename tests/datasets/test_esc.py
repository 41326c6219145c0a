import pandas as pd
import pytest

from sklasd.datasets import load_esc50

# (file name, category, esc10) rows of the real meta/esc50.csv
ROWS = [("1-100032-A-0.wav", "dog", True), ("1-100038-A-14.wav", "chirping_birds", False),
        ("2-102414-B-41.wav", "chainsaw", True), ("5-9032-A-0.wav", "dog", True),
        ("3-103050-A-19.wav", "thunderstorm", False)]


@pytest.fixture
def esc_folder(tmp_path, write_wav):
    root = tmp_path / "ESC-50-master"
    for name, _, _ in ROWS:
        write_wav(root / "audio" / name, sr=44100, duration=0.02)
    meta = pd.DataFrame({
        "filename": [r[0] for r in ROWS],
        "fold": [int(r[0].split("-")[0]) for r in ROWS],
        "target": [int(r[0][:-4].split("-")[3]) for r in ROWS],
        "category": [r[1] for r in ROWS], "esc10": [r[2] for r in ROWS],
        "src_file": [r[0].split("-")[1] for r in ROWS], "take": [r[0].split("-")[2] for r in ROWS],
    })
    (root / "meta").mkdir()
    meta.to_csv(root / "meta" / "esc50.csv", index=False)
    return root


def test_esc50_labels_from_csv(esc_folder):
    bunch = load_esc50(esc_folder)
    expected = dict((name, cat) for name, cat, _ in ROWS)
    names = [f.rsplit("/", 1)[1] for f in bunch.filenames]
    assert names == sorted(expected)
    assert list(bunch.target) == [expected[n] for n in names]
    assert list(bunch.frame["fold"]) == [int(n.split("-")[0]) for n in names]
    assert set(bunch.machine_type) == {""} and set(bunch.split) == {""}
    assert bunch.sr == 44100


def test_esc10_subset(esc_folder):
    bunch = load_esc50(esc_folder / "audio", esc10=True)  # meta found beside audio/
    assert sorted(bunch.target) == ["chainsaw", "dog", "dog"]


def test_esc50_without_csv(esc_folder):
    (esc_folder / "meta" / "esc50.csv").unlink()
    bunch = load_esc50(esc_folder)
    assert sorted(bunch.target) == ["0", "0", "14", "19", "41"]
    assert bunch.target.dtype.kind == "U"
    assert sorted(load_esc50(esc_folder, esc10=True).target) == ["0", "0", "41"]


def test_esc50_bad_name(esc_folder, write_wav):
    write_wav(esc_folder / "audio" / "1-100032-0.wav")
    with pytest.raises(ValueError, match=r"audio/1-100032-0\.wav"):
        load_esc50(esc_folder)


def test_esc50_class_missing_from_csv(esc_folder, write_wav):
    write_wav(esc_folder / "audio" / "1-1-A-49.wav")
    with pytest.raises(ValueError, match="1-1-A-49.wav.*class id 49"):
        load_esc50(esc_folder)
