"""Shared machinery of the folder loaders: listing, parsing and the Bunch.

Every loader is the same three steps: list the audio files under a folder in sorted
order, parse each path into labels with a layout-specific function, and build the
Bunch. Only the parsing differs, so a loader is :func:`load_layout` plus a parser.
"""

import os
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from sklearn.utils import Bunch

from sklasd._log import quoted


# what libsndfile (soundfile) decodes: WAV, FLAC, Ogg Vorbis / Opus, MP3, AIFF and more
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff",
                  ".aifc", ".au", ".caf", ".w64", ".rf64")

# Columns every Bunch and frame have, in this order.
BASE_COLUMNS = ("filename", "target", "machine_type", "machine_id", "split", "domain")
_STR_FIELDS = ("machine_type", "machine_id", "split", "domain")


class ParseError(ValueError):
    """A file name or folder that does not fit the layout a parser expects."""


#: Words of folder or file names that state a clip's condition (matched whole, in
#: lower case, so "abnormal" never reads as "normal"). "good" is MVTec AD's word for
#: normal; "bad" is left out: it begins German place names ("Bad Homburg/").
CONDITION_WORDS = {"normal": 0, "good": 0, "anomaly": 1, "anomalies": 1, "anomalous": 1,
                   "abnormal": 1, "fault": 1, "faults": 1, "faulty": 1, "defect": 1,
                   "defects": 1, "defective": 1, "broken": 1, "damaged": 1}
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def words(text):
    """The lower-case words of a name: runs of letters, camel case split
    ("NormalSound_IND" -> normal, sound, ind)."""
    return {w.lower() for w in _WORD.findall(text)}


def stated_condition(name):
    """0 or 1 where the words of ``name`` state one condition ("normal runs",
    "anomaly_03"), else None."""
    stated = {CONDITION_WORDS[w] for w in words(name) & set(CONDITION_WORDS)}
    return stated.pop() if len(stated) == 1 else None


def check_folder(data_dir):
    """Return ``data_dir`` as an absolute :class:`~pathlib.Path` of an existing folder.

    Raises
    ------
    ValueError
        If ``data_dir`` is not an existing directory.
    """
    path = Path(os.fspath(data_dir)).expanduser().resolve()
    if not path.is_dir():
        raise ValueError(f"data_dir {str(path)!r} is not an existing folder")
    return path


def _hidden(relative):
    """Hidden files and folders (".name": macOS "._x.wav" resource forks, ".git")
    and the "__MACOSX" folder of zip files made on macOS: never recordings."""
    return any(part.startswith(".") or part == "__MACOSX" for part in relative.parts)


class UnlistedFolderWarning(UserWarning):
    """A folder under the data that cannot be listed: its recordings are left out.

    Parameters
    ----------
    path : str or path-like
        The folder (kept as the attribute ``path``, a str).
    reason : str
        Why it cannot be listed (``"permission denied"``), in the message.
    """

    def __init__(self, path, reason):
        super().__init__(f"folder {quoted(path)} cannot be listed ({reason}): its "
                         "recordings are left out")
        self.path = os.fspath(path)


def _warn_unlisted(exc):
    reason = (exc.strerror or str(exc)).lower()
    warnings.warn(UnlistedFolderWarning(exc.filename, reason), stacklevel=3)


def is_listed(path, root):
    """Whether :func:`list_audio` lists ``path`` (under ``root``) if it is a file:
    an audio suffix, and no hidden part below ``root``."""
    return path.suffix.lower() in AUDIO_SUFFIXES and not _hidden(path.relative_to(root))


def list_audio(data_dir):
    """All audio files under ``data_dir`` (recursively), sorted by absolute path.

    Parameters
    ----------
    data_dir : str or os.PathLike
        The folder to search.

    Returns
    -------
    root : pathlib.Path
        The resolved folder.
    paths : list of pathlib.Path
        Absolute paths of the audio files (``.wav``, ``.flac``, ``.ogg``, ``.mp3``,
        ``.aiff`` and the other formats libsndfile decodes, in any letter case),
        sorted as strings. Hidden files and folders (names starting with ".", such
        as macOS's "._clip.wav" resource forks) and "__MACOSX" folders are left
        out. A folder below that cannot be listed (permission denied) is left out
        with a warning (``UnlistedFolderWarning``).

    Raises
    ------
    ValueError
        If the folder does not exist or holds no audio file.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import soundfile as sf
    >>> from sklasd.datasets import list_audio
    >>> folder = tempfile.mkdtemp()
    >>> sf.write(f"{folder}/b.wav", np.zeros(160), 16000)
    >>> sf.write(f"{folder}/a.wav", np.zeros(160), 16000)
    >>> [path.name for path in list_audio(folder)[1]]
    ['a.wav', 'b.wav']
    """
    root = check_folder(data_dir)
    paths = []
    for folder, folders, files in os.walk(root, onerror=_warn_unlisted):
        folders[:] = [f for f in folders if not _hidden(Path(f))]  # links not followed
        paths += [Path(folder, f) for f in files if is_listed(Path(folder, f), root)]
    paths = sorted((p for p in paths if p.is_file()), key=str)
    if not paths:
        raise ValueError(
            f"no audio files ({', '.join('*' + s for s in AUDIO_SUFFIXES)}) "
            f"found under {str(root)!r}"
        )
    return root, paths


