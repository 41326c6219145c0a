"""Loader for the DCASE 2016 Task 2 training set: isolated events ``<class><NNN>.wav``."""

import re

from ._layout import ParseError, load_layout

__all__ = ["load_dcase2016_task2"]

_NAME = re.compile(r"^(?P<label>[A-Za-z]+)(?P<number>\d+)\.wav$")

DCASE2016_DESCR = """\
DCASE 2016 Task 2 (synthetic audio sound event detection) training set: isolated
office sound events, 44.1 kHz mono, in 11 classes of 20 (clearthroat, cough, doorslam,
drawer, keyboard, keysDrop, knock, laughter, pageturn, phone, speech); file names
<class><NNN>.wav in dcase2016_task2_train/. Use stratified folds.

http://www.cs.tut.fi/sgn/arg/dcase2016/task-synthetic-sound-event-detection
Lafay, Benetos, Lagrange, "Sound event detection in synthetic audio: analysis of the
DCASE 2016 task results", WASPAA 2017.
"""


def _parse_event(path, root):
    match = _NAME.match(path.name)
    if match is None:
        raise ParseError("expected a DCASE 2016 Task 2 event name <class><NNN>.wav")
    return {"target": match["label"], "extra": {"event_number": match["number"]}}


def load_dcase2016_task2(data_dir, *, return_X_y=False, as_frame=False):
    """Load the DCASE 2016 Task 2 isolated-event training set.

    Parameters
    ----------
    data_dir : str or os.PathLike
        The ``dcase2016_task2_train/`` folder or a folder above it.
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
            The class name from the file name (``"keysDrop"``).
        machine_type, machine_id, split, domain : ndarray of str
            ``""`` (a classification set).
        attributes : DataFrame
            Empty.
        frame : DataFrame
            The above plus ``event_number`` (``"002"``) and ``sr``.
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
    DCASE 2016 Challenge Task 2.
    http://www.cs.tut.fi/sgn/arg/dcase2016/task-synthetic-sound-event-detection

    Examples
    --------
    >>> from sklasd.datasets import load_dcase2016_task2
    >>> bunch = load_dcase2016_task2("dcase2016_task2_train")  # doctest: +SKIP
    """
    return load_layout(data_dir, _parse_event, DCASE2016_DESCR,
                       return_X_y=return_X_y, as_frame=as_frame)
