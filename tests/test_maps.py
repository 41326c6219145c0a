"""Tests of sklasd.maps: regions of hand-made maps, and where real maps point."""
import librosa
import numpy as np
import pytest

from sklasd.maps import Region, anomaly_regions, describe_regions

SR, HOP = 16000, 512
FRAME = HOP / SR


def _map(n_mels=32, n_frames=100, floor=0.01, seed=0):
    return floor * np.random.default_rng(seed).random((n_mels, n_frames))


def test_one_blob_gives_its_time_span_and_band():
    m = _map()
    m[10:14, 30:40] += 1.0
    [r] = anomaly_regions(m, sr=SR, hop_length=HOP)
    assert isinstance(r, Region)
    assert r.onset == pytest.approx(29.5 * FRAME) and r.offset == pytest.approx(39.5 * FRAME)
    edges = librosa.mel_frequencies(34, fmax=SR / 2)
    # bins 10-13: from the crossing of filters 9 and 10 to that of filters 13 and 14
    assert r.fmin == pytest.approx((edges[10] + edges[11]) / 2)
    assert r.fmax == pytest.approx((edges[14] + edges[15]) / 2)
    assert r.peak == pytest.approx(m[:, 30:40].sum(axis=0).max())


def test_regions_strongest_first_at_most_max_regions_and_close_runs_merged():
    m = _map()
    m[5, 10:13] += 1.0
    m[5, 14:16] += 1.0   # 1 frame after the first run: the same region
    m[20, 60:62] += 1.6  # the strongest
    m[3, 40] += 0.5      # below half the peak: no region
    m[25, 85:88] += 1.2
    regions = anomaly_regions(m, sr=SR, hop_length=HOP)
    assert [round(r.onset / FRAME + 0.5) for r in regions] == [60, 85, 10]
    assert regions[2].offset == pytest.approx(15.5 * FRAME)
    assert len(anomaly_regions(m, sr=SR, hop_length=HOP, max_regions=2)) == 2


def test_fmin_fmax_set_the_mel_scale():
    m = _map(n_mels=16)
    m[8, 50] += 1.0
    [r] = anomaly_regions(m, sr=SR, hop_length=HOP, fmin=500.0, fmax=4000.0)
    edges = librosa.mel_frequencies(18, fmin=500.0, fmax=4000.0)
    assert (r.fmin, r.fmax) == pytest.approx(((edges[8] + edges[9]) / 2,
                                              (edges[9] + edges[10]) / 2))


def test_a_one_dimensional_map_has_no_band():
    profile = np.zeros(50)
    profile[20:23] = 1.0
    [r] = anomaly_regions(profile, sr=SR, hop_length=HOP)
    assert np.isnan(r.fmin) and np.isnan(r.fmax) and r.onset == pytest.approx(19.5 * FRAME)
    assert describe_regions([r]) == "0.6-0.7 s"


def test_a_flat_map_has_no_region_and_the_edges_are_clipped():
    assert anomaly_regions(np.ones((4, 20)), sr=SR, hop_length=HOP) == []
    assert describe_regions([]) == ""
    m = np.zeros((4, 20))
    m[:, 0] = 1.0
    [r] = anomaly_regions(m, sr=SR, hop_length=HOP)
    assert r.onset == 0.0 and r.offset == pytest.approx(0.5 * FRAME)


@pytest.mark.parametrize("bad", [np.zeros((2, 2, 2)), np.zeros((3, 0)), np.array([1.0, np.nan])])
def test_bad_maps(bad):
    with pytest.raises(ValueError, match="anomaly_map"):
        anomaly_regions(bad, sr=SR, hop_length=HOP)


def test_describe_regions_words():
    text = describe_regions([Region(2.14, 2.36, 1000.0, 2240.0, 2.0),
                             Region(5.0, 5.3, 300.0, 600.0, 1.0)])
    assert text == "2.1-2.4 s, 1.0-2.2 kHz; 5.0-5.3 s, 0.3-0.6 kHz"


@pytest.mark.quality
def test_describe_regions_one_frame_region_ends_differ():
    m = np.zeros(100)
    m[40] = 1.0  # one frame of 32 ms
    [r] = anomaly_regions(m, sr=16000, hop_length=512)
    onset, offset = describe_regions([r])[:-2].split("-")
    assert float(onset) < float(offset)


def test_default_pipeline_map_peaks_inside_localized_anomalies():
    """Issue 16's evidence: the peak of the default pipeline's map lies within 0.1 s of
    the injected impact or rattle for at least 80 % of the anomalous clips."""
    from sklasd.datasets import make_machine_sounds
    from sklasd.models import make_model

    data = make_machine_sounds(16, 10, anomaly_types=("impact", "rattle"), random_state=0)
    train = (data.split == "train") & (data.target == 0)
    anomalous = data.target == 1
    model = make_model().fit(data.data[train])
    log_mel = model[0]
    peaks = np.array([np.argmax(m.sum(axis=0)) for m in model.anomaly_map(
        data.data[anomalous])]) * log_mel.hop_length / log_mel.sr
    hit = ((peaks >= data.anomaly_onset[anomalous] - 0.1)
           & (peaks <= data.anomaly_offset[anomalous] + 0.1))
    kinds = data.attributes.anomaly_type.to_numpy()[anomalous]
    assert set(kinds) == {"impact", "rattle"}
    assert hit.mean() >= 0.8, {k: hit[kinds == k].mean() for k in set(kinds)}
    # and the regions in words start with that span
    regions = anomaly_regions(model.anomaly_map(data.data[anomalous][:1])[0], sr=log_mel.sr,
                              hop_length=log_mel.hop_length)
    assert regions and regions[0].onset <= peaks[0] <= regions[0].offset
