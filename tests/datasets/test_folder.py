import numpy as np
import pytest
import soundfile as sf

from sklasd.datasets import (detect_layout, load_dcase2016_task2, load_dcase2020_task2,
                             load_dcase2021_task2, load_folder, load_urbansound8k)


@pytest.mark.parametrize("fixture, layout, loader", [
    ("dcase2020_lite", "dcase2020_task2", load_dcase2020_task2),
    ("dcase2023_valve", "dcase2021_task2", load_dcase2021_task2),
    ("dcase2016_events", "dcase2016_task2", load_dcase2016_task2),
    ("urbansound_mini", "urbansound8k", load_urbansound8k),
])
def test_real_folders_are_recognised(request, fixture, layout, loader):
    folder = request.getfixturevalue(fixture)
    assert detect_layout(folder) == layout
    bunch, expected = load_folder(folder), loader(folder)
    np.testing.assert_array_equal(bunch.data, expected.data)
    np.testing.assert_array_equal(bunch.target, expected.target)


@pytest.mark.parametrize("relpath, layout", [
    ("fan/id_00/abnormal/00000000.wav", "mimii"),
    ("ToyCar/case1/NormalSound_IND/1100010001_ToyCar_case1_normal_IND_ch1_0001.wav", "toyadmos"),
    ("ESC-50-master/audio/1-100032-A-0.wav", "esc50"),
])
def test_generated_layouts_are_recognised(tmp_path, write_wav, relpath, layout):
    write_wav(tmp_path / relpath)
    assert detect_layout(tmp_path) == layout
    assert len(load_folder(tmp_path).data) == 1


def test_kwargs_are_passed_on(dcase2020_lite):
    X, y = load_folder(dcase2020_lite, return_X_y=True)
    assert X.shape == y.shape == (111,)


def test_folder_in_no_layout_is_read_as_unlabeled_clips(mimii_noise):
    assert detect_layout(mimii_noise) == "audio_folder"
    bunch = load_folder(mimii_noise)
    assert len(bunch.data) == 42 and (bunch.target == -1).all()
    assert set(bunch.machine_type) == {"VAD_noise"}
    assert set(bunch.machine_id) == {"id_00", "id_02", "id_04", "id_06"}


def test_flat_folder_of_own_recordings(tmp_path, write_wav):
    names = ["pump room 3 2026-11-30 08h00.wav", "pump room 3 2026-11-30 09h00.wav",
             "Pump-abnormal 10h.wav"]
    for name in names:
        write_wav(tmp_path / "pump" / name)
    bunch = load_folder(tmp_path / "pump")
    assert bunch.target.tolist() == [1, -1, -1]  # sorted: "Pump-abnormal" first
    assert set(bunch.machine_type) == {"pump"} and set(bunch.split) == {""}


def test_labels_from_condition_folders(tmp_path, write_wav):
    for rel in ["fan/train/normal/a.wav", "fan/test/anomalous/b.wav",
                "fan/test/abnormal/c.wav", "fan/test/normal/d.wav", "fan/test/e.wav"]:
        write_wav(tmp_path / rel)
    bunch = load_folder(tmp_path)
    assert bunch.target.tolist() == [1, 1, -1, 0, 0]
    assert bunch.split.tolist() == ["test"] * 4 + ["train"]
    assert set(bunch.machine_type) == {"fan"}


def test_condition_words_inside_folder_names_and_other_formats(tmp_path, write_wav):
    """'normal runs' labels its clips; flac and ogg files are audio too."""
    for rel in ["Pump A/normal runs/a.flac", "Pump A/anomalous cases/b.ogg",
                "Pump A/c.wav"]:
        write_wav(tmp_path / "plant" / rel)
    bunch = load_folder(tmp_path / "plant")
    assert [p.rsplit("/", 1)[1] for p in bunch.filenames] == ["b.ogg", "c.wav", "a.flac"]
    assert bunch.target.tolist() == [1, -1, 0]
    assert set(bunch.machine_type) == {"Pump A"}


