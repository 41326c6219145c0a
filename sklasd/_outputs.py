"""Where the ``sklasd`` command writes: safe, atomic and locked outputs (private).

The policy, written once:

- an output never replaces an input of the command (a recording, the data folder,
  the model file read), nor a folder holding one; inputs and outputs are compared
  with links resolved and as files (device and inode), so neither a symbolic nor a
  hard link, nor a second mount, hides an input;
- an existing output file or a non-empty output folder is refused unless
  ``overwrite=True``, and even then only what sklasd wrote is replaced: every output
  folder holds ``sklasd_manifest.json``, the name and SHA-256 checksum of each file
  written into it, and a folder is replaced only if it holds nothing but the files
  of its manifest, unchanged (no stale file of an earlier run stays beside the new
  ones); the error names the first other file. A single output file is replaced
  only if its folder's manifest lists it unchanged or it starts with the signature
  of its kind (the header of a sklasd model file, the first line of a report);
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
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
from pathlib import Path

from sklasd._interrupt import on_abort, publishing
from sklasd._log import quoted

__all__ = ["OutputError", "output_folder", "output_file", "write_csv", "MANIFEST_NAME"]

#: The file of an output folder that lists what sklasd wrote into it.
MANIFEST_NAME = "sklasd_manifest.json"

# sklasd's own temporaries: staging entries and lock files
_STAGED = re.compile(r"^\.sklasd-(?:stage|old)-(\d+)-")
_TEMPORARY = re.compile(r"^\.sklasd-(?:stage|old|lock)-")


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


# --- inputs -------------------------------------------------------------------------
def _identity(stat):
    return stat.st_dev, stat.st_ino


def _identities(path):
    """``(st_dev, st_ino)`` of ``path`` (links resolved) and of every folder above it
    that exists, nearest first."""
    real = Path(os.path.realpath(path))
    found = []
    for entry in (real, *real.parents):
        with contextlib.suppress(OSError):
            found.append(_identity(os.stat(entry)))
    return found


def _refuse_inputs(target, inputs):
    """Refuse an output that is an input or holds one, or is an existing entry of an
    input folder (a recording, say); a new entry in an input folder is fine."""
    existing = target.is_file() or (target.is_dir() and any(target.iterdir()))
    around = _identities(target)  # the target first, where it exists
    here = around[0] if target.exists() else None
    for given in inputs:
        try:
            source = _identity(os.stat(given))
        except (OSError, ValueError):  # a missing input is the command's own error
            continue
        holds = here is not None and here in _identities(given)
        if holds or (existing and source in around):
            raise OutputError(f"output {quoted(target)} would replace the input "
                              f"{quoted(os.path.abspath(given))}: choose another --output")


# --- the manifest ---------------------------------------------------------------------
def _digest(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entries(folder, prefix=""):
    """``(relative name, os.DirEntry)`` of everything under ``folder``, sorted, each
    folder before its contents; the manifest and sklasd's temporaries at the top are
    left out. Links are entries, never followed."""
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not prefix and (entry.name == MANIFEST_NAME or _TEMPORARY.match(entry.name)):
            continue
        yield prefix + entry.name, entry
        if entry.is_dir(follow_symlinks=False):
            yield from _entries(entry.path, f"{prefix}{entry.name}/")


def write_manifest(folder):
    """Write ``folder/sklasd_manifest.json``: the name and SHA-256 of every file in it."""
    from sklasd import __version__

    files = {name: _digest(entry.path) for name, entry in _entries(folder)
             if entry.is_file(follow_symlinks=False)}
    _write_manifest_file(Path(folder) / MANIFEST_NAME, files, __version__)


def _write_manifest_file(path, files, version):
    text = json.dumps({"format": 1, "written_by": f"sklasd {version}",
                       "sha256": files}, indent=1, ensure_ascii=True)
    path.write_text(text + "\n", encoding="ascii")


def _manifest(folder):
    """``{relative name: sha256}`` of ``folder``'s manifest; None without a readable one."""
    try:
        listed = json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="ascii"))
        files = listed["sha256"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return files if isinstance(files, dict) else None


def _first_foreign(folder):
    """The first entry of ``folder`` that is not an unchanged file of its manifest, and
    why (None when the folder holds nothing else)."""
    listed = _manifest(folder)
    name = "."
    try:
        for name, entry in _entries(folder):
            if listed is None:
                return name, f" and no {MANIFEST_NAME}: sklasd did not write it"
            if entry.is_dir(follow_symlinks=False):
                if not any(f.startswith(name + "/") for f in listed):
                    return name, f", a folder its {MANIFEST_NAME} does not list"
            elif name not in listed or not entry.is_file(follow_symlinks=False):
                return name, f", which its {MANIFEST_NAME} does not list"
            elif _digest(entry.path) != listed[name]:
                return name, ", changed since sklasd wrote it"
    except OSError as exc:
        return name, f", which cannot be read ({_describe(exc)})"
    return None


def _check_replaceable(folder):
    """A folder ``overwrite=True`` may replace: the unchanged files of its manifest."""
    foreign = _first_foreign(folder)
    if foreign is not None:
        name, why = foreign
        raise OutputError(
            f"output folder {quoted(folder)} holds {quoted(name)}{why}; only what sklasd "
            "wrote is replaced, even with --overwrite: move it or choose another --output")


def _file_is_replaceable(target, signature):
    """Whether a file may be replaced: its folder's manifest lists it unchanged, or it
    starts with ``signature`` (bytes a sklasd file of its kind begins with)."""
    listed = _manifest(target.parent) or {}
    if target.name in listed:
        return _digest(target) == listed[target.name]
    if not signature:
        return False
    with open(target, "rb") as f:
        return f.read(len(signature)) == signature


def _record(target, add):
    """Update ``target``'s entry in its folder's manifest (where it is listed, or
    ``add``), so that the folder stays replaceable."""
    listed = _manifest(target.parent)
    if listed is None or (target.name not in listed and not add):
        return
    from sklasd import __version__

    listed[target.name] = _digest(target)
    staged = target.parent / _stage_name(Path(MANIFEST_NAME), "stage")
    try:
        _write_manifest_file(staged, listed, __version__)
        os.replace(staged, target.parent / MANIFEST_NAME)
    finally:
        staged.unlink(missing_ok=True)


# --- staging, locks -----------------------------------------------------------------
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
                f"another sklasd command is writing {quoted(target)}: wait for it to "
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
        raise OutputError(f"cannot write {quoted(target)}: {_describe(exc)}") from exc


@contextlib.contextmanager
def _prepared(path, inputs):
    """The resolved target, its parent created, the lock held, stale staging removed.

    The target is the path with links resolved, so that writing through a link
    replaces what it points to and leaves the link.
    """
    given = Path(os.path.abspath(path))
    if given.is_symlink() and not given.exists():
        raise OutputError(f"output {quoted(given)} is a link to "
                          f"{quoted(os.readlink(given))}, which does not exist")
    target = Path(os.path.realpath(given))
    _refuse_inputs(target, inputs)
    blocking = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise OutputError(f"cannot write {quoted(target)}: {quoted(blocking)} is a file, "
                          "not a folder")
    with contextlib.ExitStack() as stack:
        with _as_output_error(target):
            target.parent.mkdir(parents=True, exist_ok=True)
            stack.enter_context(_locked(target.parent, target))
            remove_stale(target.parent)
        yield target


def _stage_name(target, kind):
    return f".sklasd-{kind}-{os.getpid()}-{secrets.token_hex(4)}-{target.name}"


def _check_folder(target, overwrite):
    """Refuse a file, or a non-empty folder without ``overwrite`` or holding a file
    sklasd did not write."""
    if target.exists() and not target.is_dir():
        raise OutputError(f"output {quoted(target)} is a file, not a folder")
    if target.is_dir() and any(target.iterdir()):
        if not overwrite:
            raise OutputError(
                f"output folder {quoted(target)} is not empty: give --overwrite to "
                "replace its contents, or choose another --output")
        _check_replaceable(target)


@contextlib.contextmanager
def output_folder(path, *, overwrite=False, inputs=()):
    """A staging folder whose contents become the folder ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The output folder. It may not exist yet or be empty; with ``overwrite`` it may
        hold the files of an earlier sklasd command (listed in its
        ``sklasd_manifest.json``), which are all replaced. A link is resolved: the
        folder it points to is replaced, the link stays.
    overwrite : bool, default=False
        Replace a non-empty folder of sklasd results (never one holding other files).
    inputs : iterable of path-like, default=()
        The command's inputs: the output may neither be one nor hold one.

    Yields
    ------
    stage : pathlib.Path
        An empty folder beside ``path``, given its ``sklasd_manifest.json`` and
        renamed to ``path`` when the block ends without an exception or a received
        signal, removed otherwise.

    Raises
    ------
    OutputError
        Before the block runs, when the output would replace an input, is a file, is
        a non-empty folder without ``overwrite``, holds a file that its manifest does
        not list unchanged, is being written by another sklasd command or cannot be
        written (permission denied, read-only file system).
    """
    with _prepared(path, inputs) as target:
        _check_folder(target, overwrite)
        stage = target.parent / _stage_name(target, "stage")
        with _as_output_error(target):
            stage.mkdir()
        remove = functools.partial(shutil.rmtree, stage, ignore_errors=True)
        try:
            with on_abort(remove):
                yield stage
            with publishing(), _as_output_error(target):
                write_manifest(stage)
                _publish_folder(stage, target, overwrite)
        finally:
            remove()


def _publish_folder(stage, target, overwrite):
    """Rename ``stage`` to ``target``; an existing ``target`` is moved aside, checked
    again there (nothing can be added to it any more) and only then removed."""
    try:
        os.rename(stage, target)  # POSIX: replaces a missing or empty folder
        return
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    aside = target.parent / _stage_name(target, "old")
    os.rename(target, aside)
    try:
        _check_folder(aside, overwrite)
    except OutputError:
        os.rename(aside, target)
        raise OutputError(
            f"output folder {quoted(target)} changed while the command ran: "
            "nothing was replaced; run it again") from None
    os.rename(stage, target)
    shutil.rmtree(aside, ignore_errors=True)


@contextlib.contextmanager
def output_file(path, *, overwrite=False, inputs=(), signature=None, record=False):
    """A staging file path whose contents become the file ``path`` on success.

    Parameters
    ----------
    path : str or os.PathLike
        The output file. A link is resolved: the file it points to is replaced, the
        link stays.
    overwrite : bool, default=False
        Replace an existing file that sklasd wrote (never an input, never a folder).
    inputs : iterable of path-like, default=()
        The command's inputs: the output may neither be one nor hold one.
    signature : bytes or None, default=None
        What every file of this kind begins with: an existing file that begins with
        it is a sklasd file and may be replaced. Without it, only a file its folder's
        manifest lists unchanged may be.
    record : bool, default=False
        Add the file to its folder's manifest, where the folder has one (a file that
        the manifest lists is updated in any case).

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
        exists without ``overwrite``, exists and sklasd did not write it, is being
        written by another sklasd command or cannot be written.
    """
    with _prepared(path, inputs) as target:
        if target.is_dir():
            raise OutputError(f"output {quoted(target)} is a folder, not a file")
        if target.exists():
            if not overwrite:
                raise OutputError(f"output file {quoted(target)} exists: give "
                                  "--overwrite to replace it, or choose another --output")
            with _as_output_error(target):
                replaceable = _file_is_replaceable(target, signature)
            if not replaceable:
                raise OutputError(
                    f"output file {quoted(target)} was not written by sklasd (or changed "
                    "since): it is not replaced even with --overwrite; choose another "
                    "--output")
        stage = target.parent / _stage_name(target, "stage")
        with _as_output_error(target):
            stage.touch(exist_ok=False)
        remove = functools.partial(stage.unlink, missing_ok=True)
        try:
            with on_abort(remove):
                yield stage
            with publishing(), _as_output_error(target):
                os.replace(stage, target)
                _record(target, record)
        finally:
            remove()


# --- result files ---------------------------------------------------------------------
def write_csv(frame, path=None, **kwargs):
    """Write a result table as UTF-8 CSV; file names that are not valid UTF-8 keep
    their bytes (``surrogateescape``), so each row names its file exactly.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : path-like or None, default=None
        The file; None writes to stdout.
    **kwargs
        Passed to :meth:`pandas.DataFrame.to_csv` (``index``, ``header``).
    """
    data = frame.to_csv(None, **kwargs).encode("utf-8", "surrogateescape")
    if path is not None:
        Path(path).write_bytes(data)
        return
    sys.stdout.flush()
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream: the bytes escaped instead
        sys.stdout.write(data.decode("utf-8", "backslashreplace"))
        return
    binary.write(data)
    binary.flush()
