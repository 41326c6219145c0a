"""Benchmark of MaskEnhancer: CNN-FC, SFE, DFE, DCL and DSL (issue 8, papers/004).

On ``shared/data/dcase2016-task2-events`` (11 classes x 20 isolated office events,
stratified 5-fold split, seeded; the first ``--folds`` folds are run) it prints the
accuracy of the frozen CNN-FC classifier and of the four mask enhancers in front of
it on the clean test folds (the paper's Table 1) and on the test folds mixed with
MIMII valve noise at 20, 15, 10, 5 and 0 dB SNR (Table 2; ``mix_at_snr``, the noise
added to the test folds only, never seen in training), with fit seconds, and saves
``bench_mask.png``: clean, noisy (5 dB) and SFE / DCL / DSL enhanced features of one
test clip (the paper's Figure 3).

Settings, reduced for 220 clips of 0.1-3.3 s and 2 CPU cores (printed at the start):
the paper's features (16 kHz, Hamming 512 / hop 256, 40 mels, per-clip min-max) on
clips zero-padded or cropped to 1.5 s (94 frames; the paper: 4 s) since the events
average 1.2 s; the paper's CNN-FC and filter generator (12, 72, 256) but a dynamic
layer of (24, 32, 32, 32, 1) kernels (paper: 96 in the middle layers, 6x the
compute); Adam at lr 1e-3 and batch 64 as in the paper but 40 classifier epochs and
15 epochs per mask stage (paper: 100). Noise is mixed into each clip before it is
padded, so the SNR is that of the event itself.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_mask.py [--folds 3] [--epochs 15]``.
"""
import argparse
import os
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SNRS = (20, 15, 10, 5, 0)
MODES = ("sfe", "dfe", "dcl", "dsl")
SETTINGS = dict(duration=1.5, clf_epochs=40, epochs=15, lr=1e-3, batch_size=64,
                generator_channels=(12, 72, 256), mask_channels=(24, 32, 32, 32, 1),
                n_splits=5, folds=3, seed=0, figure_snr=5)


def _load():
    from sklasd.audio import load_audio
    from sklasd.datasets import load_dcase2016_task2

    events, noise_dir = DATA / "dcase2016-task2-events", DATA / "mimii-valve-noise"
    if not events.is_dir() or not noise_dir.is_dir():
        raise SystemExit(f"shared data missing: {events} or {noise_dir}")
    bunch = load_dcase2016_task2(events)
    audio = [load_audio(p, sr=16000)[0] for p in bunch.filenames]
    noise = np.concatenate([load_audio(p, sr=16000)[0]
                            for p in sorted(noise_dir.rglob("*.wav"))])
    return audio, noise, bunch.target


def _features(audio, noise):
    """Paper features of the clean clips and of every noisy condition."""
    from sklearn.pipeline import make_pipeline

    from sklasd.classifiers.mask import KIM2020_FEATURES
    from sklasd.datasets import mix_at_snr
    from sklasd.features import LogMelTransformer, SpectrogramScaler

    front = make_pipeline(
        LogMelTransformer(**{**KIM2020_FEATURES, "duration": SETTINGS["duration"]}),
        SpectrogramScaler(per="minmax"))
    feats = {"clean": front.fit_transform(audio)}
    for snr in SNRS:
        mixed = [mix_at_snr(a, noise, snr, random_state=i) for i, a in enumerate(audio)]
        feats[f"{snr} dB"] = front.transform(mixed)
    return feats


def _models(seed):
    from sklasd.classifiers.mask import CNNFCClassifier, MaskEnhancer

    s = SETTINGS
    common = dict(lr=s["lr"], batch_size=s["batch_size"], random_state=seed)
    clf = CNNFCClassifier(max_epochs=s["clf_epochs"], **common)
    enhancers = {mode: MaskEnhancer(
        clf, mode=mode, generator_channels=s["generator_channels"],
        mask_channels=s["mask_channels"], max_epochs=s["epochs"], **common)
        for mode in MODES}
    return clf, enhancers


