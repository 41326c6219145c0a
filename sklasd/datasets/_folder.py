"""Recognise which dataset layout a folder holds and load it with the matching loader.

A folder whose names fit no known layout is read as a tree of unlabeled recordings
(:func:`load_audio_folder`): real recordings are never refused because of their names.
"""

import collections
import functools
import re

from . import _dcase, _esc, _events, _mimii, _toyadmos, _urbansound
from pathlib import Path

import numpy as np

from ._layout import ParseError, check_folder, common_rate, list_audio, \
    load_layout, make_bunch, read_sample_rates, stated_condition as _stated_condition, \
    words as _words

__all__ = ["load_folder", "detect_layout", "load_audio_folder", "load_audio_files"]

_SPLIT_WORDS = {"train": "train", "training": "train", "test": "test",
                "source_test": "test", "target_test": "test"}
_ID = re.compile(r"^(?:id_?(?P<id>\d+)|section_(?P<section>\d+))(?:_|$)", re.IGNORECASE)

AUDIO_FOLDER_DESCR = """\
A folder of recordings in no published layout, read as clips to score: the machine
type is the name of the folder holding each file (above any condition or split
folder, and above a folder of unlabeled clips that sits beside labelled ones, such
as "after repair/" beside "normal/"), the condition comes from words of the folder
or file names where they say so (normal, good; anomaly, abnormal, anomalous,
fault, faulty, defect, defective, broken, damaged) and is -1 (unlabeled) otherwise; a
train / test folder gives the split, an id_XX or section_XX name prefix the machine
ID, a source / target word the domain.
"""

# (layout name, parser of one path without metadata files, loader); tried in this
# order, which only matters for names two layouts could share (none of these do).
_LAYOUTS = (
    ("toyadmos", _toyadmos._parse_toyadmos, _toyadmos.load_toyadmos),
    ("dcase2021_task2", _dcase._parse_dcase2021, _dcase.load_dcase2021_task2),
    ("dcase2020_task2", _dcase._parse_dcase2020, _dcase.load_dcase2020_task2),
    ("mimii", _mimii._parse_mimii, _mimii.load_mimii),
    ("esc50", _esc._parser(None), _esc.load_esc50),
    ("urbansound8k", _urbansound._parser(_urbansound.URBANSOUND8K_CLASSES, {}),
     _urbansound.load_urbansound8k),
    ("dcase2016_task2", _events._parse_event, _events.load_dcase2016_task2),
)


def _matches(parse, path, root):
    try:
        parse(path, root)
    except ParseError:
        return False
    return True


def _id_of(name, whole=False):
    """``"id_XX"`` / ``"section_XX"`` from a name starting so (or equal, ``whole``)."""
    match = _ID.match(name)
    if match is None or (whole and match.end() != len(name)):
        return ""
    return f"id_{match['id']}" if match["id"] is not None else f"section_{match['section']}"


def _labelled_folders(paths, root):
    """Folders under ``root`` (and ``root``) that directly hold a recording or a
    folder whose name states a condition: the folders of one machine."""
    labelled = set()
    for path in paths:
        parts = path.relative_to(root).parts
        for depth, name in enumerate(parts):
            if _stated_condition(Path(name).stem if depth == len(parts) - 1 else name) \
                    is not None:
                labelled.add(root.joinpath(*parts[:depth]))
    return labelled


#: A folder named by a date ("2026-11-28", "20261128 night shift") holds a recording
#: session of the machine above it, not a machine.
_DATE = re.compile(r"^(?:19|20)\d\d([-_.]?)(?:0[1-9]|1[0-2])\1(?:0[1-9]|[12]\d|3[01])(?!\d)")


def _plain(part):
    """A folder name that states no condition, split, machine ID or date."""
    return (_stated_condition(part) is None and part.lower() not in _SPLIT_WORDS
            and not _id_of(part, whole=True) and not _DATE.match(part))


def _machine_folder(path, root, labelled=frozenset()):
    """The folder that names the machine of ``path``: the deepest plain folder
    above it (``root`` if none), unless the folder above that one is in
    ``labelled``: then it holds more recordings of that machine (a session such as
    "after repair" beside "normal")."""
    machine, folder = root, root
    for part in path.relative_to(root).parts[:-1]:
        if _plain(part) and folder not in labelled:
            machine = folder / part
        folder = folder / part
    return machine


