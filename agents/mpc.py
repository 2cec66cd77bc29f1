"""Receding-horizon model predictive control on a :class:`ModelEnv`.

Every ``replan_every`` steps the agent maximises the mean imagined return of ``H``-step action
sequences (``particles`` rollouts each, so a sampling ModelEnv averages over model noise) with
a trajectory optimiser, executes the first action(s) and replans: PETS (Chua et al. 2018)
without trajectory sampling over ensemble members. The next plan is warm-started from the
previous one shifted forward in time, padded with the middle of the action box (mbrl-lib's
``TrajectoryOptimizerAgent``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch

from advex.agents.optimizers import (
    OptimizerConfig,
    TrajectoryOptimizer,
    make_optimizer,
)


class Rollouts(Protocol):
    """What MPC plans on: ``rollout(obs0 B x O, actions B x H x A, discount) -> B`` returns
    (:class:`~advex.agents.model_env.ModelEnv`, or the true simulator's
    :class:`~advex.agents.simulator_env.SimulatorEnv`)."""

    def rollout(
        self, obs0: torch.Tensor, actions: torch.Tensor, discount: float = 1.0
    ) -> torch.Tensor: ...


class MPCInputError(ValueError):
    """An observation of the wrong shape given to :meth:`MPCAgent.act`."""


@dataclass(frozen=True)
class MPCConfig:
    """MPC settings.

    ``optimizer``: "random" | "cem" | "mppi"; ``optimizer_config``: that optimiser's config
    dataclass (None = its defaults); ``replan_every``: execute this many planned actions before
    planning again (1 = replan every step); ``discount`` applies inside the imagined return.
    """

    horizon: int = 15
    particles: int = 1
    optimizer: str = "cem"
    optimizer_config: OptimizerConfig | None = None
    replan_every: int = 1
    discount: float = 1.0


class MPCAgent:
    """MPC policy ``obs (O or N x O) -> action (A or N x A)`` on a learned (or exact) model.

    With ``N`` observations each row is planned on its own and keeps its own warm start; a new
    batch size restarts the warm starts. Call :meth:`reset` at episode boundaries.
    """

    def __init__(
        self,
        model_env: Rollouts,
        action_low: np.ndarray,
        action_high: np.ndarray,
        config: MPCConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.config = config if config is not None else MPCConfig()
        cfg = self.config
        if cfg.horizon < 1:
            raise ValueError(f"horizon must be >= 1, got {cfg.horizon}")
        if cfg.particles < 1:
            raise ValueError(f"particles must be >= 1, got {cfg.particles}")
        if not 1 <= cfg.replan_every <= cfg.horizon:
            raise ValueError(
                f"replan_every must be in [1, horizon={cfg.horizon}], got {cfg.replan_every}"
            )
        self.model_env = model_env
        self.seed = int(seed)
        self.optimizer: TrajectoryOptimizer = make_optimizer(
            cfg.optimizer, cfg.optimizer_config, action_low, action_high, cfg.horizon, seed
        )
        self.act_dim = self.optimizer.act_dim
        self._plans: list[torch.Tensor] = []  # per row: H x A, the current plan
        self._steps_since_plan: list[int] = []

    def reset(self) -> None:
        """Forget the plans (episode boundary); the random streams continue."""
        self._plans = []
        self._steps_since_plan = []

    def _objective(self, obs: torch.Tensor):
        """Objective for one start state ``obs`` (``O``): ``N x H x A -> N`` mean return."""
        particles = self.config.particles
        discount = self.config.discount

        def objective(sequences: torch.Tensor) -> torch.Tensor:
            n = sequences.shape[0]
            repeated = sequences.repeat_interleave(particles, dim=0)  # (N*P) x H x A
            starts = obs.unsqueeze(0).expand(n * particles, -1)
            with torch.no_grad():
                returns = self.model_env.rollout(starts, repeated, discount=discount)
            return returns.reshape(n, particles).mean(dim=1)

        return objective

    def plan(self, obs: np.ndarray | torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        """Optimise a fresh ``H x A`` plan from one observation ``obs`` (``O``)."""
        obs_t = torch.as_tensor(np.asarray(obs, dtype=np.float32))
        return self.optimizer.optimize(self._objective(obs_t), x0)

    def _shifted(self, plan: torch.Tensor, steps: int) -> torch.Tensor:
        """``plan`` moved ``steps`` forward, padded with the middle of the action box."""
        return torch.cat([plan[steps:], self.optimizer.center[:steps]], dim=0)

    def act(self, obs: np.ndarray) -> np.ndarray:
        """Action(s) for ``obs``: ``O -> A`` or ``N x O -> N x A`` (float32 numpy)."""
        arr = np.asarray(obs, dtype=np.float32)
        if arr.ndim not in (1, 2) or arr.shape[-1] == 0:
            raise MPCInputError(f"MPCAgent.act: obs must be O or N x O, got shape {arr.shape}")
        single = arr.ndim == 1
        batch = arr[None] if single else arr
        if not np.all(np.isfinite(batch)):
            raise MPCInputError("MPCAgent.act: obs contains NaN or inf")
        if len(self._plans) != len(batch):
            self._plans = [self.optimizer.center.clone() for _ in range(len(batch))]
            self._steps_since_plan = [self.config.replan_every] * len(batch)

        actions = np.empty((len(batch), self.act_dim), dtype=np.float32)
        for i, row in enumerate(batch):
            if self._steps_since_plan[i] >= self.config.replan_every:
                warm = self._shifted(self._plans[i], self._steps_since_plan[i])
                self._plans[i] = self.plan(row, warm)
                self._steps_since_plan[i] = 0
            actions[i] = self._plans[i][self._steps_since_plan[i]].numpy()
            self._steps_since_plan[i] += 1
        return actions[0] if single else actions

    __call__ = act
