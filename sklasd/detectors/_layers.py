"""torch building blocks shared by the dense detectors (autoencoder, HVAE, IDCAE)."""
import torch
from torch.nn import functional as F

# Floor added to softplus outputs so that their logarithms stay finite.
POSITIVE_EPS = 1e-6


def dense_blocks(n_in, sizes, *, activation=torch.nn.ReLU, batch_norm=False, dropout=0.0):
    """A stack of ``Dense -> [BatchNorm] -> activation -> [Dropout]`` blocks.

    Parameters
    ----------
    n_in : int
        Input width.
    sizes : sequence of int
        Output width of each block.
    activation : type of torch.nn.Module, default=torch.nn.ReLU
        Activation class, instantiated once per block.
    batch_norm : bool or dict, default=False
        Batch normalization between each dense layer and its activation; a dict
        holds the ``torch.nn.BatchNorm1d`` arguments (``eps``, ``momentum``).
    dropout : float, default=0.0
        Dropout rate after each activation; 0 adds no dropout layer.

    Returns
    -------
    blocks : torch.nn.Sequential
        The blocks (empty when ``sizes`` is).
    n_out : int
        Output width (``n_in`` when ``sizes`` is empty).

    Examples
    --------
    >>> from sklasd.detectors._layers import dense_blocks
    >>> blocks, n_out = dense_blocks(10, [8, 4], batch_norm=True)
    >>> n_out, len(blocks)
    (4, 6)
    """
    layers = []
    for n_out in sizes:
        layers.append(torch.nn.Linear(n_in, n_out))
        if batch_norm:
            norm_params = batch_norm if isinstance(batch_norm, dict) else {}
            layers.append(torch.nn.BatchNorm1d(n_out, **norm_params))
        layers.append(activation())
        if dropout:
            layers.append(torch.nn.Dropout(dropout))
        n_in = n_out
    return torch.nn.Sequential(*layers), n_in


def positive(x):
    """``softplus(x) + 1e-6``: a strictly positive value with a finite logarithm.

    Parameters
    ----------
    x : torch.Tensor
        Unconstrained network output.

    Returns
    -------
    y : torch.Tensor
        Same shape as ``x``, every value at least ``1e-6``.

    Examples
    --------
    >>> import torch
    >>> from sklasd.detectors._layers import positive
    >>> bool(positive(torch.tensor([-200.0, 0.0, 3.0])).min() >= 1e-6)
    True
    """
    return F.softplus(x) + POSITIVE_EPS
