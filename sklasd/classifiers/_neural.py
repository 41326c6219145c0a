"""The neural-classifier base: skorch-trained classifiers on spectrogram excerpts.

Extension points for a subclass (MaskEnhancer, PrunedCNNClassifier):

- ``__init__``: list every parameter explicitly (scikit-learn) and forward the
  base's ones (``frontend ... verbose``) to ``super().__init__``.
- ``_build_module()`` (required): the torch *body*: ``(batch, n_bands, n_frames)``
  float32 (standardized, front end applied) -> ``(batch, n_classes_)`` logits.
  ``n_bands_``, ``n_classes_``, ``classes_`` and ``excerpt_frames_`` are set.
  The body may define ``penalty()`` -> scalar tensor added to the training loss.
- ``_build_network(body)``: the whole skorch module (front end, augmentations,
  standardization, body): override to insert stages (a mask) around ``body``.
- ``_default_callbacks()`` / ``_net_params()``: extra skorch callbacks / arguments.
- ``_train_net(network, clips, y, rng)``: one skorch training run on excerpts;
  call it more than once for staged training. The base owns label encoding,
  input validation, excerpting, seeding, predict / predict_proba / score, TTA,
  ``predict_proba_frames``, model-size attributes and CPU pickling.
"""
import copy
import numbers

import numpy as np
import torch
from scipy.ndimage import median_filter
from skorch import NeuralNet
from skorch.helper import predefined_split
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import LabelEncoder
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from sklasd._skorch import SkorchEstimatorMixin, batch_bounds, make_batch_net, seeded
from sklasd.features import LogMelTransformer, log_mel

from .pruning import count_nonzero_params
from ..utils._sklearn_compat import Interval
from ..utils._validation import check_spectrograms

# excerpts per forward pass at prediction time
_PREDICT_EXCERPTS = 256


class _ClassifierNet(NeuralNet):
    """skorch net: cross-entropy plus the module's ``penalty()`` while training."""

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if training:
            loss = loss + self.module_.penalty()
        return loss


class MelFrontend(torch.nn.Module):
    """In-network mel filterbank and logarithm, the twin of a ``LogMelTransformer``.

    Maps linear-frequency spectrograms ``|STFT|**power`` of shape
    ``(batch, 1 + n_fft // 2, n_frames)`` to what the transformer would output:
    ``20 / power * log10(mel_basis @ S + eps)`` (``log="db"``), ``log(... + eps)``
    (``"ln"``) or the linear mel spectrogram (None).

    Parameters
    ----------
    transformer : LogMelTransformer
        Its parameters (``sr``, ``n_fft``, ``n_mels``, ``fmin``, ``fmax``, ``htk``,
        ``norm``, ``power``, ``log``, ``eps``) define the front end; it is cloned and
        fitted here, the given object is not changed.

    Attributes
    ----------
    freqs : ndarray of shape (1 + n_fft // 2,)
        Centre frequency in Hz of every input bin.
    power : float
        Exponent of the input magnitudes.

    Examples
    --------
    >>> import torch
    >>> from sklasd.features import LogMelTransformer
    >>> from sklasd.classifiers import MelFrontend
    >>> front = MelFrontend(LogMelTransformer(sr=16000, n_fft=512, n_mels=40))
    >>> front(torch.ones(2, 257, 10)).shape
    torch.Size([2, 40, 10])
    """

    def __init__(self, transformer):
        super().__init__()
        import librosa
        from sklearn.base import clone

        t = clone(transformer)
        if t.n_mels is None:
            raise ValueError("frontend needs n_mels set: it is the mel + log stage")
        t.fit()
        self.register_buffer("mel_basis", torch.from_numpy(t.mel_basis_))
        self.freqs = librosa.fft_frequencies(sr=t.sr, n_fft=t.n_fft)
        self.power, self.log, self.eps = float(t.power), t.log, float(t.eps)

    @property
    def n_bins(self):
        return self.mel_basis.shape[1]

    def forward(self, x):
        return log_mel(x, self.mel_basis, power=self.power, log=self.log, eps=self.eps)


