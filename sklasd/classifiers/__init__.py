"""Neural classifiers of spectrograms.

Importing this subpackage imports torch; ``import sklasd`` alone does not.
"""
from ._neural import MelFrontend
from .cnnfc import KIM2020_FEATURES, CNNFCClassifier
from .mask import MaskEnhancer
from .pruned_cnn import OOI2020_FEATURES, PrunedCNNClassifier
from .pruning import PolynomialDecayPruning, model_size, sparsity_schedule

__all__ = ["CNNFCClassifier", "KIM2020_FEATURES", "MaskEnhancer", "MelFrontend",
           "OOI2020_FEATURES", "PolynomialDecayPruning", "PrunedCNNClassifier",
           "model_size", "sparsity_schedule"]
