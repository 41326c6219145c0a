import numpy as np
import pytest

from sklasd.datasets import load_toyadmos

SR = 48000  # ToyADMOS is published at 48 kHz


def _name(code, toy, case, condition, rec, ch, number):
    return f"{code}_{toy}_{case}_{condition}_{rec}_ch{ch}_{number:04d}.wav"


@pytest.fixture
def toyadmos_folder(tmp_path, write_wav):
    """ToyCar case1 (IND normal/anomalous, CNT normal, 4 channels) + noise, ToyConveyor case2."""
    def put(toy, case, folder, condition, rec, number, channels=(1, 2, 3, 4)):
        for ch in channels:
            name = _name("1100010001", toy, case, condition, rec, ch, number)
            write_wav(tmp_path / toy / case / folder / name, sr=SR, duration=0.02)

    for n in (1, 2):
        put("ToyCar", "case1", "NormalSound_IND", "normal", "IND", n)
    put("ToyCar", "case1", "AnomalousSound_IND", "ab01", "IND", 1)
    put("ToyCar", "case1", "NormalSound_CNT", "normal", "CNT", 1)
    put("ToyConveyor", "case2", "NormalSound_IND", "normal", "IND", 1, channels=(1,))
    put("ToyConveyor", "case2", "AnomalousSound_IND", "ab12", "IND", 3, channels=(1,))
    write_wav(tmp_path / "ToyCar" / "EnvironmentalNoise_CNT" / "noise_ch1_0001.wav", sr=SR,
              duration=0.02)
    return tmp_path


def test_toyadmos_layout(toyadmos_folder):
    bunch = load_toyadmos(toyadmos_folder)
    assert len(bunch.data) == 4 * 4 + 2  # noise excluded
    assert not any("EnvironmentalNoise" in f for f in bunch.filenames)
    anomalous = np.array(["/AnomalousSound_IND/" in f for f in bunch.filenames])
    np.testing.assert_array_equal(bunch.target, anomalous.astype(int))
    np.testing.assert_array_equal(
        bunch.machine_id, np.where(["/case1/" in f for f in bunch.filenames], "case1", "case2"))
    assert sorted(set(bunch.machine_type)) == ["ToyCar", "ToyConveyor"]
    assert bunch.sr == SR
    car = bunch.frame[bunch.frame.machine_type == "ToyCar"]
    assert car["channel"].value_counts().sort_index().to_dict() == {1: 4, 2: 4, 3: 4, 4: 4}
    assert car["recording"].value_counts().to_dict() == {"IND": 12, "CNT": 4}
    conditions = bunch.attributes["condition"]
    assert set(conditions[bunch.target == 1]) == {"ab01", "ab12"}
    assert set(conditions[bunch.target == 0]) == {"normal"}


def test_toyadmos_one_channel(toyadmos_folder):
    bunch = load_toyadmos(toyadmos_folder / "ToyCar", channel=1)
    assert len(bunch.data) == 4
    assert all("_ch1_" in f for f in bunch.filenames)
    assert list(bunch.target) == [1, 0, 0, 0]  # AnomalousSound_IND sorts first
    with pytest.raises(ValueError, match="channel"):
        load_toyadmos(toyadmos_folder, channel=5)


def test_toyadmos_name_contradicting_folder(toyadmos_folder, write_wav):
    bad = toyadmos_folder / "ToyCar" / "case1" / "AnomalousSound_IND" / _name(
        "1100010001", "ToyCar", "case1", "normal", "IND", 1, 7)
    write_wav(bad, sr=SR, duration=0.02)
    with pytest.raises(ValueError, match=bad.name):
        load_toyadmos(toyadmos_folder)


def test_toyadmos_unknown_folder_or_name(toyadmos_folder, write_wav):
    bad = write_wav(toyadmos_folder / "ToyCar" / "case1" / "Other" / "x.wav")
    with pytest.raises(ValueError, match=r"case1/Other/x\.wav"):
        load_toyadmos(toyadmos_folder)


def test_toyadmos_only_noise_is_an_error(tmp_path, write_wav):
    write_wav(tmp_path / "ToyTrain" / "EnvironmentalNoise_CNT" / "n.wav")
    with pytest.raises(ValueError, match="no usable audio"):
        load_toyadmos(tmp_path)
