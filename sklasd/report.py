"""The run report: one self-contained HTML page a maintenance engineer can read.

``report.html`` holds the metrics table, each machine type's ROC curve (where both
normal and anomalous clips are labelled) and score histogram with the decision
threshold, and, per machine type, the most anomalous clips and the clips next to the
threshold: each with its log-mel spectrogram and anomaly map, the regions that raised
its score in words, its score against the threshold and an audio player. Figures
are inline PNG images and the page has no external URL, script or style sheet, so it
opens offline; only audio files larger than ``max_embed_bytes`` are linked (by a path
relative to the report) instead of embedded.

``sklasd run`` (:meth:`sklasd.engine.RunResult.save`) writes it beside its results,
with ``report_data.json`` (where the clips came from), so that
:func:`sklasd.engine.rebuild_report` (``sklasd report OUT_DIR``) can write it again
from the finished run folder.
"""

import base64
import datetime
import html
import io
import os
import urllib.parse
from pathlib import Path

import numpy as np
import pandas as pd

from sklasd import __version__
from sklasd._outputs import output_file
from sklasd.pipeline import spectrogram_step
from sklasd.utils._routing import call_with_metadata

__all__ = ["write_report", "render_report", "summary_figures"]

REPORT_NAME = "report.html"
#: The run folder's record of where its clips came from (sklasd.engine reads it).
REPORT_DATA_NAME = "report_data.json"
#: What every report page begins with: an existing page is replaced only if it does.
REPORT_SIGNATURE = (b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                    b'<meta name="generator" content="sklasd')
#: Audio files up to this size (bytes) are embedded in the page; larger ones are linked.
MAX_EMBED_BYTES = 1_000_000

_AUDIO_TYPES = {".wav": "audio/wav", ".flac": "audio/flac", ".ogg": "audio/ogg",
                ".mp3": "audio/mpeg", ".aif": "audio/aiff", ".aiff": "audio/aiff"}
_LABELS = {0: "normal", 1: "anomalous", -1: "unlabeled"}
_STYLE = """
body { font-family: sans-serif; max-width: 1250px; margin: 1em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; text-align: right;
         white-space: nowrap; }
th { background: #f2f2f2; }
td:last-child, td:nth-last-child(2) { text-align: left; white-space: normal; }
section.type { border-top: 3px solid #444; margin-top: 2em; }
div.clip { border: 1px solid #ccc; border-radius: 4px; padding: 0.5em 1em;
           margin: 0.8em 0; }
div.clip h4 { margin: 0.2em 0; font-family: monospace; word-break: break-all; }
img { max-width: 100%; }
.above { color: #b00; font-weight: bold; }
.below { color: #060; font-weight: bold; }
.note { color: #666; font-size: 0.9em; }
"""


