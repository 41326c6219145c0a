"""Shared fixtures: the real recordings in ../shared/data (DESIGN.md section 11)."""
import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get(
        "SKLASD_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)


def shared_folder(name):
    """Path of ``../shared/data/<name>``; the test is skipped when it is missing."""
    path = SHARED_DATA / name
    if not (path / "manifest.csv").is_file():
        pytest.skip(f"shared data {path} is not available (set SKLASD_SHARED_DATA)")
    return path


@pytest.fixture(autouse=True, scope="session")
def _data_home(tmp_path_factory):
    """The built-in generated data (``sklasd run`` without a folder) is written to
    the data home: a temporary one here, not the user's."""
    if "SCIKIT_LEARN_DATA" not in os.environ:
        os.environ["SCIKIT_LEARN_DATA"] = str(tmp_path_factory.mktemp("data_home"))


@pytest.fixture
def dcase2020_lite():
    return shared_folder("dcase2020-task2-lite")


@pytest.fixture
def dcase2023_valve():
    return shared_folder("dcase2023-task2-valve")


@pytest.fixture
def mimii_noise():
    return shared_folder("mimii-valve-noise")


@pytest.fixture
def dcase2016_events():
    return shared_folder("dcase2016-task2-events")


@pytest.fixture
def urbansound_mini():
    return shared_folder("urbansound8k-mini")


@pytest.fixture(scope="session")
def machine_folder(tmp_path_factory):
    """make_machine_sounds written as a DCASE 2020 folder of wav files (``motor``)."""
    import soundfile as sf

    from sklasd.datasets import make_machine_sounds

    root = tmp_path_factory.mktemp("dcase")
    bunch = make_machine_sounds(n_normal=8, n_anomalous=3, duration=1.0, random_state=0)
    for name, y in zip(bunch.filenames, bunch.data):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, y, bunch.sr)
    return root / "motor"
