"""Frames and frame models: rendering speed, VAE training speed and held-out quality.

Per task: frames rendered per second during collection (EGL, ``--size``), the frame VAE's
training images per second, its held-out ELBO and reconstruction MSE next to the mean-frame
baseline, and the latent dynamics' 1- and 5-step frame-prediction MSE on the coverage set's
replayed rollouts next to the constant (``z' = z``) and copy-the-frame baselines.

    MUJOCO_GL=egl python benchmarks/generative.py [--tasks InvertedPendulum-v5,...]
        [--steps 5000 --size 64 --vae-steps 3000 --beta 1.0]
"""

from __future__ import annotations

import argparse

from harness import Stopwatch, pin_threads

from advex.analysis.coverage_frames import frame_model_errors
from advex.engine.coverage import CoverageConfig, load_or_build_coverage
from advex.envs.frames import FrameSpec
from advex.exploration.collect import collect
from advex.models.frame_model import train_frame_model
from advex.models.frame_vae import FrameVAEConfig
from advex.models.latent_dynamics import LatentDynamicsConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="InvertedPendulum-v5,advex/ArenaRobot-v0")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--latent", type=int, default=16)
    parser.add_argument("--vae-steps", type=int, default=3000)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--decoder", default="bernoulli")
    parser.add_argument("--coverage-starts", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    pin_threads(args.threads)
    for task in args.tasks.split(","):
        with Stopwatch() as clock:
            collect(task, n_steps=args.steps, seed=0, progress=False)
        plain = clock.seconds
        with Stopwatch() as clock:
            buffer = collect(task, n_steps=args.steps, seed=0, progress=False,
                             frames=FrameSpec(args.size))
        rendered = clock.seconds
        vae = FrameVAEConfig.for_frames(buffer.frame_shape, latent_dim=args.latent,
                                        steps=args.vae_steps, beta=args.beta,
                                        decoder=args.decoder)
        with Stopwatch() as clock:
            model, figures = train_frame_model(buffer, vae, LatentDynamicsConfig(),
                                               progress=False)
        trained = clock.seconds
        print(f"\n{task}: {args.steps} steps, {args.size}x{args.size} grey frames")
        print(f"  frames per second while collecting: {args.steps / (rendered - plain):.1f} "
              f"(collection {plain:.1f} s without frames, {rendered:.1f} s with)")
        print(f"  VAE + dynamics training: {trained:.1f} s "
              f"({args.vae_steps * vae.batch_size / trained:.0f} images/s, upper bound)")
        for name, value in figures.items():
            print(f"  {name:<20} {value:.6g}")
        coverage = load_or_build_coverage(task, 0, CoverageConfig(), progress=False)
        print("  frame-prediction MSE on coverage rollouts: steps, starts, model, z'=z, copy")
        for row in frame_model_errors(model, coverage, args.coverage_starts):
            print(f"    {row['horizon']} {row['starts']} {row['model']:.6f} "
                  f"{row['constant']:.6f} {row['copy']:.6f}")


if __name__ == "__main__":
    main()
