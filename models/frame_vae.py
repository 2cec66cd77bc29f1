"""A convolutional VAE over the robot's frames: its latent ``z`` is a learned state.

Frames (``N x H x W x C`` uint8, :mod:`advex.envs.frames`) are divided by one number, the
brightest pixel of the training frames (``pixel_max``, set by :meth:`FrameVAE.fit` and saved
with the weights), and nothing else. No per-pixel standardisation: on a rendered scene that
divides the constant background by a near-zero spread and makes one stray pixel cost the ELBO
billions of nats. The one scalar matters on dim scenes: InvertedPendulum's brightest pixel is
about 110 of 255, and stretching its pole to full contrast is what lets a Bernoulli decoder
gain more from drawing the pole than the KL of encoding it costs (without it the posterior
collapses to the mean frame; docs/benchmarks.md). Decoded frames are returned in the frames'
own units, ``[0, pixel_max / 255]``, so they compare with ``frame / 255`` directly.
Encoder: stride-2 convolutions down to ``4 x 4`` (so ``H = W`` must be ``4 * 2^k``), then
``q(z|x) = N(mu, diag sigma^2)``; decoder: the mirror image with transposed convolutions. The
decoder likelihood is an option:

* ``"bernoulli"`` (default): ``log p(x|z) = -BCE(logits(z), x)`` summed over pixels, the
  usual choice for intensities in ``[0, 1]``: an error on a thin, high-contrast object (the
  pole) costs as much as one anywhere else, so the model cannot call it noise;
* ``"gaussian"``: fixed per-pixel std ``decoder_std`` (a learned variance is what let the
  vector VAE explain the pole away as noise).

ELBO = ``E_q[log p(x|z)] - KL(q || N(0, I))``, trained through the reparameterisation
``z = mu + sigma * eps`` with a KL warm-up. Shapes: ``B`` batch, ``L`` latent dim.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from advex.envs.frames import FrameError
from advex.seeding import isolated_global_rngs

from .generative_data import CheckpointMixin, checkpoint_format, seeded_init_
from .vae import (
    VAEHistory,
    kl_to_standard_normal,
    maximise_elbo,
    monte_carlo_elbo,
    reparameterize,
)

#: Decoder likelihoods of a :class:`FrameVAE`.
FRAME_DECODERS: tuple[str, ...] = ("bernoulli", "gaussian")
_LOG_2PI = math.log(2.0 * math.pi)


@dataclass
class FrameVAEConfig:
    """Architecture and training of a :class:`FrameVAE` (``channels``: one stride-2
    convolution each; the frame side must be ``4 * 2^len(channels)``)."""

    frame_shape: tuple[int, int, int] = (64, 64, 1)
    latent_dim: int = 16
    channels: tuple[int, ...] = (32, 64, 64, 64)
    decoder: str = "bernoulli"
    decoder_std: float = 0.1  # pixels, for the "gaussian" decoder
    lr: float = 1e-3
    batch_size: int = 64
    steps: int = 2000
    beta: float = 1.0
    kl_warmup_steps: int = 500
    pixel_max: int | None = None  # None: the training frames' brightest pixel, set by fit

    def __post_init__(self) -> None:
        self.frame_shape = tuple(int(x) for x in self.frame_shape)  # type: ignore[assignment]
        self.channels = tuple(int(c) for c in self.channels)
        height, width, colors = self.frame_shape
        side = 4 * 2 ** len(self.channels)
        if height != width or height != side or colors not in (1, 3):
            raise FrameError(
                f"FrameVAE: frames of shape {self.frame_shape} do not fit {len(self.channels)} "
                f"stride-2 layers; need {side} x {side} x 1|3 (or change channels)"
            )
        if self.decoder not in FRAME_DECODERS:
            raise ValueError(
                f"unknown frame decoder {self.decoder!r}; valid: {', '.join(FRAME_DECODERS)}"
            )
        if self.latent_dim < 1 or any(c < 1 for c in self.channels) or self.batch_size < 1:
            raise ValueError(f"FrameVAEConfig: sizes must be >= 1, got {self}")
        if self.pixel_max is not None and not 1 <= int(self.pixel_max) <= 255:
            raise ValueError(f"FrameVAEConfig: pixel_max must be in [1, 255], got {self.pixel_max}")
        if min(self.lr, self.decoder_std) <= 0 or self.beta < 0 or self.steps < 0:
            raise ValueError(f"FrameVAEConfig: need lr, decoder_std > 0, beta, steps >= 0: {self}")

    @classmethod
    def for_frames(cls, frame_shape: tuple[int, ...], **settings: Any) -> FrameVAEConfig:
        """The default architecture for frames of ``frame_shape`` ``(S, S, C)``: one stride-2
        layer per halving from ``S`` down to 4 (32, then 64 channels); ``settings`` override
        the other fields. A side outside :data:`FRAME_VAE_SIDES` is one line."""
        side = int(frame_shape[0])
        if side not in FRAME_VAE_SIDES:
            raise FrameError(f"the frame VAE takes frames of {', '.join(map(str, FRAME_VAE_SIDES))}"
                             f" pixels a side, got {side}")
        layers = (side // 4).bit_length() - 1
        return cls(frame_shape=tuple(frame_shape),  # type: ignore[arg-type]
                   channels=(32, 64, 64, 64, 64)[:layers], **settings)


#: The frame sides :meth:`FrameVAEConfig.for_frames` builds an encoder for.
FRAME_VAE_SIDES: tuple[int, ...] = (8, 16, 32, 64, 128)


def frames_to_unit(
    frames: Any, shape: tuple[int, int, int], where: str, pixel_max: int = 255
) -> torch.Tensor:
    """``N x H x W x C`` uint8 (numpy or torch) -> ``N x C x H x W`` float32, divided by
    ``pixel_max`` and clipped to ``[0, 1]``; floats are taken as ``frame / 255``. Wrong
    shapes are one line."""
    x = torch.as_tensor(np.asarray(frames) if not isinstance(frames, torch.Tensor) else frames)
    if x.ndim != 4 or tuple(x.shape[1:]) != tuple(shape):
        raise FrameError(f"{where}: expected frames N x {' x '.join(map(str, shape))}, got "
                         f"{tuple(x.shape)}")
    x = x.float() if x.dtype == torch.uint8 else x.float() * 255.0
    return (x / pixel_max).clamp(0.0, 1.0).permute(0, 3, 1, 2).contiguous()


class FrameVAE(CheckpointMixin, nn.Module):
    """Convolutional VAE of frames (module docstring)."""

    checkpoint_file = checkpoint_format("frame-vae")
    config_type = FrameVAEConfig

    def __init__(self, config: FrameVAEConfig | None = None, *, seed: int = 0) -> None:
        super().__init__()
        # a copy: fit sets pixel_max on it, never on the caller's (possibly shared) config
        self.config = cfg = dataclasses.replace(config) if config else FrameVAEConfig()
        colors = cfg.frame_shape[2]
        widths = [colors, *cfg.channels]
        flat = cfg.channels[-1] * 4 * 4
        with isolated_global_rngs():
            down: list[nn.Module] = []
            for c_in, c_out in zip(widths[:-1], widths[1:], strict=True):
                down += [nn.Conv2d(c_in, c_out, 4, stride=2, padding=1), nn.SiLU()]
            self.encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(flat, 2 * cfg.latent_dim))
            up: list[nn.Module] = [nn.Linear(cfg.latent_dim, flat), nn.SiLU(),
                                   nn.Unflatten(1, (cfg.channels[-1], 4, 4))]
            back = widths[::-1]
            for i, (c_in, c_out) in enumerate(zip(back[:-1], back[1:], strict=True)):
                up.append(nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1))
                if i < len(back) - 2:
                    up.append(nn.SiLU())
            self.decoder = nn.Sequential(*up)  # -> logits (bernoulli) / pre-sigmoid mean
        seeded_init_(self, seed)

    # ------------------------------------------------------------------------------ pieces
    @property
    def _pixel_max(self) -> int:
        return int(self.config.pixel_max or 255)

    def _unit(self, frames: Any, where: str) -> torch.Tensor:
        return frames_to_unit(frames, self.config.frame_shape, where, self._pixel_max)

    def encode(self, frames: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """``q(z|x)`` parameters ``(mu, log_var)``, each ``B x L``, of ``B`` frames."""
        x = self._unit(frames, "FrameVAE.encode")
        mu, log_var = self.encoder(x).chunk(2, dim=-1)
        return mu, log_var.clamp(-12.0, 6.0)

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decoder mean frames as ``frame / 255`` (in ``[0, pixel_max / 255]``),
        ``B x H x W x C`` float32, from ``B x L``."""
        scale = self._pixel_max / 255.0
        return torch.sigmoid(self._logits(z)).permute(0, 2, 3, 1) * scale

    def log_likelihood(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``log p(x|z)`` per row (``B``); ``x`` ``B x C x H x W`` in ``[0, 1]``."""
        logits = self._logits(z)
        if self.config.decoder == "bernoulli":
            return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
        std = self.config.decoder_std
        err = (x - torch.sigmoid(logits)) / std
        return -0.5 * (err.square() + _LOG_2PI + 2 * math.log(std)).sum((1, 2, 3))

    def elbo_terms(
        self, frames: Any, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One-sample ``(reconstruction log-likelihood, KL)`` per row, each ``B``."""
        x = self._unit(frames, "FrameVAE.elbo")
        mu, log_var = self.encoder(x).chunk(2, dim=-1)
        log_var = log_var.clamp(-12.0, 6.0)
        z = reparameterize(mu, log_var, generator)
        return self.log_likelihood(z, x), kl_to_standard_normal(mu, log_var)

    @torch.no_grad()
    def elbo(self, frames: Any, *, n_samples: int = 1, seed: int = 0) -> torch.Tensor:
        """ELBO per frame (``B``), averaged over ``n_samples`` draws of ``z``."""
        return monte_carlo_elbo(self, frames, n_samples, seed)

    @torch.no_grad()
    def reconstruct(self, frames: Any) -> torch.Tensor:
        """The decoder mean at the encoder mean: ``B x H x W x C`` as ``frame / 255``."""
        return self.decode(self.encode(frames)[0])

    @torch.no_grad()
    def sample(self, n: int, *, seed: int = 0) -> torch.Tensor:
        """``n`` decoder-mean frames of ``z ~ N(0, I)``, ``n x H x W x C`` as ``frame / 255``."""
        gen = torch.Generator().manual_seed(seed)
        return self.decode(torch.randn(n, self.config.latent_dim, generator=gen))

    # ----------------------------------------------------------------------------- training
    def fit(self, frames: Any, *, seed: int = 0, progress: bool = True) -> VAEHistory:
        """Maximise the ELBO of ``frames`` (``N x H x W x C`` uint8) by Adam on minibatches;
        continues from the current weights. Raises ``NonFiniteLossError`` on a NaN/inf loss."""
        cfg = self.config
        data = torch.as_tensor(np.asarray(frames))
        frames_to_unit(data[:1], cfg.frame_shape, "FrameVAE.fit")  # shape check, first
        if len(data) < 1:
            raise FrameError("FrameVAE.fit: no frames")
        if cfg.pixel_max is None:
            brightest = data.max() if data.dtype == torch.uint8 else (data.max() * 255).round()
            cfg.pixel_max = max(1, int(brightest))
        return maximise_elbo(self, data, cfg, seed=seed, progress=progress, name="FrameVAE")

