"""Plots for anomaly detection results: ROC curves, score histograms, spectrograms.

Thin wrappers over matplotlib and scikit-learn's ``RocCurveDisplay`` that put the
DCASE conventions (y = 1 for anomalies, higher score = more anomalous) on the axes.
"""

import numpy as np

__all__ = ["plot_roc", "plot_score_histogram", "plot_spectrogram"]


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
    ax.figure.colorbar(img, ax=ax, format="%+.0f dB")
    if title:
        ax.set_title(title)
    return ax
