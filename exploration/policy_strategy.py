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
from typing import Any

import numpy as np
import torch
from torch import nn

from advex.config import require
from advex.envs import EpisodeMode, TaskSpec
from advex.exploration.gaussian_policy import GaussianPolicy, GaussianPolicyConfig
from advex.exploration.strategy import Strategy, StrategyConfig


def clone_tensors(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Detached copies (a module's ``state_dict`` aliases live weights that keep training)."""
    return {k: v.detach().clone() for k, v in state.items()}


@dataclass
class PathwiseAscentConfig(GaussianPolicyConfig, StrategyConfig):
    """The policy plus the ascent settings both pathwise learners share (Adam ``lr``,
    ``horizon`` steps per rollout, discount ``gamma``, ``policy_steps`` per round of
    ``batch_size`` rollouts, entropy bonus, gradient-norm clip)."""

    lr: float = 1e-3
    horizon: int = 3
    gamma: float = 1.0
    policy_steps: int = 8
    batch_size: int = 64
    ent_coef: float = 0.01
    max_grad_norm: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        require(type(self).__name__, {
            "lr > 0": self.lr > 0,
            "horizon >= 1": self.horizon >= 1,
            "0 <= gamma <= 1": 0 <= self.gamma <= 1,
            "policy_steps >= 0": self.policy_steps >= 0,
            "batch_size >= 1": self.batch_size >= 1,
            "ent_coef >= 0": self.ent_coef >= 0,
            "max_grad_norm > 0": self.max_grad_norm > 0,
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
        self._round_u = np.zeros((0, spec.act_dim), dtype=np.float32)
        self._obs_seen = 0  # buffer rows already merged into the policy's obs normaliser

    def act(self, obs: np.ndarray) -> np.ndarray:
        return self.policy.sample(self._check_obs(obs), self.rng)[0]

    def collect(self, collector: Any, buffer: Any, n_steps: int, seed: int,
                progress: bool = True) -> None:
        """Collect with the policy, remembering each action's pre-squash ``u``."""
        drawn: list[np.ndarray] = []

        def recording_policy(obs: np.ndarray) -> np.ndarray:
            act, u = self.policy.sample(self._check_obs(obs), self.rng)
            drawn.append(u)
            return act

        self._begin_round(buffer)
        collector.run(buffer, n_steps, seed, policy=recording_policy, progress=progress,
                      desc=f"{self.name} {self.spec.name}", **self._run_options())
        self._end_round(buffer, n_steps)
        # The collector keeps rows in call order and drops the surplus of the last call.
        self._round_u = np.concatenate(drawn)[:n_steps].astype(np.float32)
        self._after_collect(collector)

    def _run_options(self) -> dict[str, Any]:
        """Extra keyword arguments of ``collector.run`` (none here)."""
        return {}

    def _after_collect(self, collector: Any) -> None:
        """Keep what the collector recorded besides the rows (nothing here)."""

    @property
    def rewards_before_refit(self) -> bool:
        """Whether the adversary scores a round with the model before it refits on it
        (:meth:`observe_round`) rather than after (``update``); False here."""
        return False

    def _scores_before_refit(self, buffer: Any) -> bool:
        """Whether the round just collected is scored before the refit: before-refit timing,
        and earlier rounds the model has trained on (in the first it has seen no data)."""
        idx = self.round_data(buffer)
        return self.rewards_before_refit and len(idx) > 0 and int(idx[0]) > 0

    def _unobserved_round(self) -> ValueError:
        return ValueError(
            f"{self.name} with before-refit rewards: call observe_round(buffer, model) after "
            "collect and before the model refits on the round"
        )

    def _end_update(self, buffer: Any) -> None:
        """After learning: merge the rows not yet seen into the policy's obs normaliser (only
        now, so the round was learned with the statistics it was collected with) and forget
        the round."""
        if len(buffer) > self._obs_seen:
            self.policy.obs_normalizer.update(
                buffer.batch(np.arange(self._obs_seen, len(buffer))).obs
            )
            self._obs_seen = len(buffer)
        self._clear_round()
        self._round_u = np.zeros((0, self.spec.act_dim), dtype=np.float32)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            policy=clone_tensors(self.policy.state_dict()),
            torch_generator=self.generator.get_state(),
            round_u=torch.as_tensor(self._round_u).clone(),
            obs_seen=self._obs_seen,
        )
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.policy.load_state_dict(clone_tensors(state["policy"]))
        self.generator.set_state(state["torch_generator"].clone())
        self._round_u = state["round_u"].numpy().astype(np.float32).copy()
        self._obs_seen = int(state["obs_seen"])