def test_session_folders_beside_labelled_ones_belong_to_the_machine(tmp_path, write_wav):
    """'after repair/' beside 'baseline (normal)/' is the same machine; a folder of
    unlabeled clips with no labelled sibling stays a machine type of its own."""
    for rel in ["Line 2/baseline (normal)/a.flac", "Line 2/after repair/b.flac",
                "Line 2/Faults/c.ogg", "Line 2/faulty bearing.wav",
                "Fan 7/d.wav", "Fan 7/week 2/e.wav"]:
        write_wav(tmp_path / "plant" / rel)
    frame = load_folder(tmp_path / "plant").frame
    by_name = dict(zip(frame["filename"].map(lambda p: p.rsplit("/", 1)[1]),
                       zip(frame["machine_type"], frame["target"])))
    assert by_name == {"a.flac": ("Line 2", 0), "b.flac": ("Line 2", -1),
                       "c.ogg": ("Line 2", 1), "faulty bearing.wav": ("Line 2", 1),
                       "d.wav": ("Fan 7", -1), "e.wav": ("week 2", -1)}


def test_one_odd_name_does_not_refuse_the_folder(tmp_path, write_wav):
    write_wav(tmp_path / "fan" / "test" / "normal_id_00_00000000.wav")
    write_wav(tmp_path / "fan" / "test" / "my note.wav")
    assert detect_layout(tmp_path) == "audio_folder"
    bunch = load_folder(tmp_path)
    assert bunch.target.tolist() == [-1, 0] and bunch.machine_id.tolist() == ["", ""]
    with pytest.raises(ValueError, match=r"my note\.wav"):
        load_dcase2020_task2(tmp_path)  # the layout's own loader stays strict


@pytest.mark.parametrize("names, layout, ids, domains", [
    (["normal_id_05_00000000.wav", "id_05_00000000.wav", "id_05_00000001.wav"],
     "dcase2020_task2", ["id_05"] * 3, [""] * 3),
    (["section_00_0000.wav", "section_00_0001.wav",
      "section_00_source_test_normal_0000_noAttribute.wav"],
     "dcase2021_task2", ["section_00"] * 3, ["", "", "source"]),
    (["section_03_source_test_0000.wav", "section_03_target_test_0001.wav"],
     "dcase2021_task2", ["section_03"] * 2, ["source", "target"]),
])
def test_dcase_evaluation_test_names_are_unlabeled(tmp_path, write_wav, names, layout,
                                                   ids, domains):
    for name in names:
        write_wav(tmp_path / "fan" / "test" / name)
    assert detect_layout(tmp_path) == layout
    bunch = load_folder(tmp_path)
    order = np.argsort(names)
    expected = np.array([0 if n.count("normal") else -1 for n in names])[order]
    np.testing.assert_array_equal(bunch.target, expected)
    assert bunch.machine_id.tolist() == list(np.array(ids)[order])
    assert bunch.domain.tolist() == list(np.array(domains)[order])
    assert set(bunch.split) == {"test"}


def test_mimii_with_and_without_its_snr_level(tmp_path, write_wav):
    write_wav(tmp_path / "a" / "0_dB_fan" / "fan" / "id_00" / "normal" / "00000000.wav")
    write_wav(tmp_path / "b" / "fan" / "id_00" / "abnormal" / "00000000.wav")
    for sub, target, snr in [("a", 0, "0"), ("b", 1, "")]:
        bunch = load_folder(tmp_path / sub)
        assert detect_layout(tmp_path / sub) == "mimii"
        assert bunch.target.tolist() == [target] and bunch.machine_type.tolist() == ["fan"]
        assert bunch.attributes["snr_db"].tolist() == [snr]


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no audio files"):
        load_folder(tmp_path)


def test_load_audio_files_reads_conditions_above_the_file(tmp_path, write_wav):
    from sklasd.datasets import load_audio_files

    a = write_wav(tmp_path / "valve" / "id_02" / "abnormal" / "00000000.wav")
    b = write_wav(tmp_path / "my pump" / "today 08h00.wav")
    bunch = load_audio_files([b, a])
    assert bunch.filenames.tolist() == [str(b), str(a)]  # the given order
    assert bunch.target.tolist() == [-1, 1]
    assert bunch.machine_type.tolist() == ["my pump", "valve"]
    assert bunch.machine_id.tolist() == ["", "id_02"]
    with pytest.raises(ValueError, match="missing.wav"):
        load_audio_files([tmp_path / "missing.wav"])


