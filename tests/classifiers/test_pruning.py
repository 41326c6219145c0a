"""Tests of the pruning callback and model-size counts (sklasd/classifiers/pruning.py)."""
import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from sklearn.ensemble import VotingClassifier

from sklasd.classifiers import PolynomialDecayPruning, PrunedCNNClassifier, model_size
from sklasd.classifiers.pruning import count_nonzero_params, sparsity_schedule

PRUNABLE = (torch.nn.Conv2d, torch.nn.Linear)


def _hand_schedule(n_epochs, s_i=0.1, s_f=0.8, n=20, t0=100, dt=10):
    """Equation (1) of papers/001 written out: epochs k in [t, t + dt) of every t."""
    s = np.zeros(n_epochs + 1)
    for t in range(t0, t0 + n * dt + 1, dt):
        s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3
        s[t:t + dt] = s_t
    s[t0 + n * dt:] = s_f
    return s


def test_schedule_matches_equation_1_at_every_epoch():
    expected = _hand_schedule(400)
    got = [sparsity_schedule(e) for e in range(1, 401)]
    np.testing.assert_allclose(got, expected[1:], atol=1e-12)
    assert got[99] == pytest.approx(0.1) and got[299] == pytest.approx(0.8)


class _Recorder(Callback):
    """Records, at the end of every epoch, each layer's sparsity and zero mask."""

    def initialize(self):
        self.sparsity, self.zeros = [], []
        return self

    def on_epoch_end(self, net, **kwargs):
        layers = [m for m in net.module_.modules() if isinstance(m, PRUNABLE)]
        self.sparsity.append([float((m.weight == 0).float().mean()) for m in layers])
        self.zeros.append([(m.weight == 0).clone() for m in layers])


@pytest.fixture(scope="module")
def pruned():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 8, 8)).astype(np.float32)
    y = np.tile([0, 1], 8)
    schedule = PolynomialDecayPruning(begin_epoch=2, frequency=2, n_prunings=3)
    clf = PrunedCNNClassifier(blocks=(1, 1, 0, 0), filters=8, pruning=schedule,
                              callbacks=[("rec", _Recorder())], max_epochs=10, lr=1e-2,
                              batch_size=8, random_state=0).fit(X, y)
    return clf, schedule, X, y


def test_per_layer_sparsity_follows_schedule_and_reaches_final(pruned):
    clf, schedule, *_ = pruned
    rec = dict(clf.net_.callbacks_)["rec"]
    for epoch, layers in enumerate(rec.sparsity, start=1):
        # each layer rounds its own count of weights
        np.testing.assert_allclose(layers, schedule.schedule(epoch), atol=0.02)
    layers = [m for m in clf.net_.module_.modules() if isinstance(m, PRUNABLE)]
    for m in layers:
        assert not hasattr(m, "weight_orig")  # made permanent
        assert float((m.weight == 0).float().mean()) == pytest.approx(0.8, abs=0.02)


def test_pruned_weights_stay_zero_while_training(pruned):
    rec = dict(pruned[0].net_.callbacks_)["rec"]
    for before, after in zip(rec.zeros, rec.zeros[1:]):
        for z0, z1 in zip(before, after):
            assert bool(z1[z0].all())  # once zero, zero after more steps


def test_model_size_counts_nonzeros(pruned):
    clf = pruned[0]
    body = clf.net_.module_.body
    manual = sum(int((v != 0).sum()) for v in body.state_dict().values()
                 if v.is_floating_point())
    assert clf.n_nonzero_params_ == manual
    assert clf.model_size_kb_ == pytest.approx(manual * 4 / 1024)
    total = sum(p.numel() for p in body.parameters())
    assert manual < 0.35 * total  # 80 % of the kernels are gone


def test_count_reads_masks_while_pruning():
    layer = torch.nn.Linear(10, 10)
    PolynomialDecayPruning.prune(layer, 0.3)
    assert count_nonzero_params(layer) == 70 + int((layer.bias != 0).sum())


def test_voting_ensemble_size_sums_members(pruned):
    _, schedule, X, y = pruned
    kw = dict(filters=4, pruning=schedule, max_epochs=8, batch_size=8, random_state=0)
    vote = VotingClassifier([
        ("vgg", PrunedCNNClassifier(blocks=(1, 0, 0, 0), **kw)),
        ("inc", PrunedCNNClassifier("inception", (1, 0, 0), **kw)),
    ], voting="soft").fit(X, y)
    n, kb = model_size(vote)
    assert n == sum(e.n_nonzero_params_ for e in vote.estimators_)
    assert kb == n * 4 / 1024
    assert vote.predict_proba(X).shape == (16, 2)


def test_rejects_bad_sparsity():
    with pytest.raises(ValueError, match="final_sparsity"):
        PolynomialDecayPruning(final_sparsity=1.5).initialize()
