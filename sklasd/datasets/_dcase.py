"""Loaders for the DCASE Task 2 development layouts (2020, and 2021-2024)."""

import functools
import re

import pandas as pd

from ._layout import ParseError, load_layout, stated_condition

__all__ = ["load_dcase2020_task2", "load_dcase2021_task2"]

_SPLITS = ("train", "test")

# Development names carry the condition (normal_id_00_00000000.wav); evaluation test
# names do not (id_05_00000000.wav): those clips are unlabeled (target -1).
_DCASE2020_NAME = re.compile(
    r"^(?:(?P<label>normal|anomaly)_)?(?P<id>id_\d+)_(?P<num>\d+)\.wav$")

# 2021-2025: section_00_source_train_normal_0000_<attributes>.wav; the domain and split
# words are optional (section_00_train_normal_0000.wav); evaluation test names drop
# the condition (2021: section_03_source_test_0000.wav; 2022-2025: section_03_0000.wav).
_DCASE2021_NAME = re.compile(
    r"^section_(?P<section>\d+)_(?:(?P<domain>source|target)_)?(?:(?P<split>train|test)_)?"
    r"(?:(?P<label>normal|anomaly)(?:_(?P<rest>.+))?|(?P<unlabeled>\d+(?:_.+)?))\.wav$"
)

#: Condition words of file names and folders -> target (-1: unlabeled).
_TARGETS = {"normal": 0, "anomaly": 1, None: -1}

DCASE2020_DESCR = """\
DCASE 2020 Challenge Task 2: Unsupervised Detection of Anomalous Sounds for Machine
Condition Monitoring (development, additional training and evaluation data).

Layout: <machine_type>/{train,test}/{normal,anomaly}_id_XX_NNNNNNNN.wav, 16 kHz mono,
about 10 s (ToyADMOS: ToyCar, ToyConveyor; MIMII: fan, pump, slider, valve).
Machine type from the folder, machine ID and condition from the file name. The
evaluation set's test clips (id_XX_NNNNNNNN.wav) carry no condition: target -1.

Zenodo records 3678171 (development), 3727685 (additional training), 3841772
(evaluation). Licence CC BY-NC-SA 4.0.

Koizumi et al., "Description and Discussion on DCASE2020 Challenge Task2: Unsupervised
Anomalous Sound Detection for Machine Condition Monitoring", DCASE 2020 Workshop.
"""

DCASE2021_DESCR = """\
DCASE 2021-2024 Challenge Task 2: (First-Shot) Unsupervised Anomalous Sound Detection
under Domain Shifted Conditions.

Layout: <machine_type>/{train,test}/section_XX_{source,target}_{train,test}_
{normal,anomaly}_NNNN_<key>_<value>...wav, 16 kHz mono, 10 s. Section, domain, split,
condition and the attributes (key/value pairs after the clip number) are parsed from
the file name; machine_id is "section_XX". Evaluation test clips (section_XX_NNNN.wav,
2021: section_XX_source_test_NNNN.wav) carry no condition: target -1.

Kawaguchi et al., "Description and Discussion on DCASE 2021 Challenge Task 2",
DCASE 2021 Workshop; Dohi et al., DCASE 2022-2024 Task 2 descriptions.
"""


def _type_and_split(path):
    """``(machine_type, split)`` from ``<type>/<split>/file`` or ``<type>/file``.

    A file in a folder named by a condition ("normal/", "faults/") is in a folder
    of one's own recordings, not in a DCASE layout, whatever its name."""
    parent = path.parent.name
    if stated_condition(parent) is not None:
        raise ParseError(f"a DCASE layout has no condition folder such as {parent!r}")
    if parent in _SPLITS or parent in ("source_test", "target_test"):
        return path.parent.parent.name, parent.split("_")[-1]
    return parent, ""


def _parse_dcase2020(path, root):
    match = _DCASE2020_NAME.match(path.name)
    if match is None:
        raise ParseError(
            "expected a DCASE 2020 Task 2 name [{normal,anomaly}_]id_XX_NNNNNNNN.wav"
        )
    machine_type, split = _type_and_split(path)
    return {
        "target": _TARGETS[match["label"]],
        "machine_type": machine_type,
        "machine_id": match["id"],
        "split": split,
        "extra": {"clip_number": match["num"]},
    }


