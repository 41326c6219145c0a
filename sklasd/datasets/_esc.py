"""Loader for ESC-50 / ESC-10 (the repository layout ``audio/`` + ``meta/esc50.csv``)."""

import re

import pandas as pd

from ._layout import ParseError, check_folder, load_layout

__all__ = ["load_esc50"]

_NAME = re.compile(r"^(?P<fold>\d+)-(?P<clip>\d+)-(?P<take>[A-Za-z]+)-(?P<target>\d+)\.wav$")

# ESC-10's ten classes as ESC-50 class ids (dog, rooster, rain, sea_waves,
# crackling_fire, crying_baby, sneezing, clock_tick, helicopter, chainsaw); used only
# when meta/esc50.csv, whose esc10 column is authoritative, is absent.
ESC10_TARGETS = frozenset({0, 1, 10, 11, 12, 20, 21, 38, 40, 41})

ESC50_DESCR = """\
ESC-50: Dataset for Environmental Sound Classification.

2000 labelled 5-second clips (44.1 kHz mono) in 50 classes of 40 clips, arranged in 5
folds; ESC-10 is a 10-class subset. Layout of the repository: audio/<fold>-<clip id>-
<take>-<class id>.wav and meta/esc50.csv (filename, fold, target, category, esc10,
src_file, take). Licence CC BY-NC 3.0 (clips from freesound.org).

https://github.com/karolpiczak/ESC-50
Piczak, "ESC: Dataset for Environmental Sound Classification", ACM Multimedia 2015.
"""


def _find_meta(root):
    """``meta/esc50.csv`` beside or above ``audio/``, or None."""
    for base in (root, root.parent, *[d for d in root.iterdir() if d.is_dir()]):
        candidate = base / "meta" / "esc50.csv"
        if candidate.is_file():
            return candidate
    return None


def _read_meta(path):
    """``{class id: (category, esc10)}`` from ``esc50.csv``."""
    if path is None:
        return None
    meta = pd.read_csv(path)
    missing = {"target", "category", "esc10"} - set(meta.columns)
    if missing:
        raise ValueError(f"file {str(path)!r}: missing column(s) {sorted(missing)}")
    rows = meta.drop_duplicates("target")
    return {int(t): (str(c), bool(e)) for t, c, e in
            zip(rows["target"], rows["category"], rows["esc10"])}


def _parser(classes):
    def parse(path, root):
        match = _NAME.match(path.name)
        if match is None:
            raise ParseError("expected an ESC-50 name <fold>-<clip id>-<take>-<class id>.wav")
        class_id = int(match["target"])
        if classes is not None and class_id not in classes:
            raise ParseError(f"class id {class_id} is not in meta/esc50.csv")
        label, esc10 = (classes[class_id] if classes is not None
                        else (str(class_id), class_id in ESC10_TARGETS))
        return {
            "target": label,
            "extra": {"fold": int(match["fold"]), "class_id": class_id,
                      "clip_id": match["clip"], "take": match["take"], "esc10": esc10},
        }
    return parse


def load_esc50(data_dir, *, esc10=False, return_X_y=False, as_frame=False):
    """Load ESC-50 (or its ESC-10 subset) from the repository layout.

    Parameters
    ----------
    data_dir : str or os.PathLike
        The repository folder (``ESC-50-master/``, holding ``audio/`` and ``meta/``)
        or its ``audio/`` folder.
    esc10 : bool, default=False
        Keep only the ESC-10 subset (the ``esc10`` column of ``meta/esc50.csv``, or
        the ten ESC-10 class ids when the CSV is absent).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Make the frame the main result (``data`` = frame without ``target``,
        ``target`` a Series).

    Returns
    -------
    bunch : sklearn.utils.Bunch
        data, filenames : ndarray of str, shape (n_clips,)
            Sorted absolute paths.
        sr : int or None
            Common sample rate in Hz (44100), None if mixed.
        target : ndarray of str, shape (n_clips,)
            The class name (``category`` of the CSV, e.g. ``"dog"``); without the
            CSV the numeric class id as str (``"0"``).
        machine_type, machine_id, split, domain : ndarray of str
            ``""`` (a classification set).
        attributes : DataFrame
            Empty.
        frame : DataFrame
            The above plus ``fold`` (int, 1-5, for cross-validation), ``class_id``,
            ``clip_id``, ``take``, ``esc10`` and ``sr``.
        DESCR : str
            Description of the dataset.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    ValueError
        If the folder holds no ``*.wav``, a name does not parse, or a class id is not
        in the CSV (the message names the path).

    References
    ----------
    Piczak, "ESC: Dataset for Environmental Sound Classification", ACM MM 2015.
    https://github.com/karolpiczak/ESC-50

    Examples
    --------
    >>> from sklasd.datasets import load_esc50
    >>> bunch = load_esc50("ESC-50-master", esc10=True)  # doctest: +SKIP
    >>> folds = bunch.frame["fold"]  # doctest: +SKIP
    """
    classes = _read_meta(_find_meta(check_folder(data_dir)))
    keep = (lambda r: r["extra"]["esc10"]) if esc10 else None
    return load_layout(data_dir, _parser(classes), ESC50_DESCR, keep=keep,
                       return_X_y=return_X_y, as_frame=as_frame)