class _Network(torch.nn.Module):
    """Front end, "db" augmentations, standardization, "network" augmentations, body."""

    def __init__(self, body, frontend, augment, n_bands):
        super().__init__()
        self.frontend = frontend if frontend is not None else torch.nn.Identity()
        self.register_buffer("mean", torch.zeros(n_bands, 1))
        self.register_buffer("scale", torch.ones(n_bands, 1))
        self.augment = [a for a in augment if a.stage in ("db", "network")]
        self.body = body

    def _augment(self, x, stage):
        if self.training:
            for aug in self.augment:
                if aug.stage == stage:
                    x = aug(x)
        return x

    def features(self, x):
        """The standardized body input (training-time augmentations included)."""
        x = self._augment(self.frontend(x), "db")
        return self._augment((x - self.mean) / self.scale, "network")

    def forward(self, x):
        return self.body(self.features(x))

    def penalty(self):
        penalty = getattr(self.body, "penalty", None)
        return penalty() if penalty is not None else 0.0


class _ExcerptBatches(torch.utils.data.IterableDataset):
    """Whole batches of fixed-length excerpts (random or centred), redrawn per epoch.

    skorch iterates it through ``DataLoader(batch_size=None)``; "spectrogram"-stage
    augmentations run here, on the training device, with the batch labels.
    """

    def __init__(self, clf, clips, y, *, rng, training):
        self.clf, self.clips, self.y, self.rng = clf, clips, y, rng
        self.training = training

    def __iter__(self):
        clf, n = self.clf, len(self.clips)
        order = self.rng.permutation(n) if self.training else np.arange(n)
        for start, stop in batch_bounds(n, clf.batch_size):
            idx = order[start:stop]
            starts = [_excerpt_start(self.clips[i].shape[1], clf.excerpt_frames_,
                                     self.rng if self.training else None)
                      for i in idx]
            X = clf._gather(self.clips, idx, starts)
            y = torch.from_numpy(self.y[idx]).to(X.device)
            if self.training:
                X = clf._augment_spectrogram(X, y)
            yield X, y


def _excerpt_start(n_frames, length, rng):
    """A random (``rng``) or the central start of a ``length``-frame excerpt."""
    room = n_frames - length
    return int(rng.integers(room + 1)) if rng is not None else room // 2


def _sliding_starts(n_frames, length, hop):
    """Starts of excerpts covering ``n_frames``; the last one ends at the clip's end."""
    starts = list(range(0, n_frames - length + 1, hop))
    if starts[-1] != n_frames - length:
        starts.append(n_frames - length)
    return starts


def _wrap_pad(clip, left, right):
    """Extend a ``(n_bands, n_frames)`` clip periodically in time (np.pad "wrap")."""
    if left == right == 0:
        return clip
    return np.pad(clip, ((0, 0), (left, right)), mode="wrap")


