"""Polynomial-decay magnitude pruning (a skorch callback) and model-size counts.

References
----------
Ooi et al., DCASE 2020 Task 1B, section 4, equation (1); Zhu and Gupta,
"To prune, or not to prune", ICLR 2018.
"""
import numbers

import numpy as np
import torch
from skorch.callbacks import Callback
from torch.nn.utils import prune

__all__ = ["PolynomialDecayPruning", "count_nonzero_params", "model_size",
           "sparsity_schedule"]

_PRUNABLE = (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear)


def sparsity_schedule(epoch, initial_sparsity=0.1, final_sparsity=0.8, begin_epoch=100,
                      frequency=10, n_prunings=20, power=3):
    """Target sparsity of equation (1) at a (1-based) training epoch.

    Parameters
    ----------
    epoch : int
        Training epoch, counted from 1 as skorch's ``history`` does.
    initial_sparsity, final_sparsity : float in [0, 1), default=0.1, 0.8
        ``s_i`` and ``s_f``.
    begin_epoch : int, default=100
        ``t0``, the first pruning epoch.
    frequency : int, default=10
        ``dt``, epochs between prunings.
    n_prunings : int, default=20
        ``n``: prunings after the first one (the last is at ``t0 + n * dt``).
    power : float, default=3
        Exponent of the decay.

    Returns
    -------
    sparsity : float
        0 before ``t0``; then the sparsity of the last pruning step.

    Notes
    -----
    ``s = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3`` for the pruning
    epoch ``t = t0 + dt * min(n, floor((epoch - t0) / dt))``, held until the next
    pruning epoch; ``s = s_i`` at ``t0`` and ``s_f`` from ``t0 + n * dt`` on.

    Examples
    --------
    >>> from sklasd.classifiers.pruning import sparsity_schedule
    >>> [round(sparsity_schedule(e), 4) for e in (99, 100, 109, 110, 300, 400)]
    [0.0, 0.1, 0.1, 0.1998, 0.8, 0.8]
    """
    if epoch < begin_epoch:
        return 0.0
    step = min(n_prunings, (epoch - begin_epoch) // frequency)
    progress = step / n_prunings if n_prunings else 1.0
    return final_sparsity + (initial_sparsity - final_sparsity) * (1 - progress) ** power


class PolynomialDecayPruning(Callback):
    """Skorch callback: per-layer magnitude pruning on a polynomial-decay schedule.

    At the start of every pruning epoch of :func:`sparsity_schedule`, the weights
    (kernels) of every convolution and dense layer are masked so that the fraction
    ``s`` of each layer's weights with the smallest magnitudes is zero
    (``torch.nn.utils.prune``; biases and batch norm are not pruned). The masks
    stay in place between prunings, so pruned weights stay zero while training
    goes on; at the end of training they are made permanent (``prune.remove``).

    Parameters
    ----------
    initial_sparsity : float in [0, 1), default=0.1
        ``s_i``.
    final_sparsity : float in [0, 1), default=0.8
        ``s_f``.
    begin_epoch : int, default=100
        ``t0`` (1-based epoch).
    frequency : int, default=10
        ``dt`` in epochs.
    n_prunings : int, default=20
        ``n``.
    power : float, default=3
        Exponent of equation (1).

    Attributes
    ----------
    sparsity_ : float
        Target sparsity of the last pruning (0 before any).

    Notes
    -----
    Each pruning keeps the earlier mask (``mask = old_mask & new_mask``) so the
    sparsity only grows. The paper's defaults assume 400 epochs; scale
    ``begin_epoch``, ``frequency`` and ``n_prunings`` with ``max_epochs``.

    References
    ----------
    Ooi et al., DCASE 2020 Task 1B, section 4, equation (1), with s_i = 0.1, s_f = 0.8, n = 20,
    t0 = 100, dt = 10.

    Examples
    --------
    >>> import torch
    >>> from sklasd.classifiers.pruning import PolynomialDecayPruning
    >>> layer = torch.nn.Sequential(torch.nn.Linear(10, 10))
    >>> cb = PolynomialDecayPruning()
    >>> cb.prune(layer, 0.5)
    >>> int((layer[0].weight == 0).sum())
    50
    """

    def __init__(self, initial_sparsity=0.1, final_sparsity=0.8, begin_epoch=100,
                 frequency=10, n_prunings=20, power=3):
        self.initial_sparsity = initial_sparsity
        self.final_sparsity = final_sparsity
        self.begin_epoch = begin_epoch
        self.frequency = frequency
        self.n_prunings = n_prunings
        self.power = power

    def __repr__(self):
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def initialize(self):
        for name in ("initial_sparsity", "final_sparsity"):
            value = getattr(self, name)
            if not (isinstance(value, numbers.Real) and 0 <= value < 1):
                raise ValueError(f"{name} must be in [0, 1), got {value!r}")
        self.sparsity_ = 0.0
        return self

    def schedule(self, epoch):
        """Target sparsity at ``epoch`` (:func:`sparsity_schedule`).

        Parameters
        ----------
        epoch : int
            Epoch index, from 0.

        Returns
        -------
        sparsity : float
            Fraction of each layer's weights that are zero after this epoch.
        """
        return sparsity_schedule(epoch, self.initial_sparsity, self.final_sparsity,
                                 self.begin_epoch, self.frequency, self.n_prunings,
                                 self.power)

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history)  # the new epoch's row exists already (1-based)
        target = self.schedule(epoch)
        if target != self.sparsity_:
            self.prune(net.module_, target)
            self.sparsity_ = target

    def on_train_end(self, net, **kwargs):
        make_permanent(net.module_)

    @staticmethod
    @torch.no_grad()
    def prune(module, sparsity):
        """Zero the ``sparsity`` fraction of smallest weights of every prunable layer.

        Parameters
        ----------
        module : torch.nn.Module
            Its Conv1d, Conv2d and Linear sub-modules are pruned, each on its own.
        sparsity : float in [0, 1)
            Fraction of each layer's weights set (and kept) to zero.
        """
        for layer in module.modules():
            if not isinstance(layer, _PRUNABLE):
                continue
            if not prune.is_pruned(layer):
                prune.identity(layer, "weight")
            masked = layer.weight_orig * layer.weight_mask
            magnitude = masked.abs().flatten()
            k = int(round(sparsity * magnitude.numel()))
            keep = torch.ones_like(magnitude)
            if k:
                keep[torch.topk(magnitude, k, largest=False).indices] = 0
            layer.weight_mask.mul_(keep.view_as(layer.weight_mask))
            # what prune's forward pre-hook computes, so .weight is current now
            layer.weight = layer.weight_orig * layer.weight_mask


