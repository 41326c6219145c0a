"""Spectrogram augmentations applied on the fly to training batches (Schlüter and Grill).

Every augmentation has one ``strength`` parameter (0 is the identity), its own
seeded ``torch.Generator`` (never the global seeds) and works on a whole batch
``(batch, n_bins, n_frames)`` of torch tensors on any device. Give them to a
classifier as ``augment=[...]``; each runs at its ``stage``:

- ``"spectrogram"``: the classifier's input, before its in-network mel front end.
  Pitch shift, time stretch, frequency filters and mixing need that input to be a
  linear-frequency spectrogram (``needs_linear``); block mixing works on any input.
- ``"db"``: after the front end's logarithm, in dB (loudness).
- ``"network"``: the standardized network input (Gaussian noise, input dropout).

:func:`pitch_shift` and :func:`time_stretch` are the deterministic warps (used by
test-time augmentation, ``tta=``).

References
----------
Schlüter and Grill, ISMIR 2015, section 4; Ooi et al., DCASE 2020 Task 1B,
section 2.2 (block mixing).
"""
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator

from .utils._sklearn_compat import Interval

__all__ = [
    "BlockMixing", "FrequencyFilter", "GaussianNoise", "InputDropout", "Loudness",
    "MixNegatives", "PitchShift", "TimeStretch", "pitch_shift", "time_stretch",
]


def _interpolate(x, positions, dim, outside):
    """Linear interpolation of ``x`` along ``dim`` at fractional ``positions``.

    ``positions`` broadcasts against ``x`` with length ``x.shape[dim]`` on ``dim``.
    ``outside="zero"`` gives 0 beyond the last index; ``"edge"`` holds the edges.
    """
    n = x.shape[dim]
    pos = positions.clamp(0, n - 1)
    lo = pos.floor().long()
    hi = (lo + 1).clamp_max(n - 1)
    w = (pos - lo).to(x.dtype)
    shape = list(x.shape)
    expand = lambda t: t.expand(shape)  # noqa: E731
    lo_val = torch.gather(x, dim, expand(lo))
    hi_val = torch.gather(x, dim, expand(hi))
    out = lo_val * (1 - w) + hi_val * w
    if outside == "zero":
        out = out * expand(positions <= n - 1).to(x.dtype)
    return out


def _factors(factor, x):
    """Per-example factors of shape (batch, 1, 1) on ``x``'s device."""
    f = torch.as_tensor(factor, dtype=torch.float32, device=x.device)
    return f.reshape(-1, 1, 1).expand(x.shape[0], 1, 1)


def pitch_shift(X, factor):
    """Scale linear-frequency spectrograms vertically: frequency ``f`` moves to ``factor * f``.

    Parameters
    ----------
    X : torch.Tensor of shape (batch, n_bins, n_frames)
        Linear-frequency spectrograms (bin 0 is 0 Hz, bins evenly spaced).
    factor : float or torch.Tensor of shape (batch,)
        Frequency scale factor (1.2 = 20 % up), per example or for all.

    Returns
    -------
    Y : torch.Tensor, same shape as ``X``
        ``Y[:, k] = X[:, k / factor]`` (linear interpolation between bins); bins
        whose source lies above the top bin are 0. The bottom stays at 0 Hz.

    References
    ----------
    Schlüter and Grill, ISMIR 2015, section 4.2.

    Examples
    --------
    >>> import torch
    >>> from sklasd.augment import pitch_shift
    >>> X = torch.zeros(1, 10, 1); X[0, 4] = 1.0
    >>> int(pitch_shift(X, 1.5)[0, :, 0].argmax())
    6
    """
    f = _factors(factor, X)
    k = torch.arange(X.shape[1], device=X.device, dtype=torch.float32).view(1, -1, 1)
    return _interpolate(X, k / f, 1, "zero")


def time_stretch(X, factor):
    """Scale spectrograms horizontally about their central frame.

    Parameters
    ----------
    X : torch.Tensor of shape (batch, n_bins, n_frames)
    factor : float or torch.Tensor of shape (batch,)
        Time scale factor (1.2 = 20 % longer, slower).

    Returns
    -------
    Y : torch.Tensor, same shape as ``X``
        ``Y[..., t] = X[..., c + (t - c) / factor]`` with ``c = (n_frames - 1) / 2``
        (the central part is kept); sources outside the excerpt hold the edge
        frames.

    References
    ----------
    Schlüter and Grill, ISMIR 2015, section 4.2.

    Examples
    --------
    >>> import torch
    >>> from sklasd.augment import time_stretch
    >>> X = torch.arange(5.0).view(1, 1, 5)
    >>> time_stretch(X, 2.0)[0, 0].tolist()
    [1.0, 1.5, 2.0, 2.5, 3.0]
    """
    f = _factors(factor, X)
    c = (X.shape[2] - 1) / 2
    t = torch.arange(X.shape[2], device=X.device, dtype=torch.float32).view(1, 1, -1)
    return _interpolate(X, c + (t - c) / f, 2, "edge")


