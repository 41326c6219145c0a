import numpy as np
import pandas as pd
import pytest

from sklasd.datasets import load_dcase2020_task2, load_dcase2021_task2
from sklasd.datasets._dcase import parse_attributes


def _check_against_manifest(bunch, manifest):
    assert list(bunch.data) == list(manifest["abs"])
    assert list(bunch.filenames) == list(manifest["abs"])
    np.testing.assert_array_equal(bunch.target, manifest["target"].astype(int))
    assert bunch.target.dtype == np.int64
    for key in ("machine_type", "machine_id", "split", "domain"):
        np.testing.assert_array_equal(bunch[key], manifest[key])
    np.testing.assert_array_equal(bunch.frame["sr"], manifest["sample_rate"].astype(int))


def test_dcase2020_lite_matches_manifest(dcase2020_lite, read_manifest):
    bunch = load_dcase2020_task2(dcase2020_lite)
    manifest = read_manifest(dcase2020_lite)
    _check_against_manifest(bunch, manifest)
    assert len(bunch.data) == 111
    assert int(bunch.target.sum()) == 18
    assert bunch.sr == 16000
    assert bunch.attributes.shape == (111, 0)
    assert set(bunch.keys()) == {"data", "sr", "filenames", "target", "machine_type",
                                 "machine_id", "split", "domain", "attributes", "frame",
                                 "DESCR"}
    assert "DCASE 2020" in bunch.DESCR
    train = bunch.split == "train"
    assert set(bunch.machine_type[train]) == {"slider"}
    assert set(bunch.machine_id[train]) == {"id_00"} and train.sum() == 75


def test_dcase2020_single_type_folder(dcase2020_lite, read_manifest):
    bunch = load_dcase2020_task2(dcase2020_lite / "slider")
    manifest = read_manifest(dcase2020_lite)
    _check_against_manifest(bunch, manifest[manifest["machine_type"] == "slider"]
                            .reset_index(drop=True))
    assert (bunch.split == "train").sum() == 75 and (bunch.split == "test").sum() == 6


def test_dcase2020_without_split_level(tmp_path, write_wav):
    for name in ("normal_id_00_00000001.wav", "anomaly_id_02_00000000.wav"):
        write_wav(tmp_path / "fan" / name)
    bunch = load_dcase2020_task2(tmp_path)
    assert list(bunch.split) == ["", ""]
    assert list(bunch.machine_type) == ["fan", "fan"]
    assert list(bunch.machine_id) == ["id_02", "id_00"]  # sorted: anomaly_ before normal_
    assert list(bunch.target) == [1, 0]


def test_return_X_y_and_as_frame(dcase2020_lite):
    data, target = load_dcase2020_task2(dcase2020_lite, return_X_y=True)
    bunch = load_dcase2020_task2(dcase2020_lite)
    np.testing.assert_array_equal(data, bunch.data)
    np.testing.assert_array_equal(target, bunch.target)

    framed = load_dcase2020_task2(dcase2020_lite, as_frame=True)
    assert isinstance(framed.data, pd.DataFrame) and "target" not in framed.data
    assert isinstance(framed.target, pd.Series)
    pd.testing.assert_frame_equal(framed.frame, bunch.frame)
    X, y = load_dcase2020_task2(dcase2020_lite, return_X_y=True, as_frame=True)
    assert list(X.columns) == [c for c in bunch.frame.columns if c != "target"]
    np.testing.assert_array_equal(y.to_numpy(), bunch.target)


def test_dcase2023_valve_matches_manifest(dcase2023_valve, read_manifest):
    bunch = load_dcase2021_task2(dcase2023_valve)
    manifest = read_manifest(dcase2023_valve)
    _check_against_manifest(bunch, manifest)
    np.testing.assert_array_equal(bunch.frame["section"], manifest["section"])
    counts = bunch.frame[bunch.split == "test"].groupby(["domain", "target"]).size()
    assert counts.to_dict() == {("source", 0): 50, ("source", 1): 50,
                                ("target", 0): 50, ("target", 1): 50}
    # the pat attribute is the name's last field
    expected_pat = [p.rsplit("_", 1)[1][:-4] for p in manifest["path"]]
    assert list(bunch.attributes.columns) == ["pat"]
    assert list(bunch.attributes["pat"]) == expected_pat
    assert list(bunch.frame["pat"]) == expected_pat