class BaseNeuralClassifier(ClassifierMixin, SkorchEstimatorMixin, BaseEstimator):
    """Base of the skorch-trained classifiers on the spectrogram layout.

    Not used directly: subclasses supply the network body (``_build_module``).
    Implements sklasd's classifier contract (scikit-learn classifiers on the
    spectrogram layout) with skorch training.

    Parameters
    ----------
    frontend : LogMelTransformer or None, default=None
        None: ``X`` is what the network eats (log-mel spectrograms). A
        ``LogMelTransformer``: ``X`` holds linear-frequency spectrograms
        ``|STFT|**power`` of ``1 + n_fft // 2`` bins (compute them with the same
        transformer and ``n_mels=None, log=None``) and the network applies that
        transformer's mel filterbank and logarithm itself (:class:`MelFrontend`),
        so the augmentations that act before mel scaling can run on the fly.
    augment : list of augmentation objects or None, default=None
        Training-time augmentations (:mod:`sklasd.augment`), applied on the fly to
        training batches only, in their ``stage`` order ("spectrogram", "db",
        "network") and in list order within a stage. They are deep-copied at fit
        and those without a ``random_state`` are seeded from ``random_state``.
    tta : sequence of float or None, default=None
        Test-time augmentation: ``predict_proba`` is the mean over these
        pitch-shift factors (1.0 = the original), e.g. the paper's
        ``(0.8, 0.9, 1.0, 1.1, 1.2)``. Needs ``frontend``.
    excerpt_frames : int or None, default=None
        Excerpt length ``L`` in frames; None uses the longest training clip.
    excerpt_hop : int or None, default=None
        Hop in frames between the sliding excerpts at prediction (None: ``L // 2``).
    smoothing : int, default=1
        Median-filter length in frames of :meth:`predict_proba_frames` (paper 002
        uses 800 ms: ``round(0.8 * sr / hop_length)`` frames).
    validation_fraction : float in (0, 1) or None, default=None
        Fraction of the training clips (stratified, seeded) held out for skorch's
        ``valid_loss`` on centred excerpts; None trains on all clips for a fixed
        number of epochs, as the papers do.
    max_epochs : int, default=100
        Training epochs (one excerpt per clip per epoch).
    lr : float, default=1e-3
        Learning rate of ``optimizer``.
    batch_size : int, default=128
        Excerpts per training batch.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    callbacks : list of skorch callbacks or (name, callback) tuples, default=None
        Extra skorch callbacks; deep-copied at fit.
    device : str or torch.device, default="cpu"
    random_state : int, RandomState instance or None, default=None
        Seeds torch (weights, dropout), the excerpt sampler and the augmentations;
        two fits with the same integer seed on CPU are identical.
    verbose : int, default=0
        1 shows skorch's progress bar and epoch table.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes_,)
        The class labels (any type), sorted.
    n_classes_ : int
    n_features_in_ : int
        Bands (bins) per frame of the input; for a 2-D input, its feature count.
    n_bands_ : int
        Bands the body sees (``n_mels`` of ``frontend``, else ``n_features_in_``).
    excerpt_frames_ : int
        Excerpt length ``L`` in frames.
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` maps an input excerpt to logits,
        ``net_.module_.body`` is the network body.
    n_nonzero_params_ : int
        Non-zero entries of the body's floating-point state (parameters and batch
        norm statistics, as Keras counts them).
    model_size_kb_ : float
        ``n_nonzero_params_ * 4 / 1024``: float32 storage of the non-zero values.

    Notes
    -----
    Input: ``(n_clips, n_bands, n_frames)`` float32, a list of ``(n_bands,
    n_frames_i)`` arrays of unequal lengths, or a 2-D ``(n_clips, n_features)``
    array read as one-band spectrograms ``(n_clips, 1, n_features)``.

    Unequal lengths: training draws, every epoch, one excerpt of ``L`` frames at
    a uniformly random position of every clip; prediction averages the class
    probabilities of excerpts of ``L`` frames every ``excerpt_hop`` frames (the
    last one aligned with the clip's end). A clip shorter than ``L`` is extended
    periodically (repeated) to ``L`` frames. Per-band mean and standard deviation
    of the training clips (after the front end) standardize the body's input.
    Loss: cross-entropy of the logits plus the body's ``penalty()``.
    """

    _parameter_constraints = {
        "frontend": [LogMelTransformer, None],
        "augment": [list, tuple, None],
        "tta": [list, tuple, np.ndarray, None],
        "excerpt_frames": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "excerpt_hop": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "smoothing": [Interval(numbers.Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(numbers.Real, 0, 1, closed="neither"), None],
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "lr": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "optimizer": [type],
        "callbacks": [list, tuple, None],
        "device": [str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(self, *, frontend=None, augment=None, tta=None, excerpt_frames=None,
                 excerpt_hop=None, smoothing=1, validation_fraction=None,
                 max_epochs=100, lr=1e-3, batch_size=128, optimizer=torch.optim.Adam,
                 callbacks=None, device="cpu", random_state=None, verbose=0):
        self.frontend = frontend
        self.augment = augment
        self.tta = tta
        self.excerpt_frames = excerpt_frames
        self.excerpt_hop = excerpt_hop
        self.smoothing = smoothing
        self.validation_fraction = validation_fraction
        self.max_epochs = max_epochs
        self.lr = lr
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.callbacks = callbacks
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ----------------------------------------------------------------- hooks
    def _build_module(self):
        raise NotImplementedError

    def _build_network(self, body):
        return _Network(body, self.frontend_, self.augment_, self.n_bands_)

    def _default_callbacks(self):
        return []

    def _net_params(self):
        return {}

    # ------------------------------------------------------------ validation
    def _validate_X(self, X, reset):
        """Validate ``X``; return a list of float32 ``(n_bins, n_frames_i)`` clips."""
        if isinstance(X, (list, tuple)) and X and all(
                getattr(x, "ndim", 0) == 2 for x in X) and len(
                {x.shape for x in X}) > 1:
            return self._validate_ragged(X, reset)
        X = check_spectrograms(self, X, reset=reset)
        if X.shape[2] == 0:
            raise ValueError(f"expected at least one frame per clip, got {X.shape}")
        return list(X)

    def _validate_ragged(self, X, reset):
        """Clips of unequal lengths: same band count (``n_features_in_``), finite."""
        name = type(self).__name__
        clips = [np.asarray(x, dtype=np.float32) for x in X]
        bins = clips[0].shape[0] if reset else self.n_features_in_
        for i, clip in enumerate(clips):
            if clip.shape[0] != bins or clip.shape[1] == 0:
                raise ValueError(f"{name}: sample {i} has shape {clip.shape}, expected "
                                 f"({bins}, n_frames) with n_frames >= 1")
            if not np.isfinite(clip).all():
                raise ValueError(f"{name}: sample {i} holds NaN or inf")
        if reset:
            self.n_features_in_ = bins
        return clips

    def _check_frontend(self, n_bins):
        """Build the front end; check ``n_bins`` and that augmentations can run."""
        self.frontend_ = None if self.frontend is None else MelFrontend(self.frontend)
        if self.frontend_ is not None and n_bins != self.frontend_.n_bins:
            raise ValueError(
                f"frontend expects linear spectrograms of 1 + n_fft // 2 = "
                f"{self.frontend_.n_bins} bins, got {n_bins}")
        linear = [a for a in self.augment_ if getattr(a, "needs_linear", False)]
        if (linear or self.tta is not None) and self.frontend_ is None:
            names = [type(a).__name__ for a in linear] + (["tta"] if self.tta else [])
            raise ValueError(
                f"{names} act on linear-frequency spectrograms before the mel "
                "filterbank: set frontend=LogMelTransformer(...) and pass linear input")
        self.n_bands_ = n_bins if self.frontend_ is None else self.frontend_.mel_basis.shape[0]

    # ------------------------------------------------------------- training
    def fit(self, X, y):
        """Train on spectrogram excerpts of labelled clips.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_bins, n_frames) or (n_clips, n_features), or list of (n_bins, n_frames_i) arrays
            Spectrograms (log-mel, or linear with ``frontend``), float32.
        y : array-like of shape (n_clips,)
            Class labels of any type.

        Returns
        -------
        self : object

        Raises
        ------
        ValueError
            Wrong rank or band count, NaN / inf (naming the sample), fewer than two
            classes, linear-input augmentations without ``frontend``.
        """
        self._validate_params()
        clips = self._validate_X(X, reset=True)
        y = self._encode_labels(y, len(clips))
        self.augment_ = copy.deepcopy(list(self.augment or []))
        self._check_frontend(clips[0].shape[0])
        longest = max(c.shape[1] for c in clips)
        self.excerpt_frames_ = self.excerpt_frames or longest
        clips = self._pad_short(clips)
        with seeded(self.random_state, self.device) as rng:
            for aug in self.augment_:
                aug.reset(int(rng.integers(2**31)) if aug.random_state is None else None)
            network = self._build_network(self._build_module())
            self._standardize(network, clips)
            self.net_ = self._train_net(network, clips, y, rng)
        self.n_nonzero_params_ = count_nonzero_params(self.net_.module_.body)
        self.model_size_kb_ = self.n_nonzero_params_ * 4 / 1024
        return self

    def _encode_labels(self, y, n_clips):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if len(y) != n_clips:
            raise ValueError(f"X has {n_clips} clips but y has {len(y)} labels")
        encoder = LabelEncoder().fit(y)
        self.classes_ = encoder.classes_
        self.n_classes_ = len(self.classes_)
        if self.n_classes_ < 2:
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes in the "
                f"data, but the data contains only one class: {self.classes_[0]!r}")
        return encoder.transform(y).astype(np.int64)

    def _pad_short(self, clips):
        L = self.excerpt_frames_
        return [_wrap_pad(c, 0, max(0, L - c.shape[1])) for c in clips]

    @torch.no_grad()
    def _standardize(self, network, clips):
        """Per-band mean and standard deviation of the body input (float64 sums)."""
        total = torch.zeros(self.n_bands_, dtype=torch.float64)
        square, count = torch.zeros_like(total), 0
        for clip in clips:
            f = network.frontend(torch.from_numpy(clip)[None]).double()[0]
            total += f.sum(1)
            square += f.square().sum(1)
            count += f.shape[1]
        mean = total / count
        std = (square / count - mean.square()).clamp_min(0).sqrt()
        network.mean.copy_(mean[:, None])
        network.scale.copy_(torch.where(std > 1e-8, std, 1.0)[:, None])

    def _train_net(self, network, clips, y, rng):
        """Train ``network`` with skorch on excerpts of ``clips``; return the net."""
        train, valid = self._split(y, rng)
        split = None
        if valid.size:
            split = predefined_split(_ExcerptBatches(
                self, [clips[i] for i in valid], y[valid], rng=rng, training=False))
        net = self._build_net(network, split)
        net.fit(_ExcerptBatches(self, [clips[i] for i in train], y[train], rng=rng,
                                training=True), None)
        net.train_split = None  # the split holds the training data: don't keep it
        return net

    def _split(self, y, rng):
        index = np.arange(len(y))
        if not self.validation_fraction:
            return index, index[:0]
        stratify = y if np.bincount(y).min() >= 2 else None
        train, valid = train_test_split(
            index, test_size=self.validation_fraction, stratify=stratify,
            random_state=int(rng.integers(2**31)))
        return np.sort(train), np.sort(valid)

    def _build_net(self, network, train_split):
        return make_batch_net(_ClassifierNet, self, module=network,
                              criterion=torch.nn.CrossEntropyLoss, train_split=train_split)

    def _gather(self, clips, idx, starts):
        """Stack the excerpts ``clips[i][:, s:s + L]`` into a tensor on the device."""
        L = self.excerpt_frames_
        X = np.stack([clips[i][:, s:s + L] for i, s in zip(idx, starts)])
        return torch.from_numpy(X).to(self.device)

    def _augment_spectrogram(self, X, y):
        context = {}
        if self.frontend_ is not None:
            context = {"freqs": self.frontend_.freqs, "power": self.frontend_.power}
        for aug in self.augment_:
            if aug.stage == "spectrogram":
                X = aug(X, y, **context)
        return X

    # ------------------------------------------------------------ prediction
    def predict_proba(self, X):
        """Class probabilities, averaged over sliding excerpts and ``tta`` factors.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_bins, n_frames) or (n_clips, n_features), or list of (n_bins, n_frames_i) arrays

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes_), float64
            Columns follow ``classes_``; rows sum to 1.

        Raises
        ------
        ValueError
            Wrong rank or band count, NaN / inf (naming the sample).
        """
        check_is_fitted(self, "net_")
        clips = self._pad_short(self._validate_X(X, reset=False))
        L = self.excerpt_frames_
        hop = self.excerpt_hop or max(1, L // 2)
        owner, starts = [], []
        for i, clip in enumerate(clips):
            s = _sliding_starts(clip.shape[1], L, hop)
            owner += [i] * len(s)
            starts += s
        proba = self._excerpt_proba(clips, np.asarray(owner), starts)
        total = np.zeros((len(clips), self.n_classes_))
        np.add.at(total, owner, proba)
        return total / np.bincount(owner, minlength=len(clips))[:, None]

    def predict(self, X):
        """Most probable class of every clip.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_bins, n_frames) or (n_clips, n_features), or list of (n_bins, n_frames_i) arrays

        Returns
        -------
        labels : ndarray of shape (n_clips,)
            Elements of ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_proba_frames(self, X):
        """Per-frame class probabilities from centred excerpts, median-smoothed.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_bins, n_frames) or (n_clips, n_features), or list of (n_bins, n_frames_i) arrays

        Returns
        -------
        proba : list of n_clips ndarray of shape (n_frames_i, n_classes_), float64
            Row ``t``: the probabilities of the excerpt of ``excerpt_frames_``
            frames centred on frame ``t`` (the clip extended periodically at its
            edges), median-filtered over ``smoothing`` frames per class.

        References
        ----------
        Schlüter and Grill, ISMIR 2015, section 5.2: maximally overlapping
        excerpts and an 800 ms sliding median filter.
        """
        check_is_fitted(self, "net_")
        clips = self._validate_X(X, reset=False)
        L = self.excerpt_frames_
        out = []
        for clip in clips:
            n = clip.shape[1]
            padded = [_wrap_pad(clip, L // 2, L - 1 - L // 2)]
            proba = self._excerpt_proba(padded, np.zeros(n, dtype=int), list(range(n)))
            out.append(median_filter(proba, size=(self.smoothing, 1), mode="nearest"))
        return out

    def _excerpt_proba(self, clips, owner, starts):
        """Softmax of the excerpts ``clips[owner[k]][:, starts[k]:+L]``, TTA-averaged."""
        from sklasd.augment import pitch_shift

        factors = [1.0] if self.tta is None else list(self.tta)
        out = np.zeros((len(starts), self.n_classes_))
        with torch.inference_mode():
            for a, b in batch_bounds(len(starts), _PREDICT_EXCERPTS):
                X = self._gather(clips, owner[a:b], starts[a:b])
                for f in factors:
                    Xf = X if f == 1.0 else pitch_shift(X, f)
                    logits = self.net_.evaluation_step((Xf, None), training=False)
                    out[a:b] += torch.softmax(logits.float(), 1).double().cpu().numpy()
        return out / len(factors)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags
