"""Unsupervised anomaly detectors (DESIGN.md section 3).

Importing this subpackage imports torch; ``import sklasd`` alone does not.
"""
from .autoencoder import AutoencoderDetector

__all__ = ["AutoencoderDetector"]
