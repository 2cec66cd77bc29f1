"""What every strategy with its own learned Gaussian policy shares.

``adversarial-sf``, ``disagreement`` (:mod:`advex.exploration.policy_gradient`),
``adversarial-pw`` and ``disagreement-pw`` all act with a tanh-squashed Gaussian policy
(:class:`~advex.exploration.gaussian_policy.GaussianPolicy`) seeded from the strategy's own
``torch.Generator``; they differ in how they learn. This base builds the policy, collects
while recording each action's pre-squash draw ``u`` (the score-function learner needs its
exact log-probability, the pathwise adversary the noise that produced it), merges newly seen
observations into the policy's normaliser after each update, and checkpoints all of that.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from advex.config import require
from advex.envs import EpisodeMode, TaskSpec
from advex.exploration.gaussian_policy import GaussianPolicy, GaussianPolicyConfig
from advex.exploration.round_data import RoundData
from advex.exploration.strategy import Strategy, StrategyConfig


def clone_tensors(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached copies (a module's ``state_dict`` aliases live weights that keep training)."""
    return {k: v.detach().clone() for k, v in state.items()}


@dataclass
class PolicyLearnerConfig(GaussianPolicyConfig, StrategyConfig):
    """The policy plus what every learner of it sets: Adam ``lr``, discount ``gamma``,
    entropy bonus ``ent_coef``, gradient-norm clip ``max_grad_norm``."""

    lr: float = 1e-3
    gamma: float = 1.0
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        require(type(self).__name__, {
            "lr > 0": self.lr > 0,
            "0 <= gamma <= 1": 0 <= self.gamma <= 1,
            "ent_coef >= 0": self.ent_coef >= 0,
            "max_grad_norm > 0": self.max_grad_norm > 0,
        })


@dataclass
class PathwiseAscentConfig(PolicyLearnerConfig):
    """The ascent settings both pathwise learners share: ``horizon`` steps per rollout,
    ``policy_steps`` per round of ``batch_size`` rollouts (undiscounted by default)."""

    horizon: int = 3
    policy_steps: int = 8
    batch_size: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        require(type(self).__name__, {
            "horizon >= 1": self.horizon >= 1,
            "policy_steps >= 0": self.policy_steps >= 0,
            "batch_size >= 1": self.batch_size >= 1,
        })


def ascent_step(objective: torch.Tensor, params: list[nn.Parameter],
                optimizer: torch.optim.Optimizer, max_grad_norm: float) -> None:
    """One optimizer step that *increases* ``objective`` w.r.t. ``params`` only (gradients of
    anything else the objective depends on are never formed), with the gradient norm clipped."""
    grads = torch.autograd.grad(-objective, params)
    for p, g in zip(params, grads, strict=True):
        p.grad = g
    nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()


class GaussianPolicyStrategy(Strategy):
    """A strategy acting with its own :class:`GaussianPolicy` (abstract: no ``update``)."""

    #: Whether its rounds record each row's simulator state (``RoundData.states``).
    records_states: ClassVar[bool] = False

    def __init__(
        self,
        spec: TaskSpec,
        config: GaussianPolicyConfig,
        seed: int,
        *,
        episodes: EpisodeMode = "env",
    ) -> None:
        super().__init__(spec, config, seed, episodes=episodes)
        # The generator seeds the policy's weights first; subclasses draw from it afterwards.
        self.generator = torch.Generator().manual_seed(self.seed)
        self.policy = GaussianPolicy(
            spec.obs_dim, spec.act_dim, self.low, self.high, config, self.generator
        )
        self._obs_seen = 0  # buffer rows already merged into the policy's obs normaliser

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.policy.sample(self._check_obs(obs), self.rng)[0]

    def collect(self, collector: Any, buffer: Any, n_steps: int, seed: int,
                progress: bool = True) -> RoundData:
        """Collect with the policy; the round records each action's pre-squash draw ``u``."""
        drawn: list[np.ndarray] = []

        def recording_policy(obs: np.ndarray) -> np.ndarray:
            act, u = self.policy.sample(self._check_obs(obs), self.rng)
            drawn.append(u)
            return act

        data = collector.run(buffer, n_steps, seed, policy=recording_policy, progress=progress,
                             desc=f"{self.name} {self.spec.name}",
                             record_states=self.records_states)
        # The collector keeps rows in call order and drops the surplus of the last call.
        return data.with_draws(np.concatenate(drawn)[:n_steps].astype(np.float32))

    def _scores_before_refit(self, data: RoundData) -> bool:
        """Whether ``data`` must have been scored before the refit: before-refit timing, and
        earlier rounds the model has trained on (in the first it has seen no data)."""
        return self.rewards_before_refit and data.follows_earlier_data

    def _end_update(self, buffer: Any) -> None:
        """After learning: merge the rows not yet seen into the policy's obs normaliser (only
        now, so the round was learned with the statistics it was collected with)."""
        if len(buffer) > self._obs_seen:
            self.policy.obs_normalizer.update(
                buffer.batch(np.arange(self._obs_seen, len(buffer))).obs
            )
            self._obs_seen = len(buffer)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            policy=clone_tensors(self.policy.state_dict()),
            torch_generator=self.generator.get_state(),
            obs_seen=self._obs_seen,
        )
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.policy.load_state_dict(clone_tensors(state["policy"]))
        self.generator.set_state(state["torch_generator"].clone())
        self._obs_seen = int(state["obs_seen"])
