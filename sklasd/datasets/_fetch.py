"""Downloaders of the published archives (pooch), each returning its loader's Bunch.

Checksums are the MD5 sums that Zenodo lists for each file (pooch accepts
``"md5:..."``), taken from mirrors that record them (see each table's comment).
Where no published checksum was found, ``known_hash`` is None: pooch then only
downloads, without verification, and the comment says so.
"""

import os
import shutil
import subprocess
import tarfile
import zipfile
from collections import namedtuple
from pathlib import Path

import pooch
from sklearn.datasets import get_data_home

from ._dcase import load_dcase2020_task2
from ._esc import load_esc50
from ._mimii import load_mimii
from ._toyadmos import load_toyadmos
from ._urbansound import load_urbansound8k

__all__ = ["fetch_dcase2020_task2", "fetch_mimii", "fetch_toyadmos", "fetch_esc50",
           "fetch_urbansound8k", "get_sklasd_data_home"]

Remote = namedtuple("Remote", ["url", "filename", "known_hash", "size"])

MACHINE_TYPES_2020 = ("ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve")
MIMII_TYPES = ("fan", "pump", "slider", "valve")
MIMII_SNRS = (-6, 0, 6)
TOYADMOS_TYPES = ("ToyCar", "ToyConveyor", "ToyTrain")

_ZENODO = "https://zenodo.org/records/{record}/files/{name}?download=1"


def _zenodo(record, name, md5, size):
    return Remote(_ZENODO.format(record=record, name=name), name,
                  None if md5 is None else f"md5:{md5}", size)


# DCASE 2020 Task 2. MD5 sums as Zenodo lists them for records 3678171 (development)
# and 3727685 (additional training); they agree between the Mila mirror
# (github.com/datasets-mila/datasets--dcase2020, md5sums and git-annex MD5E keys, which
# also give the sizes in bytes) and soundata's dcase2020_task2 index. The evaluation
# test archives (record 3841772) are not offered: their file names carry no labels.
_DCASE2020 = {
    "dev": {
        "fan": ("649bdfc06263ae7a838963f43b6641e6", 1354774772),
        "pump": ("90e7091ef722b7238a7f1009365779cd", 1031279015),
        "slider": ("da24a757719f0d94d5aa2d646bbfdc86", 1002998966),
        "ToyCar": ("4dec75ca8d9f666aa9e4c1894a740501", 1816443231),
        "ToyConveyor": ("03b6aa1bfd09a39d53af0ba39f71fa91", 1868564070),
        "valve": ("34d2672f55bb041589ef79c10dc89934", 1013925627),
    },
    "additional_train": {
        "fan": ("567798854130c8019df8b664c095ed1e", 697147242),
        "pump": ("4e33ae9c0db5cc88437675f5e317caee", 590897096),
        "slider": ("f84f186f4295fc23754abcdd1b0580a7", 577515541),
        "ToyCar": ("a5d4ccd498af70b04dd74b644b820006", 861354584),
        "ToyConveyor": ("0e808ac0b761e9fb13d5e0c65caff00d", 887026878),
        "valve": ("057cdd560caffb8305449541afd28c6d", 615645426),
    },
}
_DCASE2020_FILES = {"dev": (3678171, "dev_data_{}.zip", "dev_data"),
                    "additional_train": (3727685, "eval_data_train_{}.zip", "eval_data")}

# MIMII (Zenodo record 3384388): MD5 sums and sizes from the Mila mirror
# (github.com/datasets-mila/datasets--mimii, md5sums and git-annex MD5E keys).
_MIMII = {
    (-6, "fan"): ("f02ae808a58d84b6815b7ec38ff30879", 10878096548),
    (-6, "pump"): ("d20b783a0ff9c93d58f452f98c37b112", 8236951723),
    (-6, "slider"): ("49913eda7d37f182cbf8ed5c984140e0", 7951254230),
    (-6, "valve"): ("fdfaf185fea61b21e11952a070a4ada7", 8037536346),
    (0, "fan"): ("6354d1cc2165c52168f9ef1bcd9c7c52", 10411902283),
    (0, "pump"): ("488748295c3f60b25de07b58fe75b049", 7869431302),
    (0, "slider"): ("4d674c21474f0646ecd75546db6c0c4e", 7508958315),
    (0, "valve"): ("178478eb0d11c79080a35562bfdeee71", 7486536802),
    (6, "fan"): ("0890f7d3c2fd8448634e69ff1d66dd47", 10158673161),
    (6, "pump"): ("a09ba6060c10fc09cd4c8770213b0b9f", 7659077508),
    (6, "slider"): ("838c2b3441858359c4704ef13a1b27ff", 7129464289),
    (6, "valve"): ("fe5fb7c337cd701b1d31dc641e621892", 6915951837),
}