def _run_fold(fold, train, test, feats, y):
    clf, enhancers = _models(SETTINGS["seed"] + fold)
    models = {"CNN-FC": clf, **{m.upper(): e for m, e in enhancers.items()}}
    rows = []
    for name, model in models.items():
        t0 = time.perf_counter()
        model.fit(feats["clean"][train], y[train])  # enhancers reuse the fitted clf
        seconds = time.perf_counter() - t0
        acc = {c: float(np.mean(model.predict(F[test]) == y[test]))
               for c, F in feats.items()}
        rows.append(dict(model=name, fold=fold, seconds=seconds, **acc))
        print(f"  fold {fold} {name:<7} {seconds:6.0f} s  clean {acc['clean']:.3f}",
              flush=True)
    return rows, enhancers


def _table(rows):
    conds = ["clean"] + [f"{s} dB" for s in SNRS]
    head = f"{'method':<8}" + "".join(f"{c:>14}" for c in conds) + f"{'fit s':>8}"
    print(head)
    print("-" * len(head))
    for name in dict.fromkeys(r["model"] for r in rows):
        rs = [r for r in rows if r["model"] == name]
        acc = {c: 100 * np.array([r[c] for r in rs]) for c in conds}
        print(f"{name:<8}" + "".join(f"{a.mean():>8.1f}±{a.std():4.1f}"
                                     for a in acc.values())
              + f"{np.mean([r['seconds'] for r in rs]):>8.0f}")


def _figure(enhancers, feats, clip, path):
    """The paper's Figure 3: clean, noisy and enhanced features of one clip."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklasd.plotting import plot_spectrogram

    noisy = feats[f"{SETTINGS['figure_snr']} dB"][clip]
    panels = {"(a) clean": feats["clean"][clip],
              f"(b) noisy ({SETTINGS['figure_snr']} dB valve noise)": noisy}
    for letter, mode in zip("cde", ("sfe", "dcl", "dsl")):
        panels[f"({letter}) {mode.upper()} enhanced"] = enhancers[mode].transform(
            noisy[None])[0]
    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.2 * len(panels)))
    for ax, (title, S) in zip(axes, panels.items()):
        plot_spectrogram(S, sr=16000, hop_length=256, ax=ax, title=title,
                         vmin=0, vmax=1)
        fig.axes[-1].yaxis.set_major_formatter("{x:.1f}")  # min-max units, not dB
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    print(f"figure: {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, default=SETTINGS["folds"])
    parser.add_argument("--epochs", type=int, default=SETTINGS["epochs"])
    parser.add_argument("--clf-epochs", type=int, default=SETTINGS["clf_epochs"])
    parser.add_argument("--figure", default=str(Path(__file__).with_suffix(".png")))
    args = parser.parse_args()
    SETTINGS.update(folds=args.folds, epochs=args.epochs, clf_epochs=args.clf_epochs)
    import torch
    from sklearn.model_selection import StratifiedKFold

    torch.set_num_threads(1)
    start = time.perf_counter()
    audio, noise, y = _load()
    feats = _features(audio, noise)
    print(f"settings: {SETTINGS}, features {feats['clean'].shape[1:]}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"{len(audio)} clips, {len(np.unique(y))} classes; "
          f"noise {len(noise) / 16000:.1f} s")
    cv = StratifiedKFold(SETTINGS["n_splits"], shuffle=True,
                         random_state=SETTINGS["seed"])
    rows = []
    for fold, (train, test) in enumerate(cv.split(np.zeros(len(y)), y)):
        if fold == SETTINGS["folds"]:
            break
        fold_rows, enhancers = _run_fold(fold, train, test, feats, y)
        rows += fold_rows
        if fold == 0:  # the longest test clip
            clip = test[np.argmax([len(audio[i]) for i in test])]
            _figure(enhancers, feats, clip, args.figure)
    body = enhancers["dsl"].net_.module_.body
    print(f"\nmask-stage parameters: " + ", ".join(
        f"{m.upper()} {e.n_enhancer_params_:,}" for m, e in enhancers.items())
        + f" (DSL applies its stage {len(body.order)}x)")
    print(f"\naccuracy % (mean ± std over {SETTINGS['folds']} test folds), "
          "clean (Table 1) and valve noise at SNR (Table 2):")
    _table(rows)
    print(f"\ntotal {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
