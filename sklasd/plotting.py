"""Plots for anomaly detection results: ROC curves, score histograms, spectrograms
and anomaly maps.

Thin wrappers over matplotlib and scikit-learn's ``RocCurveDisplay`` that put the
DCASE conventions (y = 1 for anomalies, higher score = more anomalous) on the axes.
"""

import numpy as np

__all__ = ["plot_roc", "plot_score_histogram", "plot_spectrogram", "plot_anomaly_map"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 4), layout="constrained")
    return ax


def plot_roc(y_true, anomaly_score, *, groups=None, ax=None, max_fpr=None):
    """ROC curves of anomaly scores, one per group.

    Parameters
    ----------
    y_true : array-like of shape (n_clips,)
        1 for anomalous, 0 for normal clips; unlabeled clips (-1) are left out.
    anomaly_score : array-like of shape (n_clips,)
        Higher = more anomalous.
    groups : array-like of shape (n_clips,) or None, default=None
        One curve per distinct value (for example the machine ID); None draws one.
        A group without both normal and anomalous clips gets no curve.
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure when None.
    max_fpr : float or None, default=None
        Shade the false-positive range of the partial AUC (DCASE: 0.1).

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_roc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    >>> ax.get_xlabel()
    'False positive rate (normal clips called anomalous)'
    """
    from sklearn.metrics import RocCurveDisplay

    ax = _axes(ax)
    y_true, anomaly_score = np.asarray(y_true), np.asarray(anomaly_score)
    groups = np.full(len(y_true), "all") if groups is None else np.asarray(groups)
    for group in np.unique(groups):
        mask = (groups == group) & (y_true >= 0)
        if len(np.unique(y_true[mask])) < 2:
            continue  # a ROC curve needs both classes
        RocCurveDisplay.from_predictions(
            y_true[mask], anomaly_score[mask], pos_label=1, name=str(group), ax=ax
        )
    if max_fpr is not None:
        ax.axvspan(0, max_fpr, color="0.9", zorder=0, label=f"pAUC range (FPR <= {max_fpr})")
    ax.plot([0, 1], [0, 1], ls=":", color="0.5")
    ax.set_xlabel("False positive rate (normal clips called anomalous)")
    ax.set_ylabel("True positive rate (anomalies found)")
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_score_histogram(y_true, anomaly_score, *, threshold=None, bins=30, ax=None):
    """Histograms of the anomaly scores of normal, anomalous and unlabeled clips.

    Parameters
    ----------
    y_true : array-like of shape (n_clips,)
        1 for anomalous, 0 for normal, -1 for unlabeled clips.
    anomaly_score : array-like of shape (n_clips,)
    threshold : float or None, default=None
        The decision threshold (a detector's ``threshold_``), drawn as a line.
    bins : int, default=30
    ax : matplotlib Axes or None, default=None

    Returns
    -------
    ax : matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> ax = plot_score_histogram([0, 0, 1], [1.0, 1.2, 3.0], threshold=2.0)
    >>> ax.get_xlabel()
    'Anomaly score'
    """
    ax = _axes(ax)
    y_true, anomaly_score = np.asarray(y_true), np.asarray(anomaly_score)
    edges = np.histogram_bin_edges(anomaly_score, bins=bins)
    for label, name, color in ((0, "normal", "tab:blue"), (1, "anomaly", "tab:red"),
                               (-1, "unlabeled", "tab:gray")):
        if np.any(y_true == label):
            ax.hist(anomaly_score[y_true == label], bins=edges, alpha=0.6,
                    color=color, label=f"{name} ({np.sum(y_true == label)})")
    if threshold is not None:
        ax.axvline(threshold, color="k", ls="--", label="threshold")
    ax.set_xlabel("Anomaly score")
    ax.set_ylabel("Clips")
    ax.legend(fontsize="small")
    return ax


def plot_spectrogram(S, *, sr=16000, hop_length=512, ax=None, title=None, **kwargs):
    """Show one log-mel spectrogram ``(n_mels, n_frames)`` with librosa's axes.

    Parameters
    ----------
    S : ndarray of shape (n_mels, n_frames)
        For example one clip of ``LogMelTransformer`` output, in dB.
    sr, hop_length : int, default=16000, 512
        Sample rate (Hz) and hop (samples), for the time axis.
    ax : matplotlib Axes or None, default=None
    title : str or None, default=None
    **kwargs
        Passed to :func:`librosa.display.specshow`.

    Returns
    -------
    ax : matplotlib Axes
    """
    import librosa.display

    ax = _axes(ax)
    img = librosa.display.specshow(np.asarray(S), sr=sr, hop_length=hop_length,
                                   x_axis="time", y_axis="mel", ax=ax, **kwargs)
    ax.set_xlabel("Time (s)")
    ax.figure.colorbar(img, ax=ax, format="%+.0f dB")
    if title:
        ax.set_title(title)
    return ax


def _transparent_to(color):
    """A colormap from fully transparent to ``color`` at 75 % opacity."""
    from matplotlib.colors import LinearSegmentedColormap, to_rgb

    red, green, blue = to_rgb(color)
    return LinearSegmentedColormap.from_list(
        "sklasd_overlay", [(red, green, blue, 0.0), (red, green, blue, 0.75)])


