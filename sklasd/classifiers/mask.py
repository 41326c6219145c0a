"""MaskEnhancer: dynamic time-frequency masks before a frozen classifier (Kim et al.).

Kim, Park, Han and Ko, "Dual Stage Learning Based Dynamic Time-Frequency Mask
Generation for Audio Event Classification", Interspeech 2020.
"""
import copy
import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted

from sklasd._skorch import batch_bounds

from ._neural import BaseNeuralClassifier
from .cnnfc import KIM2020_FEATURES, CNNFCClassifier, pool_layer  # noqa: F401 (re-export)
from ..utils._sklearn_compat import Interval, StrOptions

__all__ = ["MaskEnhancer", "dynamic_conv2d"]

# initial normalization bias of the last mask layer: sigmoid(3) = 0.95, so a stage
# starts near the identity (x * m ~ x), at the frozen classifier's accuracy
_MASK_BIAS = 3.0


def _check_layers(channels, dilations, name):
    if (len(channels) != len(dilations) or not channels
            or min(*channels, *dilations) < 1):
        raise ValueError(f"{name}_channels and {name}_dilations need the same non-zero "
                         f"length and positive ints, got {tuple(channels)} and "
                         f"{tuple(dilations)}")


# ---------------------------------------------------------------- mask building blocks
def dynamic_conv2d(x, weight, dilation=1):
    """3x3 convolution with "same" padding and per-sample (or shared) weights.

    Parameters
    ----------
    x : torch.Tensor of shape (batch, c_in, height, width)
    weight : torch.Tensor of shape (batch, c_out, c_in, 3, 3) or (c_out, c_in, 3, 3)
        One kernel per sample (dynamic filters) or one for all (static filters).
    dilation : int, default=1

    Returns
    -------
    y : torch.Tensor of shape (batch, c_out, height, width)

    Notes
    -----
    Per-sample kernels run as one grouped convolution: the batch is folded into
    the channels, ``(1, batch * c_in, H, W)``, and convolved with the
    ``(batch * c_out, c_in, 3, 3)`` kernels in ``groups=batch``, so sample ``b``
    meets only its own kernel ``weight[b]``.

    Examples
    --------
    >>> import torch
    >>> from sklasd.classifiers.mask import dynamic_conv2d
    >>> x, w = torch.ones(2, 3, 5, 7), torch.ones(2, 4, 3, 3, 3)
    >>> dynamic_conv2d(x, w, dilation=2).shape
    torch.Size([2, 4, 5, 7])
    """
    if weight.dim() == 4:
        return F.conv2d(x, weight, padding=dilation, dilation=dilation)
    b, c_in, h, w = x.shape
    y = F.conv2d(x.reshape(1, b * c_in, h, w), weight.reshape(-1, c_in, 3, 3),
                 padding=dilation, dilation=dilation, groups=b)
    return y.view(b, -1, h, w)


def _affine_layer_norm(h, scale, bias):
    """Zero mean, unit variance per sample over (C, H, W); then per-channel affine."""
    h = F.layer_norm(h, h.shape[1:])
    return h * scale[..., None, None] + bias[..., None, None]


def _conv_kernel_init(c_out, c_in):
    """Conv2d's default initialization: uniform in +-1 / sqrt(fan_in)."""
    bound = 1 / math.sqrt(9 * c_in)
    return torch.empty(c_out, c_in, 3, 3).uniform_(-bound, bound)


def _layer_shapes(channels):
    """(c_out, c_in) of each 3x3 conv of a mask layer on a one-channel input."""
    return list(zip(channels, (1, *channels[:-1])))


def _initial_biases(shapes):
    """Layer-norm biases: 0, and ``_MASK_BIAS`` in the last (sigmoid) layer."""
    return [torch.full((c,), _MASK_BIAS if i == len(shapes) - 1 else 0.0)
            for i, (c, _) in enumerate(shapes)]


