"""The true simulator as a planning model: the upper bound a learned model is measured against.

:class:`SimulatorEnv` has :class:`~advex.agents.model_env.ModelEnv`'s ``rollout`` interface, so
:class:`~advex.agents.mpc.MPCAgent` plans on it unchanged. Observations do not determine the
simulator state (HalfCheetah's observation omits its x position; contacts, warm starts), so
before each plan :meth:`sync` copies the real env's full state (:func:`advex.envs.get_state`)
and every imagined rollout restarts from it with :func:`advex.envs.set_state`. Terminations
are the env's own, and a row's return stops at its termination, as in the real env; rewards
are the env's own too, except where the task has a planning reward
(:attr:`~advex.envs.TaskSpec.planning_reward_fn`), which the learned-model planners maximise
as well, so the bound and the learned models optimise the same objective.
Cost: one env step per row and horizon step, sequential (no batching): planning on the
simulator is slow by nature, which is why it is a bound and not a default.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import torch

from advex.envs import TaskSpec, get_state, get_task, make_env, set_state


class SimulatorEnv:
    """``rollout(obs0 B x O, actions B x H x A) -> B`` returns on a private copy of the task's
    env, every row from the state of the last :meth:`sync` (``obs0`` only sets ``B``)."""

    def __init__(self, task: str | TaskSpec) -> None:
        self.spec = get_task(task)
        self.env = make_env(self.spec, disable_env_checker=True)
        self.inner: Any = self.env.unwrapped
        self._state: np.ndarray | None = None

    def sync(self, env: gymnasium.Env) -> None:
        """Plan from ``env``'s current simulator state from now on."""
        self._state = get_state(env)

    def rollout(
        self, obs0: torch.Tensor, actions: torch.Tensor, discount: float = 1.0
    ) -> torch.Tensor:
        if self._state is None:
            raise RuntimeError("SimulatorEnv: call sync(env) before planning")
        acts = torch.as_tensor(actions).detach().cpu().numpy().astype(np.float64)
        if acts.ndim != 3:
            raise ValueError(f"SimulatorEnv.rollout: actions must be B x H x A, got {acts.shape}")
        n, horizon = acts.shape[:2]
        rewards = np.zeros((n, horizon))
        alive = np.zeros((n, horizon), dtype=bool)  # steps taken before (and at) termination
        next_obs = np.zeros((n, horizon, self.spec.obs_dim))
        for row, sequence in enumerate(acts):
            set_state(self.env, self._state)
            for t, action in enumerate(sequence):
                # the unwrapped env: no time limit inside the horizon, its own termination
                next_obs[row, t], rewards[row, t], terminated, _, _ = self.inner.step(action)
                alive[row, t] = True
                if terminated:
                    break
        planning_reward = self.spec.planning_reward_fn
        if planning_reward is not None:  # one batched call for every step of every row
            rewards = planning_reward(
                torch.as_tensor(acts.reshape(n * horizon, -1), dtype=torch.float32),
                torch.as_tensor(next_obs.reshape(n * horizon, -1), dtype=torch.float32),
            ).double().numpy().reshape(n, horizon)
        returns = (np.where(alive, rewards, 0.0) * discount ** np.arange(horizon)).sum(axis=1)
        return torch.as_tensor(returns, dtype=torch.float32)

    def close(self) -> None:
        self.env.close()
