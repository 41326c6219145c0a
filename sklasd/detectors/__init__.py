"""Unsupervised anomaly detectors.

The detectors are imported when first used (PEP 562): ``import sklasd.detectors``
and the detectors without a network (:class:`KNeighborsDetector`,
:class:`MahalanobisDetector`, :class:`GaussianMixtureDetector`,
:class:`WeightedEnsembleDetector`) do not import torch.
"""

import importlib

# public name -> module of this subpackage that defines it
_MODULES = {
    "AutoencoderDetector": ".autoencoder",
    "GaussianMixtureDetector": ".pooled",
    "HVAEDetector": ".hvae",
    "IDConditionedAE": ".idcae",
    "KNeighborsDetector": ".pooled",
    "MahalanobisDetector": ".pooled",
    "WaveNetPredictor": ".wavenet",
    "WeightedEnsembleDetector": ".ensemble",
}

__all__ = sorted(_MODULES)


def __getattr__(name):
    if name in _MODULES:
        return getattr(importlib.import_module(_MODULES[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_MODULES))
