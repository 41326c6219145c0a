"""Tests of TemporalPooling and gwrp_weights (sklasd/features.py)."""
import numpy as np
import pytest

from sklasd.features import TemporalPooling, gwrp_weights

# one clip, two mel bins, four frames
S = np.array([[[1.0, 4.0, 2.0, 3.0],
               [0.0, -1.0, 5.0, 2.0]]], dtype=np.float32)


@pytest.mark.parametrize("decay, expected", [
    (0.0, [4.0, 5.0]),  # max pooling
    (1.0, [2.5, 1.5]),  # mean pooling
    # sorted descending: bin 0 (4, 3, 2, 1), bin 1 (5, 2, 0, -1); weights 1, .5, .25, .125
    (0.5, [(4 + 1.5 + 0.5 + 0.125) / 1.875, (5 + 1 + 0 - 0.125) / 1.875]),
])
def test_gwrp_matches_hand_computation(decay, expected):
    out = TemporalPooling("gwrp", decay=decay).fit_transform(S)
    assert out.dtype == np.float32 and out.shape == (1, 2)
    np.testing.assert_allclose(out[0], expected, rtol=1e-6)


def test_gwrp_weights_sum_to_one_and_decay():
    w = gwrp_weights(5, 0.5)
    np.testing.assert_allclose(w.sum(), 1.0)
    np.testing.assert_allclose(w[1:] / w[:-1], 0.5)
    assert gwrp_weights(3, 0.0).tolist() == [1.0, 0.0, 0.0]


def test_methods_concatenate_in_order():
    pool = TemporalPooling(("max", "mean", "gwrp"), decay=1.0).fit(S)
    out = pool.transform(S)
    np.testing.assert_allclose(out[0], [4, 5, 2.5, 1.5, 2.5, 1.5])
    assert pool.get_feature_names_out().tolist()[:3] == ["max_mel0", "max_mel1", "mean_mel0"]


def test_unequal_length_list_is_pooled_clip_by_clip():
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(3, n)).astype(np.float32) for n in (5, 9, 2)]
    pool = TemporalPooling(("gwrp", "max"), decay=0.7).fit(clips)
    out = pool.transform(clips)
    assert out.shape == (3, 6)
    for i, clip in enumerate(clips):  # a clip's vector does not depend on the others
        np.testing.assert_allclose(out[i], pool.transform(clip[None])[0], rtol=1e-6)
    np.testing.assert_allclose(out[2, 3:], clips[2].max(axis=1))


def test_bad_input_is_one_clear_error():
    pool = TemporalPooling().fit(S)
    with pytest.raises(ValueError, match="3 mel bins|expecting 2"):
        pool.transform(np.zeros((1, 3, 4), np.float32))
    bad = S.copy()
    bad[0, 1, 2] = np.nan
    with pytest.raises(ValueError, match="sample 0"):
        pool.transform(bad)
    with pytest.raises(ValueError, match="clip 1"):
        pool.transform([np.zeros((2, 3)), np.zeros((2, 0))])
    with pytest.raises(ValueError, match="method"):
        TemporalPooling(("max", "median")).fit(S)


# --- inverse_map: pooled anomaly maps spread over the frames they pooled ------------
def test_inverse_map_max_puts_the_value_on_the_argmax_frame():
    S = np.array([[[1.0, 5.0, 2.0, 0.0], [7.0, 1.0, 1.0, 3.0]]], dtype=np.float32)
    [back] = TemporalPooling("max").fit(S).inverse_map([np.array([2.0, 3.0])], S)
    np.testing.assert_array_equal(back, [[0, 2, 0, 0], [3, 0, 0, 0]])


def test_inverse_map_shares_by_weight_times_excess_over_the_normal_level():
    normal = np.zeros((3, 1, 4), dtype=np.float32)  # the normal level is 0 at every rank
    clip = np.array([[[1.0, 5.0, 2.0, 0.0]]], dtype=np.float32)
    pool = TemporalPooling(("mean", "gwrp"), decay=0.5).fit(normal)
    [back] = pool.inverse_map([np.array([4.0, 1.0])], clip)
    mean_part = 4.0 * np.array([1.0, 5.0, 2.0, 0.0]) / 8.0  # (x / 4) / sum(x / 4)
    w = gwrp_weights(4, 0.5)  # the frames 1, 2, 0, 3 hold the ranks 0, 1, 2, 3
    excess = w * np.array([5.0, 2.0, 1.0, 0.0])
    gwrp_part = (excess / excess.sum())[[2, 0, 1, 3]]
    np.testing.assert_allclose(back[0], mean_part + gwrp_part)
    assert back.sum() == pytest.approx(5.0)


def test_inverse_map_skips_a_louder_normal_event():
    normal = np.zeros((5, 1, 8), dtype=np.float32)
    normal[:, 0, 0] = 10.0  # every normal clip has a loud event (a valve click)
    clip = normal[:1].copy()
    clip[0, 0, 5] = 3.0     # the anomaly: quieter than the click
    [back] = TemporalPooling(decay=0.5).fit(normal).inverse_map([np.array([2.0])], clip)
    np.testing.assert_allclose(back[0], np.eye(8)[5] * 2.0)
    # nothing above the normal level: the GWRP weights alone
    [same] = TemporalPooling(decay=0.5).fit(normal).inverse_map([np.array([1.0])], normal[:1])
    np.testing.assert_allclose(same[0], gwrp_weights(8, 0.5))


def test_inverse_map_ragged_clips_and_wrong_size():
    rng = np.random.default_rng(0)
    clips = [rng.normal(size=(3, 6)), rng.normal(size=(3, 9))]
    pool = TemporalPooling().fit(clips)
    back = pool.inverse_map([np.ones(3), np.full(3, 2.0)], clips)
    assert [b.shape for b in back] == [(3, 6), (3, 9)]
    np.testing.assert_allclose([b.sum(axis=1) for b in back], [np.ones(3), np.full(3, 2.0)])
    with pytest.raises(ValueError, match="clip 0 has shape"):
        pool.inverse_map([np.ones(4), np.ones(3)], clips)
