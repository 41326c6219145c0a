"""Where the ``sklasd`` command writes: safe, atomic and locked outputs (private).

The policy, written once:

- an output never replaces an input of the command (a recording, the data folder,
  the model file read);
- an existing output file or a non-empty output folder is refused unless
  ``overwrite=True``, which replaces the whole folder (no stale files of an earlier
  run stay beside the new ones) and only a folder that holds nothing but result
  files;
- one command at a time writes a given output (a lock file beside it, held with
  ``flock`` so that a killed command releases it);
- everything is written to a staging folder or file beside the output, named with
  the process ID, and renamed into place only when the command succeeded; an
  interrupted or failed command removes it, and one left by a killed process is
  removed by the next command writing into the same folder;
- an output that cannot be written is detected before any work is done.
"""

import contextlib
import errno
import fcntl
import functools
import os
import re
import secrets
import shutil
from pathlib import Path

from sklasd._interrupt import on_abort, publishing

__all__ = ["OutputError", "output_folder", "output_file"]

#: Suffixes of the files a folder may hold to be replaced with ``overwrite=True``.
RESULT_SUFFIXES = {".csv", ".png", ".joblib", ".sklasd", ".json", ".txt", ".log", ".html"}

_STAGED = re.compile(r"^\.sklasd-(?:stage|old)-(\d+)-")


class OutputError(ValueError):
    """An output that must not or cannot be written (one line, exit status 2)."""


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True


def remove_stale(folder):
    """Remove the staging entries in ``folder`` left by processes that no longer run."""
    with contextlib.suppress(OSError):
        for entry in Path(folder).iterdir():
            match = _STAGED.match(entry.name)
            if match and not _pid_alive(int(match.group(1))):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)


def _describe(exc):
    """``permission denied`` / ``no space left on device``: an OSError in words."""
    reason = exc.strerror or str(exc)
    return reason[0].lower() + reason[1:] if reason else type(exc).__name__


def _refuse_inputs(target, inputs):
    """Refuse an output that is an input, holds one, or is an existing entry of an
    input folder (a recording, say); a new entry in an input folder is fine."""
    existing = target.is_file() or (target.is_dir() and any(target.iterdir()))
    for given in inputs:
        source = Path(os.path.abspath(given))
        inside = source.is_dir() and source in target.parents and existing
        if target == source or target in source.parents or inside:
            raise OutputError(f"output {str(target)!r} would replace the input "
                              f"{str(source)!r}: choose another --output")


def _check_replaceable(folder):
    """A folder ``overwrite=True`` may replace: result files only, no subfolders."""
    for entry in folder.iterdir():
        if _STAGED.match(entry.name) or entry.name.startswith(".sklasd-"):
            continue
        if not entry.is_file() or entry.suffix.lower() not in RESULT_SUFFIXES:
            raise OutputError(
                f"output folder {str(folder)!r} holds {entry.name!r}, which is not a "
                "sklasd result file: it is not replaced even with --overwrite; "
                "choose another --output")


@contextlib.contextmanager
def _locked(parent, target):
    """Hold ``parent/.sklasd-lock-<name>``; a second holder gets an OutputError."""
    lock_path = parent / f".sklasd-lock-{target.name}"
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(
                f"another sklasd command is writing {str(target)!r}: wait for it to "
                "finish or choose another --output") from None
        try:  # the lock file may have been removed by the holder we waited for
            if os.stat(lock_path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        with on_abort(functools.partial(_unlink_quietly, lock_path)):
            yield
    finally:
        _unlink_quietly(lock_path)
        os.close(fd)


def _unlink_quietly(path):
    with contextlib.suppress(OSError):
        os.unlink(path)


@contextlib.contextmanager
def _as_output_error(target):
    """An OSError while preparing or publishing ``target`` becomes one OutputError."""
    try:
        yield
    except OSError as exc:
        raise OutputError(f"cannot write {str(target)!r}: {_describe(exc)}") from exc


@contextlib.contextmanager
def _prepared(path, inputs):
    """The absolute target, its parent created, the lock held, stale staging removed."""
    target = Path(os.path.abspath(path))
    _refuse_inputs(target, inputs)
    blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"cannot write {str(target)!r}: {str(blocking)!r} is a file, "
                          "not a folder")
    with contextlib.ExitStack() as stack:
        with _as_output_error(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_locked(target.parent, target))
            remove_stale(target.parent)
        yield target


