"""Loader for the ToyADMOS layout (Koizumi et al., WASPAA 2019).

The published archives unpack to ``<ToyCar|ToyConveyor|ToyTrain>/case<N>/{NormalSound_IND,
NormalSound_CNT,AnomalousSound_IND}/`` plus ``EnvironmentalNoise_CNT/`` folders, with one
file per microphone channel named, for example,
``1100010001_ToyCar_case1_normal_IND_ch1_0001.wav`` (normal) and
``1101010001_ToyCar_case1_ab01_IND_ch1_0001.wav`` (anomaly condition ``ab01``).
"""

import re

from ._layout import ParseError, load_layout

__all__ = ["load_toyadmos"]

_FOLDER = re.compile(r"^(?P<kind>NormalSound|AnomalousSound)_(?P<rec>IND|CNT)$")
_NOISE_FOLDER = "EnvironmentalNoise_CNT"
_NAME = re.compile(
    r"^(?P<code>\d+)_(?P<type>Toy[A-Za-z]+)_(?P<case>case\d+)_(?P<condition>normal|ab\d+)_"
    r"(?P<rec>IND|CNT)_ch(?P<channel>\d+)_(?P<number>\d+)\.wav$"
)

TOYADMOS_DESCR = """\
ToyADMOS: a dataset of miniature-machine operating sounds for anomalous sound detection.

Three sub-datasets (ToyCar: product inspection; ToyConveyor: fixed machine; ToyTrain:
moving machine), several "cases" (machine models) each, recorded with four microphones
at 48 kHz; each channel is a separate file (..._ch1_NNNN.wav to _ch4_). IND files hold
one whole operation (about 10-11 s); CNT files are continuous recordings cut every
10 minutes. Normal sounds: NormalSound_IND and NormalSound_CNT; anomalous sounds
(deliberately damaged parts, condition abNN): AnomalousSound_IND; environmental
factory noise: EnvironmentalNoise_CNT (excluded from this loader's data; mix it in
with sklasd.datasets.mix_at_snr).

Zenodo record 3351307; https://github.com/YumaKoizumi/ToyADMOS-dataset.
Koizumi, Saito, Harada, Uematsu, Imoto, "ToyADMOS: A Dataset of Miniature-Machine
Operating Sounds for Anomalous Sound Detection", WASPAA 2019.
"""


def _parse_toyadmos(path, root):
    folder = path.parent.name
    if folder == _NOISE_FOLDER:
        return None
    kind = _FOLDER.match(folder)
    name = _NAME.match(path.name)
    if kind is None or name is None:
        raise ParseError(
            "expected a ToyADMOS file <N>_<ToyX>_caseK_{normal,abNN}_{IND,CNT}_chC_NNNN.wav "
            "in a NormalSound_IND, NormalSound_CNT or AnomalousSound_IND folder"
        )
    target = int(kind["kind"] == "AnomalousSound")
    if target != (name["condition"] != "normal") or kind["rec"] != name["rec"]:
        raise ParseError(f"file name contradicts its folder {folder!r}")
    return {
        "target": target,
        "machine_type": name["type"],
        "machine_id": name["case"],
        "extra": {"channel": int(name["channel"]), "recording": name["rec"]},
        "attributes": {"condition": name["condition"], "file_code": name["code"],
                       "clip_number": name["number"]},
    }


def load_toyadmos(data_dir, *, channel=None, return_X_y=False, as_frame=False):
    """Load a ToyADMOS folder (one or all sub-datasets).

    Parameters
    ----------
    data_dir : str or os.PathLike
        The ToyADMOS root, one sub-dataset (``ToyCar/``) or one case folder.
    channel : int or None, default=None
        Keep only this microphone (1-4); None keeps every channel file (each
        channel is then its own row).
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
            Common sample rate in Hz (48000 as published), None if mixed.
        target : ndarray of int64, shape (n_clips,)
            1 for ``AnomalousSound_IND``, 0 for ``NormalSound_IND`` / ``_CNT``.
        machine_type : ndarray of str
            ``"ToyCar"``, ``"ToyConveyor"``, ``"ToyTrain"`` (from the file name).
        machine_id : ndarray of str
            The case, ``"case1"``.
        split, domain : ndarray of str
            ``""`` (ToyADMOS defines no split; the paper trains on 1000 random IND
            normal clips of case 1, channel 1).
        attributes : DataFrame
            ``condition`` (``"normal"`` or the anomaly condition ``"ab01"``...),
            ``file_code`` (the leading number) and ``clip_number``.
        frame : DataFrame
            The above plus ``channel`` (int) and ``recording`` (``"IND"``/``"CNT"``).
        DESCR : str
            Description of the dataset.
    (data, target) : tuple if ``return_X_y`` is True

    Raises
    ------
    ValueError
        If the folder holds no usable ``*.wav``, a file does not fit the layout, or
        its name contradicts its folder (the message names the path).

    Notes
    -----
    Files under ``EnvironmentalNoise_CNT`` are not part of the data: they are noise
    to mix with the machine sounds (the paper mixes randomly cropped noise at
    +10 dB, see :func:`sklasd.datasets.mix_at_snr`); list them with
    ``Path(root).rglob("EnvironmentalNoise_CNT/*.wav")``.

    References
    ----------
    Koizumi et al., "ToyADMOS: A Dataset of Miniature-Machine Operating Sounds for
    Anomalous Sound Detection", WASPAA 2019, section 2.
    https://zenodo.org/record/3351307

    Examples
    --------
    >>> from sklasd.datasets import load_toyadmos
    >>> bunch = load_toyadmos("ToyADMOS/ToyCar/case1", channel=1)  # doctest: +SKIP
    """
    if channel is not None and int(channel) not in (1, 2, 3, 4):
        raise ValueError(f"channel must be None or one of 1, 2, 3, 4; got {channel!r}")
    keep = None if channel is None else (lambda r: r["extra"]["channel"] == int(channel))
    return load_layout(data_dir, _parse_toyadmos, TOYADMOS_DESCR, keep=keep,
                       return_X_y=return_X_y, as_frame=as_frame)
