"""Loader for UrbanSound8K (``audio/fold<k>/<fsID>-<classID>-<occurrenceID>-<sliceID>.wav``)."""

import re

import pandas as pd

from ._layout import ParseError, check_folder, load_layout

__all__ = ["load_urbansound8k"]

_NAME = re.compile(r"^(?P<fsid>\d+)-(?P<class_id>\d+)-(?P<occurrence>\d+)-(?P<slice>\d+)\.wav$")
_FOLD = re.compile(r"^fold(?P<fold>\d+)$")

# The fixed classID -> class map of UrbanSound8K (its README and metadata CSV).
URBANSOUND8K_CLASSES = {
    0: "air_conditioner", 1: "car_horn", 2: "children_playing", 3: "dog_bark",
    4: "drilling", 5: "engine_idling", 6: "gun_shot", 7: "jackhammer", 8: "siren",
    9: "street_music",
}

URBANSOUND8K_DESCR = """\
UrbanSound8K: 8732 labelled urban sound excerpts (<= 4 s) in 10 classes, arranged in
10 predefined folds (audio/fold1 ... fold10); file names
<freesound ID>-<class ID>-<occurrence ID>-<slice ID>.wav; metadata/UrbanSound8K.csv
(slice_file_name, fsID, start, end, salience, fold, classID, class). Use the folds for
cross-validation (never re-shuffle: slices of one recording share a fold).
Licence CC BY-NC 3.0.

Zenodo record 1203745; https://urbansounddataset.weebly.com/urbansound8k.html
Salamon, Jacoby, Bello, "A Dataset and Taxonomy for Urban Sound Research", ACM MM 2014.
"""


def _find_meta(root):
    """``metadata/UrbanSound8K.csv`` for a root, ``audio/`` or ``UrbanSound8K/``'s parent."""
    for base in (root, root.parent, root.parent.parent, root / "UrbanSound8K"):
        candidate = base / "metadata" / "UrbanSound8K.csv"
        if candidate.is_file():
            return candidate
    return None


def _read_meta(path):
    """``(classes, rows)``: classID -> name, and slice_file_name -> metadata row."""
    if path is None:
        return URBANSOUND8K_CLASSES, {}
    meta = pd.read_csv(path)
    missing = {"slice_file_name", "classID", "class", "fold"} - set(meta.columns)
    if missing:
        raise ValueError(f"file {str(path)!r}: missing column(s) {sorted(missing)}")
    classes = dict(zip(meta["classID"].astype(int), meta["class"].astype(str)))
    return classes, meta.set_index("slice_file_name").to_dict("index")


def _parser(classes, rows):
    def parse(path, root):
        match = _NAME.match(path.name)
        if match is None:
            raise ParseError("expected an UrbanSound8K name <fsID>-<classID>-<occurrenceID>-"
                             "<sliceID>.wav")
        class_id = int(match["class_id"])
        if class_id not in classes:
            raise ParseError(f"unknown class id {class_id}")
        row = rows.get(path.name, {})
        fold = _FOLD.match(path.parent.name)
        if fold is None and "fold" not in row:
            raise ParseError("expected the file in a fold<k> folder")
        extra = {"fold": int(fold["fold"]) if fold else int(row["fold"]),
                 "class_id": class_id, "fsID": match["fsid"],
                 "occurrence_id": int(match["occurrence"]), "slice_id": int(match["slice"])}
        if "salience" in row:
            extra["salience"] = int(row["salience"])
        return {"target": classes[class_id], "extra": extra}
    return parse


def load_urbansound8k(data_dir, *, return_X_y=False, as_frame=False):
    """Load UrbanSound8K (or a subset in its layout).

    Parameters
    ----------
    data_dir : str or os.PathLike
        The ``UrbanSound8K/`` folder (holding ``audio/`` and ``metadata/``), its parent,
        or its ``audio/`` folder.
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
            Common sample rate in Hz; None if mixed (the original release mixes
            rates from 8 to 192 kHz).
        target : ndarray of str, shape (n_clips,)
            The class name, from ``metadata/UrbanSound8K.csv`` when present, else
            from the fixed classID map (0 ``air_conditioner`` ... 9 ``street_music``).
        machine_type, machine_id, split, domain : ndarray of str
            ``""`` (a classification set).
        attributes : DataFrame
            Empty.
        frame : DataFrame
            The above plus ``fold`` (int 1-10), ``class_id``, ``fsID``,
            ``occurrence_id``, ``slice_id``, ``salience`` (with the CSV) and ``sr``.
        DESCR : str
            Description of the dataset.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    ValueError
        If the folder holds no ``*.wav`` or a name does not parse (the message names
        the path).

    References
    ----------
    Salamon, Jacoby, Bello, "A Dataset and Taxonomy for Urban Sound Research",
    ACM MM 2014. https://zenodo.org/record/1203745

    Examples
    --------
    >>> from sklasd.datasets import load_urbansound8k
    >>> bunch = load_urbansound8k("UrbanSound8K")  # doctest: +SKIP
    >>> test = bunch.data[bunch.frame["fold"] == 10]  # doctest: +SKIP
    """
    classes, rows = _read_meta(_find_meta(check_folder(data_dir)))
    return load_layout(data_dir, _parser(classes, rows), URBANSOUND8K_DESCR,
                       return_X_y=return_X_y, as_frame=as_frame)