# ToyADMOS (Zenodo record 3351307): multi-part 7z archives. MD5 sums from the
# record's file list as mirrored in github.com/datasets-mila/datasets--toyadmos
# (README.rst); sizes from that mirror's git-annex MD5E keys.
_PART = 8522825728
_TOYADMOS = {
    "ToyCar": [("ffef80180201d9146a708f6c63584024", _PART),
               ("3fc10f313d76218ba92e803c7226f38a", _PART),
               ("8f2e73292d44a0005184b7d94879ca01", _PART),
               ("8caabe9723eb589842bc7a197542e018", _PART),
               ("ec55f4514382dc82314fbdf8f5b2ac18", _PART),
               ("f3949e18659c79b6cf130f3b9541d0d8", _PART),
               ("9d190a0fa008ee7cdcdc61f545acca0e", _PART),
               ("ebde18535bca5ce0fe0e3a65efbfb2d5", 8514773405)],
    "ToyConveyor": [("8f76b5ba31985eb6c5e5f6a19b6e66c8", _PART),
                    ("fc273f3783d77e8b2f442661ad96613f", _PART),
                    ("eec1b5e3566a00a2365a2c01c357ca89", _PART),
                    ("43f2a8b21a4d0e07fb0c860f9533df22", _PART),
                    ("ec26e80f8d90879e6b6977fd114a4756", _PART),
                    ("100225cf93fa8877596f63b0ba379f74", _PART),
                    ("aefee98e98356be0e67a48e418431248", 6862131188)],
    "ToyTrain": [("b5b10b9b86ae8d9cfc7f9ed5002ebc63", _PART),
                 ("886bb09049e303c8cb5fd484dd76cd47", _PART),
                 ("e05330cba4367ed529aef1a15dc0fff6", _PART),
                 ("cd8e3e80df255d8b4bf52d6a7a6bac3b", _PART),
                 ("f2f1b229459835816a925da7795b285a", _PART),
                 ("5e41c156b71bbca57bba51bf05076c3d", _PART),
                 ("3defb3d43081161bf86c96806c9ba4b1", _PART),
                 ("ee5d2055e706291dbcf656c95784455e", _PART),
                 ("d36d21abaa745994272416b17b8bed45", 2726472087)],
}

# ESC-50: GitHub's archive of the repository's master branch. GitHub publishes no
# checksum and the archive changes with every commit, so it is not verified.
_ESC50 = Remote("https://github.com/karolpiczak/ESC-50/archive/master.zip",
                "ESC-50-master.zip", None, None)

# UrbanSound8K (Zenodo record 1203745): MD5 as listed by Zenodo and used by
# soundata's urbansound8k index; the size was not found published, so it is not checked.
_URBANSOUND8K = _zenodo(1203745, "UrbanSound8K.tar.gz", "9aa69802bbf37fb986f71ec1483a196e",
                        None)


def get_sklasd_data_home(data_home=None):
    """The folder where sklasd caches downloads: ``<data_home>/sklasd``.

    Parameters
    ----------
    data_home : str, os.PathLike or None, default=None
        scikit-learn's data home (:func:`sklearn.datasets.get_data_home`: by default
        ``~/scikit_learn_data``, or ``$SCIKIT_LEARN_DATA``).

    Returns
    -------
    path : pathlib.Path
        The (created) folder.
    """
    path = Path(get_data_home(data_home)) / "sklasd"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _has_audio(folder):
    return folder.is_dir() and next(folder.rglob("*.wav"), None) is not None