def parse_attributes(rest):
    """Split the tail of a DCASE 2021+ name into its clip number and attributes.

    ``"0000_vel_8_loc_A"`` gives ``("0000", {"vel": "8", "loc": "A"})``. A tail
    whose words do not pair up (DCASE 2021's ``0000_strength_1_ambient``,
    2024's ``0000_noAttribute``) keeps its words in a single ``"attribute"`` entry.
    """
    if not rest:
        return "", {}
    words = rest.split("_")
    number, words = (words[0], words[1:]) if words[0].isdigit() else ("", words)
    if not words or words == ["noAttribute"]:
        return number, {}
    if len(words) % 2:
        return number, {"attribute": "_".join(words)}
    return number, dict(zip(words[::2], words[1::2]))


@functools.lru_cache(maxsize=64)
def _attribute_tables(folder, _stamp):
    """``{file name: {attribute: value}}`` from the ``attributes_XX.csv`` files of a
    machine type folder (DCASE 2022+: ``file_name,d1p,d1v,d2p,d2v,...``, each
    ``dNp`` an attribute's name and ``dNv`` its value). ``_stamp`` (the files' names
    and modification times) renews the cache when they change."""
    table = {}
    for csv in sorted(folder.glob("attributes_*.csv")):
        try:
            frame = pd.read_csv(csv, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as exc:
            raise ValueError(f"{csv}: not a DCASE attributes table ({exc})") from None
        if "file_name" not in frame:
            raise ValueError(f"{csv}: not a DCASE attributes table (no file_name column)")
        names = [c for c in frame if c.endswith("p") and c[:-1] + "v" in frame]
        for row in frame.to_dict("records"):
            table[row["file_name"].rsplit("/", 1)[-1]] = {
                row[n]: row[n[:-1] + "v"] for n in names if row[n]}
    return table


def _csv_attributes(path, split):
    """The attributes of ``path`` in its machine type folder's ``attributes_XX.csv``."""
    folder = path.parent.parent if split else path.parent
    stamp = tuple((f.name, f.stat().st_mtime_ns)
                  for f in sorted(folder.glob("attributes_*.csv")))
    return _attribute_tables(folder, stamp).get(path.name, {}) if stamp else {}


def _parse_dcase2021(path, root):
    match = _DCASE2021_NAME.match(path.name)
    if match is None:
        raise ParseError(
            "expected a DCASE 2021+ Task 2 name "
            "section_XX_{source,target}_{train,test}_{normal,anomaly}_NNNN[_key_value...].wav"
            " (evaluation test names: section_XX_NNNN.wav)"
        )
    number, attributes = parse_attributes(match["rest"] or match["unlabeled"])
    machine_type, folder_split = _type_and_split(path)
    attributes.update(_csv_attributes(path, folder_split))
    return {
        "target": _TARGETS[match["label"]],
        "machine_type": machine_type,
        "machine_id": f"section_{match['section']}",
        "split": match["split"] or folder_split,
        "domain": match["domain"] or "",
        "extra": {"section": match["section"], "clip_number": number},
        "attributes": attributes,
    }


def load_dcase2020_task2(data_dir, *, return_X_y=False, as_frame=False):
    """Load a DCASE 2020 Task 2 folder (development, additional training, evaluation).

    Parameters
    ----------
    data_dir : str or os.PathLike
        The dataset root holding ``<machine_type>/{train,test}/*.wav`` folders, a single
        ``<machine_type>`` folder, or a folder of ``<machine_type>/*.wav`` without the
        split level (``split`` is then ``""``).
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Make the frame the main result: ``data`` becomes the frame without its
        ``target`` column (a DataFrame) and ``target`` a Series; with
        ``return_X_y`` these two are returned.

    Returns
    -------
    bunch : sklearn.utils.Bunch
        data : ndarray of str, shape (n_clips,)
            Sorted absolute paths.
        sr : int or None
            The files' common sample rate in Hz (16000), None if mixed.
        filenames : ndarray of str, shape (n_clips,)
            Same as ``data``.
        target : ndarray of int64, shape (n_clips,)
            1 = anomaly, 0 = normal, -1 = unlabeled (evaluation test clips).
        machine_type, machine_id, split, domain : ndarray of str, shape (n_clips,)
            e.g. ``"fan"``, ``"id_04"``, ``"test"``; ``domain`` is ``""``.
        attributes : DataFrame
            Empty (no attributes in DCASE 2020 names).
        frame : DataFrame
            All of the above as columns plus ``clip_number`` and ``sr``.
        DESCR : str
            Description of the dataset.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    ValueError
        If the folder holds no ``*.wav`` file or a file name does not parse (the
        message names the first offending path).

    References
    ----------
    Koizumi et al., "Description and Discussion on DCASE2020 Challenge Task2",
    DCASE 2020 Workshop. https://zenodo.org/record/3678171

    Examples
    --------
    >>> from sklasd.datasets import load_dcase2020_task2
    >>> bunch = load_dcase2020_task2("dev_data/fan")  # doctest: +SKIP
    >>> X_train = bunch.data[bunch.split == "train"]  # doctest: +SKIP
    """
    return load_layout(data_dir, _parse_dcase2020, DCASE2020_DESCR,
                       return_X_y=return_X_y, as_frame=as_frame)


def load_dcase2021_task2(data_dir, *, return_X_y=False, as_frame=False):
    """Load a DCASE 2021-2025 Task 2 folder (development or evaluation set).

    Parameters
    ----------
    data_dir : str or os.PathLike
        The dataset root holding ``<machine_type>/{train,test}/*.wav`` folders (also
        DCASE 2021's ``source_test`` / ``target_test``), or one ``<machine_type>``
        folder.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        Make the frame the main result (see :func:`load_dcase2020_task2`).

    Returns
    -------
    bunch : sklearn.utils.Bunch
        data, filenames : ndarray of str, shape (n_clips,)
            Sorted absolute paths.
        sr : int or None
            Common sample rate in Hz, None if mixed.
        target : ndarray of int64, shape (n_clips,)
            1 = anomaly, 0 = normal, -1 = unlabeled (evaluation test clips).
        machine_type : ndarray of str
            The ``<machine_type>`` folder name.
        machine_id : ndarray of str
            ``"section_XX"``.
        split : ndarray of str
            ``"train"`` / ``"test"`` from the file name (else from the folder).
        domain : ndarray of str
            ``"source"`` / ``"target"`` (``""`` for names without a domain word).
        attributes : DataFrame
            One column per attribute key (``pat``, ``vel``, ``loc``, ...; values as
            str, ``""`` where a clip lacks the key); a single ``attribute`` column
            for tails that are not key/value pairs. The ``attributes_XX.csv``
            tables of a machine type folder (DCASE 2022+: ``file_name`` and
            ``d1p, d1v, d2p, d2v, ...`` name/value pairs) add their attributes to
            the clips they list, so that clips named ``..._noAttribute.wav`` get
            theirs.
        frame : DataFrame
            All of the above plus ``section`` (``"00"``), ``clip_number`` and ``sr``.
        DESCR : str
            Description of the dataset.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    ValueError
        If the folder holds no ``*.wav`` file or a name does not parse (the
        message names the first offending path).

    References
    ----------
    Kawaguchi et al., "Description and Discussion on DCASE 2021 Challenge Task 2",
    DCASE 2021; Dohi et al., "Description and Discussion on DCASE 2022 Challenge
    Task 2", DCASE 2022. https://dcase.community/challenge2023/

    Examples
    --------
    >>> from sklasd.datasets import load_dcase2021_task2
    >>> bunch = load_dcase2021_task2("dev_data/raw/valve")  # doctest: +SKIP
    >>> bunch.frame.groupby(["section", "domain"]).size()  # doctest: +SKIP
    """
    return load_layout(data_dir, _parse_dcase2021, DCASE2021_DESCR,
                       return_X_y=return_X_y, as_frame=as_frame)
