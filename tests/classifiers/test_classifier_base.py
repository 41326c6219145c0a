"""Tests of the neural-classifier base (sklasd/classifiers/_neural.py)."""
import joblib
import numpy as np
import pytest
import torch
from scipy.ndimage import median_filter

from sklasd.augment import GaussianNoise, PitchShift, pitch_shift
from sklasd.classifiers import MelFrontend, PrunedCNNClassifier
from sklasd.classifiers._neural import _ExcerptBatches, _sliding_starts
from sklasd.features import LogMelTransformer

TINY = dict(blocks=(1, 0, 0, 0), filters=4, pruning=None, max_epochs=2, lr=1e-2,
            batch_size=8, random_state=0)
FRONT = LogMelTransformer(sr=8000, n_fft=64, hop_length=32, n_mels=8)


@pytest.fixture(scope="module")
def data():
    """12 log-mel-like clips (6 bands x 10 frames) of string classes."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 6, 10)).astype(np.float32)
    y = np.repeat(np.array(["dog", "cat", "bird"]), 4)
    X[y == "dog", :2] += 3
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    return PrunedCNNClassifier(**TINY).fit(*data)


@pytest.fixture(scope="module")
def linear():
    """Linear power spectrograms (33 bins) of noise clips, two classes."""
    rng = np.random.default_rng(1)
    audio = rng.normal(size=(8, 32 * 11)).astype(np.float32) * 0.1
    spec = LogMelTransformer(**{**FRONT.get_params(), "n_mels": None, "log": None})
    return spec.fit_transform(audio), np.tile([0, 1], 4), audio


def test_labels_of_any_type(fitted, data):
    X, y = data
    assert list(fitted.classes_) == ["bird", "cat", "dog"]
    proba = fitted.predict_proba(X)
    assert proba.shape == (12, 3) and proba.dtype == np.float64
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-6)
    assert set(fitted.predict(X)) <= set(y)
    assert fitted.n_features_in_ == 6 and fitted.excerpt_frames_ == 10


def test_same_seed_same_fit(fitted, data):
    again = PrunedCNNClassifier(**TINY).fit(*data)
    np.testing.assert_array_equal(again.predict_proba(data[0]), fitted.predict_proba(data[0]))


def test_sliding_starts_cover_the_clip():
    assert _sliding_starts(10, 4, 3) == [0, 3, 6]
    assert _sliding_starts(11, 4, 3) == [0, 3, 6, 7]  # last one ends at the clip's end
    assert _sliding_starts(4, 4, 2) == [0]


def test_long_clips_average_their_sliding_excerpts(fitted, data):
    X = data[0]
    long = np.concatenate([X[0], X[1], X[2][:, :5]], axis=1)  # 25 frames
    excerpts = np.stack([long[:, s:s + 10] for s in _sliding_starts(25, 10, 5)])
    np.testing.assert_allclose(fitted.predict_proba([long, X[3]])[0],
                               fitted.predict_proba(excerpts).mean(0), rtol=1e-5)


def test_short_clips_are_repeated(fitted, data):
    short = data[0][0][:, :4]
    tiled = np.tile(short, (1, 3))[:, :10]
    np.testing.assert_allclose(fitted.predict_proba([short, data[0][1]])[0],
                               fitted.predict_proba(tiled[None])[0], rtol=1e-5)


def test_training_draws_random_excerpts_of_fixed_length():
    clf = PrunedCNNClassifier(**TINY, excerpt_frames=4)
    clf.excerpt_frames_, clf.batch_size, clf.augment_ = 4, 3, []
    clf.frontend_ = None
    clips = [np.arange(12, dtype=np.float32).reshape(1, 12) + 100 * i for i in range(3)]
    batches = _ExcerptBatches(clf, clips, np.array([0, 1, 2]),
                              rng=np.random.default_rng(0), training=True)
    firsts = set()
    for _ in range(5):
        (X, y), = list(batches)
        assert X.shape == (3, 1, 4)
        for x, label in zip(X[:, 0].numpy(), y.numpy()):
            assert np.array_equal(np.diff(x), np.ones(3))  # consecutive frames
            assert 100 * label <= x[0] <= 100 * label + 8  # of its own clip
            firsts.add(float(x[0]))
    assert len(firsts) > 3  # positions vary between epochs


def test_predict_proba_frames_are_median_smoothed(data):
    X, y = data
    clf = PrunedCNNClassifier(**TINY, excerpt_frames=4).fit(X, y)
    raw = clf.predict_proba_frames(X[:2])
    assert raw[0].shape == (10, 3)
    centred = np.pad(X[0], ((0, 0), (2, 1)), mode="wrap")
    excerpts = np.stack([centred[:, t:t + 4] for t in range(10)])
    np.testing.assert_allclose(raw[0], clf.predict_proba(excerpts), rtol=1e-5)
    smooth = clf.set_params(smoothing=3).predict_proba_frames(X[:2])
    np.testing.assert_allclose(smooth[1], median_filter(raw[1], size=(3, 1),
                                                        mode="nearest"))


def test_frontend_matches_logmel_transformer(linear):
    spec, _, audio = linear
    expected = FRONT.fit_transform(audio)
    got = MelFrontend(FRONT)(torch.from_numpy(spec)).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-3)


def test_tta_averages_pitch_shifted_predictions(linear):
    spec, y, _ = linear
    clf = PrunedCNNClassifier(**TINY, frontend=FRONT, tta=(0.8, 1.0, 1.2)).fit(spec, y)
    plain = clf.set_params(tta=None)
    shifted = [pitch_shift(torch.from_numpy(spec), f).numpy() for f in (0.8, 1.0, 1.2)]
    expected = np.mean([plain.predict_proba(s) for s in shifted], axis=0)
    np.testing.assert_allclose(clf.set_params(tta=(0.8, 1.0, 1.2)).predict_proba(spec),
                               expected, rtol=1e-5)


def test_augmentations_train_only(data):
    X, y = data
    clf = PrunedCNNClassifier(**TINY, augment=[GaussianNoise(5.0)]).fit(X, y)
    p = clf.predict_proba(X)
    np.testing.assert_array_equal(p, clf.predict_proba(X))  # no noise at predict
    module, x = clf.net_.module_, torch.from_numpy(X[:2])
    module.train()
    assert not torch.equal(module.features(x), module.features(x))  # noisy in training
    module.eval()
    assert torch.equal(module.features(x), module.features(x))


def test_linear_augmentation_needs_frontend(data):
    with pytest.raises(ValueError, match="frontend"):
        PrunedCNNClassifier(**TINY, augment=[PitchShift()]).fit(*data)
    with pytest.raises(ValueError, match="frontend"):
        PrunedCNNClassifier(**TINY, tta=(0.9, 1.1)).fit(*data)


def test_frontend_checks_bins(data):
    with pytest.raises(ValueError, match="33 bins, got 6"):
        PrunedCNNClassifier(**TINY, frontend=FRONT).fit(*data)


@pytest.mark.parametrize("shape", [(3, 2, 4, 5), (3,)])
def test_wrong_rank_names_shapes(fitted, shape):
    with pytest.raises(ValueError, match=r"n_clips|2D|shape"):
        fitted.predict(np.zeros(shape, dtype=np.float32))


def test_nan_names_the_sample(fitted, data):
    X = data[0].copy()
    X[7, 1, 2] = np.nan
    with pytest.raises(ValueError, match="sample 7"):
        fitted.predict(X)
    clips = [data[0][0], data[0][1][:, :5].copy()]
    clips[1][0, 0] = np.inf
    with pytest.raises(ValueError, match="sample 1"):
        fitted.predict(clips)


def test_band_mismatch_and_one_class(fitted, data):
    with pytest.raises(ValueError, match="6 features"):
        fitted.predict(data[0][:, :5])
    with pytest.raises(ValueError, match="class"):
        PrunedCNNClassifier(**TINY).fit(data[0], np.zeros(12))


def test_pickles_and_counts(fitted, data, tmp_path):
    joblib.dump(fitted, tmp_path / "clf.joblib")
    loaded = joblib.load(tmp_path / "clf.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(data[0]),
                                  fitted.predict_proba(data[0]))
    assert fitted.model_size_kb_ == fitted.n_nonzero_params_ * 4 / 1024


def test_linear_input_is_librosa_stft(linear):
    import librosa

    spec, _, audio = linear
    ref = np.abs(librosa.stft(audio[0], n_fft=64, hop_length=32)) ** 2
    np.testing.assert_allclose(spec[0], ref, rtol=1e-3, atol=1e-6)
