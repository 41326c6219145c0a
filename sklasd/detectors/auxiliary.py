"""Embeddings learnt by classifying the normal clips' metadata (auxiliary tasks).

:class:`AuxiliaryClassifierDetector` trains a small CNN on log-mel excerpts to tell
apart the classes that the normal training clips' metadata define (machine ID or
section, attribute values), with an angular margin loss, and scores a clip by the
cosine distance of its embedding to the normal training embeddings.
"""
import math
import numbers

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ..features import SpectrogramScaler
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import check_spectrograms
from ._core import BaseSkorchDetector
from .idcae import _check_ids, _encode_ids
from .pooled import _check_domain

__all__ = ["AuxiliaryClassifierDetector"]

LOSSES = ("adacos", "arcface", "adaproj")
# Centres per class (subspace dimension for AdaProj) as each loss's authors set them.
_PUBLISHED_SUBCLUSTERS = {"arcface": 1, "adacos": 16, "adaproj": 32}
# Units per scoring forward pass (excerpts of whole clips, at least one clip).
SCORE_UNITS = 256
# The self-supervised classes of a one-class training set: which of these was applied
# to an excerpt (mel bins shifted by this many bins, time reversed).
_TRANSFORMS = ("identity", "time_reversal", "shift_up", "shift_down")
_SHIFT = 8


class _Embedder(torch.nn.Module):
    """Conv blocks over time with the mel bins as input channels (kernel 3 conv,
    batch norm, ReLU, max pool by 2 while two frames are left), then the mean and
    the max over time of the last block, and a bias-free linear embedding.

    ``spectrum``: a second branch on the unit's spectrum, each mel bin's max and
    mean over the unit's frames, through two ReLU layers of ``embedding_dim``
    units and a bias-free linear embedding, concatenated after the first."""

    def __init__(self, n_mels, channels, embedding_dim, spectrum=False):
        super().__init__()
        blocks, c_in = [], n_mels
        for c in channels:
            blocks.append(torch.nn.Sequential(
                torch.nn.Conv1d(c_in, c, 3, padding=1, bias=False),
                torch.nn.BatchNorm1d(c), torch.nn.ReLU()))
            c_in = c
        self.blocks = torch.nn.ModuleList(blocks)
        self.embedding = torch.nn.Linear(2 * c_in, embedding_dim, bias=False)
        self.spectrum = torch.nn.Sequential(
            torch.nn.Linear(2 * n_mels, embedding_dim), torch.nn.ReLU(),
            torch.nn.Linear(embedding_dim, embedding_dim), torch.nn.ReLU(),
            torch.nn.Linear(embedding_dim, embedding_dim, bias=False)) if spectrum else None

    def forward(self, X):
        h = X
        for block in self.blocks:
            h = block(h)
            if h.shape[2] >= 2:
                h = F.max_pool1d(h, 2)
        e = self.embedding(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))
        if self.spectrum is None:
            return e
        return torch.cat([e, self.spectrum(torch.cat([X.amax(dim=2), X.mean(dim=2)], 1))], 1)


