"""Run sklasd's work locally or on a Dask cluster.

The ``sklasd run --scheduler ADDRESS`` option and the Python helpers here hand the
work to ``dask.distributed`` (install ``sklasd[dask]``); without a scheduler the same
functions run everything in this process, so Dask stays optional.

- :func:`map_machine_types` runs one function per machine type, in this process or
  one Dask task per machine type, and gives the results back in order.
- :func:`map_chunks` splits a scoring call into chunks of clips that run as Dask
  tasks when called inside a Dask task, and is a plain call otherwise.
- :func:`score_files` scores a long list of audio files with ``client.map`` over
  chunks.
- :func:`connect` opens a client on a scheduler address, a scheduler file or a
  ``LocalCluster`` (``"local"`` or ``"local:N"``); :class:`ThreadLimits` is the worker
  plugin it registers; :func:`limit_threads` caps torch's and the BLAS libraries'
  threads of the calling thread.

The workers read the audio files from their paths: the folder must be visible at
the same path on every worker (a shared file system), and the workers must run the
same Python environment (same sklasd, scikit-learn and torch versions) as the client.
"""

import sys

from sklasd._tasks import THREADS_PER_TASK, limit_threads, parse_scheduler

#: Clips per scoring task of :func:`map_chunks` and :func:`score_files`.
CHUNK_SIZE = 100

__all__ = ["CHUNK_SIZE", "THREADS_PER_TASK", "ThreadLimits", "check_scheduler", "connect",
           "limit_threads", "map_chunks", "map_machine_types", "score_files"]

_INSTALL = "pip install 'sklasd[dask]'"


def _dask():
    """The module with the Dask-dependent code; a clear ImportError without Dask."""
    try:
        from sklasd import _dask
    except ImportError as exc:
        raise ImportError(f"running on a Dask cluster needs dask.distributed: {_INSTALL} "
                          f"({exc})") from exc
    return _dask


def __getattr__(name):
    if name == "ThreadLimits":
        return _dask().ThreadLimits
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def check_scheduler(scheduler):
    """Validate a ``--scheduler`` value before any work starts.

    Parameters
    ----------
    scheduler : str
        ``"local"``, ``"local:N"`` (a ``LocalCluster`` of N one-thread workers), a
        scheduler address such as ``"tcp://10.0.0.5:8786"``, or the path of a
        scheduler file (``.json``, as ``dask scheduler --scheduler-file`` writes).

    Returns
    -------
    scheduler : str
        Unchanged.

    Raises
    ------
    ValueError
        If ``"local:N"`` has no positive N.
    ImportError
        If dask.distributed is not installed.

    Examples
    --------
    >>> from sklasd.parallel import check_scheduler
    >>> check_scheduler("local:2")  # doctest: +SKIP
    'local:2'
    """
    parse_scheduler(scheduler)
    _dask()
    return scheduler


def connect(scheduler, **cluster_options):
    """A context manager giving a ``distributed.Client`` on ``scheduler``.

    Parameters
    ----------
    scheduler : str
        ``"local"`` starts a ``LocalCluster`` of one one-thread worker process per
        CPU, ``"local:N"`` one of N; a path ending in ``.json`` is a scheduler file;
        anything else is a scheduler address (``"tcp://host:8786"``).
    **cluster_options
        Passed to ``LocalCluster`` (``processes=False``, ``memory_limit``, ...).

    Returns
    -------
    context : contextlib.AbstractContextManager
        Yields the client, with :class:`ThreadLimits` registered on its workers;
        on exit the client is closed (and the LocalCluster shut down).

    Raises
    ------
    ValueError
        If the scheduler cannot be reached or ``"local:N"`` is malformed.
    ImportError
        If dask.distributed is not installed.

    Examples
    --------
    >>> from sklasd.parallel import connect
    >>> with connect("local:2") as client:  # doctest: +SKIP
    ...     print(len(client.scheduler_info()["workers"]))
    2
    """
    return _dask().connect(scheduler, **cluster_options)


