"""Tests of MaskEnhancer (sklasd/classifiers/mask.py) and CNNFCClassifier (cnnfc.py)."""
import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklasd.classifiers._neural import BaseNeuralClassifier
from sklasd.classifiers.cnnfc import KIM2020_FEATURES, CNNFCClassifier
from sklasd.classifiers.mask import MaskEnhancer, dynamic_conv2d
from sklasd.features import LogMelTransformer, SpectrogramScaler

TINY_CLF = dict(channels=(4, 4), max_epochs=3, lr=1e-2, batch_size=8, random_state=0)
TINY_MASK = dict(generator_channels=(4, 8), generator_dilations=(2, 1),
                 mask_channels=(4, 4, 1), mask_dilations=(1, 2, 1), max_epochs=2,
                 lr=1e-2, batch_size=8, random_state=0)
# enough epochs for check_classifiers_train (accuracy > 0.83 on 2-feature blobs)
CHECKS = dict(TINY_MASK, max_epochs=10, batch_size=32, lr=3e-2)

_ROUNDING = ("float32 convolutions of a batch differ by about 1 ulp (1e-7) with the "
             "batch's size and order; the checks compare transform at atol 1e-9")
EXPECTED_FAILED = {"check_methods_sample_order_invariance": _ROUNDING,
                   "check_methods_subset_invariance": _ROUNDING}


@parametrize_with_checks(
    [CNNFCClassifier(**{**TINY_CLF, "channels": (8, 8), "max_epochs": 10,
                        "batch_size": 32, "lr": 3e-2}),
     MaskEnhancer(mode="dsl", **CHECKS), MaskEnhancer(mode="sfe", **CHECKS)],
    expected_failed_checks=lambda est: (
        EXPECTED_FAILED if isinstance(est, MaskEnhancer) else {}),
)
def test_sklearn_compatible(estimator, check):
    """One scikit-learn estimator check (check_*): it asserts the API contract itself."""
    check(estimator)