class _FilterGenerator(torch.nn.Module):
    """``x (B, F, T)`` -> per sample, per mask layer: (kernel, LN scale, LN bias)."""

    def __init__(self, channels, dilations, mask_channels):
        super().__init__()
        layers, c = [], 1
        for i, (k, d) in enumerate(zip(channels, dilations)):
            layers += [torch.nn.Conv2d(c, k, 3, padding=d, dilation=d),
                       torch.nn.BatchNorm2d(k), pool_layer(i), torch.nn.ReLU()]
            c = k
        self.features = torch.nn.Sequential(*layers)
        self.shapes = _layer_shapes(mask_channels)
        self.kernel_heads = torch.nn.ModuleList(
            self._kernel_head(c, c_out, c_in) for c_out, c_in in self.shapes)
        self.norm_heads = torch.nn.ModuleList(
            torch.nn.Linear(c, 2 * c_out) for c_out, _ in self.shapes)
        for head, bias in zip(self.norm_heads, _initial_biases(self.shapes)):
            torch.nn.init.zeros_(head.weight)  # start input-independent: scale 1
            with torch.no_grad():
                head.bias.copy_(torch.cat([torch.zeros_like(bias), bias]))

    @staticmethod
    def _kernel_head(n_in, c_out, c_in):
        # bias = a static conv's initial kernel; the input-dependent part starts at
        # the same scale (1 / sqrt(fan_in)), so training starts like an ordinary conv.
        head = torch.nn.Linear(n_in, c_out * c_in * 9)
        with torch.no_grad():
            head.bias.copy_(_conv_kernel_init(c_out, c_in).flatten())
            head.weight.mul_(1 / math.sqrt(9 * c_in))
        return head

    def forward(self, x):
        v = self.features(x.unsqueeze(1)).mean(dim=(2, 3))
        out = []
        for (c_out, c_in), kernel, norm in zip(self.shapes, self.kernel_heads,
                                               self.norm_heads):
            scale_bias = norm(v).view(len(v), 2, c_out)
            out.append((kernel(v).view(len(v), c_out, c_in, 3, 3),
                        1 + scale_bias[:, 0], scale_bias[:, 1]))
        return out


class _StaticFilters(torch.nn.Module):
    """The SFE baseline's filters: learned kernels, LN scales and biases, same for all."""

    def __init__(self, mask_channels):
        super().__init__()
        shapes = _layer_shapes(mask_channels)
        P = torch.nn.Parameter
        self.kernels = torch.nn.ParameterList(P(_conv_kernel_init(*s)) for s in shapes)
        self.scales = torch.nn.ParameterList(P(torch.ones(c)) for c, _ in shapes)
        self.biases = torch.nn.ParameterList(P(b) for b in _initial_biases(shapes))

    def forward(self, x):
        return list(zip(self.kernels, self.scales, self.biases))


class _MaskStage(torch.nn.Module):
    """Filters (generated or static) + the 3x3 conv / LN / ReLU layers: ``x -> m``."""

    def __init__(self, filters, dilations):
        super().__init__()
        self.filters = filters
        self.dilations = tuple(dilations)

    def forward(self, x):
        h, layers = x.unsqueeze(1), self.filters(x)
        for i, ((kernel, scale, bias), d) in enumerate(zip(layers, self.dilations)):
            h = _affine_layer_norm(dynamic_conv2d(h, kernel, d), scale, bias)
            h = torch.sigmoid(h) if i == len(layers) - 1 else torch.relu(h)
        return h[:, 0]


class _MaskedClassifier(torch.nn.Module):
    """Mask stages applied in ``order`` (indices into ``stages``), then the classifier.

    A child module whose parameters are all frozen stays in eval mode (its batch
    norm statistics and dropout do not change) whatever skorch sets.
    """

    def __init__(self, stages, order, classifier):
        super().__init__()
        self.stages = torch.nn.ModuleList(stages)
        self.order = list(order)
        self.classifier = classifier

    def train(self, mode=True):
        super().train(mode)
        for module in [self.classifier, *self.stages]:
            if not any(p.requires_grad for p in module.parameters()):
                module.eval()
        return self

    def mask(self, x):
        m = torch.ones_like(x)
        for i in self.order:
            m = m * self.stages[i](x * m)
        return m

    def forward(self, x):
        return self.classifier(x * self.mask(x))


