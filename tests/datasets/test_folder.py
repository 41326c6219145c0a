import numpy as np
import pytest

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


def test_unknown_layout_names_the_first_file(mimii_noise):
    with pytest.raises(ValueError, match=r"id00_00000000_n01\.wav.*fits no known"):
        load_folder(mimii_noise)


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match="no audio files"):
        load_folder(tmp_path)
