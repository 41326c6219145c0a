"""Settings and helpers shared by :mod:`sklasd.parallel` and its Dask side (private).

Kept apart so that ``sklasd.parallel`` (which imports the Dask side only when it is
used) and ``sklasd._dask`` both import from here and not from each other.
"""

import contextlib

import numpy as np

__all__ = ["THREADS_PER_TASK", "limit_threads", "parse_scheduler", "concatenate_parts"]

#: torch / BLAS threads of one Dask task. Dask runs as many tasks at once on a worker
#: as it has threads, so one thread per task keeps a worker's compute threads at its
#: thread count.
THREADS_PER_TASK = 1


@contextlib.contextmanager
def limit_threads(n_threads=THREADS_PER_TASK):
    """Cap torch's intra-op threads and the BLAS / OpenMP pools of this thread.

    Parameters
    ----------
    n_threads : int, default=THREADS_PER_TASK
        Threads torch and the BLAS libraries may use inside the block.

    Yields
    ------
    None

    Notes
    -----
    torch's thread count is kept per calling thread (OpenMP), so a cap must be set
    in the thread that computes: a Dask task calls it itself. The previous values
    are restored on exit.

    Examples
    --------
    >>> import torch
    >>> from sklasd.parallel import limit_threads
    >>> with limit_threads(1):
    ...     torch.get_num_threads()
    1
    """
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with threadpool_limits(limits=n_threads):
            yield
    finally:
        torch.set_num_threads(previous)


def parse_scheduler(scheduler):
    """``("local", n_workers or None)`` for ``"local[:N]"``, else ``("address", scheduler)``."""
    kind, _, count = str(scheduler).partition(":")
    if kind != "local":
        return "address", scheduler
    if not count:
        return "local", None
    if not count.isdigit() or int(count) < 1:
        raise ValueError(f"--scheduler local:N needs a positive number of workers N, got "
                         f"{scheduler!r}")
    return "local", int(count)



def concatenate_parts(parts):
    """Join per-chunk results: arrays, or tuples of arrays, in order."""
    if isinstance(parts[0], tuple):
        return tuple(np.concatenate(column) for column in zip(*parts))
    return np.concatenate(parts)
