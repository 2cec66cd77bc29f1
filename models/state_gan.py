"""A GAN over a buffer's states: a sampler of where the robot goes, scored against held-out
states next to a Gaussian and the training states themselves.

:class:`~advex.models.gan.GAN` is the tutorial's 1-D GAN grown to vectors: standardised
states, normal noise of the state's dimension, 64-64 tanh networks, no manifold alignment
(sorting only orders points on a line). What it is for: proposing plausible states (start
states, coverage) without a density.

Score (:func:`state_sample_scores`): per state dimension, the Kolmogorov-Smirnov distance
between model samples and held-out states (``scipy.stats.ks_2samp``), reported as the mean
and the max over dimensions. Two reference rows read it. One is a multivariate Gaussian with
the training states' mean and covariance, the model a GAN must beat to have learned more
than two moments. The other is the training states themselves, the floor that sampling
noise and the train/held-out shift leave.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.stats import ks_2samp

from .frame_model import episode_split
from .gan import GAN, GANConfig


def state_gan_config(obs_dim: int, steps: int) -> GANConfig:
    """The vector setup of :class:`GANConfig` for ``obs_dim``-dimensional states."""
    return GANConfig(data_dim=obs_dim, noise_dim=obs_dim, generator_hidden=(64, 64),
                     discriminator_hidden=(64, 64), aligned_noise=False, normalize=True,
                     batch_size=256, steps=steps)


def state_sample_scores(samples: np.ndarray, held_out: np.ndarray) -> dict[str, float]:
    """``ks_mean``/``ks_max``: per-dimension KS distance of ``samples`` (``S x O``) to
    ``held_out`` (``H x O``), averaged and maximised over the ``O`` dimensions."""
    ks = [ks_2samp(samples[:, d], held_out[:, d]).statistic for d in range(held_out.shape[1])]
    return {"ks_mean": float(np.mean(ks)), "ks_max": float(np.max(ks))}


def train_state_gan(
    buffer: Any, steps: int = 2000, *, held_out: float = 0.1, seed: int = 0,
    progress: bool = True, max_scored: int = 5000,
) -> tuple[GAN, dict[str, float]]:
    """Train a GAN on the states (``obs``) of ``buffer``'s training episodes; return it and
    its held-out figures (``gan_``, ``gaussian_`` and ``train_`` prefixes on
    :func:`state_sample_scores`), each from ``min(max_scored, held-out rows)`` samples."""
    obs = buffer.batch().obs.astype(np.float64)
    train, test = episode_split(buffer.episode_id, held_out)
    if len(train) < 2:
        raise ValueError(f"a state GAN needs at least 2 training rows, the buffer has "
                         f"{len(train)}")
    gan = GAN(state_gan_config(obs.shape[1], steps), seed=seed)
    gan.fit(torch.as_tensor(obs[train], dtype=torch.float32), seed=seed, progress=progress)
    figures: dict[str, float] = {}
    if len(test):
        held = obs[test][:max_scored]
        n = len(held)
        rng = np.random.default_rng(seed)
        mean, cov = obs[train].mean(0), np.atleast_2d(np.cov(obs[train], rowvar=False))
        rows = {
            "gan": gan.sample(n, seed=seed).double().numpy(),
            "gaussian": rng.multivariate_normal(mean, cov, size=n, method="eigh"),
            "train": obs[train][rng.choice(len(train), size=n, replace=len(train) < n)],
        }
        for name, samples in rows.items():
            figures.update({f"{name}_{k}": v
                            for k, v in state_sample_scores(samples, held).items()})
    return gan, figures
