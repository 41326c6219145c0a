"""CNNFCClassifier: the CNN-FC audio-event classifier baseline of Kim et al. (2020).

Kim, Park, Han and Ko, "Dual Stage Learning Based Dynamic Time-Frequency Mask
Generation for Audio Event Classification", Interspeech 2020, section 4.2: the
classifier that :class:`~sklasd.classifiers.MaskEnhancer` puts its masks in front of.
"""
import math

import torch
import torch.nn.functional as F

from ._neural import BaseNeuralClassifier

__all__ = ["CNNFCClassifier", "KIM2020_FEATURES"]

#: ``LogMelTransformer`` parameters of Kim et al. (Interspeech 2020), section 4: 16 kHz, clips zero-padded
#: (or cropped) to 4 s, Hamming window of 512 samples, hop 256, 40 mel bands. Follow it
#: with ``SpectrogramScaler(per="minmax")`` (the paper's per-clip min-max normalization).
KIM2020_FEATURES = dict(sr=16000, n_fft=512, hop_length=256, window="hamming",
                        n_mels=40, duration=4.0, pad="constant")

# (kernel, stride) of the first max-pooling and of the later ones (Kim et al., 4.1, 4.2)
_FIRST_POOL = ((3, 3), (2, 2))
_LATER_POOL = ((3, 4), (2, 3))


def _ceil_div(n, d):
    return -(-n // d)


class _SamePool(torch.nn.Module):
    """Max-pooling with TensorFlow's "same" padding: ``ceil(n / stride)`` outputs."""

    def __init__(self, kernel, stride):
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x):
        pad = []
        for n, k, s in zip(x.shape[:-3:-1], self.kernel[::-1], self.stride[::-1]):
            total = max((_ceil_div(n, s) - 1) * s + k - n, 0)
            pad += [total // 2, total - total // 2]
        return F.max_pool2d(F.pad(x, pad, value=-math.inf), self.kernel, self.stride)


def pool_layer(index):
    """The max-pooling after conv layer ``index`` (0: 3x3 stride 2x2, else 3x4 stride 2x3)."""
    return _SamePool(*(_FIRST_POOL if index == 0 else _LATER_POOL))



# --------------------------------------------------------------------------- CNN-FC
class _CNNFC(torch.nn.Module):
    """3x3 conv + ReLU layers, max-pooling after the 1st, 3rd, 5th ..., then dense."""

    def __init__(self, channels, n_bands, n_frames, n_classes):
        super().__init__()
        layers, c, size = [], 1, [n_bands, n_frames]
        for i, k in enumerate(channels):
            layers += [torch.nn.Conv2d(c, k, 3, padding=1), torch.nn.ReLU()]
            if i % 2 == 0:
                pool = pool_layer(i)
                layers.append(pool)
                size = [_ceil_div(n, s) for n, s in zip(size, pool.stride)]
            c = k
        self.features = torch.nn.Sequential(*layers)
        self.classifier = torch.nn.Linear(c * size[0] * size[1], n_classes)

    def forward(self, x):
        return self.classifier(self.features(x.unsqueeze(1)).flatten(1))


class CNNFCClassifier(BaseNeuralClassifier):
    """The CNN-FC baseline of Kim et al. (Interspeech 2020): five 3x3 conv layers, three max-poolings, dense.

    The default pre-trained classifier of :class:`~sklasd.classifiers.MaskEnhancer`.

    Parameters
    ----------
    channels : tuple of int, default=(12, 36, 72, 96, 96)
        Kernels of the 3x3 convolution layers (stride 1, "same" padding, ReLU).
    frontend, augment, tta, excerpt_frames, excerpt_hop, smoothing, validation_fraction
        See :class:`~sklasd.classifiers._neural.BaseNeuralClassifier`.
    max_epochs : int, default=100
    lr : float, default=1e-3
        Adam's learning rate (paper).
    batch_size : int, default=64
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
        Non-zero parameters of the network.
    model_size_kb_ : float
        ``n_nonzero_params_ * 4 / 1024``.

    Notes
    -----
    Input ``(batch, n_bands, n_frames)`` -> one channel. Layer ``i`` (from 1):
    ``conv3x3(channels[i - 1])`` and ReLU; after layers 1, 3 and 5 a max-pooling
    with TensorFlow's "same" padding (``ceil(n / stride)`` outputs): 3x3 stride 2x2
    after layer 1, 3x4 stride 2x3 after the others. The feature map is flattened
    into a dense layer of ``n_classes_`` logits (softmax in the cross-entropy).
    On 40 x 251 inputs (:data:`KIM2020_FEATURES`) the map before the dense layer
    is 96 x 5 x 14.

    References
    ----------
    Kim, Park, Han, Ko, "Dual stage learning based dynamic time-frequency mask
    generation for audio event classification", Interspeech 2020, sections 4 and 4.2.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.classifiers.cnnfc import CNNFCClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(size=(12, 8, 16)).astype("float32")
    >>> y = np.repeat(["a", "b"], 6)
    >>> X[y == "b", :4] += 1.0
    >>> clf = CNNFCClassifier(channels=(4, 4, 8), max_epochs=5, random_state=0)
    >>> clf.fit(X, y).predict_proba(X).shape
    (12, 2)
    """

    _parameter_constraints = {
        **BaseNeuralClassifier._parameter_constraints,
        "channels": [tuple, list],
    }

    def __init__(self, channels=(12, 36, 72, 96, 96), *, frontend=None, augment=None,
                 tta=None, excerpt_frames=None, excerpt_hop=None, smoothing=1,
                 validation_fraction=None, max_epochs=100, lr=1e-3, batch_size=64,
                 optimizer=torch.optim.Adam, callbacks=None, device="cpu",
                 random_state=None, verbose=0):
        super().__init__(
            frontend=frontend, augment=augment, tta=tta, excerpt_frames=excerpt_frames,
            excerpt_hop=excerpt_hop, smoothing=smoothing,
            validation_fraction=validation_fraction, max_epochs=max_epochs, lr=lr,
            batch_size=batch_size, optimizer=optimizer, callbacks=callbacks,
            device=device, random_state=random_state, verbose=verbose)
        self.channels = channels

    def _build_module(self):
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be positive ints, got {self.channels}")
        return _CNNFC(self.channels, self.n_bands_, self.excerpt_frames_, self.n_classes_)
