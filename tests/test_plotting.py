import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402

from sklasd.plotting import plot_roc, plot_score_histogram, plot_spectrogram  # noqa: E402


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
