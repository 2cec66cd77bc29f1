"""Latent dynamics on frames: ``z' = z + g(z, a)`` in a :class:`FrameVAE`'s latent space.

The partially observed robot's model: the VAE turns a frame into a state ``z`` (its encoder
mean), an MLP ``g`` predicts the change of ``z`` under action ``a`` (delta prediction, as the
state-space models do), and the VAE's decoder turns the predicted ``z'`` back into a frame.
One frame shows where the pole is but not how fast it moves, so by default ``g`` also reads
the latent's last change ``z - z_prev`` (two frames, as frame stacking gives a DQN its
velocities): ``z' = z + g(z, z - z_prev, a)``. At an episode's first frame ``z_prev = z``.
On InvertedPendulum-v5 that input cut the latent training loss 3.6x and turned the 5-step
prediction from worse than ``z' = z`` into better (docs/benchmarks.md).
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
    velocity: bool = True  # g also reads z - z_prev (module docstring)
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
    """``z' = z + g([z, z - z_prev, a])`` (``velocity``) or ``z + g([z, a])``; ``z``,
    ``z_prev`` ``B x L``, ``a`` ``B x A`` -> ``B x L``."""

    def __init__(self, latent_dim: int, act_dim: int,
                 config: LatentDynamicsConfig | None = None, *, seed: int = 0) -> None:
        super().__init__()
        self.config = config or LatentDynamicsConfig()
        self.latent_dim, self.act_dim = int(latent_dim), int(act_dim)
        with isolated_global_rngs():
            inputs = latent_dim * (2 if self.config.velocity else 1) + act_dim
            self.net = build_mlp([inputs, *self.config.hidden_sizes, latent_dim], "silu")
        seeded_init_(self, seed)

    def forward(self, z: torch.Tensor, act: torch.Tensor, z_prev: torch.Tensor) -> torch.Tensor:
        parts = [z, z - z_prev, act] if self.config.velocity else [z, act]
        return z + self.net(torch.cat(parts, dim=-1))

    def fit(self, z: torch.Tensor, act: torch.Tensor, z_next: torch.Tensor,
            z_prev: torch.Tensor, *, seed: int = 0,
            progress: bool = True) -> LatentDynamicsHistory:
        """Least squares on ``z_next`` (encoded transitions), from the current weights."""
        cfg = self.config
        gen = torch.Generator().manual_seed(seed)
        opt = torch.optim.Adam(self.parameters(), lr=cfg.lr)
        history = LatentDynamicsHistory()
        batch = min(cfg.batch_size, len(z))
        for step in tqdm(range(cfg.steps), desc="latent dynamics", disable=not progress):
            rows = torch.randint(len(z), (batch,), generator=gen)
            loss = (self(z[rows], act[rows], z_prev[rows]) - z_next[rows]).square().mean()
            check_finite(loss, model="LatentDynamics", step=step)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.loss.append(loss.item())
        return history


def previous_rows(episode_id: np.ndarray) -> np.ndarray:
    """Each row's previous row in its own episode (``N`` indices), the row itself at an
    episode's first step. Rows of one episode are in time order, possibly interleaved with
    other episodes' rows (vectorised collection)."""
    previous = np.arange(len(episode_id))
    pairs = episode_windows(episode_id, 2)  # (previous row, row) inside one episode
    previous[pairs[:, 1]] = pairs[:, 0]
    return previous


@torch.no_grad()
def encode_frames(vae: FrameVAE, frames: Any, batch_size: int = 512) -> torch.Tensor:
    """Encoder means of ``frames`` (``N x H x W x C``) in bounded memory: ``N x L``."""
    return torch.cat([vae.encode(frames[i:i + batch_size])[0]
                      for i in range(0, len(frames), batch_size)])