def plot_anomaly_map(log_mel, anomaly_map, *, sr, hop_length, fmin=0, fmax=None,
                     regions=None, ax=None):
    """Show a log-mel spectrogram with its anomaly map overlaid and regions marked.

    The spectrogram is drawn in grey with librosa's axes (time in s, mel-spaced
    frequency in Hz). A map of shape ``(n_mels, n_frames)`` is laid over it in red,
    transparent at or below the map's median (the clip's usual level) and most
    opaque at its maximum; a map of shape
    ``(n_frames,)`` (a detector without frequency resolution) is drawn as a red curve
    against a second y axis. Each region is outlined by a cyan rectangle (a time
    span over the whole height where its frequency band is NaN), numbered in the
    order given (strongest first from ``sklasd.maps.anomaly_regions``); a rectangle
    is drawn at least 2.5 % of the clip wide and 8 % of the mel range high, about the
    region's centre, so that a click of one frame stays visible.

    Parameters
    ----------
    log_mel : ndarray of shape (n_mels, n_frames)
        One clip's log-mel spectrogram, in dB (for example one clip of
        ``LogMelTransformer`` output).
    anomaly_map : ndarray of shape (n_mels, n_frames) or (n_frames,)
        The clip's anomaly map (``anomaly_map`` of a detector or pipeline): values
        >= 0 on the same frames as ``log_mel``; larger = more responsible for the
        score.
    sr : int
        Sample rate of the log-mel step, in Hz.
    hop_length : int
        Hop of the log-mel step, in samples: frame ``t`` is at ``t * hop_length / sr``
        seconds.
    fmin : float, default=0
        Lowest mel frequency of the log-mel step, in Hz.
    fmax : float or None, default=None
        Highest mel frequency, in Hz; None is ``sr / 2``.
    regions : sequence of Region or None, default=None
        Regions to outline (``sklasd.maps.anomaly_regions``), each with ``onset``
        and ``offset`` (s) and ``fmin`` / ``fmax`` (Hz, NaN for a time span only);
        None outlines none.
    ax : matplotlib Axes or None, default=None
        Where to draw; a new figure when None.

    Returns
    -------
    ax : matplotlib Axes
        The spectrogram's axes.

    Raises
    ------
    ValueError
        If ``log_mel`` is not 2-D, or the map's shape matches neither
        ``log_mel.shape`` nor its number of frames.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> S = np.full((64, 32), -40.0, dtype=np.float32)
    >>> M = np.zeros((64, 32), dtype=np.float32)
    >>> M[10:20, 5:9] = 1.0
    >>> ax = plot_anomaly_map(S, M, sr=16000, hop_length=512)
    >>> ax.get_xlabel(), ax.get_ylabel()
    ('Time (s)', 'Hz')
    """
    import librosa
    import librosa.display
    from matplotlib.patches import Rectangle

    log_mel, anomaly_map = np.asarray(log_mel), np.asarray(anomaly_map)
    if log_mel.ndim != 2 or anomaly_map.shape not in (log_mel.shape, log_mel.shape[1:]):
        raise ValueError(f"log_mel must have shape (n_mels, n_frames) and anomaly_map "
                         f"the same shape or (n_frames,); got {log_mel.shape} and "
                         f"{anomaly_map.shape}")
    fmax = sr / 2 if fmax is None else fmax
    ax = plot_spectrogram(log_mel, sr=sr, hop_length=hop_length, ax=ax, cmap="gray_r",
                          fmin=fmin, fmax=fmax)
    if anomaly_map.ndim == 2:
        low = float(np.median(anomaly_map))  # what stands out of the clip's usual level
        librosa.display.specshow(anomaly_map, sr=sr, hop_length=hop_length, fmin=fmin,
                                 fmax=fmax, x_axis="time", y_axis="mel", ax=ax,
                                 cmap=_transparent_to("red"), vmin=low,
                                 vmax=max(float(anomaly_map.max()), low + 1e-12))
    else:
        curve = ax.twinx()
        times = librosa.frames_to_time(np.arange(anomaly_map.size), sr=sr,
                                       hop_length=hop_length)
        curve.plot(times, anomaly_map, color="red", lw=1.2)
        curve.set_ylim(0, None)
        curve.set_ylabel("anomaly map", color="red")
    ax.set_xlabel("Time (s)")  # specshow's overlay set librosa's own label again
    duration = log_mel.shape[1] * hop_length / sr
    for number, region in enumerate(regions or (), start=1):
        onset, offset = _widened(region.onset, region.offset, 0.025 * duration)
        low, high = (fmin, fmax) if np.isnan(region.fmin) else _widened(
            region.fmin, region.fmax, 0.08, scale=(librosa.hz_to_mel(fmin),
                                                   librosa.hz_to_mel(fmax)))
        ax.add_patch(Rectangle((onset, low), offset - onset, high - low, fill=False,
                               edgecolor="cyan", lw=2))
        ax.text(onset, high, str(number), color="cyan", fontweight="bold", ha="right",
                va="top")
    return ax


def _widened(start, stop, least, scale=None):
    """``(start, stop)`` widened about its centre to at least ``least``: seconds, or
    with ``scale=(mel_low, mel_high)`` that share of the mel range (Hz in and out)."""
    if scale is None:
        middle, half = (start + stop) / 2, max(stop - start, least) / 2
        return middle - half, middle + half
    import librosa

    low, high = librosa.hz_to_mel(start), librosa.hz_to_mel(stop)
    middle, half = (low + high) / 2, max(high - low, least * (scale[1] - scale[0])) / 2
    return (float(librosa.mel_to_hz(max(middle - half, scale[0]))),
            float(librosa.mel_to_hz(min(middle + half, scale[1]))))