def _stage_name(target, kind):
    return f".sklasd-{kind}-{os.getpid()}-{secrets.token_hex(4)}-{target.name}"


@contextlib.contextmanager
def output_folder(path, *, overwrite=False, inputs=()):
    """A staging folder whose contents become the folder ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The output folder. It may not exist yet or be empty; with ``overwrite`` it may
        hold earlier results, which are all replaced.
    overwrite : bool, default=False
        Replace a non-empty folder of results (never one holding other files).
    inputs : iterable of path-like, default=()
        The command's inputs: the output may neither be one nor hold one.

    Yields
    ------
    stage : pathlib.Path
        An empty folder beside ``path``, renamed to ``path`` when the block ends
        without an exception or a received signal, removed otherwise.

    Raises
    ------
    OutputError
        Before the block runs, when the output would replace an input, is a file, is
        a non-empty folder without ``overwrite``, is being written by another sklasd
        command or cannot be written (permission denied, read-only file system).
    """
    with _prepared(path, inputs) as target:
        if target.exists() and not target.is_dir():
            raise OutputError(f"output {str(target)!r} is a file, not a folder")
        if target.is_dir() and any(target.iterdir()):
            if not overwrite:
                raise OutputError(
                    f"output folder {str(target)!r} is not empty: give --overwrite to "
                    "replace its contents, or choose another --output")
            _check_replaceable(target)
        stage = target.parent / _stage_name(target, "stage")
        with _as_output_error(target):
            stage.mkdir()
        remove = functools.partial(shutil.rmtree, stage, ignore_errors=True)
        try:
            with on_abort(remove):
                yield stage
            with publishing(), _as_output_error(target):
                _publish_folder(stage, target)
        finally:
            remove()


def _publish_folder(stage, target):
    """Rename ``stage`` to ``target``; an existing ``target`` is moved aside first."""
    try:
        os.rename(stage, target)  # POSIX: replaces a missing or empty folder
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    aside = target.parent / _stage_name(target, "old")
    os.rename(target, aside)
    os.rename(stage, target)
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def output_file(path, *, overwrite=False, inputs=()):
    """A staging file path whose contents become the file ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The output file.
    overwrite : bool, default=False
        Replace an existing file (never an input, never a folder).
    inputs : iterable of path-like, default=()
        The command's inputs: the output may neither be one nor hold one.

    Yields
    ------
    stage : pathlib.Path
        A path beside ``path`` (an empty file already exists there) to write to;
        renamed to ``path`` when the block ends without an exception or a received
        signal, removed otherwise.

    Raises
    ------
    OutputError
        Before the block runs, when the output would replace an input, is a folder,
        exists without ``overwrite``, is being written by another sklasd command or
        cannot be written.
    """
    with _prepared(path, inputs) as target:
        if target.is_dir():
            raise OutputError(f"output {str(target)!r} is a folder, not a file")
        if target.exists() and not overwrite:
            raise OutputError(f"output file {str(target)!r} exists: give --overwrite "
                              "to replace it, or choose another --output")
        stage = target.parent / _stage_name(target, "stage")
        with _as_output_error(target):
            stage.touch(exist_ok=False)
        remove = functools.partial(stage.unlink, missing_ok=True)
        try:
            with on_abort(remove):
                yield stage
            with publishing(), _as_output_error(target):
                os.replace(stage, target)
        finally:
            remove()
