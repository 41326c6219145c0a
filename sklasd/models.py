"""Ready-made pipelines: the systems that ``sklasd run --model NAME`` fits.

:data:`MODELS` maps each name to ``(description, factory)``; :func:`make_model`
builds one. The factories take the common settings as keywords and return an
unfitted :class:`sklasd.pipeline.Pipeline`.

How :data:`DEFAULT_MODEL` was chosen: ``benchmarks/protocol.py`` (the development
protocol) scores pooled-log-mel candidates (pooling: GWRP 0.46 / 0.88, max, mean and
concatenations; per-bin standardization on the training clips: none, per domain, or a
``StandardScaler`` step; Euclidean or cosine distance; k = 1 or 3; one model or one
per domain) on four real sets with fixed splits (DCASE 2023 valve section 00 trained
on 27 source clips and scored on 175; DCASE 2020 slider id_00 with its 75 training
clips; MIMII slider and valve, leave one ID out) by the official score (the harmonic
mean of AUC (source), AUC (target) and pAUC, or of AUC and pAUC without domains),
plus a normal-only cross-validation inside the training clips. The rule: the best
mean weighted by the sets' test clips, candidates within 0.01 decided by the CV.
``"knn"`` (max pooling, per-bin standardization, 1-NN Euclidean) wins: weighted mean
0.914 (valve 0.932, AUC 0.960; slider 1.000; MIMII slider 0.615; MIMII valve 0.773),
CV AUC 0.670; k = 3 has 0.919 but CV 0.656. The TWFR-GMM-style ``"gmm"`` has 0.743.
The neural pipelines are near chance on valve (``benchmarks/bench_detectors.py``).
"""

__all__ = ["MODELS", "DEFAULT_MODEL", "make_model", "with_denoiser"]


def _ae(common, logmel):
    from sklasd.detectors import AutoencoderDetector
    from sklasd.features import FrameStacker, LogMelTransformer
    from sklasd.pipeline import make_pipeline

    return make_pipeline(LogMelTransformer(n_mels=64, **logmel), FrameStacker(n_frames=5),
                         AutoencoderDetector(**common))


def _ae_mahalanobis(common, logmel):
    from sklasd.detectors import AutoencoderDetector
    from sklasd.features import FrameStacker, LogMelTransformer
    from sklasd.pipeline import make_pipeline

    return make_pipeline(LogMelTransformer(n_mels=128, **logmel), FrameStacker(n_frames=5),
                         AutoencoderDetector(score_mode="selective_mahalanobis", **common))


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


def _twfr_logmel(logmel):
    """The log-mel front end of TWFR-GMM: STFT 1024 / hop 512, 128 mels, dB."""
    from sklasd.features import LogMelTransformer

    return LogMelTransformer(n_fft=1024, hop_length=512, n_mels=128, **logmel)


def _pooled(pooling, detector):
    from sklasd.features import TemporalPooling
    from sklasd.pipeline import make_pipeline

    return make_pipeline(TemporalPooling(**pooling), detector)


# TWFR-GMM's published valve settings (liuyoude/TWFR-GMM config.yaml): GWRP decay
# 0.46, 2 Gaussian components; max pooling is the paper's other strong ablation.
_GWRP = dict(method="gwrp", decay=0.46)
_MAX = dict(method="max")


def _gmm(common, logmel):
    from sklasd.detectors import GaussianMixtureDetector
    from sklasd.pipeline import make_pipeline

    return make_pipeline(_twfr_logmel(logmel), *_pooled(
        _GWRP, GaussianMixtureDetector(2, random_state=common["random_state"])))


def _knn(common, logmel):
    from sklasd.detectors import KNeighborsDetector
    from sklasd.pipeline import make_pipeline

    # chosen by benchmarks/protocol.py: max pooling, each mel bin standardized with
    # the training clips' mean and standard deviation (per domain), 1-NN Euclidean
    return make_pipeline(_twfr_logmel(logmel),
                         *_pooled(_MAX, KNeighborsDetector(1, standardize=True)))