@pytest.fixture(scope="module")
def data():
    """24 clips of 8 bands x 12 frames in [0, 1], three string classes."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 0.5, size=(24, 8, 12)).astype(np.float32)
    y = np.repeat(np.array(["dog", "cat", "bird"]), 8)
    X[y == "dog", :3] += 0.5
    X[y == "cat", 5:] += 0.5
    return X, y


@pytest.fixture(scope="module")
def classifier(data):
    return CNNFCClassifier(**TINY_CLF).fit(*data)


def _state(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _equal(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def fitted(data, classifier):
    before = _state(classifier.net_.module_)
    enh = MaskEnhancer(classifier, mode="dsl", **TINY_MASK).fit(*data)
    return enh, before


def test_dynamic_conv_equals_per_sample_loop():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 7, 9, generator=gen)
    w = torch.randn(3, 5, 2, 3, 3, generator=gen)
    loop = torch.cat([torch.nn.functional.conv2d(x[b:b + 1], w[b], padding=2,
                                                 dilation=2) for b in range(3)])
    torch.testing.assert_close(dynamic_conv2d(x, w, dilation=2), loop)
    shared = torch.nn.functional.conv2d(x, w[0], padding=1)
    torch.testing.assert_close(dynamic_conv2d(x, w[0]), shared)


def test_mask_range_and_shapes(fitted, data):
    enh, _ = fitted
    X, _ = data
    m = enh.mask(X)
    assert m.shape == X.shape and m.dtype == np.float32
    assert m.min() >= 0 and m.max() <= 1 and m.std() > 0
    np.testing.assert_allclose(enh.transform(X), X * m, rtol=1e-6)
    ragged = [X[0], X[1][:, :7]]
    assert [a.shape for a in enh.transform(ragged)] == [(8, 12), (8, 7)]


def test_predict_is_classifier_on_enhanced(fitted, data):
    enh, _ = fitted
    X, _ = data
    np.testing.assert_allclose(enh.predict_proba(X),
                               enh.classifier_.predict_proba(enh.transform(X)),
                               rtol=1e-4, atol=1e-6)
    assert set(enh.predict(X)) <= set(enh.classes_)


def test_frozen_classifier_bit_identical(fitted, classifier):
    enh, before = fitted
    assert enh.classifier_ is classifier
    assert _equal(before, _state(classifier.net_.module_))
    assert _equal(before, _state(enh.net_.module_.body.classifier))
    assert not any(p.requires_grad for p in enh.net_.module_.body.classifier.parameters())


def test_dsl_stages_share_generator(fitted):
    body = fitted[0].net_.module_.body
    assert body.order == [0, 0] and len(body.stages) == 1
    first, second = (body.stages[i] for i in body.order)
    assert all(p is q for p, q in zip(first.parameters(), second.parameters()))


def test_dcl_first_stage_frozen_while_second_trains(data, classifier, monkeypatch):
    snapshots = []
    train = BaseNeuralClassifier._train_net

    def spy(self, network, clips, y, rng):
        snapshots.append([_state(s) for s in network.body.stages])
        return train(self, network, clips, y, rng)

    monkeypatch.setattr(BaseNeuralClassifier, "_train_net", spy)
    enh = MaskEnhancer(classifier, mode="dcl", **TINY_MASK).fit(*data)
    stages = enh.net_.module_.body.stages
    assert len(snapshots) == 2 and enh.net_.module_.body.order == [0, 1]
    stage1_trained, stage2_init = snapshots[1]
    assert not _equal(snapshots[0][0], stage1_trained)  # stage 1 learnt
    assert _equal(stage1_trained, _state(stages[0]))  # then stayed frozen
    assert not _equal(stage2_init, _state(stages[1]))  # while stage 2 learnt


@pytest.mark.parametrize("mode", ["sfe", "dfe"])
def test_single_stage_modes(data, classifier, mode):
    enh = MaskEnhancer(classifier, mode=mode, **TINY_MASK).fit(*data)
    static = mode == "sfe"
    filters = enh.net_.module_.body.stages[0].filters
    assert (type(filters).__name__ == "_StaticFilters") == static
    m = enh.mask(data[0])
    assert m.shape == data[0].shape and 0 <= m.min() and m.max() <= 1
    assert enh.net_.module_.body.order == [0]


def test_default_and_unfitted_classifier(data):
    X, y = data
    enh = MaskEnhancer(None, mode="dfe", **TINY_MASK).fit(X, y)
    assert isinstance(enh.classifier_, CNNFCClassifier)
    assert enh.classifier_.max_epochs == TINY_MASK["max_epochs"]
    unfitted = CNNFCClassifier(**TINY_CLF)
    enh = MaskEnhancer(unfitted, mode="dfe", **TINY_MASK).fit(X, y)
    assert not hasattr(unfitted, "net_") and enh.classifier_ is not unfitted
    assert enh.excerpt_frames_ == enh.classifier_.excerpt_frames_


def test_excerpt_settings_are_the_classifiers(fitted):
    enh, _ = fitted
    clf = enh.classifier_
    assert enh.excerpt_frames == clf.excerpt_frames_
    assert (enh.excerpt_hop, enh.smoothing) == (clf.excerpt_hop, clf.smoothing)
    for name in ["excerpt_frames", "excerpt_hop", "smoothing"]:
        assert "classifier_" in getattr(MaskEnhancer, name).__doc__


def test_label_subset_maps_to_classifier_classes(data, classifier):
    X, y = data
    keep = y != "bird"
    enh = MaskEnhancer(classifier, mode="sfe", **TINY_MASK).fit(X[keep], y[keep])
    assert list(enh.classes_) == ["bird", "cat", "dog"]
    assert enh.predict_proba(X).shape == (24, 3)
    with pytest.raises(ValueError, match="not among the classifier's classes"):
        MaskEnhancer(classifier, **TINY_MASK).fit(X, np.where(keep, y, "cow"))


def test_seeded_fits_identical(data, classifier):
    a, b = (MaskEnhancer(classifier, mode="dfe", **TINY_MASK).fit(*data)
            for _ in range(2))
    np.testing.assert_array_equal(a.mask(data[0]), b.mask(data[0]))


def test_pickle_round_trip(fitted, data, tmp_path):
    enh, _ = fitted
    joblib.dump(enh, tmp_path / "enh.joblib")
    loaded = joblib.load(tmp_path / "enh.joblib")
    np.testing.assert_array_equal(loaded.transform(data[0]), enh.transform(data[0]))


def test_bad_input(fitted, data, classifier):
    enh, _ = fitted
    X, y = data
    with pytest.raises(ValueError, match="expecting 8 features"):
        enh.transform(X[:, :5])
    bad = X.copy()
    bad[3, 0, 0] = np.nan
    with pytest.raises(ValueError, match="sample 3"):
        enh.mask(bad)
    with pytest.raises(ValueError, match="sample 3"):
        MaskEnhancer(classifier, **TINY_MASK).fit(bad, y)
    with pytest.raises(ValueError, match="bands per frame"):
        MaskEnhancer(classifier, **TINY_MASK).fit(X[:, :5], y)
    with pytest.raises(ValueError, match="must end with 1"):
        MaskEnhancer(classifier, **{**TINY_MASK, "mask_channels": (4, 4, 2)}).fit(X, y)
    with pytest.raises(ValueError, match="same non-zero length"):
        MaskEnhancer(classifier, **{**TINY_MASK, "mask_dilations": (1,)}).fit(X, y)
    with pytest.raises(ValueError, match="positive ints"):
        MaskEnhancer(classifier, **{**TINY_MASK, "generator_channels": (0, 8)}).fit(X, y)
    with pytest.raises(ValueError, match="mode"):
        MaskEnhancer(classifier, mode="xyz").fit(X, y)
    with pytest.raises(ValueError, match=r"\(n_clips, n_mels, n_frames\)"):
        enh.transform(X[None])
    assert enh.classifier_ is classifier  # failed fits changed nothing of fitted


def test_paper_sizes():
    """The documented parameter counts of the paper's layer sizes."""
    from sklasd.classifiers.cnnfc import _CNNFC
    from sklasd.classifiers.mask import _FilterGenerator, _StaticFilters

    def count(m):
        return sum(p.numel() for p in m.parameters())

    gen = _FilterGenerator((12, 72, 256), (6, 4, 1), (24, 96, 96, 96, 1))
    assert count(gen) == 48_575_602
    assert count(gen.kernel_heads) + count(gen.norm_heads) == 48_400_810
    assert count(_StaticFilters((24, 96, 96, 96, 1))) == 188_330
    cnn = _CNNFC((12, 36, 72, 96, 96), 40, 251, 10)
    assert cnn.classifier.in_features == 96 * 5 * 14


def test_paper_features_minmax():
    audio = np.random.default_rng(0).uniform(-0.1, 0.1, (2, 16000)).astype(np.float32)
    S = LogMelTransformer(**KIM2020_FEATURES).fit_transform(audio)
    Z = SpectrogramScaler(per="minmax").fit_transform(S)
    assert Z.shape == (2, 40, 251)
    np.testing.assert_allclose(Z.min(axis=(1, 2)), 0)
    np.testing.assert_allclose(Z.max(axis=(1, 2)), 1)
    assert clone(SpectrogramScaler(per="minmax")).fit_transform(S[:, :1, :1]).max() == 0
