"""Unsupervised anomaly detectors.

The detectors are imported when first used (PEP 562): ``import sklasd.detectors``
and the detectors without a network (:class:`KNeighborsDetector`,
:class:`MahalanobisDetector`, :class:`GaussianMixtureDetector`,
:class:`WeightedEnsembleDetector`) do not import torch.
"""

from sklasd.utils._lazy import lazy_attributes

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

__getattr__, __dir__ = lazy_attributes(__name__, _MODULES)