class _AngularMarginLoss(torch.nn.Module):
    """Cross-entropy of soft labels over classes of ``n_subclusters`` fixed centres.

    ``"adacos"``: sub-cluster AdaCos (Wilkinghoff 2021): the logits are ``s cos``
    against every centre, a class's probability is the sum of the softmax over its
    centres, and ``s`` is re-estimated on each training batch from the summed
    non-target logits and the median angle to the target class. ``"arcface"``:
    additive angular margin ``m`` on the target class's angles, fixed ``s``.
    ``"adaproj"`` (Wilkinghoff 2024): a class's centres span a subspace, its
    logit is ``s`` times the cosine between the embedding and its orthogonal
    projection onto that subspace (the projection's length for a unit-length
    embedding), ``s`` adaptive as in AdaCos. The centres are drawn once and not
    trained, as in Wilkinghoff's sub-cluster AdaCos and AdaProj.
    """

    def __init__(self, n_classes, n_subclusters, embedding_dim, loss, scale, margin):
        super().__init__()
        centres = torch.nn.init.xavier_uniform_(
            torch.empty(embedding_dim, n_classes * n_subclusters))
        if loss == "adaproj":  # orthonormal bases: (n_classes, embedding_dim, <= n_sub)
            centres = torch.linalg.qr(centres.view(embedding_dim, n_classes, n_subclusters)
                                      .permute(1, 0, 2)).Q
        self.register_buffer("centres", F.normalize(centres, dim=-2))
        self.per_class = 1 if loss == "adaproj" else n_subclusters  # logits per class
        n = n_classes * self.per_class
        initial = math.sqrt(2) * math.log(max(n - 1, 2)) if scale is None else scale
        self.register_buffer("scale", torch.tensor(float(initial)))
        self.n_classes, self.n_subclusters = n_classes, n_subclusters
        self.loss, self.margin = loss, margin
        self.adaptive = loss in ("adacos", "adaproj") and scale is None

    def forward(self, embeddings, y):
        e = F.normalize(embeddings, dim=1)
        if self.loss == "adaproj":
            cos = torch.einsum("bd,kds->bks", e, self.centres).norm(dim=2)
        else:
            cos = e @ self.centres
        cos = cos.clamp(-1 + 1e-7, 1 - 1e-7)
        y_centres = y.repeat_interleave(self.per_class, dim=1)
        if self.loss == "arcface":
            cos = torch.where(y_centres > 0, torch.cos(torch.acos(cos) + self.margin), cos)
        elif self.adaptive and self.training:
            with torch.no_grad():
                others = torch.where(y_centres > 0, 0.0, torch.exp(self.scale * cos))
                b_avg = others.sum(dim=1).mean().clamp_min(1e-12)
                angle = (y_centres * torch.acos(cos)).sum(dim=1) / y_centres.sum(dim=1)
                self.scale.copy_(torch.log(b_avg) / torch.cos(
                    angle.median().clamp_max(math.pi / 4)))
        log_p = torch.log_softmax(self.scale * cos, dim=1)
        log_p = torch.logsumexp(log_p.view(len(y), self.n_classes, self.per_class), dim=2)
        return -(y * log_p).sum(dim=1)


def _transform(units, kinds):
    """The self-supervised transforms ``kinds`` (indices of ``_TRANSFORMS``) of units
    ``(batch, n_mels, n_frames)``; shifted bins are filled with the edge bin."""
    n_mels, shift = units.shape[1], min(_SHIFT, units.shape[1])
    up = torch.cat([units[:, :1].expand(-1, shift, -1), units[:, :n_mels - shift]], dim=1)
    down = torch.cat([units[:, shift:], units[:, -1:].expand(-1, shift, -1)], dim=1)
    choices = torch.stack([units, units.flip(2), up, down])  # (4, batch, ...)
    return choices[kinds, torch.arange(len(units))]


