"""Conditional-GAN transition model: ``s' = s + G(s, a, z)``, ``z ~ N(0, I)`` (Mirza &
Osindero 2014, conditioned on the state and action).

Why in advex: a contact is a fork in the dynamics (the arena robot slides past a pillar or
stops against it). A Gaussian model puts its mean between the branches, where nothing ever
happens; a generator samples one branch or the other. Behind the common
:class:`~advex.models.base.TransitionModel` interface, so ``advex fit --model cgan``,
``advex eval`` and ``advex compare --model cgan`` take it like the others.

Training goes through the shared loop (:mod:`advex.models.training`), one Adam step on one
scalar per minibatch: ``L_D + L_G (+ l2_weight * MSE)``, where the discriminator's loss
``L_D = BCE(D(x, y), 1) + BCE(D(x, G(x, z)), 0)`` sees the generator's samples detached and
the generator's non-saturating loss ``L_G = BCE(D(x, G(x, z)), 1)`` sees the discriminator's
weights detached, so each player only moves its own weights: simultaneous gradient play.
The loop's validation score (and early stopping) is the CRPS of the noise bank's samples
(:meth:`CGANModel.validation_scores`), a proper score that does not reward collapse.

Prediction: ``K`` = ``noise_samples`` draws from a fixed, seeded noise bank, so ``predict``
is deterministic; mean = their average, variance = their spread (floored). The noise of
training restarts from ``seed`` at every fit, so a resumed run draws what an uninterrupted
one would.

Shapes: ``B`` batch, ``O`` obs dim, ``A`` action dim, ``Z`` noise dim, ``K`` noise samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call

from advex.models.base import (
    TransitionModel,
    check_activation_name,
    checked_hidden_sizes,
    init_weight_,
)
from advex.models.mlp_builder import build_mlp

_MIN_VAR = 1e-6


@dataclass
class CGANConfig:
    """Architecture and objective of :class:`CGANModel` (``seed``: weights, the prediction
    noise bank and the training noise)."""

    hidden_sizes: tuple[int, ...] = (200, 200, 200)
    discriminator_hidden: tuple[int, ...] = (200, 200)
    noise_dim: int = 4
    noise_samples: int = 32
    #: Weight of an L2 term on the generator's sample (pix2pix-style): on InvertedPendulum-v5
    #: (3 000 random steps, 150 epochs) it took the held-out MSE from 5.5e-3 to 1.1e-4; 0 is
    #: the pure adversarial game, whose samples are free to keep several modes apart.
    l2_weight: float = 1.0
    activation: str = "silu"
    seed: int = 0
    normalizer_eps: float = 1e-6

    def __post_init__(self) -> None:
        self.hidden_sizes = checked_hidden_sizes("CGANConfig", self.hidden_sizes)
        self.discriminator_hidden = checked_hidden_sizes("CGANConfig", self.discriminator_hidden)
        check_activation_name("CGANConfig", self.activation)
        if self.noise_dim < 1 or self.noise_samples < 2:
            raise ValueError(f"CGANConfig: need noise_dim >= 1 and noise_samples >= 2: {self}")
        if self.l2_weight < 0:
            raise ValueError(f"CGANConfig: l2_weight must be >= 0, got {self.l2_weight}")


class CGANModel(TransitionModel):
    """Generator ``G([s, a], z) -> delta`` and discriminator ``D([s, a], delta) -> logit`` on
    normalised units (``M = 1``)."""

    kind = "cgan"
    noise_bank: torch.Tensor

    def __init__(self, obs_dim: int, act_dim: int, config: CGANConfig | None = None) -> None:
        config = config if config is not None else CGANConfig()
        super().__init__(obs_dim, act_dim, config, normalizer_eps=config.normalizer_eps)
        generator = torch.Generator().manual_seed(config.seed)

        def init(weight: torch.Tensor, fan_in: int, last: bool) -> None:
            init_weight_(weight, fan_in, generator)

        inputs = self.input_dim
        self.generator = build_mlp([inputs + config.noise_dim, *config.hidden_sizes, obs_dim],
                                   config.activation, init)
        self.discriminator = build_mlp(
            [inputs + obs_dim, *config.discriminator_hidden, 1], config.activation, init
        )
        self.register_buffer(
            "noise_bank", torch.randn(config.noise_samples, config.noise_dim, generator=generator)
        )
        self._noise = torch.Generator().manual_seed(config.seed + 1)

    @property
    def num_members(self) -> int:
        return 1

    def samples(self, x_norm: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """``G`` at every noise row: ``x_norm`` ``B x I``, ``noise`` ``K x Z`` ->
        normalised deltas ``K x B x O``."""
        k, b = noise.shape[0], x_norm.shape[0]
        joint = torch.cat([x_norm.expand(k, b, -1),
                           noise[:, None, :].expand(k, b, -1).to(x_norm)], dim=-1)
        return self.generator(joint)

    def _member_outputs(self, x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x_norm[0] if x_norm.ndim == 3 else x_norm
        draws = self.samples(x, self.noise_bank)
        mean, var = draws.mean(dim=0), draws.var(dim=0).clamp_min(_MIN_VAR)
        return mean.unsqueeze(0), var.unsqueeze(0)

    def _combine_members(
        self, mean: torch.Tensor, var: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return mean[0], var[0]

    @torch.no_grad()
    def validation_scores(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        next_obs: torch.Tensor,
        chunk_size: int = 8192,
    ) -> torch.Tensor:
        """``1 x O``: the continuous ranked probability score of the noise bank's samples per
        normalised dim, ``E|X - y| - E|X - X'| / 2`` (a proper score: lowest for the true
        distribution, so early stopping does not pick the epoch whose samples collapsed
        onto the mean, as the mean's squared error would)."""
        total = torch.zeros(1, self.obs_dim, device=obs.device)
        for start in range(0, obs.shape[0], chunk_size):
            sl = slice(start, start + chunk_size)
            draws = self.samples(self.normalized_inputs(obs[sl], act[sl]), self.noise_bank)
            target = self.normalized_targets(obs[sl], next_obs[sl])
            # E|X - X'| over all K^2 pairs from the sorted draws, in K x B x O memory:
            # (2 / K^2) sum_i (2i - K - 1) x_(i)
            k = draws.shape[0]
            weights = 2 * torch.arange(1, k + 1, device=draws.device) - k - 1
            ordered = draws.sort(dim=0).values
            spread = 2 * (weights[:, None, None] * ordered).sum(dim=0) / k**2  # B x O
            total[0] += ((draws - target).abs().mean(dim=0) - spread / 2).sum(dim=0)
        return total / max(obs.shape[0], 1)

    def fit_normalizers(self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor) -> None:
        """Also restart the training noise: every fit draws the same stream from ``seed``."""
        super().fit_normalizers(obs, act, next_obs)
        self._noise = torch.Generator().manual_seed(self.config.seed + 1)

    def train_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """``L_D + L_G (+ l2_weight * MSE)`` on a ``1 x b`` minibatch (module docstring)."""
        x, y = inputs[0], targets[0]
        z = torch.randn(x.shape[0], self.config.noise_dim, generator=self._noise).to(x)
        fake = self.generator(torch.cat([x, z], dim=-1))
        real_logit = self.discriminator(torch.cat([x, y], dim=-1))
        fake_logit = self.discriminator(torch.cat([x, fake.detach()], dim=-1))
        d_loss = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                  + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
        frozen = {name: p.detach() for name, p in self.discriminator.named_parameters()}
        judged = functional_call(self.discriminator, frozen, (torch.cat([x, fake], dim=-1),))
        g_loss = F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged))
        loss = d_loss + g_loss
        if self.config.l2_weight:
            loss = loss + self.config.l2_weight * (fake - y).square().mean()
        return loss