def make_permanent(module):
    """Fold the pruning masks of ``module`` into its weights (``prune.remove``)."""
    for layer in module.modules():
        if isinstance(layer, _PRUNABLE) and prune.is_pruned(layer):
            prune.remove(layer, "weight")


def count_nonzero_params(module):
    """Non-zero entries of a module's floating-point state (parameters and buffers).

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    n_nonzero : int
        Counted over ``module.state_dict()`` (pruned weights count through their
        mask); integer buffers such as ``num_batches_tracked`` are skipped.

    Examples
    --------
    >>> import torch
    >>> from sklasd.classifiers.pruning import count_nonzero_params
    >>> count_nonzero_params(torch.nn.Linear(3, 2, bias=False))
    6
    """
    state = {k: v for k, v in module.state_dict().items() if v.is_floating_point()}
    for name in [k for k in state if k.endswith("weight_orig")]:
        prefix = name[: -len("orig")]
        state[name] = state[name] * state.pop(prefix + "mask")
    return int(sum(int(torch.count_nonzero(v)) for v in state.values()))


def model_size(estimator):
    """Non-zero parameters and size in KB of a fitted classifier or soft-voting ensemble.

    Parameters
    ----------
    estimator : fitted sklasd classifier, VotingClassifier or Pipeline
        A classifier with ``n_nonzero_params_``; a ``VotingClassifier`` (sums its
        ``estimators_``); or a ``Pipeline`` ending in one of those.

    Returns
    -------
    n_nonzero_params : int
    model_size_kb : float
        ``n_nonzero_params * 4 / 1024`` (float32 storage, the paper's measure).

    References
    ----------
    Ooi et al., DCASE 2020 Task 1B, section 3.2 (ensemble) and Table 3 (sizes from
    non-zero counts).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from sklasd.classifiers.pruning import model_size
    >>> model_size(SimpleNamespace(n_nonzero_params_=1024))
    (1024, 4.0)
    """
    if hasattr(estimator, "steps"):
        return model_size(estimator.steps[-1][1])
    if hasattr(estimator, "estimators_"):
        n = int(np.sum([model_size(e)[0] for e in estimator.estimators_]))
    else:
        n = int(estimator.n_nonzero_params_)
    return n, n * 4 / 1024
