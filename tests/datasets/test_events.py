import pytest

from sklasd.datasets import load_dcase2016_task2


def test_dcase2016_events_match_manifest(dcase2016_events, read_manifest):
    bunch = load_dcase2016_task2(dcase2016_events)
    manifest = read_manifest(dcase2016_events)
    assert list(bunch.data) == list(manifest["abs"])
    assert list(bunch.target) == list(manifest["label"])
    counts = bunch.frame["target"].value_counts()
    assert len(counts) == 11 and set(counts) == {20}
    assert "keysDrop" in counts.index
    assert bunch.sr == 44100
    assert set(bunch.machine_id) == {""}
    assert list(bunch.frame["event_number"][:1]) == ["002"]


def test_dcase2016_return_X_y(dcase2016_events):
    X, y = load_dcase2016_task2(dcase2016_events / "dcase2016_task2_train", return_X_y=True)
    assert X.shape == y.shape == (220,)


def test_dcase2016_bad_name(tmp_path, write_wav):
    write_wav(tmp_path / "cough001.wav")
    write_wav(tmp_path / "door_slam.wav")
    with pytest.raises(ValueError, match=r"door_slam\.wav"):
        load_dcase2016_task2(tmp_path)