def _machine_types(paths, root):
    """``{path: machine type}``: the name of each path's :func:`_machine_folder`,
    followed by the folders above it where two machine folders share a name
    ("pump (Site A)", "pump (Site B)")."""
    labelled = _labelled_folders(paths, root)
    folders = {path: _machine_folder(path, root, labelled) for path in paths}
    counts = collections.Counter(folder.name for folder in set(folders.values()))

    def name(folder):
        above = folder.relative_to(root).parts[:-1] if folder != root else ()
        return f"{folder.name} ({', '.join(above)})" if counts[folder.name] > 1 and above \
            else folder.name

    return {path: name(folder) for path, folder in folders.items()}


def _parse_any(path, root, machine_types=None):
    """Labels of any recording from whatever its folders and name say (never fails).

    The machine type is ``machine_types[path]`` where given (:func:`_machine_types`),
    else the name of the path's :func:`_machine_folder`."""
    target, split, machine_id = -1, "", ""
    machine_type = (machine_types[path] if machine_types is not None
                    else _machine_folder(path, root).name)
    for part in path.relative_to(root).parts[:-1]:
        condition = _stated_condition(part)
        target = target if condition is None else condition
        split = _SPLIT_WORDS.get(part.lower(), split)
        machine_id = _id_of(part, whole=True) or machine_id
    condition = _stated_condition(path.stem)
    target = target if condition is None else condition
    name_words = _words(path.stem)
    machine_id = _id_of(path.stem) or machine_id
    domains = name_words & {"source", "target"}
    return {"target": target, "machine_type": machine_type, "machine_id": machine_id,
            "split": split, "domain": domains.pop() if len(domains) == 1 else ""}


def load_audio_folder(data_dir, *, return_X_y=False, as_frame=False):
    """Load any folder of recordings as clips to score, labelled where names say so.

    Parameters
    ----------
    data_dir : str or os.PathLike
        A folder holding audio files at any depth, with any names (a flat folder of
        one's own recordings such as ``pump room 3 2026-11-30 08h00.wav``).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Make the frame the main result.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        data, filenames : ndarray of str, shape (n_clips,)
            Sorted absolute paths.
        target : ndarray of int64, shape (n_clips,)
            0 where a folder or the file name says ``normal`` or ``good``, 1
            where it says ``anomaly``, ``abnormal``, ``anomalous``, ``fault``,
            ``faulty``, ``defect``, ``defective``, ``broken`` or ``damaged``, -1
            (unlabeled) otherwise (whole words in any letter case).
        machine_type : ndarray of str
            Name of the nearest folder above the file that is not a condition or
            split folder (the given folder's own name for a flat folder). A
            folder of unlabeled clips beside a condition folder or labelled files
            (``pump/after repair/`` beside ``pump/normal/``) holds more clips of
            the same machine: their machine type is the folder above (``pump``).
            Two machine folders of one name are two machines, named with the
            folders above them: ``Site A/pump/`` and ``Site B/pump/`` give
            ``"pump (Site A)"`` and ``"pump (Site B)"``. A folder named by a date
            (``pump/2026-11-28/normal/``) holds a session of the machine above it.
        machine_id : ndarray of str
            ``"id_XX"`` / ``"section_XX"`` from a name that starts so, else ``""``.
        split : ndarray of str
            ``"train"`` / ``"test"`` from a folder of that name, else ``""``.
        domain : ndarray of str
            ``"source"`` / ``"target"`` from a word of the name, else ``""``.
        sr, attributes, frame, DESCR
            As for every loader.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    ValueError
        If the folder does not exist or holds no ``*.wav`` file.

    Examples
    --------
    >>> from sklasd.datasets import load_audio_folder
    >>> bunch = load_audio_folder("recordings/pump")  # doctest: +SKIP
    >>> bunch.target[:3]  # doctest: +SKIP
    array([-1, -1, -1])
    """
    root, paths = list_audio(data_dir)
    parse = functools.partial(_parse_any, machine_types=_machine_types(paths, root))
    return load_layout(data_dir, parse, AUDIO_FOLDER_DESCR,
                       return_X_y=return_X_y, as_frame=as_frame)


