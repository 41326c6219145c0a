"""Anomaly maps in words: the time spans and frequency bands that raised a clip's score.

``detector.anomaly_map(X)`` (and ``Pipeline.anomaly_map``) gives, per clip, a
``(n_mels, n_frames)`` map on the clip's log-mel frames; :func:`anomaly_regions`
finds its strongest regions and :func:`describe_regions` writes them as
``"2.1-2.4 s, 1.0-2.2 kHz"``.
"""
from typing import NamedTuple

import numpy as np
import scipy.ndimage

__all__ = ["Region", "anomaly_regions", "describe_regions"]

# A cell counts when it is above the profile's median by this share of the peak's
# height above the median (half height: the usual width of a peak).
_LEVEL = 0.5
# Runs closer than this are one region: a rattle's bursts are one episode.
_MERGE_S = 0.1


class Region(NamedTuple):
    """A time span and frequency band of an anomaly map.

    Parameters
    ----------
    onset : float
        Start of the span in seconds from the clip's start.
    offset : float
        End of the span in seconds from the clip's start.
    fmin : float
        Lower edge of the band in Hz; NaN for a map without frequency axis.
    fmax : float
        Upper edge of the band in Hz; NaN for a map without frequency axis.
    peak : float
        The largest value of the map's time profile in the span.
    """

    onset: float
    offset: float
    fmin: float
    fmax: float
    peak: float


Region.onset.__doc__ = "Start of the span in seconds."
Region.offset.__doc__ = "End of the span in seconds."
Region.fmin.__doc__ = "Lower edge of the band in Hz (NaN without frequency axis)."
Region.fmax.__doc__ = "Upper edge of the band in Hz (NaN without frequency axis)."
Region.peak.__doc__ = "Largest value of the map's time profile in the span."


def _runs(profile, merge=0):
    """``[(start, stop), ...]`` (stop exclusive) of the runs of ``profile`` above half
    height, runs at most ``merge`` cells apart joined."""
    floor = np.median(profile)
    height = profile.max() - floor
    if not height > 0:
        return []
    above = profile >= floor + _LEVEL * height
    if merge:
        above = scipy.ndimage.binary_closing(np.pad(above, merge),
                                             np.ones(merge + 1, bool))[merge:-merge]
    labels, n = scipy.ndimage.label(above)
    return [(int(s.start), int(s.stop)) for (s,) in scipy.ndimage.find_objects(labels)[:n]]


def _band(cells, edges):
    """``(fmin, fmax)`` Hz of the run of bins around the peak of ``cells``' spectrum."""
    spectrum = cells.sum(axis=1)
    peak = int(np.argmax(spectrum))
    for lo, hi in _runs(spectrum) or [(peak, peak + 1)]:
        if lo <= peak < hi:
            break
    # bin f's filter rises from edges[f] to edges[f + 1] and falls to edges[f + 2];
    # it owns the frequencies between its crossings with its neighbours
    return (float((edges[lo] + edges[lo + 1]) / 2),
            float((edges[hi] + edges[hi + 1]) / 2))