class _Augmentation(BaseEstimator):
    """One strength parameter, an own generator per device, ``reset`` to reseed."""

    stage = "spectrogram"
    needs_linear = False

    _parameter_constraints = {
        "strength": [Interval(numbers.Real, 0, None, closed="left")],
        "random_state": [Interval(numbers.Integral, 0, None, closed="left"), None],
    }

    def __init__(self, strength, *, random_state=None):
        self.strength = strength
        self.random_state = random_state

    def reset(self, seed=None):
        """Restart the random stream from ``random_state`` (or ``seed`` if given).

        Parameters
        ----------
        seed : int, RandomState instance or None, default=None
            Replaces ``random_state`` as the seed when given.

        Returns
        -------
        self : object
            The augmentation, ready to draw from the start of its stream.
        """
        self._validate_params()
        self._seed = seed if seed is not None else self.random_state
        self._generators = {}
        return self

    def _gen(self, device):
        if not hasattr(self, "_seed"):
            self.reset()
        generators = self.__dict__.setdefault("_generators", {})
        device = torch.device(device)
        if device not in generators:
            g = torch.Generator(device=device)
            if self._seed is None:
                g.seed()
            else:
                g.manual_seed(int(self._seed))
            generators[device] = g
        return generators[device]

    def _uniform(self, n, low, high, device):
        u = torch.rand(n, generator=self._gen(device), device=device)
        return low + (high - low) * u

    def _chosen(self, n, device):
        """Which of ``n`` examples the augmentation applies to (probability strength)."""
        return torch.rand(n, generator=self._gen(device), device=device) < self.strength

    def __getstate__(self):
        # torch generators are device-bound: a copy restarts from the same seed
        state = dict(super().__getstate__())
        state.pop("_generators", None)
        return state

    def __call__(self, X, y=None, **context):
        """Augment a batch.

        Parameters
        ----------
        X : torch.Tensor of shape (batch, n_bins, n_frames), float32
        y : torch.Tensor of shape (batch,) or None
            Encoded labels (used by the mixing augmentations).
        **context : dict
            ``freqs`` (ndarray of shape (n_bins,), Hz) and ``power`` (1 magnitude,
            2 power) of a linear-frequency input.

        Returns
        -------
        Y : torch.Tensor, same shape as ``X`` (a new tensor; ``X`` is not changed)
        """
        if self.strength == 0:
            return X
        return self._apply(X, y, **context)


class PitchShift(_Augmentation):
    """Random pitch shift: scale linear spectrograms by a factor in ``1 +- strength``.

    Parameters
    ----------
    strength : float, default=0.3
        Factors are uniform in ``[1 - strength, 1 + strength]`` (paper: 0.2-0.3).
    random_state : int or None, default=None
        Seed of the augmentation's own generator (None: seeded by the classifier).

    References
    ----------
    Schlüter and Grill, ISMIR 2015, section 4.2 (pitch shifting).

    Examples
    --------
    >>> import torch
    >>> from sklasd.augment import PitchShift
    >>> X = torch.rand(4, 20, 8)
    >>> bool(torch.equal(PitchShift(0.0)(X), X))
    True
    """

    needs_linear = True

    def __init__(self, strength=0.3, *, random_state=None):
        super().__init__(strength, random_state=random_state)

    def _apply(self, X, y=None, **context):
        s = self.strength
        return pitch_shift(X, self._uniform(X.shape[0], 1 - s, 1 + s, X.device))


class TimeStretch(_Augmentation):
    """Random time stretch about the excerpt centre by a factor in ``1 +- strength``.

    Parameters
    ----------
    strength : float, default=0.3
        Factors uniform in ``[1 - strength, 1 + strength]``.
    random_state : int or None, default=None

    References
    ----------
    Schlüter and Grill, ISMIR 2015, section 4.2 (time stretching).

    Examples
    --------
    >>> import torch
    >>> from sklasd.augment import TimeStretch
    >>> TimeStretch(0.3, random_state=0)(torch.rand(2, 5, 9)).shape
    torch.Size([2, 5, 9])
    """

    needs_linear = True

    def __init__(self, strength=0.3, *, random_state=None):
        super().__init__(strength, random_state=random_state)

    def _apply(self, X, y=None, **context):
        s = self.strength
        return time_stretch(X, self._uniform(X.shape[0], 1 - s, 1 + s, X.device))


