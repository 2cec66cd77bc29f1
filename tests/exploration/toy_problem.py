"""A 1-D toy task and stand-in models whose loss is high in one known region (test helpers).

Toy dynamics: ``x' = clip(x + 0.1 a, -1, 1)``, ``a in [-1, 1]``, 20-step episodes. The
stand-in "model" predicts those dynamics exactly, but reports a loss that is high only where
``a > 0.5`` (a quarter of the action box): an adversary that works must learn to pick actions
there far more often than uniform random does (25 %).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from advex.envs import TaskSpec

TOY_ID = "advex-test/Toy1D-v0"
HIGH_LOSS_FROM = 0.5


class Toy1DEnv(gym.Env):
    """A point on a line pushed by its action."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float64)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self._x = np.zeros(1)

    def reset(self, *, seed=None, options=None):  # type: ignore[no-untyped-def]
        super().reset(seed=seed)
        self._x = self.np_random.uniform(-0.1, 0.1, size=1)
        return self._x.copy(), {}

    def step(self, action):  # type: ignore[no-untyped-def]
        self._x = np.clip(self._x + 0.1 * np.asarray(action, np.float64), -1.0, 1.0)
        return self._x.copy(), 0.0, False, False, {}


if TOY_ID not in gym.registry:
    gym.register(id=TOY_ID, entry_point=Toy1DEnv, max_episode_steps=20)


def _zero_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(act))


def _never(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(act), dtype=torch.bool)


TOY_SPEC = TaskSpec(
    name=TOY_ID, gym_id=TOY_ID, obs_dim=1, act_dim=1, max_episode_steps=20,
    reward_fn=_zero_reward, term_fn=_never, description="1-D point (tests)",
)


def _region_loss(act: torch.Tensor) -> torch.Tensor:
    return 0.1 + 10.0 * torch.sigmoid(20.0 * (act[:, 0] - HIGH_LOSS_FROM))


class RegionLossModel(nn.Module):
    """Exact toy dynamics; loss high where ``a > 0.5``. numpy in -> numpy out."""

    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1))  # a parameter, to check it stays frozen

    def predict(self, obs, act):  # type: ignore[no-untyped-def]
        numpy_in = not isinstance(obs, torch.Tensor)
        obs_t, act_t = torch.as_tensor(obs), torch.as_tensor(act)
        mean = torch.clamp(obs_t + 0.1 * self.gain * act_t, -1.0, 1.0)
        var = torch.ones_like(mean)
        return (mean.detach().numpy(), var.numpy()) if numpy_in else (mean, var)

    def loss(self, obs, act, next_obs):  # type: ignore[no-untyped-def]
        numpy_in = not isinstance(act, torch.Tensor)
        out = _region_loss(torch.as_tensor(act, dtype=torch.float32))
        return out.detach().numpy() if numpy_in else out


class RegionDisagreementModel(RegionLossModel):
    """Same, plus an ensemble-style ``disagreement`` high in the same region."""

    def disagreement(self, obs, act):  # type: ignore[no-untyped-def]
        numpy_in = not isinstance(act, torch.Tensor)
        out = 0.01 * _region_loss(torch.as_tensor(act, dtype=torch.float32))
        return out.detach().numpy() if numpy_in else out


def high_loss_fraction(actions: np.ndarray) -> float:
    return float(np.mean(actions[:, 0] > HIGH_LOSS_FROM))
