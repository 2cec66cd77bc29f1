"""The adversary's policy network pi_rho(a | s): a tanh-squashed Gaussian.

``u ~ N(mu_rho(s), diag(sigma^2))``, ``a = center + half * tanh(u)`` with ``center, half`` the
middle and half-width of the action box, so every sample is inside the bounds without clipping
(clipping would make the recorded action a censored variable whose density is not the
Gaussian's, and kills the pathwise gradient at the bounds).

Density of the squashed action (change of variables, as in SAC, Haarnoja et al. 2018)::

    log pi(a|s) = log N(u; mu, sigma) - sum_d [log half_d + log(1 - tanh(u_d)^2)]

The Jacobian term depends on ``u`` only, not on ``rho``: score-function gradients and PPO
ratios are exact when computed from the pre-squash ``u`` the sampler drew (kept by the
strategy), and :meth:`log_prob` recovers ``u = atanh`` from a stored action otherwise.

Observations are standardised inside the module with a running mean/std
(:class:`RunningNormalizer`) that the strategy updates *after* each policy update, so the
behaviour policy that collected a round is exactly the one whose log-probs PPO's ratio uses.
The log-std is one learned vector (state-independent), clamped to ``[log_std_min,
log_std_max]``: the floor keeps the adversary from collapsing onto one action.

Weights are initialised from an explicit ``torch.Generator`` (``skip_init`` avoids the global
RNG): orthogonal hidden layers (gain sqrt 2) and a small last layer (gain 0.01) so the first
round's mean action is the middle of the box (PPO practice, Andrychowicz et al. 2021).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from advex.models.base import check_activation_name
from advex.models.mlp_builder import build_mlp

_ATANH_LIMIT = 1.0 - 1e-6  # float32 actions at the bound would give atanh = inf


@dataclass
class GaussianPolicyConfig:
    """Architecture of :class:`GaussianPolicy`."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    init_log_std: float = -0.5
    log_std_min: float = -2.5
    log_std_max: float = 1.0

    def __post_init__(self) -> None:
        self.hidden_sizes = tuple(int(h) for h in self.hidden_sizes)
        if not self.hidden_sizes or min(self.hidden_sizes) < 1:
            raise ValueError(f"hidden_sizes must be positive ints, got {self.hidden_sizes}")
        check_activation_name("GaussianPolicyConfig", self.activation)
        if not self.log_std_min <= self.init_log_std <= self.log_std_max:
            raise ValueError(
                f"need log_std_min <= init_log_std <= log_std_max, got {self.log_std_min}, "
                f"{self.init_log_std}, {self.log_std_max}"
            )