class FrequencyFilter(_Augmentation):
    """Random Gaussian (in dB over semitones) frequency filter on linear spectrograms.

    Parameters
    ----------
    strength : float, default=10.0
        Peak gain ``s`` in dB, uniform in ``[-strength, strength]``.
    random_state : int or None, default=None

    Attributes
    ----------
    last_gain_db_ : torch.Tensor of shape (batch, n_bins)
        The responses of the last call, in dB (for inspection and tests).

    Notes
    -----
    Response in dB: ``g(f) = s * exp(-0.5 * (st(f) - st(mu)) ** 2 / sigma ** 2)``
    with ``st(f) = 12 * log2(f)`` semitones, ``mu`` log-uniform in 150 Hz-8 kHz,
    ``sigma`` uniform in 5-7 semitones. Linear input is multiplied by
    ``10 ** (g / (20 / power))`` (magnitudes: ``/ 20``, power: ``/ 10``).

    References
    ----------
    Schlüter and Grill, ISMIR 2015, section 4.2 (random frequency filters; the
    paper's ``exp(0.5 ...)`` misses the minus sign of a Gaussian).

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklasd.augment import FrequencyFilter
    >>> freqs = np.linspace(0, 8000, 129)
    >>> aug = FrequencyFilter(10.0, random_state=0)
    >>> _ = aug(torch.ones(3, 129, 4), freqs=freqs, power=1.0)
    >>> bool(aug.last_gain_db_.abs().max() <= 10.0)
    True
    """

    needs_linear = True

    def __init__(self, strength=10.0, *, random_state=None):
        super().__init__(strength, random_state=random_state)

    def _apply(self, X, y=None, *, freqs=None, power=1.0, **context):
        if freqs is None:
            raise ValueError("FrequencyFilter needs the bin frequencies (freqs=)")
        n, dev = X.shape[0], X.device
        gain = self._uniform(n, -self.strength, self.strength, dev)[:, None]
        mu = torch.exp(self._uniform(n, np.log(150.0), np.log(8000.0), dev))[:, None]
        sigma = self._uniform(n, 5.0, 7.0, dev)[:, None]
        f = torch.as_tensor(freqs, dtype=torch.float32, device=dev).clamp_min(1.0)
        semitones = 12 * torch.log2(f[None] / mu)
        self.last_gain_db_ = gain * torch.exp(-0.5 * (semitones / sigma) ** 2)
        return X * 10 ** (self.last_gain_db_[:, :, None] * (power / 20))


def _partners(y, mask, gen, device, same):
    """For every example, a random batch member whose label is (``same``) or is
    not the same; -1 where there is none. ``mask`` restricts the candidates."""
    match = (y[:, None] == y[None, :]) if same else (y[:, None] != y[None, :])
    match = match & mask[None, :]
    scores = torch.rand(match.shape, generator=gen, device=device).masked_fill(~match, -1)
    best = scores.argmax(1)
    return torch.where(match.any(1), best, torch.full_like(best, -1))


class MixNegatives(_Augmentation):
    """Mix an example with a random example of another class: ``C = (1 - f) A + f B``.

    Parameters
    ----------
    strength : float in [0, 1], default=0.5
        Probability that an example is mixed.
    random_state : int or None, default=None

    Notes
    -----
    ``f`` is uniform in [0, 0.5] and ``C`` keeps ``A``'s label. For a multi-class
    problem the "negative" ``B`` is a batch member of any other class (an example
    without ``A``'s class). Linear input, before mel scaling; put it last among
    the "spectrogram" augmentations, as the paper mixes after the others.

    References
    ----------
    Schlüter and Grill, ISMIR 2015, section 4.3.

    Examples
    --------
    >>> import torch
    >>> from sklasd.augment import MixNegatives
    >>> A, y = torch.rand(4, 6, 5), torch.tensor([0, 0, 1, 1])
    >>> C = MixNegatives(1.0, random_state=0)(A, y)
    >>> bool((C >= torch.minimum(A, A.flip(0)).min()).all())
    True
    """

    needs_linear = True

    def __init__(self, strength=0.5, *, random_state=None):
        super().__init__(strength, random_state=random_state)

    def _apply(self, X, y=None, **context):
        if y is None:
            raise ValueError("MixNegatives needs the batch labels")
        n, dev = X.shape[0], X.device
        gen = self._gen(dev)
        partner = _partners(y, torch.ones(n, dtype=torch.bool, device=dev), gen, dev,
                            same=False)
        f = self._uniform(n, 0.0, 0.5, dev) * (self._chosen(n, dev) & (partner >= 0))
        f = f[:, None, None]
        return (1 - f) * X + f * X[partner.clamp_min(0)]


