"""The dask.distributed side of :mod:`sklasd.parallel` (imported only when used)."""

import contextlib
import os

import distributed

from sklasd._tasks import THREADS_PER_TASK, concatenate_parts, limit_threads, parse_scheduler

__all__ = ["ThreadLimits", "connect", "map_machine_types", "map_chunks_on", "peak_memory"]

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class ThreadLimits(distributed.WorkerPlugin):
    """Worker plugin: torch and BLAS use ``threads_per_task`` threads per task thread.

    Dask runs as many tasks at once on a worker as the worker has threads; with
    one compute thread per task the worker never runs more compute threads than
    its thread count, whatever the machine's CPU count (torch would otherwise start
    one thread per core in every task thread of every worker).

    Parameters
    ----------
    threads_per_task : int, default=1
        torch / BLAS / OpenMP threads of one task.

    Notes
    -----
    The limits apply to the worker threads started after the plugin is set up
    (torch keeps its thread count per thread), and to child processes through the
    ``OMP_NUM_THREADS``-style variables. sklasd's own tasks also set them in the
    task (:func:`sklasd.parallel.limit_threads`); the plugin covers other tasks
    such as those of ``joblib.parallel_backend("dask")``.

    Examples
    --------
    >>> from sklasd.parallel import ThreadLimits  # doctest: +SKIP
    >>> client.register_plugin(ThreadLimits())  # doctest: +SKIP
    """

    name = "sklasd-thread-limits"

    def __init__(self, threads_per_task=THREADS_PER_TASK):
        self.threads_per_task = threads_per_task

    def setup(self, worker):
        import torch
        from threadpoolctl import threadpool_limits

        for variable in _THREAD_VARIABLES:
            os.environ[variable] = str(self.threads_per_task)
        torch.set_num_threads(self.threads_per_task)
        threadpool_limits(limits=self.threads_per_task)


def _client(scheduler):
    kind, value = parse_scheduler(scheduler)
    if kind == "local":
        return None
    try:
        if str(value).endswith(".json"):
            return distributed.Client(scheduler_file=value)
        return distributed.Client(value)
    except (OSError, TimeoutError) as exc:
        raise ValueError(f"cannot reach the Dask scheduler {value!r}: {exc}") from exc


@contextlib.contextmanager
def connect(scheduler, **cluster_options):
    """See :func:`sklasd.parallel.connect`."""
    _, n_workers = parse_scheduler(scheduler)
    with contextlib.ExitStack() as stack:
        client = _client(scheduler)
        if client is None:
            options = dict(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                           dashboard_address=":0")
            cluster = stack.enter_context(
                distributed.LocalCluster(**{**options, **cluster_options}))
            client = distributed.Client(cluster)
        stack.enter_context(client)
        client.register_plugin(ThreadLimits())
        yield client


def _task(func, item):
    """One machine type on a worker: its result and the messages it logged."""
    messages = []
    with limit_threads(THREADS_PER_TASK):
        result = func(item, messages.append)
    return result, messages


def map_machine_types(func, items, scheduler, log):
    """See :func:`sklasd.parallel.map_machine_types`."""
    items = list(items)
    with connect(scheduler) as client:
        log(f"Dask: {len(items)} machine type(s) on {len(client.nthreads())} worker(s) at "
            f"{client.scheduler.address}")
        # items may hold audio in memory: send them as data, not in the task graph
        futures = [client.submit(_task, func, item, pure=False)
                   for item in client.scatter(items, hash=False)]
        for future in futures:
            result, messages = future.result()
            for message in messages:
                log(message)
            yield result


def _chunk_task(func, model, X, *columns):
    with limit_threads(THREADS_PER_TASK):
        return func(model, X, *columns)


def map_chunks_on(client, func, model, X, columns, chunk_size):
    """``func(model, X, *columns)`` as ``client.map`` over chunks of ``chunk_size`` clips."""
    if len(X) == 0:
        return func(model, X, *columns)
    [model] = client.scatter([model], hash=False, broadcast=True)
    starts = range(0, len(X), chunk_size)
    cut = [[None if c is None else c[s:s + chunk_size] for s in starts] for c in columns]
    futures = client.map(_chunk_task, [func] * len(starts), [model] * len(starts),
                         [X[s:s + chunk_size] for s in starts], *cut, pure=False)
    return concatenate_parts(client.gather(futures))


def map_chunks_from_task(func, model, X, columns, chunk_size):
    """:func:`map_chunks_on` from inside a task, which leaves its thread pool meanwhile."""
    with distributed.worker_client() as client:
        return map_chunks_on(client, func, model, X, columns, chunk_size)


def peak_memory(client):
    """Peak resident memory (bytes) of each worker process, by worker address."""
    return client.run(_peak_rss)


def _peak_rss():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
