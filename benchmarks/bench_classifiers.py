"""Benchmark of PrunedCNNClassifier, pruning and augmentation (issue 7).

On ``shared/data/dcase2016-task2-events`` (11 classes x 20 isolated office events,
stratified 5-fold CV, seeded) it prints, for a VGG unpruned, the VGG pruned to 80 %
per layer and the pruned soft-voting ensemble (papers/001: five VGG + one
Inception), each without and with the paper-002 augmentations (pitch shift +-30 %,
time stretch +-30 %, random frequency filters +-10 dB): accuracy (mean and std
over folds) on the clean test folds and on test folds mixed with MIMII valve noise
at 20, 10 and 0 dB SNR (``mix_at_snr``, noise added to the test folds only),
non-zero parameters, model size in KB and fit seconds; and a non-neural reference
(logistic regression on per-band log-mel mean and standard deviation).

Settings, reduced for 220 clips of 0.1-3.3 s and 2 CPU cores (printed at the
start): audio at 16 kHz (the events are resampled from 44.1 kHz to the noise's
rate, so noise is mixed at its native rate); the paper-001 feature layout scaled to
16 kHz (Hann, n_fft 1024 = 64 ms, 50 % overlap, 48 mels from 0 Hz to sr / 2),
computed as linear spectrograms with the mel + log front end inside the network;
1-s excerpts (32 frames); V(1, 1, 1, 1) and I(1, 0, 1) with 8 base filters; 40
epochs at lr 1e-3 (the paper: 400 at 1e-4); the pruning schedule scaled to the
epochs (t0 = epochs / 4, n * dt = epochs / 2, as 100 and 200 of 400).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_classifiers.py [--n-jobs 2]``.
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SR = 16000
SNRS = (20, 10, 0)
SETTINGS = dict(epochs=40, lr=1e-3, batch_size=16, filters=8, vgg=(1, 1, 1, 1),
                inception=(1, 0, 1), n_vgg=5, excerpt_frames=32, folds=5, seed=0)


def _features():
    from sklasd.features import LogMelTransformer

    front = LogMelTransformer(sr=SR, n_fft=1024, hop_length=512, window="hann",
                              n_mels=48, fmin=0.0, fmax=None)
    linear = LogMelTransformer(**{**front.get_params(), "n_mels": None, "log": None})
    return front, linear.fit()


def _per_clip(transformer, audio):
    """Unequal-length clips: one transform per clip (no padding to the longest)."""
    return [transformer.transform([a])[0] for a in audio]


def _schedule(epochs):
    from sklasd.classifiers import PolynomialDecayPruning

    dt = max(1, round(epochs / 40))
    return PolynomialDecayPruning(begin_epoch=max(1, epochs // 4), frequency=dt,
                                  n_prunings=max(1, (epochs // 2) // dt))


def _models(front, augmented, seed):
    from sklearn.ensemble import VotingClassifier

    from sklasd.augment import FrequencyFilter, PitchShift, TimeStretch
    from sklasd.classifiers import PrunedCNNClassifier

    s = SETTINGS

    def cnn(arch, blocks, pruning, rs):
        aug = ([PitchShift(0.3), TimeStretch(0.3), FrequencyFilter(10.0)]
               if augmented else None)
        return PrunedCNNClassifier(
            arch, blocks, filters=s["filters"], pruning=pruning, frontend=front,
            augment=aug, excerpt_frames=s["excerpt_frames"], max_epochs=s["epochs"],
            lr=s["lr"], batch_size=s["batch_size"], random_state=rs)

    pruned = _schedule(s["epochs"])
    members = [(f"vgg{i}", cnn("vgg", s["vgg"], pruned, seed + i))
               for i in range(s["n_vgg"])]
    members.append(("inception", cnn("inception", s["inception"], pruned, seed + 99)))
    return {
        "VGG unpruned": cnn("vgg", s["vgg"], None, seed),
        "VGG pruned 80%": cnn("vgg", s["vgg"], pruned, seed),
        f"ensemble {s['n_vgg']}V+1I pruned": VotingClassifier(members, voting="soft"),
    }


def _run_fold(fold, train, tests, front, augmented):
    """Fit every model on one fold; accuracies on each test condition."""
    import torch

    from sklasd.classifiers import model_size

    torch.set_num_threads(1)
    rows = []
    for name, model in _models(front, augmented, SETTINGS["seed"] + 10 * fold).items():
        t0 = time.perf_counter()
        model.fit(train[0], train[1])
        seconds = time.perf_counter() - t0
        acc = {cond: float(np.mean(model.predict(X) == y_t))
               for cond, (X, y_t) in tests.items()}
        n, kb = model_size(model)
        rows.append(dict(model=name, aug=augmented, fold=fold, seconds=seconds,
                         nonzero=n, kb=kb, **acc))
    return rows


def _reference(folds, stats, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rows = []
    for fold, (train, test) in enumerate(folds):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
        t0 = time.perf_counter()
        model.fit(stats["clean"][train], y[train])
        seconds = time.perf_counter() - t0
        acc = {c: model.score(F[test], y[test]) for c, F in stats.items()}
        n = int(np.count_nonzero(model[-1].coef_) + np.count_nonzero(model[-1].intercept_))
        rows.append(dict(model="logreg mel mean+std", aug=False, fold=fold,
                         seconds=seconds, nonzero=n, kb=n * 4 / 1024, **acc))
    return rows


def _table(rows):
    conds = ["clean"] + [f"{s} dB" for s in SNRS]
    head = (f"{'model':<26}{'aug':<5}" + "".join(f"{c:>14}" for c in conds)
            + f"{'nonzero':>10}{'KB':>9}{'fit s':>8}")
    print(head)
    print("-" * len(head))
    keys = list(dict.fromkeys((r["model"], r["aug"]) for r in rows))
    summary = {}
    for key in keys:
        rs = [r for r in rows if (r["model"], r["aug"]) == key]
        accs = {c: [r[c] for r in rs] for c in conds}
        summary[key] = (np.mean(accs["clean"]), np.mean([r["nonzero"] for r in rs]))
        print(f"{key[0]:<26}{'yes' if key[1] else 'no':<5}"
              + "".join(f"{np.mean(a):>8.3f}±{np.std(a):.3f}" for a in accs.values())
              + f"{np.mean([r['nonzero'] for r in rs]):>10.0f}"
              + f"{np.mean([r['kb'] for r in rs]):>9.1f}"
              + f"{np.mean([r['seconds'] for r in rs]):>8.1f}")
    for aug in (False, True):
        unpruned, pruned = summary[("VGG unpruned", aug)], summary[("VGG pruned 80%", aug)]
        print(f"aug={aug}: pruned - unpruned accuracy = "
              f"{100 * (pruned[0] - unpruned[0]):+.1f} points (target >= -3) at "
              f"{pruned[1] / unpruned[1]:.2f} of the non-zero parameters (target 0.2)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=1, help="folds fitted in parallel")
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--folds", type=int, default=SETTINGS["folds"])
    args = parser.parse_args()
    SETTINGS.update(epochs=args.epochs, folds=args.folds)
    from sklearn.model_selection import StratifiedKFold

    from sklasd.audio import load_audio
    from sklasd.datasets import load_dcase2016_task2, mix_at_snr

    start = time.perf_counter()
    events = DATA / "dcase2016-task2-events"
    noise_dir = DATA / "mimii-valve-noise"
    if not events.is_dir() or not noise_dir.is_dir():
        raise SystemExit(f"shared data missing: {events} or {noise_dir}")
    bunch = load_dcase2016_task2(events)
    audio = [load_audio(p, sr=SR)[0] for p in bunch.filenames]
    noise = np.concatenate([load_audio(p, sr=SR)[0]
                            for p in sorted(noise_dir.rglob("*.wav"))])
    y = bunch.target
    front, linear = _features()
    print(f"settings: {SETTINGS}, sr={SR} Hz, pruning={_schedule(SETTINGS['epochs'])}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, n_jobs={args.n_jobs}")
    print(f"{len(audio)} clips, {len(np.unique(y))} classes; noise {len(noise) / SR:.1f} s")

    conds = {"clean": audio}
    for snr in SNRS:
        conds[f"{snr} dB"] = [mix_at_snr(a, noise, snr, random_state=i)
                              for i, a in enumerate(audio)]
    linear_feats = {c: _per_clip(linear, a) for c, a in conds.items()}
    front.fit()
    stats = {}
    for c, a in conds.items():
        logmel = _per_clip(front, a)
        stats[c] = np.array([np.r_[m.mean(1), m.std(1)] for m in logmel])

    cv = StratifiedKFold(SETTINGS["folds"], shuffle=True, random_state=SETTINGS["seed"])
    folds = list(cv.split(np.zeros(len(y)), y))
    jobs = []
    for fold, (train, test) in enumerate(folds):
        tests = {c: ([F[i] for i in test], y[test]) for c, F in linear_feats.items()}
        train_set = ([linear_feats["clean"][i] for i in train], y[train])
        for augmented in (False, True):
            jobs.append(delayed(_run_fold)(fold, train_set, tests, front, augmented))
    rows = [r for rs in Parallel(n_jobs=args.n_jobs)(jobs) for r in rs]
    rows += _reference(folds, stats, y)
    print()
    _table(rows)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
