"""F evaluation fits as one stacked kernel vs F separate fits: rows/s ratio in one run.

Both sides train the same F ensembles (same initial weights, seeds and data) for a fixed number
of epochs (no early stopping, so the work is equal); the stacked side is what
``engine/evaluation.py`` runs.

    python benchmarks/stacked.py --fits 3 --rows 3000 --epochs 20 --threads 1 [--device cuda]
"""

from __future__ import annotations

import argparse

from harness import Stopwatch, pin_threads

from advex.device import resolve_device
from advex.exploration.collect import collect
from advex.models import EnsembleConfig, TrainConfig, make_model
from advex.models.stacked import StackedEnsemble


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="InvertedPendulum-v5")
    parser.add_argument("--fits", type=int, default=3)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    args = parser.parse_args()
    pin_threads(args.threads)
    device = resolve_device(args.device)

    buffer = collect(args.task, n_steps=args.rows, seed=0, progress=False)
    obs_dim, act_dim = buffer.obs_dim, buffer.act_dim
    configs = [
        EnsembleConfig(num_members=5, num_elites=3, hidden_sizes=(128, 128, 128), seed=s)
        for s in range(args.fits)
    ]
    train = TrainConfig(max_epochs=args.epochs, patience=args.epochs + 1, device=device)
    seeds = list(range(100, 100 + args.fits))
    make_model("ensemble", obs_dim, act_dim, configs[0]).fit(buffer, train, progress=False)

    def separate() -> None:
        for config, seed in zip(configs, seeds, strict=True):
            make_model("ensemble", obs_dim, act_dim, config).fit(
                buffer, train, seed=seed, progress=False
            )

    def stacked() -> None:
        StackedEnsemble(obs_dim, act_dim, configs).fit(buffer, train, seed=seeds, progress=False)

    best = {}
    for name, fn in (("separate", separate), ("stacked", stacked)):
        times = []
        for _ in range(args.repeats):
            with Stopwatch() as clock:
                fn()
            times.append(clock.seconds)
        best[name] = min(times)
    rows = args.fits * 0.9 * args.rows * args.epochs  # training rows seen, all fits
    print(f"{args.fits} fits x 5 members (3 x 128), {args.rows} rows, {args.epochs} epochs, "
          f"{args.threads} thread(s), {device}, best of {args.repeats}:")
    for name, seconds in best.items():
        print(f"  {name:<8} {seconds:6.2f} s  {rows / seconds:8.0f} rows/s")
    print(f"  stacked / separate speed: {best['separate'] / best['stacked']:.2f}x")


if __name__ == "__main__":
    main()