# ------------------------------------------------------------------------- estimator
class MaskEnhancer(TransformerMixin, BaseNeuralClassifier):
    """Learned (dynamic) time-frequency masks in front of a frozen pre-trained classifier.

    A classifier and a transformer: ``transform(X)`` is the enhanced spectrogram
    ``X * mask(X)``; ``predict`` / ``predict_proba`` run the frozen classifier on it.

    Parameters
    ----------
    classifier : BaseNeuralClassifier or None, default=None
        A fitted sklasd classifier (used as is), an unfitted one (a clone is
        fitted first on the ``fit`` data) or None:
        :class:`~sklasd.classifiers.CNNFCClassifier` with this enhancer's
        ``max_epochs``, ``lr``, ``batch_size``, ``optimizer``,
        ``device``, ``random_state`` and ``verbose``. Its network is copied and
        frozen; the mask multiplies exactly what the classifier eats.
    mode : {"sfe", "dfe", "dcl", "dsl"}, default="dsl"
        ``"sfe"``: one static mask layer (learned fixed weights, the SFE baseline);
        ``"dfe"``: one dynamic stage (filter generator + dynamic layer);
        ``"dcl"``: two dynamic stages trained in cascade, the second with the first
        frozen (``2 * max_epochs`` epochs in all); ``"dsl"``: one stage applied
        twice (two generators sharing their weights), trained end to end.
    generator_channels : tuple of int, default=(12, 72, 256)
        Kernels of the filter generator's dilated 3x3 conv layers; the last is the
        length of the vector the dense heads read.
    generator_dilations : tuple of int, default=(6, 4, 1)
    mask_channels : tuple of int, default=(24, 96, 96, 96, 1)
        Kernels of the dynamic filter layer's dilated 3x3 conv layers; the last
        must be 1 (the mask).
    mask_dilations : tuple of int, default=(1, 2, 4, 8, 1)
    augment, validation_fraction
        See :class:`~sklasd.classifiers._neural.BaseNeuralClassifier`.
    max_epochs : int, default=100
        Epochs of each training stage (and of the default classifier).
    lr : float, default=1e-3
        Adam's learning rate (paper).
    batch_size : int, default=64
        Training batch, also the clips per forward pass of :meth:`mask`.
    optimizer : torch.optim.Optimizer class, default=torch.optim.Adam
    callbacks : list of skorch callbacks or None, default=None
    device : str, default="cpu"
    random_state : int, RandomState instance or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    classifier_ : BaseNeuralClassifier
        The fitted classifier (the given fitted object itself, or the one trained
        here); its ``excerpt_frames_``, ``excerpt_hop`` and ``smoothing`` are used.
    classes_ : ndarray of shape (n_classes_,)
        ``classifier_.classes_``.
    n_classes_, n_features_in_, n_bands_, excerpt_frames_
        See the base class.
    net_ : skorch.NeuralNet
        ``net_.module_.body`` holds ``stages`` (the mask stages), ``order`` (the
        stage applied at each pass: ``[0]``, ``[0, 1]`` for "dcl", ``[0, 0]`` for
        "dsl") and ``classifier`` (the frozen copy of the classifier's network).
    n_enhancer_params_ : int
        Trainable parameters of the mask stages (a shared stage counted once).
    n_nonzero_params_, model_size_kb_ : int, float
        Of the whole body (mask stages and frozen classifier).

    Raises
    ------
    RuntimeError
        From :meth:`fit` if the frozen classifier's weights changed (a bug guard).

    Notes
    -----
    One stage maps ``x`` (``n_bands x n_frames``) to a mask ``m`` in [0, 1] of the
    same shape (eqs. 1-3 of the paper):

    - Filter generator: ``len(generator_channels)`` layers of [dilated 3x3 conv,
      batch norm, max-pooling, ReLU]; the first pooling is 3x3 stride 2x2, the
      others 3x4 stride 2x3 (TensorFlow "same" padding); the mean over frequency
      and time gives ``v`` (256-d). Dense heads read ``v``: head ``i`` gives the
      kernel ``W_i(v)`` of mask layer ``i``, head ``n + i`` its layer-norm scale
      ``1 + g_i(v)`` and bias ``b_i(v)`` (10 heads for 5 layers).
    - Dynamic filter layer: ``h_0 = x``, ``h_i = phi(LN(W_i(v) * h_{i-1}))`` with
      ``*`` the dilated 3x3 convolution, ``LN(z) = (1 + g_i) (z - mu) / sigma + b_i``
      (``mu``, ``sigma`` over one sample's channels, frequencies and frames),
      ``phi`` = ReLU, and the sigmoid for the last layer: ``m = h_n``.
    - The classifier reads ``x * m`` (eq. 3); the loss is its cross-entropy; only
      the mask stages learn.

    SFE uses the same layer with learned static ``W_i``, ``g_i``, ``b_i``. Two
    stages: ``x_1 = x * m_1(x)``, ``x_2 = x_1 * m_2(x_1)``; :meth:`mask` returns
    ``m_1 * m_2`` so that ``transform(X) = X * mask(X)``. In "dsl" ``m_2`` is the
    same stage as ``m_1`` (its batch norm statistics see both passes).

    Initialization (not given in the paper): kernel heads start with their bias
    at a conv layer's default initial kernel and a weight scaled by
    ``1 / sqrt(9 c_in)``; norm heads start input-independent at scale 1 and bias
    0, except the last layer's bias 3: ``m ~ sigmoid(3) = 0.95``, so every stage
    (also DCL's second) starts near the identity, at the classifier's accuracy.
    Layer-norm heads give per-channel scales and biases.

    Size with the defaults: the dense heads map 256 values to the 187,704 kernel
    weights (216 + 20,736 + 2 x 82,944 + 864) and 626 scales and biases, so one
    generator has 48,575,602 parameters (48,400,810 in its heads, about 185 MiB
    in float32); "dsl" has that many, "dcl" twice, "sfe" 188,330.

    :meth:`transform` and :meth:`mask` compute the mask of whole clips (the
    generator averages over time); ``predict_proba`` computes it per excerpt of
    ``excerpt_frames_`` frames, as the classifier predicts (identical for clips
    of that length, such as the paper's fixed 4-s features). The paper's
    features: ``LogMelTransformer(**KIM2020_FEATURES)`` then
    ``SpectrogramScaler(per="minmax")`` (40 x 251 per clip; the paper reports
    248 frames).

    References
    ----------
    Kim, Park, Han and Ko, Interspeech 2020, sections 3.1-3.3
    (DFE, layer normalization, DCL and DSL), 4 (features, training), 4.1
    (architecture) and 4.2 (CNN-FC, SFE).

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.classifiers import CNNFCClassifier, MaskEnhancer
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(12, 8, 16)).astype("float32")
    >>> y = np.repeat(["a", "b"], 6)
    >>> X[y == "b", :4] += 1.0
    >>> clf = CNNFCClassifier(channels=(4, 4), max_epochs=5, random_state=0).fit(X, y)
    >>> enh = MaskEnhancer(clf, mode="dsl", generator_channels=(4, 8),
    ...                    generator_dilations=(2, 1), mask_channels=(4, 1),
    ...                    mask_dilations=(1, 1), max_epochs=2, random_state=0)
    >>> enh.fit(X, y).transform(X).shape, enh.predict(X[:2]).shape
    ((12, 8, 16), (2,))
    >>> m = enh.mask(X)
    >>> bool(m.min() >= 0 and m.max() <= 1)
    True
    """

    _parameter_constraints = {
        **BaseNeuralClassifier._parameter_constraints,
        "classifier": [BaseNeuralClassifier, None],
        "mode": [StrOptions({"sfe", "dfe", "dcl", "dsl"})],
        "generator_channels": [tuple, list],
        "generator_dilations": [tuple, list],
        "mask_channels": [tuple, list],
        "mask_dilations": [tuple, list],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    # The base's settings below are read from the fitted classifier, not
    # parameters: the enhancer excerpts and smooths exactly as its classifier. The
    # base's __init__ assigns them; the setters ignore that.
    @property
    def excerpt_frames(self):
        """Frames per excerpt: ``classifier_.excerpt_frames_`` (read-only).

        Returns
        -------
        excerpt_frames : int
        """
        return self.classifier_.excerpt_frames_

    @excerpt_frames.setter
    def excerpt_frames(self, value):
        pass

    @property
    def excerpt_hop(self):
        """Hop between excerpts at prediction: ``classifier_.excerpt_hop`` (read-only).

        Returns
        -------
        excerpt_hop : int or None
        """
        return self.classifier_.excerpt_hop

    @excerpt_hop.setter
    def excerpt_hop(self, value):
        pass

    @property
    def smoothing(self):
        """Median smoothing of the excerpt probabilities: ``classifier_.smoothing`` (read-only).

        Returns
        -------
        smoothing : int
        """
        return self.classifier_.smoothing

    @smoothing.setter
    def smoothing(self, value):
        pass

    def __init__(self, classifier=None, mode="dsl", generator_channels=(12, 72, 256),
                 generator_dilations=(6, 4, 1), mask_channels=(24, 96, 96, 96, 1),
                 mask_dilations=(1, 2, 4, 8, 1), *, augment=None,
                 validation_fraction=None, max_epochs=100, lr=1e-3, batch_size=64,
                 optimizer=torch.optim.Adam, callbacks=None, device="cpu",
                 random_state=None, verbose=0):
        super().__init__(
            augment=augment, validation_fraction=validation_fraction,
            max_epochs=max_epochs, lr=lr, batch_size=batch_size, optimizer=optimizer,
            callbacks=callbacks, device=device, random_state=random_state,
            verbose=verbose)
        self.classifier = classifier
        self.mode = mode
        self.generator_channels = generator_channels
        self.generator_dilations = generator_dilations
        self.mask_channels = mask_channels
        self.mask_dilations = mask_dilations

    # ------------------------------------------------------------- training
    def fit(self, X, y):
        """Fit the classifier if needed, then train the mask stages with it frozen.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_bands, n_frames) or (n_clips, n_features), or list of (n_bands, n_frames_i) arrays
            What the classifier eats (e.g. min-max normalized log-mel spectrograms).
        y : array-like of shape (n_clips,)
            Class labels, all among the classifier's classes.

        Returns
        -------
        self : MaskEnhancer

        Raises
        ------
        ValueError
            Bad parameters (layer lists of unequal lengths, a last mask channel
            other than 1), wrong rank, NaN / inf (naming the sample), a band count
            other than the classifier's, labels the classifier does not know.
        RuntimeError
            If the frozen classifier's weights changed.
        """
        self._validate_params()
        self._check_architecture()
        self._validate_X(X, reset=True)
        self.classifier_ = self._fitted_classifier(X, y)
        if self.classifier_.n_features_in_ != self.n_features_in_:
            raise ValueError(
                f"X has {self.n_features_in_} bands per frame but the classifier "
                f"was fitted on {self.classifier_.n_features_in_}")
        super().fit(X, y)
        self._check_frozen()
        self.n_enhancer_params_ = sum(
            p.numel() for p in self.net_.module_.body.stages.parameters())
        return self

    def _check_architecture(self):
        _check_layers(self.generator_channels, self.generator_dilations, "generator")
        _check_layers(self.mask_channels, self.mask_dilations, "mask")
        if self.mask_channels[-1] != 1:
            raise ValueError(f"mask_channels must end with 1 (the mask), got "
                             f"{tuple(self.mask_channels)}")

    def _fitted_classifier(self, X, y):
        if self.classifier is not None and hasattr(self.classifier, "net_"):
            return self.classifier
        if self.classifier is not None:
            return clone(self.classifier).fit(X, y)
        return CNNFCClassifier(
            max_epochs=self.max_epochs, lr=self.lr, batch_size=self.batch_size,
            optimizer=self.optimizer, device=self.device,
            random_state=self.random_state, verbose=self.verbose).fit(X, y)

    def _encode_labels(self, y, n_clips):
        codes = super()._encode_labels(y, n_clips)
        known = self.classifier_.classes_
        unknown = self.classes_[~np.isin(self.classes_, known)]
        if unknown.size:
            raise ValueError(f"labels {unknown.tolist()} are not among the "
                             f"classifier's classes {known.tolist()}")
        codes = np.searchsorted(known, self.classes_)[codes]
        self.classes_, self.n_classes_ = known, len(known)
        return codes.astype(np.int64)

    def _standardize(self, network, clips):
        """No-op: the mask multiplies the raw input; the classifier standardizes it."""

    def _new_stage(self):
        if self.mode == "sfe":
            filters = _StaticFilters(self.mask_channels)
        else:
            filters = _FilterGenerator(self.generator_channels, self.generator_dilations,
                                       self.mask_channels)
        return _MaskStage(filters, self.mask_dilations)

    def _build_module(self):
        classifier = copy.deepcopy(self.classifier_.net_.module_).requires_grad_(False)
        order = [0, 0] if self.mode == "dsl" else [0]
        return _MaskedClassifier([self._new_stage()], order, classifier)

    def _train_net(self, network, clips, y, rng):
        net = super()._train_net(network, clips, y, rng)
        if self.mode == "dcl":  # cascade: freeze stage 1, train a second stage on it
            body = network.body
            body.stages[0].requires_grad_(False)
            body.stages.append(self._new_stage().to(self.device))
            body.order.append(1)
            net = super()._train_net(network, clips, y, rng)
        return net

    def _check_frozen(self):
        reference = self.classifier_.net_.module_.state_dict()
        for name, value in self.net_.module_.body.classifier.state_dict().items():
            if not torch.equal(value.cpu(), reference[name].cpu()):
                raise RuntimeError(f"the frozen classifier's {name!r} changed in fit")

    # --------------------------------------------------------------- masks
    def mask(self, X):
        """The time-frequency masks of whole clips (all stages' product).

        Parameters
        ----------
        X : array-like of shape (n_clips, n_bands, n_frames) or (n_clips, n_features), or list of (n_bands, n_frames_i) arrays

        Returns
        -------
        masks : ndarray of the shape of ``X`` (list for a ragged list), float32
            Values in [0, 1].

        Raises
        ------
        ValueError
            Wrong rank or band count, NaN / inf (naming the sample).
        """
        check_is_fitted(self, "net_")
        clips = self._validate_X(X, reset=False)
        return self._like_input(X, self._masks(clips))

    def transform(self, X):
        """The enhanced spectrograms ``X * mask(X)``.

        Parameters
        ----------
        X : array-like of shape (n_clips, n_bands, n_frames) or (n_clips, n_features), or list of (n_bands, n_frames_i) arrays

        Returns
        -------
        X_enhanced : ndarray of the shape of ``X`` (list for a ragged list), float32

        Raises
        ------
        ValueError
            Wrong rank or band count, NaN / inf (naming the sample).
        """
        check_is_fitted(self, "net_")
        clips = self._validate_X(X, reset=False)
        masks = self._masks(clips)
        return self._like_input(X, [c * m for c, m in zip(clips, masks)])

    def _masks(self, clips):
        """Masks of ``clips``: stacked in batches if of equal shape, else one by one."""
        module = self.net_.module_.train(False)
        n = len(clips)
        same = len({c.shape for c in clips}) == 1
        bounds = (batch_bounds(n, self.batch_size) if same
                  else zip(range(n), range(1, n + 1)))
        out = []
        with torch.inference_mode():
            for a, b in bounds:
                x = torch.from_numpy(np.stack(clips[a:b])).to(self.device)
                out += list(module.body.mask(x).float().cpu().numpy())
        return out

    @staticmethod
    def _like_input(X, clips):
        """Clips as ``X`` came: a list if ragged, 2-D for a 2-D ``X``, else 3-D."""
        if len({c.shape for c in clips}) > 1:
            return clips
        out = np.stack(clips)
        ndim = 1 + np.ndim(X[0]) if isinstance(X, (list, tuple)) else np.asarray(X).ndim
        return out[:, 0] if ndim == 2 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
