"""Deterministic MLP transition model: the simplest baseline, trained with MSE.

It has no predictive variance of its own. So that ``predict``/``nll`` still return a meaningful
Gaussian, after training it stores a per-dimension **residual variance**: the mean squared
error of each normalised delta dimension on the validation data (training data if there is
none). Before the first fit that variance is 1 (unit variance in normalised units).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from advex.models.base import (
    TransitionModel,
    check_activation_name,
    checked_angle_obs,
    checked_hidden_sizes,
    init_weight_,
)
from advex.models.mlp_builder import build_mlp

_MIN_RESIDUAL_VAR = 1e-6


@dataclass
class MLPConfig:
    """Architecture of :class:`MLPModel`.

    hidden_sizes: width of each hidden layer. activation: one of ``base.ACTIVATIONS``.
    seed: weight initialisation seed (training has its own). normalizer_eps: std floor.
    angle_obs: observation indices holding an angle, fed to the network as (sin, cos)
    (:meth:`TransitionModel.input_features`; HalfCheetah-v5: ``(1,)``, the root pitch).
    """

    hidden_sizes: tuple[int, ...] = (200, 200, 200, 200)
    activation: str = "silu"
    seed: int = 0
    normalizer_eps: float = 1e-6
    angle_obs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.hidden_sizes = checked_hidden_sizes("MLPConfig", self.hidden_sizes)
        self.angle_obs = checked_angle_obs("MLPConfig", self.angle_obs)
        check_activation_name("MLPConfig", self.activation)


class MLPModel(TransitionModel):
    """``[obs, act]`` (as :meth:`input_features`, normalised) -> normalised delta, one
    network, MSE loss (``M = 1``)."""

    kind = "mlp"
    residual_var: torch.Tensor

    def __init__(self, obs_dim: int, act_dim: int, config: MLPConfig | None = None) -> None:
        config = config if config is not None else MLPConfig()
        super().__init__(obs_dim, act_dim, config, normalizer_eps=config.normalizer_eps)
        generator = torch.Generator().manual_seed(config.seed)
        sizes = [self.input_dim, *config.hidden_sizes, obs_dim]
        self.net = build_mlp(sizes, config.activation,
                             lambda weight, fan_in, last: init_weight_(weight, fan_in, generator))
        self.register_buffer("residual_var", torch.ones(obs_dim))

    @property
    def num_members(self) -> int:
        return 1

    def _member_outputs(self, x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean = self.net(x_norm)
        if mean.ndim == 2:
            mean = mean.unsqueeze(0)
        return mean, self.residual_var.expand_as(mean)

    def _combine_members(
        self, mean: torch.Tensor, var: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        return mean[0], var[0]

    def train_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean squared error of the normalised delta over a ``1 x b`` minibatch."""
        return (self.net(inputs) - targets).square().mean()

    @torch.no_grad()
    def after_fit(self, member_dim_mse: torch.Tensor) -> None:
        """Residual variance per normalised dim on held-out data, floored for a stable NLL."""
        self.residual_var.copy_(member_dim_mse[0].clamp_min(_MIN_RESIDUAL_VAR))
