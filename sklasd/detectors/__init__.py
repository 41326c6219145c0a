"""Unsupervised anomaly detectors.

Each detector's module is imported when the detector is first used (PEP 562), so
``import sklasd.detectors`` and the pooled-feature detectors (and a model file
holding one) do not import torch, about 200 MB of memory; the neural detectors do.
"""

from sklasd.utils._lazy import lazy_attributes

# public name -> module of this subpackage that defines it
_MODULES = {
    "AutoencoderDetector": ".autoencoder",
    "AuxiliaryClassifierDetector": ".auxiliary",
    "GaussianMixtureDetector": ".pooled",
    "HVAEDetector": ".hvae",
    "IDConditionedAE": ".idcae",
    "KNeighborsDetector": ".pooled",
    "MahalanobisDetector": ".pooled",
    "WaveNetPredictor": ".wavenet",
    "WeightedEnsembleDetector": ".ensemble",
}

__all__ = sorted(_MODULES)

__getattr__, __dir__ = lazy_attributes(__name__, _MODULES)