def anomaly_regions(anomaly_map, *, sr, hop_length, fmin=0.0, fmax=None, max_regions=3):
    """The strongest regions of one clip's anomaly map: time spans and frequency bands.

    Parameters
    ----------
    anomaly_map : array-like of shape (n_mels, n_frames) or (n_frames,)
        One clip's map (an item of ``anomaly_map(X)``), frame ``t`` centred at
        ``t * hop_length / sr`` seconds.
    sr : int
        Sample rate of the log-mel features in Hz.
    hop_length : int
        Samples between frames.
    fmin : float, default=0.0
        Lowest frequency of the mel filterbank in Hz.
    fmax : float, default=None
        Highest frequency of the mel filterbank in Hz; None is ``sr / 2``.
    max_regions : int, default=3
        Most regions returned.

    Returns
    -------
    regions : list of Region
        At most ``max_regions``, strongest (largest ``peak``) first; empty when the
        map is flat (no frame stands out).

    Raises
    ------
    ValueError
        If the map is not 1-D or 2-D, is empty or holds NaN or infinity.

    Notes
    -----
    The rule: the map's time profile ``p[t]`` (the sum over mel bins) is
    thresholded at half height above its median, ``median(p) + 0.5 * (max(p) -
    median(p))``; runs of frames above it that are less than 0.1 s apart are
    merged into one region, which spans from half a frame before its first frame
    to half a frame after its last. A region's band is found with the same rule
    on the map's spectrum within the region (the sum over its frames): the run of
    mel bins above half height that holds the spectrum's peak, from the lower
    crossing of its lowest bin's filter with its neighbour's to the upper
    crossing of its highest, on the mel scale of
    ``librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax)`` (the edges of
    ``librosa.filters.mel``). ``peak`` is the largest ``p[t]`` in the region.

    Examples
    --------
    >>> import numpy as np
    >>> from sklasd.maps import anomaly_regions
    >>> m = np.zeros((64, 100))
    >>> m[20:25, 40:46] = 1.0  # frames 40-45, mel bins 20-24
    >>> [r] = anomaly_regions(m, sr=16000, hop_length=512)
    >>> round(r.onset, 2), round(r.offset, 2), round(r.fmin), round(r.fmax), r.peak
    (1.26, 1.46, 951, 1208, 5.0)
    """
    import librosa

    anomaly_map = np.asarray(anomaly_map, dtype=np.float64)
    if anomaly_map.ndim not in (1, 2) or anomaly_map.size == 0:
        raise ValueError("anomaly_map must be a non-empty (n_mels, n_frames) or "
                         f"(n_frames,) array; got shape {anomaly_map.shape}.")
    if not np.isfinite(anomaly_map).all():
        raise ValueError("anomaly_map holds NaN or infinity.")
    cells = np.atleast_2d(anomaly_map)
    profile = cells.sum(axis=0)
    frame_s = hop_length / sr
    edges = librosa.mel_frequencies(cells.shape[0] + 2, fmin=fmin,
                                    fmax=sr / 2 if fmax is None else fmax)
    regions = []
    for start, stop in _runs(profile, merge=int(_MERGE_S / frame_s)):
        band = (_band(cells[:, start:stop], edges) if anomaly_map.ndim == 2
                else (np.nan, np.nan))
        regions.append(Region(max(start - 0.5, 0.0) * frame_s, (stop - 0.5) * frame_s,
                              *band, float(profile[start:stop].max())))
    return sorted(regions, key=lambda r: -r.peak)[:max_regions]


def describe_regions(regions):
    """Regions in words: ``"2.1-2.4 s, 1.0-2.2 kHz; 5.0-5.3 s, 0.3-0.6 kHz"``.

    Parameters
    ----------
    regions : list of Region
        From :func:`anomaly_regions`.

    Returns
    -------
    text : str
        One ``"<onset>-<offset> s, <fmin>-<fmax> kHz"`` per region (times to 0.1 s,
        frequencies to 0.1 kHz, or to 0.01 / 0.001 where the two ends would
        otherwise read the same; without the band where it is NaN), joined by
        ``"; "``; ``""`` when there are none.

    Examples
    --------
    >>> from sklasd.maps import Region, describe_regions
    >>> describe_regions([Region(2.12, 2.4, 1000.0, 2200.0, 3.0),
    ...                   Region(5.0, 5.31, float("nan"), float("nan"), 1.0)])
    '2.1-2.4 s, 1.0-2.2 kHz; 5.0-5.3 s'
    >>> describe_regions([Region(0.688, 0.72, 1000.0, 1030.0, 2.0)])
    '0.69-0.72 s, 1.00-1.03 kHz'
    >>> describe_regions([])
    ''
    """
    parts = []
    for r in regions:
        text = f"{_span(r.onset, r.offset)} s"
        if np.isfinite(r.fmin) and np.isfinite(r.fmax):
            text += f", {_span(r.fmin / 1000, r.fmax / 1000)} kHz"
        parts.append(text)
    return "; ".join(parts)


def _span(lo, hi):
    """``"lo-hi"`` to one decimal, or to as many as make the two ends differ (up to 3)."""
    for digits in (1, 2, 3):
        text = f"{lo:.{digits}f}-{hi:.{digits}f}"
        if f"{lo:.{digits}f}" != f"{hi:.{digits}f}":
            break
    return text