def _manual(remote_urls, folder, loader):
    urls = ", ".join(remote_urls)
    return (f"Download {urls} yourself, unpack it so that {str(folder)!r} holds the audio "
            f"(or anywhere else), and call sklasd.datasets.{loader}(<that folder>).")


def _download(remote, archive_dir, folder, loader):
    """``pooch.retrieve`` one archive; a network or checksum failure becomes an OSError."""
    try:
        path = pooch.retrieve(remote.url, known_hash=remote.known_hash,
                              fname=remote.filename, path=archive_dir, progressbar=False)
    except (OSError, ValueError) as exc:
        raise OSError(f"could not download {remote.url} ({type(exc).__name__}: {exc}). "
                      + _manual([remote.url], folder, loader)) from exc
    if remote.size is not None and os.path.getsize(path) != remote.size:
        raise OSError(f"{path} has {os.path.getsize(path)} bytes, expected {remote.size}; "
                      "delete it and retry. " + _manual([remote.url], folder, loader))
    return path


def _extract(archive, destination):
    """Unpack a zip or tar archive into ``destination``."""
    destination.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(destination)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(destination, filter="data")


def _extract_7z(first_part, destination, folder, loader):
    """Unpack a multi-part 7z archive with the ``7z`` program (Python has no 7z reader)."""
    program = shutil.which("7z") or shutil.which("7za")
    if program is None:
        raise OSError(f"unpacking {first_part} needs the 7z program (p7zip), which was not "
                      f"found. Run '7z x {first_part}' in {str(destination)!r} yourself and "
                      f"call sklasd.datasets.{loader}({str(folder)!r}).")
    subprocess.run([program, "x", "-y", f"-o{destination}", str(first_part)], check=True)


def _locate(extract_dir, name):
    """``extract_dir/name``, or the first folder called ``name`` below it."""
    direct = extract_dir / name
    if _has_audio(direct):
        return direct
    found = next((p for p in sorted(extract_dir.rglob(name)) if p.is_dir()), None)
    return found if found is not None else direct


def _fetch(remotes, *, extract_dir, folder_name, loader, loader_name, download_if_missing,
           unpack=None, **loader_kwargs):
    """Use the unpacked folder if present, else download, unpack and load it."""
    folder = _locate(extract_dir, folder_name)
    if not _has_audio(folder):
        if not download_if_missing:
            raise OSError(f"no data in {str(folder)!r} and download_if_missing=False. "
                          + _manual([r.url for r in remotes], folder, loader_name))
        archive_dir = extract_dir / "archives"
        paths = [_download(r, archive_dir, folder, loader_name) for r in remotes]
        if unpack is None:
            for path in paths:
                _extract(Path(path), extract_dir)
        else:
            unpack(Path(paths[0]), extract_dir, folder, loader_name)
        folder = _locate(extract_dir, folder_name)
    return loader(folder, **loader_kwargs)


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")


def fetch_dcase2020_task2(machine_type, *, subset="dev", data_home=None,
                          download_if_missing=True, return_X_y=False, as_frame=False):
    """Download (if needed) and load one machine type of DCASE 2020 Task 2.

    Parameters
    ----------
    machine_type : {"ToyCar", "ToyConveyor", "fan", "pump", "slider", "valve"}
    subset : {"dev", "additional_train"}, default="dev"
        ``"dev"``: the development set (Zenodo 3678171; train and labelled test
        clips of the development machine IDs); ``"additional_train"``: the
        additional training set (Zenodo 3727685; normal training clips of the
        evaluation machine IDs).
    data_home : str, os.PathLike or None, default=None
        scikit-learn data home; files go to
        ``<data_home>/sklasd/dcase2020_task2/{dev_data,eval_data}/<machine_type>``.
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading missing data.
    return_X_y, as_frame : bool, default=False
        As in :func:`load_dcase2020_task2`.

    Returns
    -------
    bunch : sklearn.utils.Bunch or tuple
        What :func:`load_dcase2020_task2` returns for the unpacked folder.

    Raises
    ------
    ValueError
        If ``machine_type`` or ``subset`` is unknown.
    OSError
        If the data is missing and cannot be downloaded (offline, checksum
        mismatch) or ``download_if_missing`` is False; the message names the URL and
        how to download and load it by hand.

    References
    ----------
    https://zenodo.org/record/3678171, https://zenodo.org/record/3727685;
    Koizumi et al., DCASE 2020 Workshop.

    Examples
    --------
    >>> from sklasd.datasets import fetch_dcase2020_task2
    >>> bunch = fetch_dcase2020_task2("fan")  # doctest: +SKIP
    """
    _check_choice("machine_type", machine_type, MACHINE_TYPES_2020)
    _check_choice("subset", subset, tuple(_DCASE2020))
    record, pattern, folder = _DCASE2020_FILES[subset]
    md5, size = _DCASE2020[subset][machine_type]
    remote = _zenodo(record, pattern.format(machine_type), md5, size)
    extract_dir = get_sklasd_data_home(data_home) / "dcase2020_task2" / folder
    return _fetch([remote], extract_dir=extract_dir, folder_name=machine_type,
                  loader=load_dcase2020_task2, loader_name="load_dcase2020_task2",
                  download_if_missing=download_if_missing, return_X_y=return_X_y,
                  as_frame=as_frame)