# --- figures ---------------------------------------------------------------------
def _figure(figsize):
    """A matplotlib Figure and its axes, made without pyplot: no backend is chosen
    or switched, and nothing is left open in pyplot's figure list."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=figsize, layout="constrained")
    return figure, figure.add_subplot()


def _png(fig, dpi=80):
    """The figure as a base64 PNG ``data:`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def summary_figures(machine_type, results, threshold):
    """The ROC curve (where both classes are labelled) and score histogram of one type.

    Parameters
    ----------
    machine_type : str
        Shown in the titles.
    results : pandas.DataFrame
        One row per test clip of this machine type with the columns ``target``
        (1 anomalous, 0 normal, -1 unlabeled), ``anomaly_score`` and ``machine_id``.
    threshold : float
        The detector's decision threshold (``threshold_``), drawn on the histogram.

    Returns
    -------
    figures : dict of str -> matplotlib.figure.Figure
        ``"roc"`` (only when both normal and anomalous clips exist; one curve per
        machine ID, the pAUC range shaded) and ``"histogram"``: Figure objects made
        without pyplot (no backend is switched; nothing to close).

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"target": [0, 0, 1], "anomaly_score": [1.0, 1.2, 3.0],
    ...                      "machine_id": ["id_00"] * 3})
    >>> sorted(summary_figures("fan", rows, 2.0))
    ['histogram', 'roc']
    """
    from sklasd.plotting import plot_roc, plot_score_histogram

    y, scores = results["target"].to_numpy(), results["anomaly_score"].to_numpy()
    figures = {}
    if {0, 1} <= set(y):
        # one curve per machine ID; clips without one are the machine type's curve
        groups = results["machine_id"].fillna("").astype(str).replace("", machine_type)
        ax = plot_roc(y, scores, groups=groups.to_numpy(), max_fpr=0.1,
                      ax=_figure((5, 4))[1])
        ax.set_title(f"ROC: {machine_type}")
        figures["roc"] = ax.figure
    ax = plot_score_histogram(y, scores, threshold=threshold, ax=_figure((5, 4))[1])
    ax.set_title(f"Anomaly scores: {machine_type}")
    figures["histogram"] = ax.figure
    return figures


def _clip_figure(model, clip, machine_id, title):
    """The clip's log-mel spectrogram with its anomaly map, and its regions in words."""
    from sklasd.maps import anomaly_regions, describe_regions
    from sklasd.plotting import plot_anomaly_map, plot_spectrogram

    k, front = spectrogram_step(model)
    log_mel = model[:k + 1].transform([clip])[0]
    axes = front.spectrogram_axes()
    band = dict(fmin=axes.pop("fmin"), fmax=axes.pop("fmax"))
    anomaly_map = _anomaly_map(model[k + 1:], log_mel, machine_id)
    _, ax = _figure((9, 3.2))
    if anomaly_map is None:
        plot_spectrogram(log_mel, ax=ax, cmap="gray_r", **axes, **band)
        words = "no anomaly map: this model does not compute one"
    else:
        regions = anomaly_regions(anomaly_map, **axes, **band)
        plot_anomaly_map(log_mel, anomaly_map, regions=regions, ax=ax, **axes, **band)
        words = describe_regions(regions) or "no region stands out"
    ax.set_title(title, fontsize="small")
    return _png(ax.figure), words


def _anomaly_map(steps, log_mel, machine_id):
    """The clip's anomaly map from the steps after the spectrogram one (so that the
    log-mel is computed once), or None when the model has no ``anomaly_map``."""
    if not hasattr(steps, "anomaly_map"):
        return None
    return np.asarray(call_with_metadata(steps, "anomaly_map", [log_mel],
                                          machine_id=[machine_id])[0])




# --- audio -----------------------------------------------------------------------
def _audio_html(clip, sr, base_dir, max_embed_bytes):
    """An ``<audio>`` player: embedded as a ``data:`` URI when small, else linked."""
    if not isinstance(clip, str):  # a waveform (generated data): always small enough
        import soundfile as sf

        buffer = io.BytesIO()
        sf.write(buffer, np.asarray(clip), sr, format="WAV", subtype="PCM_16")
        return _player(_data_uri("audio/wav", buffer.getvalue()), "embedded")
    path = Path(clip)
    if not path.is_file():
        return f'<p class="note">audio file not found: {html.escape(clip)}</p>'
    size = path.stat().st_size
    kind = _AUDIO_TYPES.get(path.suffix.lower(), "audio/wav")
    if size <= max_embed_bytes:
        return _player(_data_uri(kind, path.read_bytes()), "embedded")
    # the name's bytes, so that a name that is not valid UTF-8 still links to its file
    link = urllib.parse.quote(os.fsencode(Path(os.path.relpath(path, base_dir)).as_posix()))
    return _player(html.escape(link), f"linked, not embedded ({size / 1e6:.1f} MB)")


def _data_uri(kind, payload):
    return f"data:{kind};base64," + base64.b64encode(payload).decode("ascii")


def _player(src, how):
    return (f'<p><audio controls preload="none" src="{src}"></audio> '
            f'<span class="note">audio {how}</span></p>')


# --- page ------------------------------------------------------------------------
def _chosen_clips(rows, threshold, n_top, n_near):
    """Positions of the ``n_top`` highest scores and of the ``n_near`` other clips
    whose scores are closest to the threshold."""
    scores = rows["anomaly_score"].to_numpy()
    top = list(np.argsort(-scores, kind="stable")[:n_top])
    near = [i for i in np.argsort(np.abs(scores - threshold), kind="stable")
            if i not in top][:n_near]
    return top, near


def _clip_html(model, rows, i, threshold, audio, sr, base_dir, max_embed_bytes):
    row = rows.iloc[i]
    name = str(row["filename"])
    clip = audio.get(name, name) if audio else name
    # shown with the bytes of a name that is not valid UTF-8 escaped (\\xe9)
    shown = os.fsencode(Path(name).name).decode("utf-8", "backslashreplace")
    score = float(row["anomaly_score"])
    side = "above" if score > threshold else "below"
    called = "anomalous" if score > threshold else "normal"
    label = _LABELS.get(int(row["target"]), "unlabeled")
    where = ", ".join(str(row[c]) for c in ("machine_id", "domain") if row[c])
    notes = row.get("notes")
    note = (f'<p class="note">Note: {html.escape(notes)}</p>'
            if isinstance(notes, str) and notes else "")
    try:
        image, words = _clip_figure(model, clip, row["machine_id"], shown)
        figure = f'<img alt="log-mel spectrogram and anomaly map" src="{image}">'
    except (ValueError, OSError) as exc:  # a moved or unreadable file: say so
        figure, words = f'<p class="note">no spectrogram: {html.escape(str(exc))}</p>', "-"
    return (
        f'<div class="clip"><h4>{html.escape(shown)}</h4>'
        f'<p>{html.escape(where)} &middot; label: {label} &middot; score '
        f'<b>{score:.4g}</b> vs threshold {threshold:.4g}: '
        f'<span class="{side}">{side}, called {called}</span></p>'
        f'<p>Regions: <span class="regions">{html.escape(words)}</span></p>{note}'
        f'{figure}{_audio_html(clip, sr, base_dir, max_embed_bytes)}</div>')


def _type_html(machine_type, rows, model, audio, base_dir, n_top, n_near,
               max_embed_bytes):
    threshold = float(model[-1].threshold_)
    rows = rows.reset_index(drop=True)
    figures = summary_figures(machine_type, rows, threshold)
    images = "".join(f'<img class="summary" alt="{kind} of {html.escape(machine_type)}" '
                     f'src="{_png(fig)}">' for kind, fig in figures.items())
    sr = spectrogram_step(model)[1].spectrogram_axes()["sr"]
    top, near = _chosen_clips(rows, threshold, n_top, n_near)
    parts = [f'<section class="type"><h2>{html.escape(machine_type)}</h2>',
             f"<p>{len(rows)} test clips, decision threshold {threshold:.4g} "
             f"({int((rows['anomaly_score'] > threshold).sum())} above it).</p>",
             f"<div>{images}</div>"]
    for heading, chosen in (("Most anomalous clips", top),
                            ("Clips next to the threshold", near)):
        parts.append(f"<h3>{heading}</h3>")
        parts += [_clip_html(model, rows, i, threshold, audio, sr, base_dir,
                             max_embed_bytes) for i in chosen]
    return "".join(parts) + "</section>"


def _metrics_html(metrics):
    table = metrics.reset_index() if metrics.index.nlevels > 1 or metrics.index.name \
        else metrics
    return table.to_html(index=False, border=0, na_rep="", classes="metrics",
                         float_format="{:.4f}".format)


def render_report(results, metrics, models, *, audio=None, run_info=None,
                  base_dir=".", n_top=3, n_near=3, max_embed_bytes=MAX_EMBED_BYTES):
    """The run report as one self-contained HTML page.

    Parameters
    ----------
    results : pandas.DataFrame
        One row per test clip with the columns ``filename``, ``machine_type``,
        ``machine_id``, ``domain`` (may be empty strings), ``target`` (1 anomalous,
        0 normal, -1 unlabeled) and ``anomaly_score``, and optionally ``notes``
        (shown with the clip): what ``sklasd run`` writes to ``results.csv``.
    metrics : pandas.DataFrame
        The metrics table (:func:`sklasd.metrics.anomaly_report`), shown as it is.
    models : dict of str -> sklasd.pipeline.Pipeline
        The fitted pipeline of each machine type of ``results``, with a
        ``LogMelTransformer`` step; its final step's ``threshold_`` is the decision
        threshold, and its ``anomaly_map`` (where it has one) gives the maps.
    audio : dict of str -> ndarray or None, default=None
        Waveforms of the clips that are not files (generated data), by file name,
        at the log-mel step's rate; the other clips are read from ``filename``.
    run_info : dict or None, default=None
        Shown at the top as ``key: value`` lines (for example the data folder and
        the model name).
    base_dir : str or path-like, default="."
        The folder the page will be in: linked audio files are relative to it.
    n_top : int, default=3
        Most anomalous clips shown per machine type.
    n_near : int, default=3
        Further clips shown per machine type: those whose scores are closest to the
        threshold.
    max_embed_bytes : int, default=1_000_000
        Audio files up to this size are embedded in the page as ``data:`` URIs;
        larger ones are linked by their path relative to ``base_dir`` (the player
        then needs the file there). Generated waveforms are always embedded (16-bit
        WAV).

    Returns
    -------
    page : str
        The HTML page.

    Notes
    -----
    Anomaly maps and spectrograms are computed only for the clips shown. A clip
    whose file cannot be read any more gets a note instead of its figure.
    """
    types = "".join(
        _type_html(machine_type, rows, models[machine_type], audio, base_dir, n_top,
                   n_near, max_embed_bytes)
        for machine_type, rows in results.groupby("machine_type", sort=True))
    return page_html("sklasd run report", run_info, (
        "<p>Scores: higher = more anomalous; a clip scoring above its machine type's "
        f"threshold is called anomalous. {CLIP_FIGURE_TEXT}</p>"
        f'<h2>Metrics</h2>{_metrics_html(metrics)}{types}'))


#: What a clip's figure shows, in words (the report and the monitor's trend page).
CLIP_FIGURE_TEXT = (
    "In each clip's figure (time in seconds, frequency in Hz on the mel scale) the red "
    "overlay, where the model computes one, is its anomaly map: what raised its score. "
    "The numbered cyan boxes are the regions listed in words, strongest first.")


def page_html(title, info, body):
    """A self-contained page in the report's style (also the monitor's trend page).

    Parameters
    ----------
    title : str
        The title and first heading.
    info : dict or None
        Shown as ``key: value`` lines under the heading, followed by the sklasd
        version and the time written.
    body : str
        HTML of the rest of the page.

    Returns
    -------
    page : str
    """
    info = dict(info or {}, sklasd=__version__,
                written=datetime.datetime.now(datetime.timezone.utc)
                .strftime("%Y-%m-%d %H:%M:%S UTC"))
    head = "".join(f"<li>{html.escape(str(k))}: {html.escape(str(v))}</li>"
                   for k, v in info.items())
    return (
        f"{REPORT_SIGNATURE.decode()} {__version__}\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><ul>{head}</ul>{body}</body></html>\n")


def figure_uri(fig, dpi=80):
    """A matplotlib figure as a base64 PNG ``data:`` URI."""
    return _png(fig, dpi)


def clip_html(model, row, *, audio=None, base_dir=".", max_embed_bytes=MAX_EMBED_BYTES):
    """One clip's block as in the report: its spectrogram with anomaly map, regions
    in words, score against the threshold and audio player.

    Parameters
    ----------
    model : sklasd.pipeline.Pipeline
        The clip's fitted pipeline (with a step that turns waveforms into
        spectrograms, such as ``LogMelTransformer``).
    row : dict
        ``filename`` (a path, or a key of ``audio``) and ``anomaly_score``, and
        optionally ``machine_id``, ``domain``, ``target`` and ``notes``.
    audio, base_dir, max_embed_bytes
        As in :func:`render_report`.

    Returns
    -------
    html : str
    """
    rows = pd.DataFrame([{"target": -1, "machine_id": "", "domain": "", **row}])
    sr = spectrogram_step(model)[1].spectrogram_axes()["sr"]
    return _clip_html(model, rows, 0, float(model[-1].threshold_), audio, sr, base_dir,
                      max_embed_bytes)


def write_report(out_dir, results, metrics, models, *, overwrite=False, **kwargs):
    """Write ``report.html`` into ``out_dir``, atomically.

    Parameters
    ----------
    out_dir : str or path-like
        The folder of the report (created if needed).
    results, metrics, models
        As in :func:`render_report`.
    overwrite : bool, default=False
        Replace an existing ``report.html``.
    **kwargs
        Passed to :func:`render_report` (``audio``, ``run_info``, ``n_top``,
        ``n_near``, ``max_embed_bytes``); ``base_dir`` is ``out_dir``.

    Returns
    -------
    path : pathlib.Path
        The report written.

    Raises
    ------
    sklasd._outputs.OutputError (ValueError)
        Before any work, if the file exists without ``overwrite`` or cannot be
        written; nothing is left behind when rendering fails.

    Examples
    --------
    >>> import sklasd
    >>> sklasd.run().save("sklasd_results")  # writes report.html  # doctest: +SKIP
    """
    path = Path(out_dir) / REPORT_NAME
    with output_file(path, overwrite=overwrite, signature=REPORT_SIGNATURE) as stage:
        kwargs.setdefault("base_dir", Path(os.path.abspath(out_dir)))
        stage.write_text(render_report(results, metrics, models, **kwargs),
                         encoding="utf-8", errors="backslashreplace")
    return path
