"""sklasd: scikit-learn-compatible anomalous sound detection and audio classification.

Public estimators and :func:`run` are imported lazily (PEP 562), so ``import sklasd``
stays fast and does not import torch until a neural estimator is used.
"""

import importlib

__version__ = "0.1.0"

# public name -> submodule that defines it
_LAZY = {
    "LogMelTransformer": "sklasd.features",
    "FrameStacker": "sklasd.features",
    "AudioError": "sklasd.audio",
    "AutoencoderDetector": "sklasd.detectors",
    "HVAEDetector": "sklasd.detectors",
    "IDConditionedAE": "sklasd.detectors",
    "WaveNetPredictor": "sklasd.detectors",
    "WeightedEnsembleDetector": "sklasd.detectors",
    "SpectrogramScaler": "sklasd.features",
    "TemporalPooling": "sklasd.features",
    "GaussianMixtureDetector": "sklasd.detectors",
    "KNeighborsDetector": "sklasd.detectors",
    "MahalanobisDetector": "sklasd.detectors",
    "PrunedCNNClassifier": "sklasd.classifiers",
    "MaskEnhancer": "sklasd.classifiers",
    "ComplexUNetDenoiser": "sklasd.denoising",
    "Pipeline": "sklasd.pipeline",
    "make_pipeline": "sklasd.pipeline",
    "run": "sklasd.engine",
    "RunResult": "sklasd.engine",
    "load_run": "sklasd.engine",
}

_SUBMODULES = {
    "audio", "features", "datasets", "metrics", "model_selection", "pipeline",
    "detectors", "classifiers", "plotting", "cli", "base", "models", "denoising", "parallel",
    "maps", "engine", "report", "monitor",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"sklasd.{name}")
    raise AttributeError(f"module 'sklasd' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)
