import re
import zipfile

import pooch
import pytest
import requests

from sklasd.datasets import (fetch_dcase2020_task2, fetch_esc50, fetch_mimii, fetch_toyadmos,
                             fetch_urbansound8k, get_sklasd_data_home)
from sklasd.datasets import _fetch

FETCHERS = [
    (lambda **kw: fetch_dcase2020_task2("fan", **kw), "zenodo.org/records/3678171",
     "load_dcase2020_task2"),
    (lambda **kw: fetch_dcase2020_task2("valve", subset="additional_train", **kw),
     "zenodo.org/records/3727685", "load_dcase2020_task2"),
    (lambda **kw: fetch_mimii("pump", snr_db=-6, **kw), "zenodo.org/records/3384388",
     "load_mimii"),
    (lambda **kw: fetch_toyadmos("ToyCar", **kw), "zenodo.org/records/3351307",
     "load_toyadmos"),
    (lambda **kw: fetch_esc50(**kw), "github.com/karolpiczak/ESC-50", "load_esc50"),
    (lambda **kw: fetch_urbansound8k(**kw), "zenodo.org/records/1203745",
     "load_urbansound8k"),
]


@pytest.fixture
def offline(monkeypatch):
    def fail(url, **kwargs):
        raise requests.exceptions.ConnectionError(f"Failed to resolve host for {url}")
    monkeypatch.setattr(pooch, "retrieve", fail)


@pytest.mark.parametrize("fetch, url, loader", FETCHERS)
def test_offline_error_names_url_and_manual_route(tmp_path, offline, fetch, url, loader):
    with pytest.raises(OSError) as info:
        fetch(data_home=tmp_path)
    message = str(info.value)
    assert url in message and loader in message and "yourself" in message


@pytest.mark.parametrize("fetch, url, loader", FETCHERS)
def test_download_if_missing_false(tmp_path, fetch, url, loader):
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch(data_home=tmp_path, download_if_missing=False)


def test_unpacked_folder_is_used_without_network(tmp_path, write_wav):
    # the autouse no_network fixture fails the test if pooch.retrieve is called
    folder = get_sklasd_data_home(tmp_path) / "dcase2020_task2" / "dev_data" / "fan"
    write_wav(folder / "train" / "normal_id_00_00000000.wav")
    write_wav(folder / "test" / "anomaly_id_00_00000000.wav")
    bunch = fetch_dcase2020_task2("fan", data_home=tmp_path)
    assert list(bunch.target) == [1, 0] and list(bunch.split) == ["test", "train"]
    assert str(folder) in bunch.filenames[0]


def test_mimii_unpacked_folder_is_used(tmp_path, write_wav):
    folder = get_sklasd_data_home(tmp_path) / "mimii" / "0_dB" / "slider"
    write_wav(folder / "id_04" / "normal" / "00000000.wav")
    bunch = fetch_mimii("slider", snr_db=0, data_home=tmp_path)
    assert list(bunch.machine_id) == ["id_04"]
    assert list(bunch.attributes["snr_db"]) == ["0"]


def test_downloaded_archive_is_unpacked_and_loaded(tmp_path, write_wav, monkeypatch):
    source = write_wav(tmp_path / "src" / "1-100032-A-0.wav", sr=44100)
    archive = tmp_path / "ESC-50-master.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(source, "ESC-50-master/audio/1-100032-A-0.wav")
    calls = []

    def fake_retrieve(url, known_hash, fname, path, progressbar):
        calls.append((url, known_hash, fname))
        return str(archive)
    monkeypatch.setattr(pooch, "retrieve", fake_retrieve)
    bunch = fetch_esc50(data_home=tmp_path / "home")
    assert calls == [("https://github.com/karolpiczak/ESC-50/archive/master.zip", None,
                      "ESC-50-master.zip")]
    assert list(bunch.target) == ["0"] and bunch.sr == 44100
    fetch_esc50(data_home=tmp_path / "home")  # second call: cached, no download
    assert len(calls) == 1


def test_wrong_size_is_reported(tmp_path, monkeypatch):
    archive = tmp_path / "dev_data_fan.zip"
    archive.write_bytes(b"truncated")
    monkeypatch.setattr(pooch, "retrieve", lambda *a, **k: str(archive))
    with pytest.raises(OSError, match="expected 1354774772"):
        fetch_dcase2020_task2("fan", data_home=tmp_path / "home")


def test_toyadmos_unpack_needs_7z(tmp_path, monkeypatch):
    part = tmp_path / "ToyCar.7z.001"
    part.write_bytes(b"x")
    monkeypatch.setattr(_fetch, "_download", lambda remote, *a: str(part))
    monkeypatch.setattr(_fetch.shutil, "which", lambda name: None)
    with pytest.raises(OSError, match=r"7z x .*ToyCar\.7z\.001.*load_toyadmos"):
        fetch_toyadmos("ToyCar", data_home=tmp_path / "home")


@pytest.mark.parametrize("call", [
    lambda: fetch_dcase2020_task2("drill"), lambda: fetch_dcase2020_task2("fan", subset="eval"),
    lambda: fetch_mimii("fan", snr_db=3), lambda: fetch_toyadmos("ToyPlane"),
])
def test_bad_choices(call):
    with pytest.raises(ValueError, match="must be one of"):
        call()


def test_checksum_tables_are_well_formed():
    hashes = [md5 for table in _fetch._DCASE2020.values() for md5, _ in table.values()]
    hashes += [md5 for md5, _ in _fetch._MIMII.values()]
    hashes += [md5 for parts in _fetch._TOYADMOS.values() for md5, _ in parts]
    hashes.append(_fetch._URBANSOUND8K.known_hash[4:])
    assert len(hashes) == 12 + 12 + 24 + 1 == len(set(hashes))
    assert all(re.fullmatch(r"[0-9a-f]{32}", h) for h in hashes)
    assert _fetch._ESC50.known_hash is None  # no published checksum (see _fetch.py)
    assert [len(p) for p in _fetch._TOYADMOS.values()] == [8, 7, 9]
    assert set(_fetch._MIMII) == {(s, t) for s in (-6, 0, 6) for t in _fetch.MIMII_TYPES}


def test_default_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SCIKIT_LEARN_DATA", str(tmp_path / "skl"))
    assert get_sklasd_data_home() == tmp_path / "skl" / "sklasd"
    assert get_sklasd_data_home().is_dir()
