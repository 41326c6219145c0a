"""Ready-made pipelines: the systems that ``sklasd run --model NAME`` fits.

:data:`MODELS` maps each name to ``(description, factory)``; :func:`make_model`
builds one. The factories take the common settings as keywords and return an
unfitted :class:`sklasd.pipeline.Pipeline`.
"""

__all__ = ["MODELS", "DEFAULT_MODEL", "make_model"]


def _ae(common, logmel):
    from sklasd.detectors import AutoencoderDetector
    from sklasd.features import FrameStacker, LogMelTransformer
    from sklasd.pipeline import make_pipeline

    return make_pipeline(LogMelTransformer(n_mels=64, **logmel), FrameStacker(n_frames=5),
                         AutoencoderDetector(**common))


def _hvae(common, logmel):
    from sklasd.detectors import HVAEDetector
    from sklasd.features import FrameStacker, LogMelTransformer
    from sklasd.pipeline import make_pipeline

    return make_pipeline(LogMelTransformer(n_mels=128, **logmel), FrameStacker(n_frames=5),
                         HVAEDetector(**common))


def _idcae(common, logmel):
    from sklasd.detectors import IDConditionedAE
    from sklasd.features import FrameStacker, LogMelTransformer, SpectrogramScaler
    from sklasd.pipeline import make_pipeline

    return make_pipeline(LogMelTransformer(n_mels=128, **logmel), SpectrogramScaler(),
                         FrameStacker(n_frames=10), IDConditionedAE(**common))


def _wavenet(common, logmel):
    from sklasd.detectors import WaveNetPredictor
    from sklasd.features import LogMelTransformer
    from sklasd.pipeline import make_pipeline

    return make_pipeline(LogMelTransformer(n_fft=2048, hop_length=512, n_mels=128, **logmel),
                         WaveNetPredictor(**common))


#: The models of ``sklasd run --model``: name -> (description, factory).
#:
#: ``factory(common, logmel)`` returns a Pipeline. ``common``
#: holds the detector settings (``max_epochs``, ``random_state``, ``device``,
#: ``verbose``), ``logmel`` the feature settings (``n_jobs``, ``verbose``).
MODELS = {
    "ae": ("DCASE 2020 Task 2 baseline: log-mel (64 mels) x 5 frames, dense autoencoder",
           _ae),
    "hvae": ("heteroskedastic VAE on log-mel (128 mels) x 5 frames (Daniluk et al., "
             "DCASE 2020 Task 2, section 2)", _hvae),
    "idcae": ("ID-conditioned AE on standardized log-mel (128 mels) x 10 frames, trained "
              "with the machine IDs (Daniluk et al., DCASE 2020 Task 2, section 3)", _idcae),
    "wavenet": ("WaveNet next-frame predictor on log-mel (2048 / 512, 128 mels) "
                "(Daniluk et al., DCASE 2020 Task 2, section 4)", _wavenet),
}

#: The model of ``sklasd run`` and :func:`make_model` when none is named.
DEFAULT_MODEL = "ae"


def make_model(name=None, *, max_epochs=100, random_state=0, device="cpu", verbose=0,
               n_jobs=None):
    """The pipeline behind ``sklasd run --model NAME``.

    Parameters
    ----------
    name : str, default=None
        One of :data:`MODELS`; ``None`` is :data:`DEFAULT_MODEL`. ``"ae"`` is the
        DCASE 2020 Task 2 baseline (``LogMelTransformer(n_mels=64)``,
        ``FrameStacker(n_frames=5)``, ``AutoencoderDetector()``); ``"hvae"``,
        ``"idcae"`` and ``"wavenet"`` are the detectors of Daniluk et al. (DCASE 2020
        Task 2 technical report) with their published settings. ``"idcae"`` needs
        ``machine_id`` metadata.
    max_epochs : int, default=100
        Training epochs of neural detectors (the baseline's 100).
    random_state : int, default=0
        Seed of the detector.
    device : str, default="cpu"
        torch device of neural detectors.
    verbose : int, default=0
        1 shows progress bars for feature extraction and training.
    n_jobs : int or None, default=None
        Threads for decoding and feature extraction.

    Returns
    -------
    pipeline : sklasd.pipeline.Pipeline
        Unfitted.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`MODELS`.

    Examples
    --------
    >>> from sklasd.models import make_model
    >>> [name for name, _ in make_model("ae").steps]
    ['logmeltransformer', 'framestacker', 'autoencoderdetector']
    """
    name = DEFAULT_MODEL if name is None else name
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    common = dict(max_epochs=max_epochs, random_state=random_state, device=device,
                  verbose=verbose)
    return MODELS[name][1](common, dict(n_jobs=n_jobs, verbose=verbose))
