"""Fixtures of the dataset tests: tiny wav writers and a network guard."""
import numpy as np
import pandas as pd
import pooch
import pytest
import soundfile as sf


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any download attempt fails the test: tests never touch the network."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"a test tried to download: {args} {kwargs}")
    monkeypatch.setattr(pooch, "retrieve", refuse)


@pytest.fixture
def write_wav():
    """``write_wav(path, sr=16000, duration=0.1)``: a tiny noise wav, parents created."""
    rng = np.random.RandomState(0)

    def write(path, sr=16000, duration=0.1):
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, 0.1 * rng.standard_normal(int(sr * duration)), sr)
        return path
    return write


def _read_manifest(folder):
    manifest = pd.read_csv(folder / "manifest.csv", dtype=str, keep_default_na=False)
    manifest["abs"] = [str(folder.resolve() / p) for p in manifest["path"]]
    return manifest.sort_values("abs").reset_index(drop=True)


@pytest.fixture
def read_manifest():
    """``read_manifest(folder)``: its manifest.csv (all str) sorted by absolute path, as
    the loaders sort, with the absolute path in column ``abs``."""
    return _read_manifest


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "quality: seeded test that a result clears a quality bar (e.g. AUC)")