class BlockMixing(_Augmentation):
    """Rebuild examples from segments of random examples of the same class.

    Parameters
    ----------
    strength : float in [0, 1], default=1.0
        Probability that an example is rebuilt.
    n_segments : int, default=10
        Segments per example (paper: ten 1-s segments of 10-s clips).
    random_state : int or None, default=None

    Notes
    -----
    An example of ``n_frames`` frames is cut into ``n_segments`` consecutive
    segments; segment ``j`` is replaced by the frames at a random offset of a
    random example of the same class in the batch (itself included). Works on any
    input (stage "spectrogram"). The batch is the pool of clips, so use batches
    that hold several clips per class.

    References
    ----------
    Ooi et al., DCASE 2020 Task 1B, section 2.2 (modified random block mixing).

    Examples
    --------
    >>> import torch
    >>> from sklasd.augment import BlockMixing
    >>> X = torch.cat([torch.zeros(2, 1, 20), torch.ones(2, 1, 20)])
    >>> y = torch.tensor([0, 0, 1, 1])
    >>> bool(torch.equal(BlockMixing(1.0, n_segments=4, random_state=0)(X, y), X))
    True
    """

    _parameter_constraints = {
        **_Augmentation._parameter_constraints,
        "n_segments": [Interval(numbers.Integral, 1, None, closed="left")],
    }

    def __init__(self, strength=1.0, *, n_segments=10, random_state=None):
        super().__init__(strength, random_state=random_state)
        self.n_segments = n_segments

    def _apply(self, X, y=None, **context):
        if y is None:
            raise ValueError("BlockMixing needs the batch labels")
        n, _, T = X.shape
        dev, gen = X.device, self._gen(X.device)
        bounds = np.linspace(0, T, self.n_segments + 1).round().astype(int)
        chosen = self._chosen(n, dev)
        out = X.clone()
        everyone = torch.ones(n, dtype=torch.bool, device=dev)
        for a, b in zip(bounds[:-1], bounds[1:]):
            if b == a:
                continue
            src = _partners(y, everyone, gen, dev, same=True)  # never -1: self matches
            offset = (torch.rand(n, generator=gen, device=dev) * (T - (b - a) + 1)).long()
            frames = offset[:, None] + torch.arange(b - a, device=dev)[None]
            seg = X[src[:, None], :, frames].transpose(1, 2)  # (n, bins, b - a)
            out[chosen, :, a:b] = seg[chosen]
        return out


class Loudness(_Augmentation):
    """Random loudness change: add an offset uniform in ``+-strength`` dB.

    Parameters
    ----------
    strength : float, default=10.0
        Largest offset in dB.
    random_state : int or None, default=None

    Notes
    -----
    Stage "db": adding ``o`` dB to a log-magnitude spectrogram equals scaling the
    linear spectrogram by ``10 ** (o / 20)`` (paper 002, section 4.2).

    Examples
    --------
    >>> import torch
    >>> from sklasd.augment import Loudness
    >>> X = torch.zeros(2, 3, 4)
    >>> bool((Loudness(6.0, random_state=0)(X).abs() <= 6.0).all())
    True
    """

    stage = "db"

    def __init__(self, strength=10.0, *, random_state=None):
        super().__init__(strength, random_state=random_state)

    def _apply(self, X, y=None, **context):
        offset = self._uniform(X.shape[0], -self.strength, self.strength, X.device)
        return X + offset[:, None, None]


class GaussianNoise(_Augmentation):
    """Add Gaussian noise of standard deviation ``strength`` to the network input.

    Parameters
    ----------
    strength : float, default=0.2
        Standard deviation, in units of the standardized input.
    random_state : int or None, default=None

    References
    ----------
    Schlüter and Grill, ISMIR 2015, section 4.1.

    Examples
    --------
    >>> import torch
    >>> from sklasd.augment import GaussianNoise
    >>> Y = GaussianNoise(0.5, random_state=0)(torch.zeros(10, 20, 30))
    >>> round(float(Y.std()), 1)
    0.5
    """

    stage = "network"

    def __init__(self, strength=0.2, *, random_state=None):
        super().__init__(strength, random_state=random_state)

    def _apply(self, X, y=None, **context):
        noise = torch.randn(X.shape, generator=self._gen(X.device), device=X.device)
        return X + self.strength * noise


class InputDropout(_Augmentation):
    """Set network inputs to zero with probability ``strength`` (no rescaling).

    Parameters
    ----------
    strength : float in [0, 1], default=0.2
        Drop probability.
    random_state : int or None, default=None

    References
    ----------
    Schlüter and Grill, ISMIR 2015, section 4.1.

    Examples
    --------
    >>> import torch
    >>> from sklasd.augment import InputDropout
    >>> Y = InputDropout(0.25, random_state=0)(torch.ones(10, 20, 30))
    >>> round(float((Y == 0).float().mean()), 2)
    0.25
    """

    stage = "network"

    def __init__(self, strength=0.2, *, random_state=None):
        super().__init__(strength, random_state=random_state)

    def _apply(self, X, y=None, **context):
        keep = torch.rand(X.shape, generator=self._gen(X.device), device=X.device)
        return X * (keep >= self.strength).to(X.dtype)
