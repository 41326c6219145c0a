import librosa
import numpy as np
import pytest

from sklasd.features._spectra import MelBands, Workspace


@pytest.mark.parametrize("kw", [
    dict(sr=16000, n_fft=1024, n_mels=128),
    dict(sr=16000, n_fft=2048, n_mels=64, fmin=50.0, fmax=7000.0, htk=True),
    dict(sr=8000, n_fft=64, n_mels=40),  # some filters have no nonzero weight
    dict(sr=8000, n_fft=256, n_mels=7, norm=None),
])
def test_mel_bands_equal_the_dense_product(kw):
    basis = librosa.filters.mel(dtype=np.float32, **kw)
    power = np.random.default_rng(0).exponential(size=(basis.shape[1], 50)).astype(np.float32)
    out = np.full((basis.shape[0], 50), np.nan, dtype=np.float32)
    MelBands(basis, filters_per_band=5).apply(power, out)
    np.testing.assert_allclose(out, basis @ power, rtol=1e-5, atol=1e-7)


def test_workspace_reuses_an_array_until_its_shape_changes():
    ws = Workspace()
    a = ws.get("x", (2, 3), np.float32)
    a[:] = 1
    assert ws.get("x", (2, 3), np.float32) is a
    b = ws.get("x", (3, 3), np.float32)
    assert b is not a and not b.any()