def fetch_mimii(machine_type, *, snr_db=6, data_home=None, download_if_missing=True,
                return_X_y=False, as_frame=False):
    """Download (if needed) and load one machine type and SNR of MIMII.

    Parameters
    ----------
    machine_type : {"fan", "pump", "slider", "valve"}
    snr_db : {-6, 0, 6}, default=6
        The SNR of the archive (``-6_dB_fan.zip`` ...), in dB.
    data_home : str, os.PathLike or None, default=None
        scikit-learn data home; files go to
        ``<data_home>/sklasd/mimii/<snr>_dB/<machine_type>``.
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading missing data.
    return_X_y, as_frame : bool, default=False
        As in :func:`load_mimii`.

    Returns
    -------
    bunch : sklearn.utils.Bunch or tuple
        What :func:`load_mimii` returns for the unpacked folder.

    Raises
    ------
    ValueError
        If ``machine_type`` or ``snr_db`` is unknown.
    OSError
        If the data is missing and cannot be downloaded; the message names the URL
        and the manual alternative.

    References
    ----------
    Purohit et al., "MIMII Dataset", DCASE 2019 Workshop.
    https://zenodo.org/record/3384388

    Examples
    --------
    >>> from sklasd.datasets import fetch_mimii
    >>> bunch = fetch_mimii("valve", snr_db=-6)  # doctest: +SKIP
    """
    _check_choice("machine_type", machine_type, MIMII_TYPES)
    _check_choice("snr_db", snr_db, MIMII_SNRS)
    md5, size = _MIMII[(snr_db, machine_type)]
    remote = _zenodo(3384388, f"{snr_db}_dB_{machine_type}.zip", md5, size)
    extract_dir = get_sklasd_data_home(data_home) / "mimii" / f"{snr_db}_dB"
    return _fetch([remote], extract_dir=extract_dir, folder_name=machine_type,
                  loader=load_mimii, loader_name="load_mimii",
                  download_if_missing=download_if_missing, return_X_y=return_X_y,
                  as_frame=as_frame)


def fetch_toyadmos(machine_type, *, channel=None, data_home=None, download_if_missing=True,
                   return_X_y=False, as_frame=False):
    """Download (if needed), unpack and load one ToyADMOS sub-dataset.

    Each sub-dataset is 55-70 GB in 7-9 parts of a 7z archive; unpacking needs the
    ``7z`` program (p7zip) and about 150 GB of free space.

    Parameters
    ----------
    machine_type : {"ToyCar", "ToyConveyor", "ToyTrain"}
    channel : int or None, default=None
        Passed to :func:`load_toyadmos` (one microphone, 1-4, or all).
    data_home : str, os.PathLike or None, default=None
        scikit-learn data home; files go to ``<data_home>/sklasd/toyadmos/<machine_type>``.
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading missing data.
    return_X_y, as_frame : bool, default=False
        As in :func:`load_toyadmos`.

    Returns
    -------
    bunch : sklearn.utils.Bunch or tuple
        What :func:`load_toyadmos` returns for the unpacked folder.

    Raises
    ------
    ValueError
        If ``machine_type`` is unknown.
    OSError
        If the data is missing and cannot be downloaded or unpacked; the message
        names the URL and the manual alternative.

    References
    ----------
    Koizumi et al., "ToyADMOS", WASPAA 2019. https://zenodo.org/record/3351307

    Examples
    --------
    >>> from sklasd.datasets import fetch_toyadmos
    >>> bunch = fetch_toyadmos("ToyCar", channel=1)  # doctest: +SKIP
    """
    _check_choice("machine_type", machine_type, TOYADMOS_TYPES)
    remotes = [_zenodo(3351307, f"{machine_type}.7z.{k:03d}", md5, size)
               for k, (md5, size) in enumerate(_TOYADMOS[machine_type], start=1)]
    extract_dir = get_sklasd_data_home(data_home) / "toyadmos"
    return _fetch(remotes, extract_dir=extract_dir, folder_name=machine_type,
                  loader=load_toyadmos, loader_name="load_toyadmos",
                  download_if_missing=download_if_missing, unpack=_extract_7z,
                  channel=channel, return_X_y=return_X_y, as_frame=as_frame)


