"""The anomaly-map contract of every detector (``AnomalyDetectorMixin.anomaly_map``)."""
import numpy as np
import pytest
import sklearn
import torch

from sklasd.detectors import (
    AutoencoderDetector,
    GaussianMixtureDetector,
    HVAEDetector,
    IDConditionedAE,
    KNeighborsDetector,
    MahalanobisDetector,
    WaveNetPredictor,
    WeightedEnsembleDetector,
)
from sklasd.features import TemporalPooling
from sklasd.pipeline import make_pipeline

rng = np.random.default_rng(0)
WINDOWS = rng.normal(size=(12, 9, 6)).astype(np.float32)  # clips, windows, features
SPECTROGRAMS = rng.normal(size=(8, 4, 24)).astype(np.float32)  # clips, mels, frames
POOLED = rng.normal(size=(30, 5))
TINY = dict(max_epochs=2, batch_size=32, random_state=0)

WINDOW_DETECTORS = {
    "ae": lambda: AutoencoderDetector((8,), 2, **TINY),
    "ae_mahalanobis": lambda: AutoencoderDetector((8,), 2, score_mode="selective_mahalanobis",
                                                **TINY),
    "hvae": lambda: HVAEDetector((8,), 2, **TINY),
    "idcae": lambda: IDConditionedAE(encoder_layer_sizes=(8,), latent_dim=2,
                                     decoder_layer_sizes=(8,), **TINY),
    "idcae_l2": lambda: IDConditionedAE(loss="l2", encoder_layer_sizes=(8,), latent_dim=2,
                                        decoder_layer_sizes=(8,), **TINY),
}
POOLED_DETECTORS = {
    "gmm": lambda: GaussianMixtureDetector(2, random_state=0),
    "knn": lambda: KNeighborsDetector(2),
    "knn_standardized": lambda: KNeighborsDetector(standardize=True),
    "mahalanobis": lambda: MahalanobisDetector(),
}
IDS = np.array(["a", "b"] * 6)


def _wavenet():
    return WaveNetPredictor(n_blocks=1, channel_multiplier=2, n_bands=2, excerpt_length=12,
                            **TINY)


def _fitted(name):
    if name in WINDOW_DETECTORS:
        det = WINDOW_DETECTORS[name]()
        meta = {"machine_id": IDS} if name.startswith("idcae") else {}
        return det.fit(WINDOWS, **meta), WINDOWS, meta
    if name == "wavenet":
        return _wavenet().fit(SPECTROGRAMS), SPECTROGRAMS, {}
    # unseen clips: a nearest-neighbour detector maps its training clips to 0
    return POOLED_DETECTORS[name]().fit(POOLED), POOLED + 0.1, {}


ALL = [*WINDOW_DETECTORS, "wavenet", *POOLED_DETECTORS]


def _check_maps(maps, X):
    assert isinstance(maps, list) and len(maps) == len(X)
    for m, x in zip(maps, X):
        assert m.dtype == np.float32 and m.shape == np.shape(x)
        assert np.isfinite(m).all() and (m >= 0).all()


@pytest.mark.parametrize("name", ALL)
def test_one_map_per_clip_of_its_shape_finite_non_negative(name):
    det, X, meta = _fitted(name)
    maps = det.anomaly_map(X, **meta)
    _check_maps(maps, X)
    assert max(float(m.max()) for m in maps) > 0


@pytest.mark.parametrize("name", ALL)
def test_a_clips_map_does_not_depend_on_the_other_clips(name):
    det, X, meta = _fitted(name)
    together = det.anomaly_map(X[:5], **{k: v[:5] for k, v in meta.items()})
    for i in (0, 3):
        alone = det.anomaly_map(X[i:i + 1], **{k: v[i:i + 1] for k, v in meta.items()})
        np.testing.assert_allclose(alone[0], together[i], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [*WINDOW_DETECTORS, "wavenet"])