@torch.no_grad()
def encode_transitions(
    vae: FrameVAE, frame: Any, act: Any, next_frame: Any, episode_id: Any
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(z, a, z', z_prev)``: encoder means of ``frame``, ``next_frame`` and of each row's
    previous frame in its episode (:func:`previous_rows`), and the actions as float32
    tensors, each ``N x ...``."""
    z = encode_frames(vae, frame)
    z_prev = z[torch.as_tensor(previous_rows(np.asarray(episode_id)))]
    a = torch.as_tensor(np.asarray(act), dtype=torch.float32)
    return z, a, encode_frames(vae, next_frame), z_prev


def fit_latent_dynamics(
    vae: FrameVAE, frame: Any, act: Any, next_frame: Any, episode_id: Any,
    config: LatentDynamicsConfig | None = None, *, seed: int = 0, progress: bool = True,
) -> LatentDynamics:
    """Encode the transitions with ``vae`` (held fixed) and fit :class:`LatentDynamics`."""
    z, a, z_next, z_prev = encode_transitions(vae, frame, act, next_frame, episode_id)
    model = LatentDynamics(vae.config.latent_dim, a.shape[1], config, seed=seed)
    model.fit(z, a, z_next, z_prev, seed=seed, progress=progress)
    return model


@torch.no_grad()
def frame_errors(
    vae: FrameVAE, dynamics: LatentDynamics, frames: np.ndarray, actions: np.ndarray,
    horizon: int = 1,
) -> dict[str, float]:
    """Pixel MSE (frames as ``frame / 255``) of ``horizon``-step predictions along sequences.

    ``frames`` ``S x (K+1) x H x W x C`` uint8 (true frames of ``S`` sequences), ``actions``
    ``S x K x A`` (``actions[:, t]`` leads from frame ``t`` to ``t + 1``); ``K > horizon``.
    Frame 0 is context only (the frame before the start, whose latent gives the model its
    velocity); every prediction starts at frame 1. From there the latent is rolled
    ``horizon`` steps through ``dynamics`` under the recorded actions, decoded, and compared
    with frame ``1 + horizon``. Returns ``model``, ``constant`` (``z' = z``: frame 1's
    reconstruction) and ``copy`` (frame 1 itself).
    """
    if frames.shape[1] <= horizon + 1 or actions.shape[1] < horizon + 1:
        raise ValueError(f"frame_errors: sequences of {frames.shape[1] - 1} steps are shorter "
                         f"than the context step plus the horizon {horizon}")
    z_prev, _ = vae.encode(frames[:, 0])
    z, _ = vae.encode(frames[:, 1])
    constant = vae.decode(z)
    for t in range(1, horizon + 1):
        z, z_prev = dynamics(z, torch.as_tensor(actions[:, t], dtype=torch.float32), z_prev), z
    predicted = vae.decode(z)
    target = torch.as_tensor(frames[:, 1 + horizon], dtype=torch.float32) / 255.0
    start = torch.as_tensor(frames[:, 1], dtype=torch.float32) / 255.0
    return {
        "model": float((predicted - target).square().mean()),
        "constant": float((constant - target).square().mean()),
        "copy": float((start - target).square().mean()),
    }


@torch.no_grad()
def transition_frame_errors(
    vae: FrameVAE, dynamics: LatentDynamics, frame: np.ndarray, act: np.ndarray,
    next_frame: np.ndarray, prev_frame: np.ndarray, batch_size: int = 512,
) -> np.ndarray:
    """Per transition (``N``, float64): the pixel MSE (as ``frame / 255``) of the decoded
    one-step prediction from ``frame`` (with ``prev_frame`` as context) under ``act``
    against ``next_frame``; the frame adversary's reward."""
    errors = []
    for i in range(0, len(frame), batch_size):
        part = slice(i, i + batch_size)
        z, z_prev = encode_frames(vae, frame[part]), encode_frames(vae, prev_frame[part])
        predicted = vae.decode(dynamics(z, torch.as_tensor(act[part], dtype=torch.float32),
                                        z_prev))
        target = torch.as_tensor(next_frame[part], dtype=torch.float32) / 255.0
        errors.append((predicted - target).square().flatten(1).mean(1).double().numpy())
    return np.concatenate(errors) if errors else np.zeros(0)


def episode_windows(episode_id: np.ndarray, length: int) -> np.ndarray:
    """Every run of ``length`` consecutive steps inside one episode: ``W x length`` row
    indices (rows of an episode in time order, as :func:`previous_rows` assumes)."""
    episode_id = np.asarray(episode_id)
    order = np.argsort(episode_id, kind="stable")
    if len(order) < length:
        return np.zeros((0, length), dtype=np.int64)
    runs = np.lib.stride_tricks.sliding_window_view(order, length)
    same = (episode_id[runs] == episode_id[runs[:, :1]]).all(axis=1)
    return runs[same].astype(np.int64)
