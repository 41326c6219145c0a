"""Dataset loaders, downloaders and synthetic data.

Loaders read a folder in a dataset's published layout and return a
:class:`sklearn.utils.Bunch` (``data`` = sorted absolute paths, ``target``, machine
type / ID, split, domain, attributes, ``frame``, ``DESCR``); ``fetch_*`` download and
cache the published archives first; :func:`make_machine_sounds` generates labelled
synthetic machine sounds
(:func:`machine_sounds_folder` writes them as audio files); :func:`mix_at_snr` adds noise at a given SNR.
"""

from ._layout import UnlistedFolderWarning, list_audio
from ._dcase import load_dcase2020_task2, load_dcase2021_task2
from ._esc import load_esc50
from ._events import load_dcase2016_task2
from ._fetch import (fetch_dcase2020_task2, fetch_esc50, fetch_mimii, fetch_toyadmos,
                     fetch_urbansound8k, get_sklasd_data_home)
from ._folder import detect_layout, load_audio_files, load_audio_folder, load_folder
from ._mimii import load_mimii
from ._synthetic import machine_sounds_folder, make_machine_sounds, mix_at_snr
from ._toyadmos import load_toyadmos
from ._urbansound import load_urbansound8k

__all__ = [
    "load_dcase2020_task2", "load_dcase2021_task2", "load_mimii", "load_toyadmos",
    "load_esc50", "load_urbansound8k", "load_dcase2016_task2", "load_folder",
    "detect_layout", "load_audio_folder", "load_audio_files", "fetch_dcase2020_task2", "fetch_mimii", "fetch_toyadmos",
    "fetch_esc50", "fetch_urbansound8k", "get_sklasd_data_home",
    "make_machine_sounds", "machine_sounds_folder", "mix_at_snr", "list_audio",
    "UnlistedFolderWarning",
]
