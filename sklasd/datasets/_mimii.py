"""Loader for the MIMII dataset layout: ``[<snr>/]<type>/id_XX/{normal,abnormal}/*.wav``."""

import re

from ._layout import ParseError, load_layout

__all__ = ["load_mimii"]

_ID = re.compile(r"^id_\d+$")
_SNR = re.compile(r"^(?P<db>[-+]?\d+)_?dB", re.IGNORECASE)
_TARGETS = {"normal": 0, "abnormal": 1}

MIMII_DESCR = """\
MIMII: Sound Dataset for Malfunctioning Industrial Machine Investigation and Inspection.

Layout: <machine_type>/id_XX/{normal,abnormal}/NNNNNNNN.wav (fan, pump, slider, valve;
16 kHz, 8 channels, 10 s), one archive per machine type and SNR (-6, 0, 6 dB), for
example -6_dB_fan.zip. "abnormal" is target 1. No train/test split is defined.

Zenodo record 3384388. Licence CC BY-SA 4.0.
Purohit et al., "MIMII Dataset: Sound Dataset for Malfunctioning Industrial Machine
Investigation and Inspection", DCASE 2019 Workshop.
"""


def _snr(parts):
    """The SNR in dB from the nearest folder above ``<machine_type>`` named like ``-6_dB``,
    ``6dB`` or ``-6_dB_fan`` (as the archives are named); ``""`` if none is."""
    for part in reversed(parts):
        match = _SNR.match(part)
        if match:
            return str(int(match["db"]))
    return ""


def _parse_mimii(path, root):
    condition, machine_id = path.parent.name, path.parent.parent.name
    if condition not in _TARGETS or not _ID.match(machine_id):
        raise ParseError("expected a MIMII path <machine_type>/id_XX/{normal,abnormal}/*.wav")
    return {
        "target": _TARGETS[condition],
        "machine_type": path.parent.parent.parent.name,
        "machine_id": machine_id,
        "attributes": {"snr_db": _snr(path.parts[:-4])},
    }


def load_mimii(data_dir, *, return_X_y=False, as_frame=False):
    """Load a MIMII folder.

    Parameters
    ----------
    data_dir : str or os.PathLike
        A folder holding ``<machine_type>/id_XX/{normal,abnormal}/*.wav``, optionally
        below SNR folders (``-6_dB/``, ``0dB/``, ``6_dB_fan/``, ...); or one
        ``<machine_type>`` folder.
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
            Common sample rate in Hz (16000), None if mixed.
        target : ndarray of int64, shape (n_clips,)
            1 = ``abnormal`` folder, 0 = ``normal``.
        machine_type, machine_id : ndarray of str
            e.g. ``"valve"``, ``"id_00"``.
        split, domain : ndarray of str
            ``""`` (MIMII defines no split or domain).
        attributes : DataFrame
            Column ``snr_db`` (``"-6"``, ``"0"``, ``"6"``; ``""`` when no folder says).
        frame : DataFrame
            All of the above as columns.
        DESCR : str
            Description of the dataset.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    ValueError
        If the folder holds no ``*.wav`` file or a path does not fit the layout
        (the message names the first offending path).

    References
    ----------
    Purohit et al., "MIMII Dataset", DCASE 2019 Workshop.
    https://zenodo.org/record/3384388

    Examples
    --------
    >>> from sklasd.datasets import load_mimii
    >>> bunch = load_mimii("mimii/-6_dB")  # doctest: +SKIP
    """
    return load_layout(data_dir, _parse_mimii, MIMII_DESCR,
                       return_X_y=return_X_y, as_frame=as_frame)
