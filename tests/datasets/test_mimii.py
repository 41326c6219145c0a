import numpy as np
import pytest

from sklasd.datasets import load_mimii


@pytest.fixture
def mimii_folder(tmp_path, write_wav):
    """-6_dB/valve/id_00, id_02 and 6_dB/valve/id_00, with normal and abnormal clips."""
    layout = {("-6_dB", "id_00"): (3, 2), ("-6_dB", "id_02"): (2, 1), ("6_dB", "id_00"): (1, 1)}
    for (snr, machine_id), (n_normal, n_abnormal) in layout.items():
        for condition, n in (("normal", n_normal), ("abnormal", n_abnormal)):
            for k in range(n):
                write_wav(tmp_path / snr / "valve" / machine_id / condition / f"{k:08d}.wav")
    return tmp_path


def test_mimii_labels_ids_and_snr(mimii_folder):
    bunch = load_mimii(mimii_folder)
    assert len(bunch.data) == 10
    assert int(bunch.target.sum()) == 4
    abnormal = np.array(["/abnormal/" in f for f in bunch.filenames])
    np.testing.assert_array_equal(bunch.target, abnormal.astype(int))
    assert set(bunch.machine_type) == {"valve"}
    assert sorted(set(bunch.machine_id)) == ["id_00", "id_02"]
    assert set(bunch.split) == {""} and set(bunch.domain) == {""}
    snr = bunch.attributes["snr_db"].to_numpy()
    np.testing.assert_array_equal(snr, np.where(["/-6_dB/" in f for f in bunch.filenames],
                                                "-6", "6"))
    assert bunch.sr == 16000
    assert list(bunch.data) == sorted(bunch.data)


def test_mimii_machine_type_folder(mimii_folder):
    bunch = load_mimii(mimii_folder / "-6_dB" / "valve")
    assert len(bunch.data) == 8
    assert set(bunch.attributes["snr_db"]) == {"-6"}  # read from the folder above


def test_mimii_bad_path_is_named(mimii_folder, write_wav):
    write_wav(mimii_folder / "-6_dB" / "valve" / "id_00" / "00000099.wav")
    with pytest.raises(ValueError, match=r"valve/id_00/00000099\.wav"):
        load_mimii(mimii_folder)


def test_mimii_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no audio files"):
        load_mimii(tmp_path)


def test_mixed_sample_rates_give_sr_none(tmp_path, write_wav):
    write_wav(tmp_path / "fan" / "id_00" / "normal" / "00000000.wav", sr=16000)
    write_wav(tmp_path / "fan" / "id_00" / "normal" / "00000001.wav", sr=8000)
    bunch = load_mimii(tmp_path)
    assert bunch.sr is None
    assert list(bunch.frame["sr"]) == [16000, 8000]