class AuxiliaryClassifierDetector(BaseSkorchDetector):
    """Cosine distance to normal embeddings learnt from auxiliary classification.

    A small CNN maps log-mel excerpts to embeddings and is trained to classify the
    normal training clips by their metadata: every distinct combination of
    ``machine_id`` and ``attributes`` values is a class (clips of other machines,
    given with their own ``machine_id``, are outlier classes). A clip's embedding
    is the mean of its excerpts' unit-length embeddings; its anomaly score is its
    cosine distance to the nearest normal training embedding of its machine,
    taken per domain and standardized (Notes).

    Parameters
    ----------
    loss : {"adacos", "arcface", "adaproj"}, default="adacos"
        Angular margin loss: sub-cluster AdaCos (adaptive scale, no margin),
        ArcFace (fixed ``scale``, additive angular ``margin``) or AdaProj
        (adaptive scale, the cosine to a subspace per class; Notes). Sub-cluster
        AdaCos has the development protocol's best weighted suite mean
        (``benchmarks/protocol.py``, 30 epochs, one seed: 0.646 with the other
        machine types as outlier classes, as ``sklasd run`` trains, against 0.585
        for ArcFace; on one machine's clips alone ArcFace leads, 0.603 against
        0.559, and AdaProj has 0.581).
    n_subclusters : int or None, default=None
        Centres per class; ``None`` is each loss's published setting:
        Wilkinghoff's 16 for sub-cluster AdaCos, 1 for ArcFace and, with
        ``"adaproj"``, the dimension of each class's subspace, its authors' 32
        (at most the embedding's size).
    scale : float or None, default=None
        Logit scale ``s``; ``None`` is adaptive with ``"adacos"`` and
        ``"adaproj"`` and 30 with ``"arcface"``.
    margin : float, default=0.5
        ArcFace's angular margin in radians (unused by the other losses).
    embedding_dim : int, default=128
        Size of the embeddings (of each branch with ``spectrum_branch``).
    channels : tuple of int, default=(128, 128, 128, 128)
        Output channels of the conv blocks (1-D convolutions over time, the mel
        bins as the first block's input channels); each block halves the frames.
    excerpt_length : int or None, default=128
        Frames per training and scoring excerpt (128 frames of hop 512 at 16 kHz:
        4.1 s); shorter clips are one excerpt; None makes every clip one excerpt
        (whole clips as units).
    excerpt_hop : int, default=32
        Frames between excerpt starts (the last excerpt ends at the clip's end).
    mixup : bool, default=True
        Mix every training batch with a shuffled copy of itself, inputs and
        one-hot labels with one uniform weight per pair (Zhang et al., mixup,
        ICLR 2018), as Wilkinghoff does.
    self_supervised : {"auto", True, False}, default="auto"
        Multiply the classes by the four transforms identity, time reversal and
        mel shifts of 8 bins up and down (the class to learn is also which
        transform was applied): ``"auto"`` does so only when the metadata give a
        single class, which would leave nothing to learn.
    spectrum_branch : bool, default=False
        Add a second branch on each excerpt's spectrum (every mel bin's max and
        mean over the excerpt's frames; the whole clip's where ``excerpt_length``
        is None or at least the clip's frames), its embedding concatenated with the CNN's
        (Notes).
    max_epochs : int, default=30
        Training epochs (the development protocol's setting; the whole fit of
        1,000 ten-second clips, log-mel included, took about a minute on 2 quiet
        CPU cores, ``benchmarks/bench_embedding.py --pipeline 1000``).
    lr : float, default=1e-3
        Learning rate of ``optimizer``.
    batch_size : int, default=32
        Excerpts per batch.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
        Optimizer class.
    callbacks : list of skorch callbacks, default=None
        Extra skorch callbacks (deep-copied at fit).
    validation_fraction : float in [0, 1) or None, default=None
        Fraction of the clips held out for skorch's ``valid_loss``.
    windows_per_clip : int or None, default=2
        Excerpts drawn per clip afresh at every epoch; ``None`` uses them all.
    threshold_quantile : float in (0, 1), default=0.9
        Quantile of the gamma distribution fitted to the training clip scores
        that becomes ``threshold_``.
    device : str, default="cpu"
        torch device (``"cuda"`` when asked); a model trained on a GPU pickles
        for CPU-only machines.
    precision : {"float32", "bfloat16"}, default="float32"
        Arithmetic of the scoring forward passes.
    random_state : int, RandomState instance or None, default=None
        Seeds torch (weights, class centres, mixup) and the excerpt sampler.
    verbose : int, default=0
        1 shows skorch's progress bar and epoch table.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net (``net_.module_`` the CNN, ``net_.criterion_`` the loss with
        its centres and scale).
    classes_ : ndarray of shape (n_classes,)
        The metadata classes (``machine_id`` and attribute values joined by
        ``"|"``), before any self-supervised multiplication.
    machine_ids_ : ndarray of shape (n_machines,)
        The machine IDs seen at fit (``array([None])`` without ``machine_id``).
    references_ : dict
        ``(machine index, domain) -> (n_ref, embedding_dim)`` unit-length
        embeddings of the normal training clips.
    reference_stats_ : dict
        ``(machine index, domain) -> (mean, std)`` of the leave-one-out distances
        of those clips.
    scaler_ : sklasd.features.SpectrogramScaler
        Per-bin standardization of the input, fitted on the training clips.
    n_mels_ : int
        Mel bins (1 for a 2-D input, read as one bin per clip).
    n_features_in_ : int
        Features seen at fit (``n_mels``; the columns of a 2-D input).
    threshold_ : float
        Clip score above which a clip is anomalous.
    offset_ : float
        ``-threshold_``.

    See Also
    --------
    KNeighborsDetector : The same scoring rule on pooled log-mel.

    Notes
    -----
    Classes: the distinct rows of ``(machine_id, attribute columns...)``. Training
    units are excerpts of ``excerpt_length`` frames, standardized per mel bin with
    the training clips' statistics. The network convolves over time only, the mel
    bins being its input channels (the authors use 2-D ResNets): on 2 CPU cores a
    2-D net of (16, 32, 64, 128) channels took 2-4 times longer per batch of
    128 x 128 excerpts (measured on loaded cores).

    ``spectrum_branch`` follows the two branches of Wilkinghoff [3]_, whose
    second branch embeds the magnitude spectrum of the whole 10-s waveform
    (strided 1-D convolutions and dense layers) beside the 2-D net on the
    spectrogram; here that spectrum is the log-mel's, pooled per bin over the
    excerpt (max and mean, the pooling of ``KNeighborsDetector``'s front end),
    through three dense layers. ``loss="adaproj"`` follows Wilkinghoff [5]_:
    class ``j``'s ``n_subclusters`` fixed random centres span a subspace with
    orthonormal basis ``Q_j``, and the logit is ``s ||Q_j^T e||`` for the
    unit-length embedding ``e`` (the cosine of ``e`` and its projection), with
    AdaCos's adaptive ``s``; no margin is added.

    Score: for a clip ``x`` of machine ``m`` and each domain ``d`` with training
    clips of ``m``, ``z_d = (1 - max_r cos(e(x), r) - mu_md) / sigma_md`` over the
    references ``r`` of ``(m, d)``, where ``mu_md``, ``sigma_md`` are the mean and
    standard deviation of the training clips' leave-one-out distances (``0`` and
    ``1`` below two clips); the score is ``min_d z_d``. Without ``domain`` at fit,
    a single reference set. The test clips' domains are not needed.

    Anomaly map (occlusion): each cell of a grid of 16 mel bins x
    ``excerpt_length // 4`` frames (a quarter of the clip's frames where
    ``excerpt_length`` is None) is set to the training mean in turn, and the
    map there is the drop of the clip's score, ``max(0, score - occluded score)``.

    References
    ----------
    .. [1] R. Giri, S. V. Tenneti, F. Cheng, K. Helwani, U. Isik, A. Krishnaswamy,
       "Self-supervised classification for detecting anomalous sounds", DCASE
       2020 Workshop (classifying machine IDs; rank 1 of DCASE 2020 Task 2).
    .. [2] K. Wilkinghoff, "Sub-cluster AdaCos: learning representations for
       anomalous sound detection", IJCNN 2021.
    .. [3] K. Wilkinghoff, "Design choices for learning embeddings from auxiliary
       tasks for domain generalization in anomalous sound detection", ICASSP 2023
       (attribute classes, mixup, per-domain nearest-neighbour cosine scoring).
    .. [4] J. Deng, J. Guo, N. Xue, S. Zafeiriou, "ArcFace: additive angular
       margin loss for deep face recognition", CVPR 2019.
    .. [5] K. Wilkinghoff, "AdaProj: adaptively scaled angular margin subspace
       projections for anomalous sound detection with auxiliary classification
       tasks", DCASE 2024 Workshop.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.detectors import AuxiliaryClassifierDetector
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(8, 16, 40)).astype(np.float32)
    >>> ids = np.array(["id_00", "id_02"] * 4)
    >>> det = AuxiliaryClassifierDetector(channels=(4, 8), embedding_dim=8,
    ...                                   excerpt_length=16, max_epochs=2,
    ...                                   random_state=0)
    >>> det.fit(X, machine_id=ids).classes_.tolist()
    ['id_00', 'id_02']
    >>> det.anomaly_score(X[:2], machine_id=ids[:2]).shape
    (2,)
    """

    __metadata_request__fit = {"machine_id": True, "attributes": True, "domain": True}
    __metadata_request__decision_function = {"machine_id": True}
    __metadata_request__predict = {"machine_id": True}
    __metadata_request__score = {"machine_id": True}

    _parameter_constraints = {
        **BaseSkorchDetector._parameter_constraints,
        "loss": [StrOptions(set(LOSSES))],
        "n_subclusters": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "scale": [Interval(numbers.Real, 0, None, closed="neither"), None],
        "margin": [Interval(numbers.Real, 0, math.pi / 2, closed="left")],
        "embedding_dim": [Interval(numbers.Integral, 1, None, closed="left")],
        "channels": [tuple, list],
        "excerpt_length": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "excerpt_hop": [Interval(numbers.Integral, 1, None, closed="left")],
        "mixup": ["boolean"],
        "spectrum_branch": ["boolean"],
        "self_supervised": [StrOptions({"auto"}), "boolean"],
    }

    def __init__(self, loss="adacos", n_subclusters=None, scale=None, margin=0.5,
                 embedding_dim=128, channels=(128, 128, 128, 128), excerpt_length=128,
                 excerpt_hop=32, mixup=True, self_supervised="auto", spectrum_branch=False,
                 *, max_epochs=30,
                 lr=1e-3, batch_size=32, optimizer=torch.optim.Adam, callbacks=None,
                 validation_fraction=None, windows_per_clip=2, threshold_quantile=0.9,
                 device="cpu", precision="float32", random_state=None, verbose=0):
        super().__init__(
            max_epochs=max_epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
            callbacks=callbacks, validation_fraction=validation_fraction,
            windows_per_clip=windows_per_clip, threshold_quantile=threshold_quantile,
            device=device, precision=precision, random_state=random_state,
            verbose=verbose)
        self.loss = loss
        self.n_subclusters = n_subclusters
        self.scale = scale
        self.margin = margin
        self.embedding_dim = embedding_dim
        self.channels = channels
        self.excerpt_length = excerpt_length
        self.excerpt_hop = excerpt_hop
        self.mixup = mixup
        self.self_supervised = self_supervised
        self.spectrum_branch = spectrum_branch

    def fit(self, X, y=None, *, machine_id=None, attributes=None, domain=None):
        """Train the embedding network on normal clips and store their embeddings.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_mels, n_frames)
            Log-mel spectrograms of normal clips (``LogMelTransformer`` output), or
            a list of such arrays of unequal ``n_frames``.
        y : None
            Ignored; accepted for ``Pipeline`` and ``GridSearchCV``.
        machine_id : array-like of shape (n_clips,), default=None
            Machine ID or section of each clip: one class per ID, and scoring
            against that ID's references. Clips of other machines are outlier
            classes.
        attributes : pandas.DataFrame or array-like of shape (n_clips, n_attributes), default=None
            Attribute values per clip (``Bunch.attributes`` of the DCASE 2022+
            loaders): each distinct row (with the machine ID) is a class.
        domain : array-like of shape (n_clips,), default=None
            ``"source"`` / ``"target"`` per clip: one reference set per domain.

        Returns
        -------
        self : object
            The fitted detector.

        Raises
        ------
        ValueError
            Wrong rank, NaN or infinite values (naming the clip), fewer than 2
            excerpts, or metadata that does not hold one value per clip.
        """
        return super().fit(X, y, machine_id=machine_id, attributes=attributes,
                           domain=domain)

    # ------------------------------------------------------ input and units
    def _validate_X(self, X, reset):
        X = check_spectrograms(self, X, reset=reset)
        if reset:
            if len(self.channels) == 0 or min(self.channels) < 1:
                raise ValueError(f"channels must be positive integers; got {self.channels}")
            self.n_mels_ = X.shape[1]
            self.scaler_ = SpectrogramScaler().fit(X)
        return X

    def _starts(self, n_frames):
        length = min(self.excerpt_length or n_frames, n_frames)
        starts = np.arange(0, n_frames - length + 1, self.excerpt_hop)
        if starts[-1] != n_frames - length:
            starts = np.append(starts, n_frames - length)
        return starts, length

    def _n_units(self, X):
        return len(self._starts(X.shape[2])[0])

    def _gather(self, X, clips, units):
        starts, length = self._starts(X.shape[2])
        frames = starts[units][:, None] + np.arange(length)
        excerpts = X[clips[:, None], :, frames]  # (batch, length, n_mels)
        return self.scaler_.transform(np.ascontiguousarray(excerpts.transpose(0, 2, 1)))

    # ------------------------------------------------------------ metadata
    def _check_metadata(self, metadata, n_clips, reset):
        ids = metadata.get("machine_id")
        if ids is not None:
            ids = _check_ids(ids, n_clips).astype(str)
        if not reset:
            return {"machine": self._encode_ids(ids, n_clips)}
        self.machine_ids_ = (np.array([None], dtype=object) if ids is None
                             else np.unique(ids))
        keys = pd.DataFrame({"machine_id": ids if ids is not None else np.full(n_clips, "")})
        attributes = metadata.get("attributes")
        if attributes is not None and np.shape(attributes)[-1:] != (0,):
            attributes = pd.DataFrame(attributes).reset_index(drop=True).astype(str)
            if len(attributes) != n_clips:
                raise ValueError(f"attributes must hold one row per clip ({n_clips}); "
                                 f"got {len(attributes)} rows.")
            keys = pd.concat([keys, attributes], axis=1)
        labels = keys.agg("|".join, axis=1).str.strip("|").to_numpy()
        self.classes_, codes = np.unique(labels, return_inverse=True)
        self.n_transforms_ = (len(_TRANSFORMS) if self.self_supervised is True or (
            self.self_supervised == "auto" and len(self.classes_) < 2) else 1)
        domain = metadata.get("domain")
        domain = (np.full(n_clips, "", dtype=object) if domain is None
                  else _check_domain(domain, n_clips).astype(str))
        return {"label": codes.astype(np.int64), "machine": self._encode_ids(ids, n_clips),
                "domain": domain}

    def _encode_ids(self, ids, n_clips):
        if self.machine_ids_[0] is None:
            return np.zeros(n_clips, dtype=np.int64)
        if ids is None:
            if len(self.machine_ids_) == 1:
                return np.zeros(n_clips, dtype=np.int64)
            raise ValueError(
                f"{type(self).__name__} was fitted with machine IDs "
                f"{self.machine_ids_.tolist()}: pass machine_id (one ID per clip) to "
                "score (with metadata routing enabled, a Pipeline routes it).")
        return _encode_ids(ids, self.machine_ids_, type(self).__name__)

    # --------------------------------------------------------------- network
    def _build_module(self):
        return _Embedder(self.n_mels_, tuple(self.channels), self.embedding_dim,
                         self.spectrum_branch)

    def _build_criterion(self):
        scale = 30.0 if self.loss == "arcface" and self.scale is None else self.scale
        dim = self.embedding_dim * (2 if self.spectrum_branch else 1)
        n_subclusters = (_PUBLISHED_SUBCLUSTERS[self.loss] if self.n_subclusters is None
                         else self.n_subclusters)
        return _AngularMarginLoss(len(self.classes_) * self.n_transforms_,
                                  n_subclusters, dim, self.loss, scale, self.margin)

    def _make_batch(self, units, metadata, training):
        X = torch.from_numpy(units)
        label = torch.from_numpy(metadata["label"])
        n = len(self.classes_) * self.n_transforms_
        if self.n_transforms_ > 1:  # torch's RNG: seeded by fit
            kinds = torch.randint(0, self.n_transforms_, label.shape)
            X, label = _transform(X, kinds), label * self.n_transforms_ + kinds
        y = F.one_hot(label, n).float()
        if training and self.mixup and len(X) > 1:
            order = torch.randperm(len(X))
            lam = torch.rand(len(X))
            X = lam[:, None, None] * X + (1 - lam[:, None, None]) * X[order]
            y = lam[:, None] * y + (1 - lam[:, None]) * y[order]
        return X, y

    # --------------------------------------------------------------- scoring
    def _embeddings(self, X):
        """``(n_clips, embedding_dim)`` unit-length clip embeddings (mean of the
        excerpts' unit-length embeddings)."""
        n_units = self._n_units(X)
        per_batch = max(1, SCORE_UNITS // n_units)
        units = np.arange(n_units)
        out = []
        for c0 in range(0, len(X), per_batch):
            clips = np.arange(c0, min(c0 + per_batch, len(X)))
            batch = self._gather(X, np.repeat(clips, n_units), np.tile(units, len(clips)))
            with self._scoring():
                e = self.net_.evaluation_step((torch.from_numpy(batch), None), training=False)
            e = F.normalize(e.float(), dim=1).view(len(clips), n_units, -1).mean(dim=1)
            out.append(F.normalize(e, dim=1).cpu().numpy().astype(np.float64))
        return np.concatenate(out)

    def _fit_clip_scores(self, X, meta):
        E = self._embeddings(X)
        machine, domain = meta["machine"], meta["domain"]
        self.references_, self.reference_stats_ = {}, {}
        for key in sorted(set(zip(machine.tolist(), domain.tolist()))):
            R = E[(machine == key[0]) & (domain == key[1])]
            self.references_[key], self.reference_stats_[key] = R, _leave_one_out_stats(R)
        return self._scores(E, machine, domain)

    _scores_any_sign = True  # standardized distances may be negative

    def _scores(self, E, machines, domains=None):
        """Min over the clip's machine's domains of the standardized cosine distance
        to the nearest reference; ``domains`` given: the training clips, each left
        out of its own reference set."""
        scores = np.full(len(E), np.inf)
        for key, R in self.references_.items():
            rows = np.flatnonzero(machines == key[0])
            if not rows.size:
                continue
            similarity = E[rows] @ R.T
            if domains is not None and len(R) > 1:
                mine = np.flatnonzero(domains[rows] == key[1])
                similarity[mine, np.arange(len(mine))] = -np.inf
            mean, std = self.reference_stats_[key]
            z = (1 - similarity.max(axis=1) - mean) / std
            scores[rows] = np.minimum(scores[rows], z)
        return scores

    def _clip_scores(self, X, meta):
        return self._scores(self._embeddings(X), meta["machine"])

    def _frame_scores(self, X, meta):
        """One score per clip (the clip embedding is scored as a whole)."""
        return list(self._clip_scores(X, meta)[:, None])

    def _unit_maps(self, X, meta):
        base = self._clip_scores(X, meta)
        n_mels, n_frames = X.shape[1:]
        fill = self.scaler_.mean_.astype(np.float32)[:, None]
        maps = np.zeros(X.shape, dtype=np.float64)
        bins, width = 16, max(1, (self.excerpt_length or n_frames) // 4)
        for b0 in range(0, n_mels, bins):
            for t0 in range(0, n_frames, width):
                occluded = X.copy()
                occluded[:, b0:b0 + bins, t0:t0 + width] = fill[b0:b0 + bins]
                drop = base - self._clip_scores(occluded, meta)
                maps[:, b0:b0 + bins, t0:t0 + width] = np.maximum(drop, 0)[:, None, None]
        return maps

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        return tags

    # ------------------------------------------------------ run-level models
    #: One network can serve several machine types: the other types' machines are
    #: outlier classes of each type's (Giri et al. 2020, Wilkinghoff 2021).
    #: ``sklasd.run`` and ``sklasd fit`` therefore fit one pipeline on every machine
    #: type's clips, each machine named by its type and ID, and keep per type the
    #: copy of :meth:`select_machines`.
    learns_across_machine_types = True

    def select_machines(self, machine_ids, names=None):
        """A copy that scores only the machines ``machine_ids``, under ``names``.

        The copy shares the network (``net_``), the input scaler and the classes;
        it keeps the references of those machines only and fits its threshold to
        their training clips' scores (each left out of its own reference set, as
        ``fit`` scores them). Its scores of those machines' clips equal this
        detector's.

        Parameters
        ----------
        machine_ids : sequence of str
            Machine IDs of ``machine_ids_`` to keep.
        names : sequence of str or None, default=None
            The IDs the copy knows them by (the ``machine_id`` to pass when
            scoring), one per entry of ``machine_ids``; None keeps them.

        Returns
        -------
        detector : AuxiliaryClassifierDetector
            The restricted copy.

        Raises
        ------
        ValueError
            If no ID is given, an ID was not seen at fit, or ``names`` does not
            hold one name per ID.
        """
        import copy

        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "references_")
        machine_ids = [str(m) for m in machine_ids]
        names = machine_ids if names is None else [str(n) for n in names]
        known = {m: i for i, m in enumerate(self.machine_ids_.tolist())}
        unknown = [m for m in machine_ids if m not in known]
        if not machine_ids or unknown or len(names) != len(machine_ids):
            raise ValueError(
                f"select_machines needs machine IDs seen at fit "
                f"({self.machine_ids_.tolist()}), one name each; got {machine_ids} "
                f"named {names}")
        new_index = {known[m]: i for i, m in enumerate(machine_ids)}
        out = copy.copy(self)
        out.machine_ids_ = np.asarray(names)
        out.references_ = {(new_index[m], d): R for (m, d), R in self.references_.items()
                           if m in new_index}
        out.reference_stats_ = {(new_index[m], d): v
                                for (m, d), v in self.reference_stats_.items()
                                if m in new_index}
        keys = list(out.references_)
        sizes = [len(out.references_[k]) for k in keys]
        out._fit_threshold(out._scores(
            np.concatenate([out.references_[k] for k in keys]),
            np.repeat([m for m, _ in keys], sizes), np.repeat([d for _, d in keys], sizes)))
        return out


def _leave_one_out_stats(R):
    """Mean and standard deviation of each reference's distance to its nearest other
    reference (``(0, 1)`` below two references)."""
    if len(R) < 2:
        return 0.0, 1.0
    similarity = R @ R.T
    np.fill_diagonal(similarity, -np.inf)
    distance = 1 - similarity.max(axis=1)
    std = float(distance.std())
    return float(distance.mean()), std if std > 0 else 1.0