def parse_all(paths, root, parse):
    """Apply ``parse(path, root)`` to every path; a :class:`ParseError` names the path.

    ``parse`` returns a dict of fields (see :func:`make_bunch`) or None to skip the
    file on purpose (for example ToyADMOS environmental noise).

    Returns
    -------
    kept : list of pathlib.Path
    records : list of dict
    """
    kept, records = [], []
    for path in paths:
        try:
            record = parse(path, root)
        except ParseError as exc:
            raise ValueError(f"file {str(path)!r}: {exc}") from None
        if record is not None:
            kept.append(path)
            records.append(record)
    if not kept:
        raise ValueError(f"no usable audio files under {str(root)!r}")
    return kept, records


def read_sample_rates(paths):
    """Sample rate and length of every file from its header, read once
    (:func:`sklasd.audio.read_headers`): ``(rates, n_frames)``.

    A file whose header cannot be read gets 0: listing a folder does not fail on
    it, decoding it does (:class:`~sklasd.audio.AudioError` naming the file), so
    that callers such as ``sklasd run --skip-bad`` can skip it.
    """
    from sklasd.audio import read_headers

    return read_headers(paths)


def common_rate(rates):
    """The single rate shared by all readable clips, or None if they differ."""
    unique = np.unique(rates[rates > 0])
    return int(unique[0]) if unique.size == 1 else None


def attributes_frame(records, index):
    """The per-clip ``attributes`` DataFrame from each record's ``"attributes"`` dict."""
    rows = [r.get("attributes", {}) for r in records]
    frame = pd.DataFrame.from_records(rows, index=index)
    return frame.fillna("") if not frame.empty else pd.DataFrame(index=index)


def make_bunch(records, *, data, filenames, descr, sr=None, rates=None,
               return_X_y=False, as_frame=False):
    """Build the dataset Bunch from parsed records.

    Parameters
    ----------
    records : list of dict
        One per clip, with ``target`` and optionally ``machine_type``, ``machine_id``,
        ``split``, ``domain`` (missing: ``""``), ``extra`` (a dict of further frame
        columns, e.g. ``fold``) and ``attributes`` (a dict of parsed attributes).
    data : ndarray
        Paths (str) or a float32 array ``(n_clips, n_samples)``.
    filenames : array-like of str, shape (n_clips,)
    descr : str
    sr : int or None, default=None
        Bunch-level sample rate in Hz.
    rates : tuple of two ndarrays of int or None, default=None
        Per-file rates and lengths in samples (:func:`read_sample_rates`), added
        to the frame as the columns ``sr`` and ``n_frames`` when given.
    return_X_y : bool, default=False
    as_frame : bool, default=False

    Returns
    -------
    Bunch or tuple
        See :func:`load_layout`.
    """
    filenames = np.asarray(filenames, dtype=str)
    target = np.asarray([r["target"] for r in records])
    if target.dtype.kind in "iub":
        target = target.astype(np.int64)
    else:
        target = target.astype(str)
    fields = {k: np.asarray([r.get(k, "") for r in records], dtype=str) for k in _STR_FIELDS}
    index = pd.RangeIndex(len(records))
    attributes = attributes_frame(records, index)

    columns = {"filename": filenames, "target": target, **fields}
    extra = pd.DataFrame.from_records([r.get("extra", {}) for r in records], index=index)
    frame = pd.DataFrame(columns, index=index)
    for name in extra.columns:
        frame[name] = extra[name]
    if rates is not None:
        frame["sr"], frame["n_frames"] = rates
    for name in attributes.columns:
        frame[name if name not in frame.columns else f"attr_{name}"] = attributes[name]

    if as_frame:
        X = frame.drop(columns="target")
        y = frame["target"]
        if return_X_y:
            return X, y
        return Bunch(data=X, sr=sr, filenames=filenames, target=y, attributes=attributes,
                     frame=frame, DESCR=descr, **fields)
    if return_X_y:
        return data, target
    return Bunch(data=data, sr=sr, filenames=filenames, target=target,
                 attributes=attributes, frame=frame, DESCR=descr, **fields)


def load_layout(data_dir, parse, descr, *, return_X_y=False, as_frame=False, keep=None):
    """List, parse and load a folder with one layout's parser.

    Parameters
    ----------
    data_dir : str or os.PathLike
    parse : callable ``(path, root) -> dict or None``
        Raises :class:`ParseError` for a path that does not fit the layout.
    descr : str
    return_X_y, as_frame : bool
        As in every loader.
    keep : callable ``(record) -> bool`` or None, default=None
        Optional filter applied after parsing (e.g. one ToyADMOS channel).

    Returns
    -------
    Bunch or tuple
        The dataset Bunch whose ``data`` are the sorted absolute paths
        (str ndarray); ``(data, target)`` with ``return_X_y``. With ``as_frame``,
        ``data`` is the frame without ``target`` and ``target`` a Series.
    """
    root, paths = list_audio(data_dir)
    paths, records = parse_all(paths, root, parse)
    if keep is not None:
        pairs = [(p, r) for p, r in zip(paths, records) if keep(r)]
        if not pairs:
            raise ValueError(f"no audio files under {str(root)!r} match the selection")
        paths, records = map(list, zip(*pairs))
    filenames = np.asarray([str(p) for p in paths], dtype=str)
    rates = read_sample_rates(paths)
    return make_bunch(records, data=filenames.copy(), filenames=filenames, descr=descr,
                      sr=common_rate(rates[0]), rates=rates, return_X_y=return_X_y,
                      as_frame=as_frame)

