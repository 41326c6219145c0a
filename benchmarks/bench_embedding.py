"""Training time of ``AuxiliaryClassifierDetector`` per epoch of 1,000 ten-second clips.

Fits the detector (default settings: 4 blocks of 128 channels, excerpts of 128
frames, 2 excerpts per clip per epoch, batch 32, 8 classes of 16 sub-clusters,
mixup) for ``--epochs`` epochs on ``--clips`` random log-mel clips of 10 s (128 mels x
313 frames, hop 512 at 16 kHz) and, in the same run, the same network, loss and
batches in a plain torch loop (the reference: skorch's overhead). Prints seconds per
epoch scaled to 1,000 clips, both figures and their ratio, and the extrapolated time
of the default 30 epochs (and of 100) on 1,000 clips. Medians of ``--repeats`` runs.

``--pipeline N`` also times what ``sklasd fit --model embedding`` does on ``N``
generated ten-second clips at 16 kHz written as WAV files (8 machine IDs): decoding,
the log-mel front end, training with the model's default epochs and the embeddings of
the training clips; printed with its time per 1,000 clips beside the 10-minute target.

Usage: python benchmarks/bench_embedding.py [--clips 100] [--epochs 2] [--repeats 3]
       [--pipeline 1000]
"""
import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from sklasd.detectors import AuxiliaryClassifierDetector
from sklasd.detectors.auxiliary import _AngularMarginLoss, _Embedder


def plain_torch(X, labels, n_classes, epochs, seed=0):
    """The same training in a plain loop: random excerpts, mixup, sub-cluster AdaCos."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net, loss = _Embedder(X.shape[1], (128, 128, 128, 128), 128), _AngularMarginLoss(
        n_classes, 16, 128, "adacos", None, 0.5)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(epochs):
        clips = rng.permutation(np.repeat(np.arange(len(X)), 2))
        for b in range(0, len(clips), 32):
            c = clips[b:b + 32]
            t0 = rng.integers(0, X.shape[2] - 128 + 1, len(c))
            x = torch.from_numpy(np.stack([X[i, :, t:t + 128] for i, t in zip(c, t0)]))
            y = torch.nn.functional.one_hot(torch.from_numpy(labels[c]), n_classes).float()
            lam, order = torch.rand(len(c)), torch.randperm(len(c))
            x = lam[:, None, None] * x + (1 - lam[:, None, None]) * x[order]
            y = lam[:, None] * y + (1 - lam[:, None]) * y[order]
            optimizer.zero_grad()
            loss(net(x), y).mean().backward()
            optimizer.step()


def whole_fit(n_clips):
    """Seconds of ``make_model("embedding").fit`` on ``n_clips`` ten-second WAV files."""
    import soundfile as sf

    from sklasd.datasets import make_machine_sounds
    from sklasd.models import MODEL_EPOCHS, make_model
    from sklasd.utils._routing import call_with_metadata

    ids = [f"id_{i:02d}" for i in range(8)]
    bunch = make_machine_sounds(n_normal=-(-n_clips // len(ids)), n_anomalous=1,
                                machine_ids=ids, duration=10.0, random_state=0)
    normal = np.flatnonzero(bunch.target == 0)[:n_clips]
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, wave in enumerate(bunch.data[normal]):
            paths.append(str(Path(folder) / f"{i:05d}.wav"))
            sf.write(paths[-1], wave, bunch.sr)
        model = make_model("embedding")
        start = time.perf_counter()
        call_with_metadata(model, "fit", np.asarray(paths), machine_id=bunch.machine_id[normal])
        seconds = time.perf_counter() - start
    print(f"sklasd fit --model embedding ({MODEL_EPOCHS['embedding']} epochs) on "
          f"{n_clips} ten-second WAV files: {seconds:.0f} s = "
          f"{seconds * 1000 / n_clips / 60:.1f} min per 1,000 clips (target: under 10)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--pipeline", type=int, default=0, metavar="N",
                        help="also time the whole fit on N ten-second WAV files")
    args = parser.parse_args()
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(args.clips, 128, 313)).astype(np.float32)
    ids = np.array([f"id_{i % 8:02d}" for i in range(args.clips)])
    labels = np.unique(ids, return_inverse=True)[1]
    sklasd_s, torch_s = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        AuxiliaryClassifierDetector(max_epochs=args.epochs, random_state=0).fit(
            X, machine_id=ids)
        sklasd_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain_torch(X, labels, 8, args.epochs)
        torch_s.append(time.perf_counter() - start)
    scale = 1000 / args.clips / args.epochs
    s, t = np.median(sklasd_s) * scale, np.median(torch_s) * scale
    print(f"{args.clips} clips x {args.epochs} epochs, 2 threads, medians of {args.repeats}")
    print(f"sklasd fit (skorch, includes the scoring of the training clips): "
          f"{s:.1f} s per epoch of 1,000 clips")
    print(f"plain torch loop (same network, loss, batches): {t:.1f} s per epoch")
    print(f"ratio sklasd / plain torch: {s / t:.2f}")
    print(f"extrapolated to 1,000 clips: 30 epochs (the default) {30 * s / 60:.1f} min; "
          f"100 epochs {100 * s / 60:.1f} min")
    if args.pipeline:
        whole_fit(args.pipeline)


if __name__ == "__main__":
    main()