class RunningNormalizer(nn.Module):
    """Per-dimension running mean/std (parallel Welford merge of batches), std floored.

    Identity until the first :meth:`update`; statistics are buffers, so they live in the
    ``state_dict``.
    """

    count: torch.Tensor
    mean: torch.Tensor
    var: torch.Tensor

    def __init__(self, dim: int, eps: float = 1e-4) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("var", torch.ones(dim, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: np.ndarray | torch.Tensor) -> None:
        """Merge a batch ``N x dim`` into the statistics."""
        x = torch.as_tensor(np.asarray(x), dtype=torch.float64)
        if x.shape[0] == 0:
            return
        n = float(x.shape[0])
        b_mean, b_var = x.mean(0), x.var(0, correction=0)
        if self.count.item() == 0:
            self.mean.copy_(b_mean)
            self.var.copy_(b_var)
            self.count.fill_(n)
            return
        total = self.count + n
        delta = b_mean - self.mean
        self.var.copy_(
            (self.var * self.count + b_var * n + delta.square() * self.count * n / total) / total
        )
        self.mean.add_(delta * n / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std = self.var.sqrt().clamp_min(self.eps)
        return ((x - self.mean.to(x.dtype)) / std.to(x.dtype)).clamp(-10.0, 10.0)


class GaussianPolicy(nn.Module):
    """``obs B x O -> (mu B x A, log_std A)`` of the pre-squash Gaussian, plus sampling and
    exact log-densities of the squashed action."""

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        low: np.ndarray,
        high: np.ndarray,
        config: GaussianPolicyConfig,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.config = config
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        low_t = torch.as_tensor(np.asarray(low, np.float32))
        high_t = torch.as_tensor(np.asarray(high, np.float32))
        if not bool((high_t > low_t).all()):
            raise ValueError(f"action bounds need high > low, got low={low}, high={high}")
        self.register_buffer("act_center", (high_t + low_t) / 2)
        self.register_buffer("act_half", (high_t - low_t) / 2)
        self.obs_normalizer = RunningNormalizer(obs_dim)
        def orthogonal(weight: torch.Tensor, fan_in: int, last: bool) -> None:
            nn.init.orthogonal_(weight, gain=0.01 if last else math.sqrt(2), generator=generator)

        self.mean_net = build_mlp([obs_dim, *config.hidden_sizes, act_dim], config.activation,
                                  orthogonal)
        self.log_std_param = nn.Parameter(torch.full((act_dim,), float(config.init_log_std)))

    act_center: torch.Tensor
    act_half: torch.Tensor

    # ------------------------------------------------------------------ distribution
    def log_std(self) -> torch.Tensor:
        """``A`` clamped log standard deviation of the pre-squash Gaussian."""
        return self.log_std_param.clamp(self.config.log_std_min, self.config.log_std_max)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``obs B x O`` raw -> ``(mu B x A, log_std A)``."""
        return self.mean_net(self.obs_normalizer(obs)), self.log_std()

    def squash(self, u: torch.Tensor) -> torch.Tensor:
        """Pre-squash ``u`` -> action in the box."""
        return self.act_center + self.act_half * torch.tanh(u)

    def unsquash(self, act: torch.Tensor) -> torch.Tensor:
        """Action -> ``u = atanh((a - center) / half)`` (clamped inside the open box)."""
        y = ((act - self.act_center) / self.act_half).clamp(-_ATANH_LIMIT, _ATANH_LIMIT)
        return torch.atanh(y)

    def log_abs_det_jacobian(self, u: torch.Tensor) -> torch.Tensor:
        """``B``: ``sum_d log |da_d/du_d|``, with ``log(1 - tanh^2 u) = 2 (log 2 - u -
        softplus(-2u))`` (stable for large ``|u|``)."""
        log_one_minus_tanh2 = 2.0 * (math.log(2.0) - u - nn.functional.softplus(-2.0 * u))
        return (log_one_minus_tanh2 + self.act_half.log()).sum(-1)

    def gaussian_log_prob(self, obs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``B``: ``log N(u; mu(s), sigma)`` summed over dims (what the score function needs:
        the squashed density differs by a ``rho``-independent term)."""
        mu, log_std = self(obs)
        z = (u - mu) / log_std.exp()
        return (-0.5 * z.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)

    def log_prob_u(self, obs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """``B``: exact ``log pi(a|s)`` of the squashed action ``a = squash(u)``."""
        return self.gaussian_log_prob(obs, u) - self.log_abs_det_jacobian(u)

    def log_prob(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """``B``: ``log pi(a|s)`` of actions ``B x A`` in the box (via ``atanh``; exact up to
        float rounding unless an action sits on the bound)."""
        return self.log_prob_u(obs, self.unsquash(act))

    def entropy(self) -> torch.Tensor:
        """Scalar entropy of the pre-squash Gaussian, ``sum(log_std) + A/2 (1 + log 2 pi)``.

        The squashed density has no closed-form entropy; this proxy is what the entropy bonus
        pushes up, which is what keeps ``sigma`` (and so the spread of actions) from
        collapsing."""
        return self.log_std().sum() + 0.5 * self.act_dim * (1.0 + math.log(2 * math.pi))

    # ------------------------------------------------------------------ sampling
    def rsample(
        self, obs: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Reparameterised ``(act B x A, u B x A)``: differentiable w.r.t. rho (pathwise)."""
        mu, log_std = self(obs)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        u = mu + log_std.exp() * eps
        return self.squash(u), u

    @torch.no_grad()
    def sample(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Numpy ``obs N x O`` -> ``(act N x A, u N x A)`` float32, noise from ``rng``."""
        obs_t = torch.as_tensor(np.asarray(obs, np.float32))
        mu, log_std = self(obs_t)
        eps = torch.as_tensor(rng.standard_normal(mu.shape, dtype=np.float32))
        u = mu + log_std.exp() * eps
        act = torch.minimum(torch.maximum(self.squash(u), self.act_center - self.act_half),
                            self.act_center + self.act_half)
        return act.numpy(), u.numpy()