def test_dcase2022_style_attributes(tmp_path, write_wav):
    names = {
        "ToyCar/train/section_01_source_train_normal_0000_car_A1_spd_28V_mic_1_noise_1.wav",
        "bearing/test/section_00_target_test_anomaly_0003_vel_8_loc_A.wav",
        "fan/test/section_02_source_test_normal_0007_noAttribute.wav",
        "pump/source_test/section_00_source_test_anomaly_0001.wav",
        "gearbox/train/section_03_train_normal_0005.wav",  # no domain word
    }
    for name in names:
        write_wav(tmp_path / name)
    bunch = load_dcase2021_task2(tmp_path)
    frame = bunch.frame.set_index("machine_type")
    assert frame.loc["ToyCar", "machine_id"] == "section_01"
    assert frame.loc["ToyCar", "section"] == "01"
    assert frame.loc["ToyCar", "spd"] == "28V" and frame.loc["ToyCar", "mic"] == "1"
    assert frame.loc["bearing", "vel"] == "8" and frame.loc["bearing", "loc"] == "A"
    assert frame.loc["bearing", "domain"] == "target" and frame.loc["bearing", "target"] == 1
    assert frame.loc["fan", "vel"] == "" and frame.loc["fan", "clip_number"] == "0007"
    assert frame.loc["pump", "split"] == "test" and frame.loc["pump", "target"] == 1
    assert frame.loc["gearbox", "domain"] == "" and frame.loc["gearbox", "split"] == "train"
    assert {"car", "spd", "mic", "noise", "vel", "loc"} <= set(bunch.attributes.columns)


def test_attributes_csv_adds_attributes(tmp_path, write_wav):
    """DCASE 2022+ attributes_XX.csv: name/value pairs per file, read by file name."""
    names = ["gearbox/train/section_00_source_train_normal_0000_noAttribute.wav",
             "gearbox/test/section_00_target_test_normal_0001_volt_1.0.wav",
             "fan/train/section_00_source_train_normal_0000_noAttribute.wav"]
    for name in names:
        write_wav(tmp_path / name)
    (tmp_path / "gearbox" / "attributes_00.csv").write_text(
        "file_name,d1p,d1v,d2p,d2v\n"
        f"{names[0]},volt,1.3,wt,30\n"
        f"{names[1]},volt,1.0,,\n")
    frame = load_dcase2021_task2(tmp_path).frame.set_index("machine_type")
    gearbox = frame.loc["gearbox"].set_index("split")
    assert gearbox.loc["train", "volt"] == "1.3" and gearbox.loc["train", "wt"] == "30"
    assert gearbox.loc["test", "volt"] == "1.0" and gearbox.loc["test", "wt"] == ""
    assert frame.loc["fan", "volt"] == ""  # no table in its folder
    (tmp_path / "gearbox" / "attributes_01.csv").write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="attributes_01.csv: not a DCASE attributes table"):
        load_dcase2021_task2(tmp_path)


@pytest.mark.parametrize("rest, expected", [
    ("0000_pat_01", ("0000", {"pat": "01"})),
    ("0012_vel_8_loc_A", ("0012", {"vel": "8", "loc": "A"})),
    ("0000_noAttribute", ("0000", {})),
    ("0003_strength_1_ambient", ("0003", {"attribute": "strength_1_ambient"})),
    (None, ("", {})),
])
def test_parse_attributes(rest, expected):
    assert parse_attributes(rest) == expected


@pytest.mark.parametrize("loader, good", [
    (load_dcase2020_task2, "normal_id_00_00000000.wav"),
    (load_dcase2021_task2, "section_00_source_train_normal_0000.wav"),
])
def test_unparseable_name_names_the_path(tmp_path, write_wav, loader, good):
    write_wav(tmp_path / "fan" / "train" / good)
    write_wav(tmp_path / "fan" / "train" / "recording 1.wav")
    write_wav(tmp_path / "fan" / "train" / "zz_later_bad.wav")
    with pytest.raises(ValueError, match=r"fan/train/recording 1\.wav"):
        loader(tmp_path)


@pytest.mark.parametrize("loader", [load_dcase2020_task2, load_dcase2021_task2])
def test_empty_or_missing_folder(tmp_path, loader):
    (tmp_path / "fan").mkdir()
    (tmp_path / "fan" / "notes.txt").write_text("no audio here")
    with pytest.raises(ValueError, match="no audio files"):
        loader(tmp_path)
    with pytest.raises(ValueError, match="not an existing folder"):
        loader(tmp_path / "missing")


def test_corrupt_file_is_listed_and_decoding_names_it(tmp_path, write_wav):
    write_wav(tmp_path / "fan" / "test" / "normal_id_00_00000000.wav")
    bad = tmp_path / "fan" / "test" / "anomaly_id_00_00000000.wav"
    bad.write_bytes(b"RIFF garbage")
    bunch = load_dcase2020_task2(tmp_path)
    assert bunch.frame["sr"].tolist() == [0, 16000]  # unreadable header: rate 0
    assert bunch.sr == 16000
    from sklasd.audio import AudioError, load_audio

    with pytest.raises(AudioError, match="anomaly_id_00_00000000.wav"):
        load_audio(bunch.data[0])
