"""The ``sklasd`` command's skorch callback: epoch progress and rows (private).

It replaces skorch's ``PrintLog`` table and tqdm bar (which write to stdout with
colour codes whatever the stream): the epoch count goes to the command's progress
line, and each epoch's losses to the ``sklasd`` logger at DEBUG (``-v``).
"""

from skorch.callbacks import Callback

from sklasd._log import LOGGER, PROGRESS

__all__ = ["EpochProgress"]


class EpochProgress(Callback):
    """Report each finished epoch to the command's progress line and logger.

    It keeps no state, so a deep copy or a pickled model holding it is harmless.
    """

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        PROGRESS.phase(f"training {row['epoch']}/{net.max_epochs}")
        losses = " ".join(f"{key}={row[key]:.4f}" for key in ("train_loss", "valid_loss")
                          if key in row)
        LOGGER.debug("%s: epoch %d/%d %s (%.2fs)", PROGRESS.label or "training",
                     row["epoch"], net.max_epochs, losses, row.get("dur", 0.0))