def fetch_esc50(*, esc10=False, data_home=None, download_if_missing=True,
                return_X_y=False, as_frame=False):
    """Download (if needed) and load ESC-50 (or ESC-10) from its GitHub repository.

    Parameters
    ----------
    esc10 : bool, default=False
        Keep only the ESC-10 subset.
    data_home : str, os.PathLike or None, default=None
        scikit-learn data home; files go to ``<data_home>/sklasd/esc50/ESC-50-master``.
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading missing data.
    return_X_y, as_frame : bool, default=False
        As in :func:`load_esc50`.

    Returns
    -------
    bunch : sklearn.utils.Bunch or tuple
        What :func:`load_esc50` returns for the unpacked folder.

    Raises
    ------
    OSError
        If the data is missing and cannot be downloaded; the message names the URL
        and the manual alternative.

    Notes
    -----
    The archive (about 600 MB) is GitHub's snapshot of the master branch, which has
    no published checksum, so the download is not verified.

    References
    ----------
    Piczak, "ESC: Dataset for Environmental Sound Classification", ACM MM 2015.
    https://github.com/karolpiczak/ESC-50

    Examples
    --------
    >>> from sklasd.datasets import fetch_esc50
    >>> bunch = fetch_esc50(esc10=True)  # doctest: +SKIP
    """
    extract_dir = get_sklasd_data_home(data_home) / "esc50"
    return _fetch([_ESC50], extract_dir=extract_dir, folder_name="ESC-50-master",
                  loader=load_esc50, loader_name="load_esc50",
                  download_if_missing=download_if_missing, esc10=esc10,
                  return_X_y=return_X_y, as_frame=as_frame)


def fetch_urbansound8k(*, data_home=None, download_if_missing=True, return_X_y=False,
                       as_frame=False):
    """Download (if needed) and load UrbanSound8K.

    Parameters
    ----------
    data_home : str, os.PathLike or None, default=None
        scikit-learn data home; files go to
        ``<data_home>/sklasd/urbansound8k/UrbanSound8K``.
    download_if_missing : bool, default=True
        If False, raise an OSError instead of downloading missing data.
    return_X_y, as_frame : bool, default=False
        As in :func:`load_urbansound8k`.

    Returns
    -------
    bunch : sklearn.utils.Bunch or tuple
        What :func:`load_urbansound8k` returns for the unpacked folder.

    Raises
    ------
    OSError
        If the data is missing and cannot be downloaded; the message names the URL
        and the manual alternative.

    References
    ----------
    Salamon, Jacoby, Bello, ACM MM 2014. https://zenodo.org/record/1203745

    Examples
    --------
    >>> from sklasd.datasets import fetch_urbansound8k
    >>> bunch = fetch_urbansound8k()  # doctest: +SKIP
    """
    extract_dir = get_sklasd_data_home(data_home) / "urbansound8k"
    return _fetch([_URBANSOUND8K], extract_dir=extract_dir, folder_name="UrbanSound8K",
                  loader=load_urbansound8k, loader_name="load_urbansound8k",
                  download_if_missing=download_if_missing, return_X_y=return_X_y,
                  as_frame=as_frame)
