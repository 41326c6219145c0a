"""Unsupervised anomaly detectors.

Each detector's module is imported when the detector is first used (PEP 562), so
the pooled-feature detectors (and a model file holding one) do not import torch,
about 200 MB of memory; the neural detectors do.
"""
import importlib

# public name -> submodule that defines it
_MODULES = {
    "AutoencoderDetector": "autoencoder",
    "GaussianMixtureDetector": "pooled",
    "HVAEDetector": "hvae",
    "IDConditionedAE": "idcae",
    "KNeighborsDetector": "pooled",
    "MahalanobisDetector": "pooled",
    "WaveNetPredictor": "wavenet",
    "WeightedEnsembleDetector": "ensemble",
}

__all__ = sorted(_MODULES)


def __getattr__(name):
    if name in _MODULES:
        return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_MODULES))
