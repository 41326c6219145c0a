import pandas as pd
import pytest

from sklasd.datasets import load_urbansound8k
from sklasd.datasets._urbansound import URBANSOUND8K_CLASSES


def test_urbansound_mini_matches_manifest(urbansound_mini, read_manifest):
    manifest = read_manifest(urbansound_mini)
    for root in (urbansound_mini, urbansound_mini / "UrbanSound8K",
                 urbansound_mini / "UrbanSound8K" / "audio"):
        bunch = load_urbansound8k(root)
        assert list(bunch.data) == list(manifest["abs"])
        assert list(bunch.target) == list(manifest["label"])
        assert list(bunch.frame["fold"]) == list(manifest["fold"].astype(int))
        assert list(bunch.frame["class_id"]) == list(manifest["class_id"].astype(int))
    assert bunch.sr == 22050
    assert bunch.frame["target"].value_counts().to_dict() == {c: 3 for c in
                                                              URBANSOUND8K_CLASSES.values()}
    assert "salience" not in bunch.frame  # no metadata CSV in the mini set


def test_urbansound_with_metadata_csv(tmp_path, write_wav):
    root = tmp_path / "UrbanSound8K"
    names = {"100032-3-0-0.wav": 5, "100263-2-0-117.wav": 5, "7061-6-0-0.wav": 10}
    for name, fold in names.items():
        write_wav(root / "audio" / f"fold{fold}" / name, sr=44100, duration=0.02)
    meta = pd.DataFrame({
        "slice_file_name": list(names), "fsID": [int(n.split("-")[0]) for n in names],
        "start": 0.0, "end": 0.5, "salience": [1, 2, 1], "fold": list(names.values()),
        "classID": [3, 2, 6], "class": ["dog_bark", "children_playing", "gun_shot"],
    })
    (root / "metadata").mkdir()
    meta.to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    bunch = load_urbansound8k(root)
    by_name = bunch.frame.assign(name=[f.rsplit("/", 1)[1] for f in bunch.filenames]) \
        .set_index("name")
    assert by_name.loc["7061-6-0-0.wav", "target"] == "gun_shot"
    assert by_name.loc["7061-6-0-0.wav", "fold"] == 10
    assert by_name.loc["100263-2-0-117.wav", "salience"] == 2
    assert by_name.loc["100263-2-0-117.wav", "slice_id"] == 117


def test_urbansound_bad_name_and_missing_fold(tmp_path, write_wav):
    write_wav(tmp_path / "audio" / "fold1" / "100032-3-0.wav")
    with pytest.raises(ValueError, match=r"fold1/100032-3-0\.wav"):
        load_urbansound8k(tmp_path)
    (tmp_path / "audio" / "fold1" / "100032-3-0.wav").unlink()
    write_wav(tmp_path / "audio" / "100032-3-0-0.wav")
    with pytest.raises(ValueError, match="fold<k>"):
        load_urbansound8k(tmp_path)
