"""skorch helpers shared by the detector and classifier bases (private).

Both bases hand skorch whole batches (an ``IterableDataset`` read through a
``DataLoader(batch_size=None)``), seed torch and numpy from
``random_state``, and pickle fitted nets to the CPU (section 6); the code for that
lives here once.
"""
import contextlib
import copy
import inspect

import numpy as np
import torch
from skorch.callbacks import Callback, ProgressBar
from sklearn.utils import check_random_state

from sklasd._interrupt import check_interrupted


def batch_bounds(n, batch_size):
    """``(start, stop)`` of consecutive batches; a last batch of one joins the previous.

    Batch normalization cannot train on a batch of one unit.
    """
    stops = list(range(batch_size, n, batch_size)) + [n]
    if len(stops) > 1 and stops[-1] - stops[-2] == 1:
        del stops[-2]
    return list(zip([0] + stops[:-1], stops))


class StopOnSignal(Callback):
    """End training at the next batch after the ``sklasd`` command got SIGINT / SIGTERM.

    It raises ``sklasd._interrupt.Interrupted``, which skorch's loop lets through
    (it catches ``KeyboardInterrupt`` only, keeping a half-trained net); outside the
    command it does nothing.
    """

    def on_batch_end(self, net, **kwargs):
        check_interrupted()


def make_batch_net(net_class, estimator, *, module, criterion, train_split):
    """A skorch net of ``net_class`` for ``estimator``'s skorch parameters, fed whole batches.

    The estimator's ``callbacks`` are deep-copied (the given objects stay unchanged),
    its ``_default_callbacks()`` added, :class:`StopOnSignal`, and a progress bar
    when ``verbose``; its
    ``_net_params()`` are extra ``NeuralNet`` arguments. An optimizer that has a
    multi-tensor implementation (``foreach``: Adam, AdamW, SGD, ...) uses it: the
    same updates (the HVAE's losses agree to the last bit) in a few vectorized calls
    instead of a Python loop over parameters (10 % of an HVAE epoch in a profile on
    loaded cores; within the noise on quiet ones).
    """
    params = {}
    if "foreach" in inspect.signature(estimator.optimizer).parameters:
        params["optimizer__foreach"] = True
    params.update(estimator._net_params())
    callbacks = copy.deepcopy(list(estimator.callbacks or []))
    callbacks += [*estimator._default_callbacks(), ("stop_on_signal", StopOnSignal())]
    if estimator.verbose:
        callbacks.append(ProgressBar(batches_per_epoch="count"))
    return net_class(
        module=module,
        criterion=criterion,
        optimizer=estimator.optimizer,
        lr=estimator.lr,
        max_epochs=estimator.max_epochs,
        batch_size=estimator.batch_size,
        iterator_train=torch.utils.data.DataLoader,
        iterator_train__batch_size=None,
        iterator_valid=torch.utils.data.DataLoader,
        iterator_valid__batch_size=None,
        train_split=train_split,
        callbacks=callbacks,
        device=estimator.device,
        verbose=estimator.verbose,
        **params,
    )


def net_to_cpu(net):
    """A copy of a fitted skorch net with its modules and optimizer state on the CPU.

    The net itself is copied shallowly (skorch's own pickling would map to the GPU);
    its torch modules, criteria and optimizers are deep-copied with one memo, so the
    copied optimizers keep pointing at the copied parameters.
    """
    cpu = object.__new__(type(net))
    cpu.__dict__.update(net.__dict__, device="cpu")
    memo = {}
    for name in net._modules + net._criteria + net._optimizers:
        copied = copy.deepcopy(getattr(net, name + "_"), memo)
        if isinstance(copied, torch.nn.Module):
            copied.to("cpu")  # in place: the optimizers' parameters move too
        else:  # an optimizer: loading its state casts it to its parameters' device
            copied.load_state_dict(copied.state_dict())
        setattr(cpu, name + "_", copied)
    return cpu


@contextlib.contextmanager
def seeded(random_state, device):
    """Seed torch from ``random_state`` for the block and yield a numpy Generator.

    One seed drawn from ``random_state`` seeds both, so two fits with the same
    ``random_state`` are identical; torch's global generator is restored on exit.
    """
    seed = check_random_state(random_state).randint(np.iinfo(np.int32).max)
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[] if str(device) == "cpu" else None):
        torch.manual_seed(seed)
        yield rng


class SkorchEstimatorMixin:
    """What every estimator holding a fitted skorch net in ``net_`` shares.

    It pickles the net with its modules on the CPU, so that a model trained on a GPU
    loads on a CPU-only machine, and is non-deterministic only without
    ``random_state``.
    """

    def __getstate__(self):
        state = dict(super().__getstate__())  # may be self.__dict__ itself
        net = state.get("net_")
        if net is not None and str(net.device) != "cpu":
            state["net_"] = net_to_cpu(net)
        return state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = self.random_state is None
        return tags
