import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from sklasd.plotting import (  # noqa: E402
    plot_anomaly_map,
    plot_roc,
    plot_score_histogram,
    plot_spectrogram,
)


def test_plot_roc_one_curve_per_group_with_both_classes():
    y = np.array([0, 0, 1, 1, 0, 0])
    scores = np.array([0.1, 0.2, 0.9, 0.8, 0.3, 0.4])
    groups = np.array(["a", "a", "a", "a", "b", "b"])  # b has no anomalies
    ax = plot_roc(y, scores, groups=groups, max_fpr=0.1)
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(label.startswith("a") for label in labels)
    assert not any(label.startswith("b") for label in labels)


def test_plot_roc_leaves_unlabeled_clips_out():
    y = np.array([0, 0, 1, 1, -1, -1])
    ax = plot_roc(y, [0.1, 0.2, 0.9, 0.8, 0.95, 0.99])  # unlabeled clips score highest
    labels = [line.get_label() for line in ax.get_lines()]
    assert "all (AUC = 1.00)" in labels  # counted as normal they would lower the AUC


def test_score_histogram_counts_and_threshold():
    ax = plot_score_histogram([0, 0, 0, 1], [1.0, 1.1, 1.2, 5.0], threshold=2.0)
    heights = [sum(p.get_height() for p in c) for c in ax.containers]
    assert heights == [3, 1]
    assert ax.get_lines()[0].get_xdata()[0] == 2.0


def test_score_histogram_of_unlabeled_clips():
    ax = plot_score_histogram([-1, -1, 0], [1.0, 3.0, 1.1])
    heights = [sum(p.get_height() for p in c) for c in ax.containers]
    assert heights == [1, 2]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["normal (1)",
                                                                   "unlabeled (2)"]


def test_plot_spectrogram_shows_the_data():
    S = np.random.default_rng(0).normal(-40, 5, (64, 30)).astype(np.float32)
    ax = plot_spectrogram(S, title="clip")
    assert ax.get_title() == "clip"
    assert ax.collections[0].get_array().size == S.size


def _region(onset, offset, fmin, fmax):
    from collections import namedtuple

    return namedtuple("Region", "onset offset fmin fmax peak")(onset, offset, fmin, fmax, 1.0)


def test_plot_anomaly_map_overlays_a_2d_map_and_outlines_regions():
    S = np.full((32, 40), -40.0, dtype=np.float32)
    M = np.zeros_like(S)
    M[10:15, 5:9] = 2.0
    ax = plot_anomaly_map(S, M, sr=16000, hop_length=512,
                          regions=[_region(0.16, 0.29, 500.0, 900.0)])
    spectrogram, overlay = ax.collections[:2]
    assert overlay.get_array().size == M.size and overlay.get_clim() == (0.0, 2.0)
    (box,) = ax.patches
    assert np.isclose(box.get_x(), 0.16) and np.isclose(box.get_height(), 400.0)
    assert ax.get_xlabel() == "Time (s)"
    raised = plot_anomaly_map(S, M + 1.0, sr=16000, hop_length=512)
    assert raised.collections[1].get_clim() == (1.0, 3.0)  # transparent at the median


def test_a_region_of_one_frame_and_one_bin_is_drawn_large_enough_to_see():
    S = np.full((32, 500), -40.0, dtype=np.float32)
    ax = plot_anomaly_map(S, np.zeros_like(S), sr=16000, hop_length=512,
                          regions=[_region(5.0, 5.0, 4000.0, 4000.0)])
    (box,) = ax.patches
    assert np.isclose(box.get_width(), 0.025 * 500 * 512 / 16000)
    assert np.isclose(box.get_x() + box.get_width() / 2, 5.0)
    assert box.get_y() < 4000.0 < box.get_y() + box.get_height() and box.get_height() > 300


def test_plot_anomaly_map_draws_a_1d_map_as_a_curve():
    S = np.full((32, 40), -40.0, dtype=np.float32)
    curve = np.linspace(0, 1, 40)
    ax = plot_anomaly_map(S, curve, sr=16000, hop_length=512,
                          regions=[_region(0.5, 0.7, np.nan, np.nan)])
    twin = [other for other in ax.figure.axes if other is not ax and other.lines]
    np.testing.assert_allclose(twin[0].lines[0].get_ydata(), curve)
    assert np.isclose(ax.patches[0].get_height(), 8000.0)  # the whole band


def test_plot_anomaly_map_rejects_a_map_of_another_shape():
    with pytest.raises(ValueError, match="anomaly_map"):
        plot_anomaly_map(np.zeros((32, 40)), np.zeros((32, 41)), sr=16000, hop_length=512)