def test_clips_of_unequal_length(name):
    det, X, meta = _fitted(name)
    short = X[1][:, :20] if name == "wavenet" else X[1][:5]
    clips = [X[0], short, X[2]]
    maps = det.anomaly_map(clips, **{k: v[:3] for k, v in meta.items()})
    _check_maps(maps, clips)
    alone = det.anomaly_map([short], **{k: v[1:2] for k, v in meta.items()})
    np.testing.assert_allclose(maps[1], alone[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", [n for n in WINDOW_DETECTORS if n != "ae_mahalanobis"])
def test_window_maps_average_to_the_window_scores(name):
    det, X, meta = _fitted(name)
    maps, scores = det.anomaly_map(X, **meta), det.frame_scores(X, **meta)
    for m, s in zip(maps, scores):
        np.testing.assert_allclose(m.mean(axis=1), s, rtol=1e-4)


def test_autoencoder_map_is_the_squared_reconstruction_error():
    det, X, _ = _fitted("ae")
    det.net_.module_.eval()
    with torch.no_grad():
        recon = det.net_.module_(torch.from_numpy(X[0])).numpy()
    np.testing.assert_allclose(det.anomaly_map(X[:1])[0], (X[0] - recon) ** 2, rtol=1e-4)


def test_two_d_input_gives_one_map_row_per_clip():
    X = WINDOWS[:, 0]
    det = AutoencoderDetector((8,), 2, **TINY).fit(X)
    maps = det.anomaly_map(X)
    _check_maps(maps, X)
    np.testing.assert_allclose([m.mean() for m in maps], det.anomaly_score(X), rtol=1e-4)


def test_wavenet_maps_prediction_errors_after_the_receptive_field():
    det, X, _ = _fitted("wavenet")
    maps = det.anomaly_map(X)
    r = det.receptive_field_
    for m, s in zip(maps, det.frame_scores(X)):
        assert (m[:, :r] == 0).all() and (m[:, r:] > 0).any()
        np.testing.assert_allclose(m[:, r:].mean(axis=0), s, rtol=1e-4)


@pytest.mark.parametrize("name", list(POOLED_DETECTORS))
def test_pooled_map_peaks_at_the_deviating_feature(name):
    det, X, _ = _fitted(name)
    clip = X.mean(axis=0)
    clip[3] += 8 * X[:, 3].std()
    assert np.argmax(det.anomaly_map(clip[None])[0]) == 3


def test_knn_map_shares_the_distance_among_the_features():
    det = KNeighborsDetector(2).fit(POOLED)
    clips = POOLED[:4] + 0.3
    np.testing.assert_allclose([m.sum() for m in det.anomaly_map(clips)],
                               det.anomaly_score(clips), rtol=1e-5)


def test_mahalanobis_map_is_the_standardized_squared_deviation():
    det = MahalanobisDetector().fit(POOLED)
    model = det.models_[0]
    expected = (POOLED[:3] - model.location_) ** 2 / np.diag(model.covariance_)
    np.testing.assert_allclose(det.anomaly_map(POOLED[:3]), expected, rtol=1e-5)


@pytest.mark.parametrize("make", [
    KNeighborsDetector, MahalanobisDetector,
    # one diagonal Gaussian: a full mixture fitted to 6 clips is degenerate
    lambda: GaussianMixtureDetector(1, covariance_type="diag")])
def test_pooled_map_is_taken_against_the_domain_with_the_min_score(make):
    source = rng.normal(size=(20, 5))
    target = rng.normal(5, 1, size=(6, 5))
    domain = np.array(["source"] * 20 + ["target"] * 6)
    det = make().fit(np.r_[source, target], domain=domain)
    near_target = target[:2] + 0.2
    only_target = make().fit(target)
    np.testing.assert_allclose(det.anomaly_map(near_target), only_target.anomaly_map(near_target),
                               rtol=1e-6)


def test_ensemble_map_is_the_weighted_sum_of_standardized_member_maps():
    members = [("max", make_pipeline(TemporalPooling("max"), MahalanobisDetector())),
               ("mean", make_pipeline(TemporalPooling("mean"), KNeighborsDetector()))]
    ens = WeightedEnsembleDetector(members, weights=[3, 1]).fit(SPECTROGRAMS)
    maps = ens.anomaly_map(SPECTROGRAMS[:3])
    _check_maps(maps, SPECTROGRAMS[:3])
    parts = [est.anomaly_map(SPECTROGRAMS[:3]) for est in ens.estimators_]
    for i, m in enumerate(maps):
        expected = sum(w / s * p[i] for w, s, p in zip(ens.weights_, ens.score_std_, parts))
        np.testing.assert_allclose(m, expected, rtol=1e-5)


def test_ensemble_of_members_without_maps_says_so():
    from sklearn.ensemble import IsolationForest

    ens = WeightedEnsembleDetector([("iforest", IsolationForest(random_state=0))],
                                   weights=[1]).fit(POOLED)
    with pytest.raises(TypeError, match="iforest.*no anomaly_map"):
        ens.anomaly_map(POOLED)


def test_metadata_is_checked_as_for_scoring():
    det, X, meta = _fitted("idcae")
    with pytest.raises(ValueError, match="machine_id"):
        det.anomaly_map(X)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(det)
        pipe.steps[-1][1].set_decision_function_request(machine_id=True)
        maps = pipe.anomaly_map(X[:2], machine_id=IDS[:2])
    np.testing.assert_allclose(maps[0], det.anomaly_map(X[:2], machine_id=IDS[:2])[0])
