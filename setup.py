"""Install sklasd: scikit-learn-compatible anomalous sound detection."""
import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"', (HERE / "sklasd" / "__init__.py").read_text()
).group(1)

setup(
    name="sklasd",
    version=VERSION,
    description=(
        "scikit-learn-compatible anomalous sound detection of machines "
        "and audio classification"
    ),
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="BSD-3-Clause",
    packages=find_packages(include=["sklasd", "sklasd.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.6,<1.10",
        "threadpoolctl>=3",
        "torch>=2.1,<3",
        "skorch>=1.0",
        "librosa>=0.10",
        "soundfile>=0.12",
        "joblib>=1.3",
        "pandas>=2.0",
        "pooch>=1.7",
        "tqdm>=4.60",
        "matplotlib>=3.7",
        "watchdog>=4",
    ],
    extras_require={
        # the tests extra includes Dask so that CI runs the tests of sklasd.parallel
        "tests": ["pytest>=7", "dask[distributed]>=2024.1"],
        "dask": ["dask[distributed]>=2024.1"],
        # sklasd.export: ONNX graphs of fitted pipelines, scored with onnxruntime
        "onnx": ["onnx>=1.14", "onnxruntime>=1.16", "skl2onnx>=1.16"],
        "docs": ["sphinx>=7", "sphinx-gallery>=0.16", "numpydoc>=1.6",
                 "pydata-sphinx-theme>=0.15", "myst-parser>=2"],
    },
    entry_points={"console_scripts": ["sklasd=sklasd._entry:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Multimedia :: Sound/Audio :: Analysis",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
