"""The 1-D GAN tutorial target N(-1, 1): how well each noise / pre-training setting covers it.

Per setting and fit seed: sample quantiles at 0.1 %, 1 %, 10 %, 50 %, 90 %, 99 %, 99.9 %
against the target's, the Kolmogorov-Smirnov distance to 200 000 target draws
(``scipy.stats.ks_2samp``), the sample range and the fit's seconds.

    python benchmarks/gan_tails.py [--seeds 0,1,2] [--pretrain 500]
"""

from __future__ import annotations

import argparse

import numpy as np
from harness import Stopwatch, int_list, pin_threads
from scipy.stats import ks_2samp

from advex.models.gan import GAN, GANConfig
from advex.models.generative_data import normal_samples

LEVELS = (0.001, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int_list, default="0,1,2")
    parser.add_argument("--pretrain", type=int, default=500, help="D pre-training steps tried")
    parser.add_argument("--samples", type=int, default=50_000)
    args = parser.parse_args()
    pin_threads()
    target = np.random.default_rng(9).normal(-1.0, 1.0, 200_000)
    print("quantile levels", LEVELS)
    print(f"{'target':<34}", np.round(np.quantile(target, LEVELS), 2))
    settings = {
        "uniform noise (tutorial)": GANConfig(noise="uniform"),
        f"uniform noise, D pre-trained {args.pretrain}": GANConfig(
            noise="uniform", pretrain_d_steps=args.pretrain),
        "normal noise (default)": GANConfig(),
        f"normal noise, D pre-trained {args.pretrain}": GANConfig(pretrain_d_steps=args.pretrain),
    }
    data = normal_samples(10_000, -1.0, 1.0, seed=1)
    for name, config in settings.items():
        for seed in args.seeds:
            gan = GAN(config, seed=seed)
            with Stopwatch() as clock:
                gan.fit(data, seed=seed, progress=False)
            seconds = clock.seconds
            samples = gan.sample(args.samples, seed=3).numpy()[:, 0]
            ks = ks_2samp(samples, target).statistic
            print(f"{name + f' seed {seed}':<34}", np.round(np.quantile(samples, LEVELS), 2),
                  f"KS {ks:.3f} range [{samples.min():.2f}, {samples.max():.2f}] {seconds:.1f} s",
                  flush=True)


if __name__ == "__main__":
    main()
