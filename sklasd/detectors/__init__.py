"""Unsupervised anomaly detectors.

Importing this subpackage imports torch; ``import sklasd`` alone does not.
"""
from .autoencoder import AutoencoderDetector
from .auxiliary import AuxiliaryClassifierDetector
from .ensemble import WeightedEnsembleDetector
from .hvae import HVAEDetector
from .idcae import IDConditionedAE
from .pooled import GaussianMixtureDetector, KNeighborsDetector, MahalanobisDetector
from .wavenet import WaveNetPredictor

__all__ = [
    "AutoencoderDetector",
    "AuxiliaryClassifierDetector",
    "GaussianMixtureDetector",
    "HVAEDetector",
    "IDConditionedAE",
    "KNeighborsDetector",
    "MahalanobisDetector",
    "WaveNetPredictor",
    "WeightedEnsembleDetector",
]
