"""Recognise which dataset layout a folder holds and load it with the matching loader."""

from . import _dcase, _esc, _events, _mimii, _toyadmos, _urbansound
from ._base import ParseError, list_audio

__all__ = ["load_folder", "detect_layout"]

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


def detect_layout(data_dir):
    """Name of the layout of ``data_dir``, judged from its first audio file (sorted).

    Parameters
    ----------
    data_dir : str or os.PathLike

    Returns
    -------
    layout : str
        One of ``"toyadmos"``, ``"dcase2021_task2"``, ``"dcase2020_task2"``,
        ``"mimii"``, ``"esc50"``, ``"urbansound8k"``, ``"dcase2016_task2"``.

    Raises
    ------
    ValueError
        If the folder holds no audio, or its first file parses in no known layout
        (the message names that path).
    """
    root, paths = list_audio(data_dir)
    for name, parse, _ in _LAYOUTS:
        if _matches(parse, paths[0], root):
            return name
    known = ", ".join(name for name, _, _ in _LAYOUTS)
    raise ValueError(f"file {str(paths[0])!r} fits no known dataset layout ({known})")


def load_folder(data_dir, **kwargs):
    """Load a folder in any layout sklasd knows, recognising which one it holds.

    Parameters
    ----------
    data_dir : str or os.PathLike
        A folder in the DCASE 2020 or DCASE 2021-2024 Task 2, MIMII, ToyADMOS,
        ESC-50, UrbanSound8K or DCASE 2016 Task 2 (events) layout.
    **kwargs
        Passed to the loader: ``return_X_y``, ``as_frame``, and loader-specific
        options (``esc10`` for ESC-50, ``channel`` for ToyADMOS).

    Returns
    -------
    bunch : sklearn.utils.Bunch or tuple
        What the matching loader returns (DESIGN.md section 7).

    Raises
    ------
    ValueError
        If the folder holds no audio, or a file parses in no known layout or not in
        the recognised one (the message names the first offending path).

    See Also
    --------
    detect_layout : only the recognition step.

    Examples
    --------
    >>> from sklasd.datasets import load_folder
    >>> bunch = load_folder("dev_data/fan")  # doctest: +SKIP
    """
    layout = detect_layout(data_dir)
    loader = next(load for name, _, load in _LAYOUTS if name == layout)
    return loader(data_dir, **kwargs)