def _mahalanobis(common, logmel):
    from sklasd.detectors import MahalanobisDetector
    from sklasd.pipeline import make_pipeline

    return make_pipeline(_twfr_logmel(logmel), *_pooled(_GWRP, MahalanobisDetector()))


def _ensemble(common, logmel):
    from sklasd.detectors import MahalanobisDetector, WeightedEnsembleDetector
    from sklasd.pipeline import make_pipeline

    # Members whose scores on their own training clips are not degenerate: the
    # ensemble standardizes each member with those scores (nearest neighbours score
    # their training clips 0, a mixture in 128 dimensions fitted to a few dozen
    # clips overfits them).
    members = [("mahalanobis_gwrp", _pooled(_GWRP, MahalanobisDetector())),
               ("mahalanobis_max", _pooled(_MAX, MahalanobisDetector()))]
    return make_pipeline(_twfr_logmel(logmel),
                         WeightedEnsembleDetector(members, weights=[1, 1]))


def _wavenet(common, logmel):
    from sklasd.detectors import WaveNetPredictor
    from sklasd.features import LogMelTransformer
    from sklasd.pipeline import make_pipeline

    return make_pipeline(LogMelTransformer(n_fft=2048, hop_length=512, n_mels=128, **logmel),
                         WaveNetPredictor(**common))


def _embedding(common, logmel):
    from sklasd.detectors import AuxiliaryClassifierDetector
    from sklasd.pipeline import make_pipeline

    # chosen by benchmarks/protocol.py (with the other machine types as outlier
    # classes, as a run trains it): whole clips as units and the spectrum branch
    return make_pipeline(_twfr_logmel(logmel), AuxiliaryClassifierDetector(
        excerpt_length=None, spectrum_branch=True, **common))


#: The models of ``sklasd run --model``: name -> (description, factory).
#:
#: ``factory(common, logmel)`` returns a Pipeline. ``common``
#: holds the detector settings (``max_epochs``, ``random_state``, ``device``,
#: ``verbose``), ``logmel`` the feature settings (``n_jobs``, ``verbose``).
MODELS = {
    "ae": ("DCASE 2020 Task 2 baseline: log-mel (64 mels) x 5 frames, dense autoencoder",
           _ae),
    "ae_mahalanobis": ("DCASE 2023-2025 Task 2 baseline, selective Mahalanobis mode: log-mel "
                       "(128 mels) x 5 frames, dense autoencoder, Mahalanobis distance of "
                       "the reconstruction error", _ae_mahalanobis),
    "hvae": ("heteroskedastic VAE on log-mel (128 mels) x 5 frames (Daniluk et al., "
             "DCASE 2020 Task 2, section 2)", _hvae),
    "idcae": ("ID-conditioned AE on standardized log-mel (128 mels) x 10 frames, trained "
              "with the machine IDs (Daniluk et al., DCASE 2020 Task 2, section 3)", _idcae),
    "wavenet": ("WaveNet next-frame predictor on log-mel (2048 / 512, 128 mels) "
                "(Daniluk et al., DCASE 2020 Task 2, section 4)", _wavenet),
    "gmm": ("TWFR-GMM: log-mel (1024 / 512, 128 mels) pooled over time by GWRP "
            "(decay 0.46), 2-component Gaussian mixture (Guan et al., ICASSP 2023)", _gmm),
    "knn": ("log-mel (128 mels) max-pooled over time, each bin standardized on the "
            "training clips (per domain), Euclidean distance to the nearest normal clip",
            _knn),
    "mahalanobis": ("log-mel (128 mels) pooled by GWRP (decay 0.46), Mahalanobis "
                    "distance with a Ledoit-Wolf covariance", _mahalanobis),
    "embedding": ("log-mel (128 mels) of whole clips, CNN and per-bin max / mean "
                  "embeddings trained to classify the machine types, IDs and attributes "
                  "of every machine type of the run (sub-cluster AdaCos, mixup), cosine "
                  "distance to the nearest normal embedding per domain (Wilkinghoff, "
                  "ICASSP 2023)",
                  _embedding),
    "ensemble": ("equal-weight ensemble of standardized Mahalanobis scores of GWRP- "
                 "and max-pooled log-mel (128 mels), one log-mel front end", _ensemble),
}