def _dataset_folder(path):
    """The nearest folder above ``path`` that is not a condition, split, ID or date
    folder."""
    folder = path.parent
    while not _plain(folder.name) and folder.parent != folder:
        folder = folder.parent
    return check_folder(folder)


def load_audio_files(paths, *, return_X_y=False, as_frame=False):
    """Load a list of audio files as clips to score, like :func:`load_audio_folder`.

    Each file is read as if its folder were the dataset: machine type from the
    folder's name, condition from words of its name where they say so.

    Parameters
    ----------
    paths : list of str or os.PathLike
        Audio files (kept in the given order).
    return_X_y, as_frame : bool, default=False
        As in every loader.

    Returns
    -------
    bunch : sklearn.utils.Bunch or tuple
        See :func:`load_audio_folder`.

    Raises
    ------
    ValueError
        If ``paths`` is empty or a path is not an existing file (named).

    Examples
    --------
    >>> from sklasd.datasets import load_audio_files
    >>> bunch = load_audio_files(["pump/2026-11-30 08h00.wav"])  # doctest: +SKIP
    """
    paths = [Path(p).expanduser().resolve() for p in paths]
    if not paths:
        raise ValueError("expected at least one audio file, got none")
    for path in paths:
        if not path.is_file():
            raise ValueError(f"file {str(path)!r} does not exist")
    records = [_parse_any(p, _dataset_folder(p)) for p in paths]
    filenames = np.asarray([str(p) for p in paths], dtype=str)
    rates = read_sample_rates(paths)
    return make_bunch(records, data=filenames.copy(), filenames=filenames,
                      descr=AUDIO_FOLDER_DESCR, sr=common_rate(rates[0]), rates=rates,
                      return_X_y=return_X_y, as_frame=as_frame)


def detect_layout(data_dir):
    """Name of the layout of ``data_dir``: the first whose parser reads every file.

    Parameters
    ----------
    data_dir : str or os.PathLike

    Returns
    -------
    layout : str
        One of ``"toyadmos"``, ``"dcase2021_task2"``, ``"dcase2020_task2"``,
        ``"mimii"``, ``"esc50"``, ``"urbansound8k"``, ``"dcase2016_task2"``, or
        ``"audio_folder"`` when no layout reads every file.

    Raises
    ------
    ValueError
        If the folder does not exist or holds no audio.
    """
    root, paths = list_audio(data_dir)
    for name, parse, _ in _LAYOUTS:
        if all(_matches(parse, path, root) for path in paths):
            return name
    return "audio_folder"


def load_folder(data_dir, **kwargs):
    """Load a folder in any layout sklasd knows, recognising which one it holds.

    Parameters
    ----------
    data_dir : str or os.PathLike
        A folder in the DCASE 2020 or DCASE 2021-2025 Task 2 (development or
        evaluation sets), MIMII (with or without its SNR folder), ToyADMOS, ESC-50,
        UrbanSound8K or DCASE 2016 Task 2 (events) layout; any other folder of
        audio files is read by :func:`load_audio_folder` (unlabeled clips).
    **kwargs
        Passed to the loader: ``return_X_y``, ``as_frame``, and loader-specific
        options (``esc10`` for ESC-50, ``channel`` for ToyADMOS).

    Returns
    -------
    bunch : sklearn.utils.Bunch or tuple
        What the matching loader returns.

    Raises
    ------
    ValueError
        If the folder does not exist or holds no audio.

    See Also
    --------
    detect_layout : only the recognition step.

    Examples
    --------
    >>> from sklasd.datasets import load_folder
    >>> bunch = load_folder("dev_data/fan")  # doctest: +SKIP
    """
    layout = detect_layout(data_dir)
    if layout == "audio_folder":
        return load_audio_folder(data_dir, **kwargs)
    loader = next(load for name, _, load in _LAYOUTS if name == layout)
    return loader(data_dir, **kwargs)