def map_machine_types(func, items, scheduler=None, log=None):
    """``func(item, log)`` for each item, here or as one Dask task per item.

    Parameters
    ----------
    func : callable
        ``func(item, log) -> result``; ``log(message)`` reports progress. On Dask it
        must pickle (a module-level function or a ``functools.partial`` of one).
    items : sequence
        One item per machine type (e.g. its name, table rows and file paths).
    scheduler : str or None, default=None
        ``None`` runs the items one after the other in this process; otherwise as
        :func:`connect` takes it.
    log : callable or None, default=None
        Receives the progress messages; on Dask, one line names the cluster, and a
        task's messages are replayed when its result is given back. ``None`` drops
        them.

    Yields
    ------
    result : object
        ``func``'s result for each item, in the order of ``items``. On Dask, all
        items are submitted at once, every task runs under :func:`limit_threads`,
        and an exception of a task is raised here when its result is reached.

    Examples
    --------
    >>> from sklasd.parallel import map_machine_types
    >>> list(map_machine_types(lambda item, log: item.upper(), ["fan", "pump"]))
    ['FAN', 'PUMP']
    """
    log = _drop if log is None else log
    if scheduler is None:
        for item in items:
            yield func(item, log)
        return
    yield from _dask().map_machine_types(func, items, scheduler, log)


def _drop(message):
    return None


def _current_worker():
    """The Dask worker running this code, or None (never imports Dask)."""
    if sys.modules.get("distributed") is None:
        return None
    from distributed import get_worker

    try:
        return get_worker()
    except ValueError:
        return None


def map_chunks(func, model, X, *columns, chunk_size=None):
    """``func(model, X, *columns)``, in chunks of clips on Dask inside a Dask task.

    Parameters
    ----------
    func : callable
        ``func(model, X_chunk, *column_chunks)`` returns an array of one value per
        clip, or a tuple of such arrays; it must pickle.
    model : object
        A fitted pipeline; on Dask it is sent once to the workers.
    X : sequence of length n_clips
        Clips or file paths.
    *columns : array-like of length n_clips or None
        Per-clip values cut like ``X`` (e.g. machine IDs); ``None`` is passed as is.
    chunk_size : int or None, default=None
        Clips per task; ``None`` is the worker's :data:`CHUNK_SIZE`.

    Returns
    -------
    result : ndarray of shape (n_clips,) or tuple of them
        The chunks' results concatenated in order, as one call would return them.

    Notes
    -----
    Outside a Dask task this is one plain call. Inside one (a machine type's task
    of :func:`map_machine_types`), the task leaves its worker's thread pool
    (``distributed.worker_client``) while the chunks run on any worker. Each clip
    is scored alone, so the results equal those of one call.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.parallel import map_chunks
    >>> map_chunks(lambda model, X: np.asarray(X) * model, 2, [1, 2, 3])
    array([2, 4, 6])
    """
    chunk_size = CHUNK_SIZE if chunk_size is None else chunk_size
    if _current_worker() is None or len(X) <= chunk_size:
        return func(model, X, *columns)
    return _dask().map_chunks_from_task(func, model, X, columns, chunk_size)


def score_files(pipeline, paths, client, chunk_size=CHUNK_SIZE, method="anomaly_score"):
    """Score a long list of audio files on a Dask cluster with ``client.map``.

    Parameters
    ----------
    pipeline : sklasd.pipeline.Pipeline
        Fitted; sent once to the workers.
    paths : sequence of str, length n_files
        Audio files, readable at these paths by every worker.
    client : distributed.Client
        The cluster's client.
    chunk_size : int, default=CHUNK_SIZE
        Files per task.
    method : str, default="anomaly_score"
        Method of ``pipeline`` to call (``"predict"``, ``"decision_function"``, ...).

    Returns
    -------
    scores : ndarray of shape (n_files,)
        ``getattr(pipeline, method)(paths)`` computed chunk by chunk, in order.

    Raises
    ------
    sklasd.audio.AudioError
        Raised here when a worker cannot read a file; it names the file.

    Examples
    --------
    >>> from sklasd.parallel import connect, score_files
    >>> with connect("local:2") as client:  # doctest: +SKIP
    ...     scores = score_files(pipeline, paths, client, chunk_size=200)
    """
    import functools

    from sklasd._dask import map_chunks_on

    func = functools.partial(_call_method, method)
    return map_chunks_on(client, func, pipeline, list(paths), (), chunk_size)


def _call_method(method, model, X):
    return getattr(model, method)(X)