#: Training epochs of the models that do not train the DCASE baseline's 100 when no
#: number is given: the embedding network's 30 (the development protocol's setting,
#: which keeps 1,000 ten-second clips under 10 minutes on 2 CPU cores).
MODEL_EPOCHS = {"embedding": 30}

#: The model of ``sklasd run`` and :func:`make_model` when none is named.
DEFAULT_MODEL = "knn"


def make_model(name=None, *, max_epochs=None, random_state=0, device="cpu", verbose=0,
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
        ``machine_id`` metadata. ``"ae_mahalanobis"`` is the DCASE 2023-2025
        baseline's selective-Mahalanobis mode. ``"gmm"``, ``"knn"`` and
        ``"mahalanobis"`` score pooled log-mel with TWFR-GMM's front end (Guan et
        al., ICASSP 2023): GWRP with the valve decay for ``"gmm"`` and
        ``"mahalanobis"``, per-bin standardized max pooling for ``"knn"`` (chosen
        by the development protocol, ``benchmarks/protocol.py``); ``"ensemble"`` is an
        equal-weight ensemble of two pooled Mahalanobis detectors.
        ``"embedding"`` is :class:`~sklasd.detectors.AuxiliaryClassifierDetector`
        on the same log-mel (it uses ``machine_id``, ``attributes`` and ``domain``
        metadata where given).
    max_epochs : int or None, default=None
        Training epochs of neural detectors; None is the model's own setting,
        :data:`MODEL_EPOCHS` (the DCASE baseline's 100 unless listed there).
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
    if max_epochs is None:
        max_epochs = MODEL_EPOCHS.get(name, 100)
    common = dict(max_epochs=max_epochs, random_state=random_state, device=device,
                  verbose=verbose)
    return MODELS[name][1](common, dict(n_jobs=n_jobs, verbose=verbose))


def with_denoiser(pipeline, denoiser):
    """``pipeline`` with its input decoded and denoised first (``sklasd run --denoise``).

    Parameters
    ----------
    pipeline : sklasd.pipeline.Pipeline
        A pipeline whose first step is a :class:`~sklasd.features.LogMelTransformer`
        (its ``sr`` is the rate the files are decoded at).
    denoiser : transformer
        A fitted transformer from waveforms to waveforms of the same rate, such as a
        :class:`~sklasd.denoising.ComplexUNetDenoiser` (or a pipeline ending in one).
        It is frozen: fitting the result leaves it unchanged.

    Returns
    -------
    pipeline : sklasd.pipeline.Pipeline
        Steps ``decode`` (:func:`sklasd.audio.decode_clips` at the log-mel ``sr``),
        ``denoise`` (the frozen denoiser), then the steps of ``pipeline``.

    Raises
    ------
    ValueError
        If ``denoiser`` has no ``transform`` method.

    References
    ----------
    Daniluk, Gozdziewski, Kapka, Kosmider, "Ensemble of auto-encoder based and
    WaveNet like systems for unsupervised anomaly detection", DCASE 2020 Task 2
    technical report, section 2.2: the recordings are denoised before the detectors.

    Examples
    --------
    >>> from sklearn.preprocessing import FunctionTransformer
    >>> from sklasd.models import make_model, with_denoiser
    >>> identity = FunctionTransformer()
    >>> [name for name, _ in with_denoiser(make_model("knn"), identity).steps][:3]
    ['decode', 'denoise', 'logmeltransformer']
    """
    from sklearn.frozen import FrozenEstimator
    from sklearn.preprocessing import FunctionTransformer

    from sklasd.audio import decode_clips
    from sklasd.pipeline import Pipeline

    if not hasattr(denoiser, "transform"):
        raise ValueError(f"the denoiser {type(denoiser).__name__} has no transform method")
    decode = FunctionTransformer(decode_clips, kw_args={"sr": pipeline[0].sr})
    return Pipeline([("decode", decode), ("denoise", FrozenEstimator(denoiser)),
                     *pipeline.steps])
