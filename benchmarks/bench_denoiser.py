"""SI-SDR improvement of ComplexUNetDenoiser on held-out mixtures of real sounds.

Clean sounds: the DCASE 2016 Task 2 isolated events (resampled to 16 kHz), split per
class into training and held-out clips (seeded). Background: the MIMII valve
background-noise segments; machines id_00 and id_02 for training, id_04 and id_06
held out. The denoiser trains on mixtures built on the fly (``fit(clean,
background=...)``); the held-out clean clips are then mixed with held-out background
at 0, 5 and 10 dB and the script prints the mean SI-SDR of the mixtures (identity:
no denoising) and of the denoised clips, and the improvement, for the selected
(last) strength and, at 0 dB, for every strength. With ``--ae`` it also prints the
AUC of the DCASE 2020 baseline AE on the slider clips of dcase2020-task2-lite with
and without the denoiser in front (trained per the paper's recipe: clean events
mixed with normal recordings of the other machine types).

Usage: python benchmarks/bench_denoiser.py [--epochs 50] [--paper] [--quick] [--ae | --ae-only]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from sklasd.audio import load_many
from sklasd.datasets import load_folder, mix_at_snr
from sklasd.denoising import PAPER_CHANNELS, ComplexUNetDenoiser, si_sdr

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
SR = 16000


def load_clean():
    root = SHARED / "dcase2016-task2-events"
    import pandas as pd

    frame = pd.read_csv(root / "manifest.csv")
    clips, _ = load_many([root / p for p in frame["path"]], sr=SR)
    train, test = train_test_split(np.arange(len(clips)), test_size=0.2,
                                   stratify=frame["label"], random_state=0)
    return [clips[i] for i in train], [clips[i] for i in test]


def load_background():
    import pandas as pd

    root = SHARED / "mimii-valve-noise"
    frame = pd.read_csv(root / "manifest.csv")
    clips, _ = load_many([root / p for p in frame["path"]], sr=SR)
    held = frame["machine_id"].isin(["id_04", "id_06"]).to_numpy()
    return ([c for c, h in zip(clips, held) if not h],
            [c for c, h in zip(clips, held) if h])


def held_out_mixtures(clean, background, snr, seed):
    rng = np.random.default_rng(seed)
    return [mix_at_snr(c, background[rng.integers(len(background))], snr,
                       random_state=int(rng.integers(2**31))) for c in clean]


def si_sdr_table(denoiser, clean, background):
    print(f"\n{'input SNR':>9} | {'identity SI-SDR':>15} | {'denoised SI-SDR':>15} | "
          f"{'improvement':>11}   (dB, mean over {len(clean)} held-out clips)")
    for snr in (0, 5, 10):
        mixed = held_out_mixtures(clean, background, snr, seed=snr)
        ident = np.mean([si_sdr(m, c) for m, c in zip(mixed, clean)])
        den = np.mean([si_sdr(d, c) for d, c in zip(denoiser.transform(mixed), clean)])
        print(f"{snr:>9} | {ident:>15.2f} | {den:>15.2f} | {den - ident:>11.2f}")
    mixed = held_out_mixtures(clean, background, 0, seed=0)
    ident = np.mean([si_sdr(m, c) for m, c in zip(mixed, clean)])
    gains = []
    for k in range(1, denoiser.n_strengths + 1):
        out = denoiser.set_params(strength=k).transform(mixed)
        gains.append(np.mean([si_sdr(d, c) for d, c in zip(out, clean)]) - ident)
    denoiser.set_params(strength=None)
    print("SI-SDR improvement at 0 dB by strength (training SNR floor, dB): " + ", ".join(
        f"{k + 1} ({s:+.1f}): {g:.2f}"
        for k, (s, g) in enumerate(zip(denoiser.snr_schedule_, gains))))


def ae_auc(args, clean_events):
    """AUC of the baseline AE on slider with and without the denoiser in front."""
    from sklearn.metrics import roc_auc_score

    from sklasd.models import make_model

    bunch = load_folder(SHARED / "dcase2020-task2-lite")
    frame = bunch.frame
    audio, _ = load_many(bunch.data, sr=SR)
    slider = (frame["machine_type"] == "slider").to_numpy()
    train = np.flatnonzero(slider & (frame["split"] == "train").to_numpy())
    test = np.flatnonzero(slider & (frame["split"] == "test").to_numpy())
    others = np.flatnonzero(~slider & (frame["target"] == 0).to_numpy())
    start = time.perf_counter()
    denoiser = make_denoiser(args).fit(clean_events, background=[audio[i] for i in others])
    print(f"slider denoiser: {len(clean_events)} clean events x {len(others)} normal clips "
          f"of the other machine types, {args.epochs} epochs in "
          f"{time.perf_counter() - start:.0f} s")
    X_train = np.stack([audio[i] for i in train])
    X_test = np.stack([audio[i] for i in test])
    y_test = frame["target"].to_numpy()[test]
    for name, (tr, te) in {"without denoiser": (X_train, X_test),
                           "with denoiser": (denoiser.transform(X_train),
                                             denoiser.transform(X_test))}.items():
        ae = make_model("ae", max_epochs=args.ae_epochs, random_state=0).fit(tr)
        print(f"slider AE AUC {name}: {roc_auc_score(y_test, ae.anomaly_score(te)):.3f} "
              f"({len(train)} training clips, test {int((y_test == 0).sum())} normal / "
              f"{int(y_test.sum())} anomalous)")


def make_denoiser(args):
    kw = dict(channels=PAPER_CHANNELS, n_fft=1024, hop_length=256) if args.paper else {}
    return ComplexUNetDenoiser(max_epochs=args.epochs, random_state=0,
                               verbose=args.verbose, **kw)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--paper", action="store_true", help="the 2.6 M-parameter size")
    parser.add_argument("--quick", action="store_true", help="2 epochs: a smoke run")
    parser.add_argument("--ae", action="store_true", help="also the slider AE AUC")
    parser.add_argument("--ae-only", action="store_true", help="only the slider AE AUC")
    parser.add_argument("--ae-epochs", type=int, default=100)
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.ae_epochs = 2, 2
    torch.set_num_threads(1)
    clean_train, clean_test = load_clean()
    if args.ae_only:
        return ae_auc(args, clean_train + clean_test)
    bg_train, bg_test = load_background()
    denoiser = make_denoiser(args)
    start = time.perf_counter()
    denoiser.fit(clean_train, background=bg_train)
    seconds = time.perf_counter() - start
    print(f"ComplexUNetDenoiser channels={denoiser.channels} n_fft={denoiser.n_fft}: "
          f"{denoiser.n_params_} parameters; trained on {len(clean_train)} clean clips x "
          f"{len(bg_train)} background clips, {args.epochs} epochs in {seconds:.0f} s "
          f"({seconds / max(args.epochs, 1):.1f} s per epoch, 1 torch thread); "
          f"final training loss {denoiser.net_.history[-1, 'train_loss']:.3f}")
    si_sdr_table(denoiser, clean_test, bg_test)
    if args.ae:
        ae_auc(args, clean_train + clean_test)


if __name__ == "__main__":
    main()
