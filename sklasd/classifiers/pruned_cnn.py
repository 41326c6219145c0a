"""PrunedCNNClassifier: VGG- and Inception-style CNNs with magnitude pruning (Ooi et al.)."""
import copy
import numbers
import warnings

import torch

from ._neural import BaseNeuralClassifier
from .pruning import PolynomialDecayPruning
from ..utils._sklearn_compat import Interval, StrOptions

__all__ = ["PrunedCNNClassifier", "OOI2020_FEATURES"]

#: ``LogMelTransformer`` parameters of Ooi et al. (DCASE 2020 Task 1B), section 2.1.
#:
#: Mono down-mix, 2048-sample
#: Hann window, 50 % overlap, 48 mel bands from 0 Hz to sr / 2 (use ``sr=48000``).
OOI2020_FEATURES = dict(n_fft=2048, hop_length=1024, window="hann", n_mels=48,
                        fmin=0.0, fmax=None, channel=None)

_DEFAULT_BLOCKS = {"vgg": (2, 2, 3, 3), "inception": (2, 1, 2)}


def _conv_bn_relu(c_in, c_out):
    return [torch.nn.Conv2d(c_in, c_out, 3, padding=1), torch.nn.BatchNorm2d(c_out),
            torch.nn.ReLU()]


def _pool():
    # ceil_mode keeps a 1-pixel side (tiny inputs) at 1 instead of 0
    return torch.nn.MaxPool2d(2, ceil_mode=True)


