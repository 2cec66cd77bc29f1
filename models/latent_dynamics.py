"""Latent dynamics on frames: ``z' = z + g(z, a)`` in a :class:`FrameVAE`'s latent space.

The partially observed robot's model: the VAE turns a frame into a state ``z`` (its encoder
mean), an MLP ``g`` predicts the change of ``z`` under action ``a`` (delta prediction, as the
state-space models do), and the VAE's decoder turns the predicted ``z'`` back into a frame.
It is scored where it matters, in pixels: the decoded prediction against the true next frame,
next to the constant model ``z' = z`` (decode the current frame's latent: "nothing moves"),
so a number reads as "how much better than standing still".

Shapes: ``N`` transitions, ``L`` latent dim, ``A`` action dim, frames ``N x H x W x C``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from advex.seeding import isolated_global_rngs

from .frame_vae import FrameVAE
from .generative_data import check_finite, seeded_init_
from .mlp_builder import build_mlp


@dataclass
class LatentDynamicsConfig:
    """The MLP ``g`` and its training (Adam on minibatches of encoded transitions)."""

    hidden_sizes: tuple[int, ...] = (128, 128)
    lr: float = 1e-3
    batch_size: int = 256
    steps: int = 3000

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if any(h < 1 for h in self.hidden_sizes) or self.batch_size < 1 or self.steps < 0:
            raise ValueError(f"LatentDynamicsConfig: sizes must be >= 1, steps >= 0: {self}")
        if not self.lr > 0:
            raise ValueError(f"LatentDynamicsConfig: lr must be > 0, got {self.lr}")


@dataclass
class LatentDynamicsHistory:
    loss: list[float] = field(default_factory=list)  # latent MSE per step


class LatentDynamics(nn.Module):
    """``z' = z + g([z, a])`` (``B x L``, ``B x A`` -> ``B x L``)."""

    def __init__(self, latent_dim: int, act_dim: int,
                 config: LatentDynamicsConfig | None = None, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config or LatentDynamicsConfig()
        self.latent_dim, self.act_dim = int(latent_dim), int(act_dim)
        with isolated_global_rngs():
            self.net = build_mlp(
                [latent_dim + act_dim, *self.config.hidden_sizes, latent_dim], "silu"
            )
        seeded_init_(self, seed)

    def forward(self, z: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        return z + self.net(torch.cat([z, act], dim=-1))

    def fit(self, z: torch.Tensor, act: torch.Tensor, z_next: torch.Tensor, *, seed: int = 0,
            progress: bool = True) -> LatentDynamicsHistory:
        """Least squares on ``z_next`` (encoded transitions), from the current weights."""
        cfg = self.config
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.parameters(), lr=cfg.lr)
        history = LatentDynamicsHistory()
        batch = min(cfg.batch_size, len(z))
        for step in tqdm(range(cfg.steps), desc="latent dynamics", disable=not progress):
            rows = torch.randint(len(z), (batch,), generator=gen)
            loss = (self(z[rows], act[rows]) - z_next[rows]).square().mean()
            check_finite(loss, model="LatentDynamics", step=step)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.loss.append(loss.item())
        return history


@torch.no_grad()
def encode_transitions(
    vae: FrameVAE, frame: Any, act: Any, next_frame: Any, batch_size: int = 512
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(z, a, z')``: encoder means of ``frame`` and ``next_frame`` and the actions as
    float32 tensors, each ``N x ...``."""
    def means(frames: Any) -> torch.Tensor:
        return torch.cat([vae.encode(frames[i:i + batch_size])[0]
                          for i in range(0, len(frames), batch_size)])

    return means(frame), torch.as_tensor(np.asarray(act), dtype=torch.float32), means(next_frame)


def fit_latent_dynamics(
    vae: FrameVAE, frame: Any, act: Any, next_frame: Any,
    config: LatentDynamicsConfig | None = None, *, seed: int = 0, progress: bool = True,
) -> LatentDynamics:
    """Encode the transitions with ``vae`` (held fixed) and fit :class:`LatentDynamics`."""
    z, a, z_next = encode_transitions(vae, frame, act, next_frame)
    model = LatentDynamics(vae.config.latent_dim, a.shape[1], config, seed=seed)
    model.fit(z, a, z_next, seed=seed, progress=progress)
    return model


@torch.no_grad()
def frame_errors(
    vae: FrameVAE, dynamics: LatentDynamics, frames: np.ndarray, actions: np.ndarray,
    horizon: int = 1,
) -> dict[str, float]:
    """Pixel MSE (frames in ``[0, 1]``) of ``horizon``-step predictions along sequences.

    ``frames`` ``S x (K+1) x H x W x C`` uint8 (true frames of ``S`` sequences), ``actions``
    ``S x K x A``; ``K >= horizon``. From each sequence's first frame, the latent is rolled
    ``horizon`` steps through ``dynamics`` under the recorded actions and decoded, and
    compared with the true frame ``horizon`` steps on. Returns ``model``, ``constant``
    (``z' = z``: the first frame's reconstruction) and ``copy`` (the first frame itself).
    """
    if frames.shape[1] <= horizon or actions.shape[1] < horizon:
        raise ValueError(f"frame_errors: sequences of {frames.shape[1] - 1} steps are shorter "
                         f"than the horizon {horizon}")
    z, _ = vae.encode(frames[:, 0])
    constant = vae.decode(z)
    for t in range(horizon):
        z = dynamics(z, torch.as_tensor(actions[:, t], dtype=torch.float32))
    predicted = vae.decode(z)
    target = torch.as_tensor(frames[:, horizon], dtype=torch.float32) / 255.0
    first = torch.as_tensor(frames[:, 0], dtype=torch.float32) / 255.0
    return {
        "model": float((predicted - target).square().mean()),
        "constant": float((constant - target).square().mean()),
        "copy": float((first - target).square().mean()),
    }
