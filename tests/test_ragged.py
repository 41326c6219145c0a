"""Clips of unequal length through whole pipelines: each clip scored at its own length."""
import numpy as np
import pytest
import soundfile as sf

from sklasd._ragged import equal_pieces, is_ragged, per_shape, shape_groups
from sklasd.models import make_model


def test_groups_and_pieces():
    X = [np.zeros((3, 5)), np.ones((3, 7)), np.zeros((3, 5))]
    assert is_ragged(X) and not is_ragged(X[::2]) and not is_ragged(np.zeros((2, 3, 5)))
    assert [(s, p.tolist()) for s, p in shape_groups(X)] == [((3, 5), [0, 2]),
                                                            ((3, 7), [1])]
    pieces, owner = equal_pieces(X)
    assert pieces.shape == (4, 3, 5) and owner.tolist() == [0, 1, 1, 2]
    assert pieces[2, 0, -1] == 1.0  # the last piece of clip 1 ends at its end
    scores = per_shape(lambda s, g: s.sum(axis=(1, 2)) + g, X, g=np.array([0, 1, 2]))
    assert scores.tolist() == [0.0, 22.0, 2.0]
    with pytest.raises(ValueError, match="differ in length"):
        shape_groups([np.zeros((3, 5)), np.zeros((4, 6))])


@pytest.fixture(scope="module")
def slider(request):
    from tests.conftest import shared_folder

    root = shared_folder("dcase2020-task2-lite") / "slider"
    train = sorted(str(p) for p in (root / "train").glob("*.wav"))[:4]
    test = sorted(str(p) for p in (root / "test").glob("*.wav"))[:3]
    return train, [sf.read(p, dtype="float32")[0] for p in test]


@pytest.mark.parametrize("name", ["ae", "wavenet"])
def test_score_alone_equals_score_beside_a_five_minute_recording(slider, name):
    train, clips = slider
    model = make_model(name, max_epochs=1, random_state=0).fit(train)
    five_minutes = np.tile(clips[1], 30)
    alone = model.anomaly_score(clips[:1])
    with pytest.warns(UserWarning, match="differ in duration"):
        beside = model.anomaly_score([clips[0], five_minutes, clips[2]])
    np.testing.assert_allclose(beside[0], alone[0], rtol=1e-5)
    np.testing.assert_allclose(beside[2], model.anomaly_score(clips[2:])[0], rtol=1e-5)
    assert len(model.predict([clips[0], five_minutes])) == 2


def test_int16_clip_scores_as_its_float_version(slider):
    train, clips = slider
    model = make_model("ae", max_epochs=1, random_state=0).fit(train)
    pcm = np.round(np.clip(clips[0], -1, 1 - 2 ** -15) * 32768).astype(np.int16)
    np.testing.assert_allclose(model.anomaly_score([pcm]),
                               model.anomaly_score([pcm / np.float32(32768)]), rtol=1e-5)


def test_fit_on_clips_of_unequal_length(slider):
    _, clips = slider
    model = make_model("ae", max_epochs=1, random_state=0)
    with pytest.warns(UserWarning, match="differ in duration"):
        model.fit([clips[0], clips[1][:40000], np.tile(clips[2], 2)])
    scores = model.anomaly_score(clips)
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert np.isfinite(model[-1].threshold_)