def test_hidden_files_and_macosx_folders_are_not_recordings(tmp_path):
    from sklasd.datasets import list_audio

    sr = 8000
    (tmp_path / "fan" / "normal").mkdir(parents=True)
    (tmp_path / "__MACOSX" / "fan").mkdir(parents=True)
    (tmp_path / ".cache").mkdir()
    sf.write(tmp_path / "fan" / "normal" / "a.WAV", np.zeros(sr), sr, format="WAV")
    for junk in ("fan/normal/._a.WAV", "__MACOSX/fan/._a.WAV", ".cache/b.wav"):
        (tmp_path / junk).write_bytes(b"\x00\x05\x16\x07" + bytes(60))
    _, paths = list_audio(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in paths] == ["fan/normal/a.WAV"]


@pytest.mark.parametrize("names", [
    ["section_00_0001.wav", "section_00_0002.wav"],  # DCASE 2021+ evaluation names
    ["id_00_00000001.wav", "id_00_00000002.wav"],  # DCASE 2020 evaluation names
])
def test_dcase_names_in_condition_folders_keep_their_labels(tmp_path, write_wav, names):
    # one's own copies of DCASE clips sorted into normal/ and anomaly/ folders
    write_wav(tmp_path / "pump" / "normal" / names[0])
    write_wav(tmp_path / "pump" / "anomaly" / names[1])
    bunch = load_folder(tmp_path)
    assert bunch.target.tolist() == [1, 0]
    assert set(bunch.machine_type) == {"pump"}
    assert set(bunch.machine_id) in ({"section_00"}, {"id_00"})


def test_machine_folders_of_one_name_are_two_machines(tmp_path, write_wav):
    for site in ("Site A", "Site B"):
        write_wav(tmp_path / site / "pump" / "normal" / "0.wav")
        write_wav(tmp_path / site / "pump" / "after repair" / "1.wav")
    write_wav(tmp_path / "Site B" / "fan" / "0.wav")
    bunch = load_folder(tmp_path)
    assert bunch.machine_type.tolist() == ["pump (Site A)"] * 2 + ["fan"] + ["pump (Site B)"] * 2


def test_camel_case_condition_folders(tmp_path, write_wav):
    write_wav(tmp_path / "gearbox" / "NormalSound" / "a.wav")
    write_wav(tmp_path / "gearbox" / "AbnormalSound" / "b.wav")
    write_wav(tmp_path / "gearbox" / "recordingsNew" / "c.wav")
    bunch = load_folder(tmp_path)
    assert bunch.target.tolist() == [1, 0, -1]
    assert set(bunch.machine_type) == {"gearbox"}


def test_date_folders_are_sessions_of_the_machine_above(tmp_path, write_wav):
    write_wav(tmp_path / "Conveyor 7" / "2026-11-28" / "normal runs" / "a.wav")
    write_wav(tmp_path / "Conveyor 7" / "2026-11-30" / "anomalous" / "b.wav")
    write_wav(tmp_path / "Conveyor 7" / "20261201 night" / "c.wav")
    write_wav(tmp_path / "press" / "7" / "normal" / "d.wav")  # a number names a machine
    bunch = load_folder(tmp_path)
    assert bunch.machine_type.tolist() == ["Conveyor 7"] * 3 + ["7"]
    assert bunch.target.tolist() == [0, 1, -1, 0]


def test_mvtec_style_good_and_defect_folders(tmp_path, write_wav):
    write_wav(tmp_path / "Bad Homburg" / "pump" / "good" / "a.wav")
    write_wav(tmp_path / "Bad Homburg" / "pump" / "broken impeller" / "b.wav")
    write_wav(tmp_path / "Bad Homburg" / "pump" / "c.wav")
    bunch = load_folder(tmp_path)
    assert bunch.target.tolist() == [1, -1, 0]  # "Bad" of the town states nothing
    assert set(bunch.machine_type) == {"pump"}
