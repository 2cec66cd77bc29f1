"""DRAW on robot frames with and without attention: held-out loss at the same budget.

InvertedPendulum-v5, 5 000 random steps (seed 0), grey 32 x 32 frames divided by their
brightest pixel (the frame VAE's contrast stretch); 10 % of the episodes held out whole. Per
setting: held-out loss (Bernoulli reconstruction + KL, nats per frame), its split, and with
attention the mean write-window extent (``delta * write_n`` pixels) of each glimpse; with
several ``--seeds`` (model initialisation and minibatches; the frames stay seed 0's) one line
per seed and their mean. Reference
rows: the mean training frame's cross-entropy and the data's own entropy (the floor).

    MUJOCO_GL=egl python benchmarks/draw_attention.py [--steps 800 --warmup 0 --sigma-init]
        [--seeds 0 1 2]
        [--settings "attention=False" "attention=True" "attention=True, read_n=3, write_n=8"]
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from harness import Stopwatch, pin_threads
from torch import nn

from advex.envs.frames import FrameSpec, grey_unit
from advex.exploration.collect import collect
from advex.models.draw import DRAW, DRAWConfig
from advex.models.frame_model import episode_split

DEFAULT_SETTINGS = ("attention=False", "attention=True", "attention=True, read_n=3, write_n=8",
                    "attention=True, read_n=5, write_n=12", "attention=True, glimpses=16",
                    "attention=False, canvas_from_mean=False",
                    "attention=True, canvas_from_mean=False")


def bernoulli_entropy_rows(x: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-(x * np.log(p) + (1 - x) * np.log(1 - p)).sum((1, 2)).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--warmup", type=int, default=0, help="KL weight ramp 0 -> 1 (steps)")
    parser.add_argument("--sigma-init", action="store_true",
                        help="start each filter's width at half the initial stride")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="model and training seeds")
    parser.add_argument("--settings", nargs="+", default=list(DEFAULT_SETTINGS),
                        help="DRAWConfig keyword lists")
    args = parser.parse_args()
    pin_threads()
    buffer = collect("InvertedPendulum-v5", n_steps=5000, seed=0, progress=False,
                     frames=FrameSpec(32))
    frames = buffer.frames()[0]
    images = grey_unit(frames, pixel_max=int(frames.max()))
    train, test = episode_split(buffer.episode_id, 0.1)
    held = images[test].astype(np.float64)
    print(f"mean training frame: {bernoulli_entropy_rows(held, images[train].mean(0)):.2f} "
          f"nats per frame; the held-out frames' own entropy: "
          f"{bernoulli_entropy_rows(held, held):.2f}")
    data = torch.as_tensor(images)
    for setting in args.settings:
        losses = [train_and_score(setting, seed, data, train, test, args) for seed in args.seeds]
        if len(losses) > 1:
            print(f"{setting}: mean held-out {np.mean(losses):.2f} over seeds {args.seeds} "
                  f"(per seed {' '.join(f'{x:.2f}' for x in losses)})", flush=True)


def train_and_score(setting: str, seed: int, data: torch.Tensor, train: np.ndarray,
                    test: np.ndarray, args: argparse.Namespace) -> float:
    """Train one DRAW for ``args.steps`` Adam steps; print and return its held-out loss."""
    config = DRAWConfig(height=32, width=32, train_steps=args.steps,
                        **eval(f"dict({setting})"))  # noqa: S307 - the user's own flags
    model = DRAW(config, seed=seed)
    train_images = data[train]
    model.start_canvas_from(train_images)  # what DRAW.fit does first
    if args.sigma_init and config.attention:
        with torch.no_grad():
            for layer, n in ((model.read_attention, config.read_n),
                             (model.write_attention, config.write_n)):
                layer.bias[2] = 2 * math.log((max(config.height, config.width) - 1)
                                             / (n - 1) / 2)
    clock = Stopwatch()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    for step in range(args.steps):
        x = train_images[torch.randint(len(train), (config.batch_size,), generator=gen)]
        _, recon, kl = model.loss(x, gen)
        weight = min(1.0, (step + 1) / args.warmup) if args.warmup else 1.0
        opt.zero_grad()
        (recon + weight * kl).backward()
        nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        opt.step()
    with torch.no_grad():
        out = model(data[test], torch.Generator().manual_seed(0))
    loss = float((out.reconstruction + out.kl).mean())
    extent = " ".join(f"{float((w.delta * config.write_n).mean()):.0f}"
                      for w in out.windows if w is not None)
    print(f"{setting} (seed {seed}): {clock.seconds:.0f} s, held-out {loss:.2f} "
          f"(reconstruction {float(out.reconstruction.mean()):.2f}, KL "
          f"{float(out.kl.mean()):.2f})"
          + (f"; write extent px per glimpse {extent}" if extent else ""), flush=True)
    return loss


if __name__ == "__main__":
    main()