class _Inception(torch.nn.Module):
    """Inception(k): 1x1 | 1x1-3x3 | 1x1-5x5 | 3x3 max-pool-1x1, k filters each, ReLU, no BN."""

    def __init__(self, c_in, k):
        super().__init__()
        relu = torch.nn.ReLU

        def conv(c_i, size):
            return [torch.nn.Conv2d(c_i, k, size, padding=size // 2), relu()]

        self.branches = torch.nn.ModuleList([
            torch.nn.Sequential(*conv(c_in, 1)),
            torch.nn.Sequential(*conv(c_in, 1), *conv(k, 3)),
            torch.nn.Sequential(*conv(c_in, 1), *conv(k, 5)),
            torch.nn.Sequential(torch.nn.MaxPool2d(3, stride=1, padding=1),
                                *conv(c_in, 1)),
        ])

    def forward(self, x):
        return torch.cat([b(x) for b in self.branches], dim=1)


class _CNN(torch.nn.Module):
    """Feature layers, global average pooling, dense softmax layer; L2 penalty."""

    def __init__(self, layers, n_channels, n_classes, l2):
        super().__init__()
        self.features = torch.nn.Sequential(*layers)
        self.classifier = torch.nn.Linear(n_channels, n_classes)
        self.l2 = l2

    def forward(self, x):
        h = self.features(x.unsqueeze(1))
        return self.classifier(h.mean(dim=(2, 3)))

    def penalty(self):
        """``l2 * sum(w ** 2)`` over conv and dense kernels (Keras' kernel_regularizer)."""
        kernels = [m.weight for m in self.modules()
                   if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
        return self.l2 * sum(w.square().sum() for w in kernels)


def _vgg_layers(blocks, filters):
    layers, c = [], 1
    for stage, count in enumerate(blocks):
        k = filters * 2 ** stage
        for _ in range(count):
            layers += _conv_bn_relu(c, k) + _conv_bn_relu(k, k)
            c = k
        if count:
            layers.append(_pool())
    return layers, c


def _inception_layers(blocks, filters):
    layers, c = _conv_bn_relu(1, filters) + [_pool()], filters
    for stage, count in enumerate(blocks):
        k = filters * 2 ** stage // 2
        for _ in range(count):
            layers.append(_Inception(c, k))
            c = 4 * k
        if count and stage < len(blocks) - 1:
            layers.append(_pool())
    return layers, c


class PrunedCNNClassifier(BaseNeuralClassifier):
    """VGG- or Inception-style CNN classifier of spectrograms, pruned while training.

    Parameters
    ----------
    architecture : {"vgg", "inception"}, default="vgg"
        ``"vgg"``: V(a, b, c, d); ``"inception"``: I(p, q, r). Layers in Notes.
    blocks : tuple of int or None, default=None
        Modules per stage: ``(a, b, c, d)`` for VGG (default (2, 2, 3, 3)),
        ``(p, q, r)`` for Inception (default (2, 1, 2)); 0 skips a stage.
    filters : int, default=16
        Filters ``k`` of the first stage; stage ``s`` (from 0) uses
        ``filters * 2**s`` (VGG) or ``filters * 2**s // 2`` per branch (Inception).
    l2 : float, default=1e-3
        Coefficient of the L2 penalty ``l2 * sum(w ** 2)`` on conv and dense kernels.
    pruning : "default", PolynomialDecayPruning or None, default="default"
        "default": the paper's schedule, ``PolynomialDecayPruning()`` (s_i = 0.1,
        s_f = 0.8, t0 = 100, dt = 10, n = 20); an instance: that schedule
        (deep-copied); None: no pruning.
    frontend, augment, tta, excerpt_frames, excerpt_hop, smoothing, validation_fraction
        See :class:`~sklasd.classifiers._neural.BaseNeuralClassifier`.
    max_epochs : int, default=400
    lr : float, default=1e-4
        Adam's learning rate (paper).
    batch_size : int, default=128
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    callbacks : list of skorch callbacks or None, default=None
    device : str, default="cpu"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classes_, n_classes_, n_features_in_, n_bands_, excerpt_frames_, net_
        See the base class.
    n_nonzero_params_ : int
        Non-zero parameters of the network after pruning (incl. biases and batch
        norm statistics).
    model_size_kb_ : float
        ``n_nonzero_params_ * 4 / 1024`` (float32, the paper's model size).

    Notes
    -----
    Input ``(batch, n_bands, n_frames)`` -> one channel. ``conv(k)`` is a 3x3
    convolution with ``k`` filters, padding 1; ``pool`` is 2x2 max-pooling.

    V(a, b, c, d), stage ``s`` with ``k_s = filters * 2**s``: ``n_s`` times
    VGG(k_s) = [conv(k_s), BatchNorm, ReLU, conv(k_s), BatchNorm, ReLU], then one
    pool (skipped when ``n_s = 0``). Then global average pooling over frequency and
    time and a dense layer to ``n_classes_`` logits (softmax in the loss).

    I(p, q, r): stem [conv(filters), BatchNorm, ReLU, pool]; stage ``s`` with
    ``k_s = filters * 2**s // 2``: ``n_s`` times Inception(k_s) = concat of four
    branches [1x1 conv], [1x1 conv, 3x3 conv], [1x1 conv, 5x5 conv], [3x3 max-pool
    stride 1, 1x1 conv], each conv ``k_s`` filters + ReLU and no batch norm (so
    ``4 * k_s`` channels out); a pool after every stage but the last; global
    average pooling and the dense layer.

    Loss: cross-entropy + ``l2 * sum(w ** 2)``. The paper's features are
    :data:`OOI2020_FEATURES` (``LogMelTransformer(sr=48000, **OOI2020_FEATURES)``).
    Its ensemble (five VGG + one Inception, mean of probabilities) is
    ``VotingClassifier(..., voting="soft")``; :func:`~sklasd.classifiers.model_size`
    gives its size.

    References
    ----------
    Ooi et al., DCASE 2020 Task 1B, sections 2.1, 3.1, 3.2 and 4.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.classifiers import PrunedCNNClassifier
    >>> from sklasd.classifiers.pruning import PolynomialDecayPruning
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(12, 8, 10)).astype("float32")
    >>> y = np.repeat(["a", "b"], 6)
    >>> X[y == "b", :4] += 2.0
    >>> schedule = PolynomialDecayPruning(begin_epoch=1, frequency=1, n_prunings=2)
    >>> clf = PrunedCNNClassifier(blocks=(1, 1, 0, 0), filters=4, pruning=schedule,
    ...                           max_epochs=3, lr=1e-2, random_state=0).fit(X, y)
    >>> clf.predict_proba(X).shape, clf.n_nonzero_params_ < 400
    ((12, 2), True)
    """

    _parameter_constraints = {
        **BaseNeuralClassifier._parameter_constraints,
        "architecture": [StrOptions({"vgg", "inception"})],
        "blocks": [tuple, list, None],
        "filters": [Interval(numbers.Integral, 2, None, closed="left")],
        "l2": [Interval(numbers.Real, 0, None, closed="left")],
        "pruning": [StrOptions({"default"}), PolynomialDecayPruning, None],
    }

    def __init__(self, architecture="vgg", blocks=None, filters=16, l2=1e-3,
                 pruning="default", *, frontend=None, augment=None, tta=None,
                 excerpt_frames=None, excerpt_hop=None, smoothing=1,
                 validation_fraction=None, max_epochs=400, lr=1e-4, batch_size=128,
                 optimizer=torch.optim.Adam, callbacks=None, device="cpu",
                 random_state=None, verbose=0):
        super().__init__(
            frontend=frontend, augment=augment, tta=tta, excerpt_frames=excerpt_frames,
            excerpt_hop=excerpt_hop, smoothing=smoothing,
            validation_fraction=validation_fraction, max_epochs=max_epochs, lr=lr,
            batch_size=batch_size, optimizer=optimizer, callbacks=callbacks,
            device=device, random_state=random_state, verbose=verbose)
        self.architecture = architecture
        self.blocks = blocks
        self.filters = filters
        self.l2 = l2
        self.pruning = pruning

    def _build_module(self):
        blocks = tuple(self.blocks or _DEFAULT_BLOCKS[self.architecture])
        n_stages = len(_DEFAULT_BLOCKS[self.architecture])
        if len(blocks) != n_stages or min(blocks) < 0:
            raise ValueError(f"architecture={self.architecture!r} needs blocks of "
                             f"{n_stages} non-negative ints, got {blocks}")
        build = _vgg_layers if self.architecture == "vgg" else _inception_layers
        layers, channels = build(blocks, self.filters)
        return _CNN(layers, channels, self.n_classes_, self.l2)

    def _pruning(self):
        if self.pruning is None:
            return None
        if self.pruning == "default":
            return PolynomialDecayPruning()
        return copy.deepcopy(self.pruning)

    def _default_callbacks(self):
        pruning = self._pruning()
        if pruning is None:
            return []
        last = pruning.begin_epoch + pruning.n_prunings * pruning.frequency
        if 0 < self.max_epochs < last:
            warnings.warn(
                f"max_epochs={self.max_epochs} ends before the last pruning epoch "
                f"{last}: final_sparsity={pruning.final_sparsity} is not reached; scale "
                "begin_epoch, frequency and n_prunings of the pruning schedule",
                UserWarning)
        return [("pruning", pruning)]
