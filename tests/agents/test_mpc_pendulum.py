"""Slow: MPC with CEM on InvertedPendulum-v5, planning on the true MuJoCo dynamics."""

import mujoco
import numpy as np
import pytest
import torch

from advex.agents import CEMConfig, ModelEnv, MPCAgent, MPCConfig

STEPS = 150


class TrueInvertedPendulumDynamics:
    """Model-free stand-in for a learned model: replays each ``(obs, act)`` in MuJoCo.

    InvertedPendulum's observation ``[qpos (2), qvel (2)]`` is its full state, so setting it
    and stepping ``frame_skip`` times gives the exact next observation.
    """

    def __init__(self, env) -> None:
        base = env.unwrapped
        self.model = base.model
        self.data = mujoco.MjData(self.model)
        self.frame_skip = base.frame_skip
        self.nq = self.model.nq

    def predict(self, obs: torch.Tensor, act: torch.Tensor):
        obs_np = obs.detach().numpy().astype(np.float64)
        act_np = act.detach().numpy().astype(np.float64)
        out = np.empty_like(obs_np)
        for i in range(len(obs_np)):
            mujoco.mj_resetData(self.model, self.data)
            self.data.qpos[:] = obs_np[i, : self.nq]
            self.data.qvel[:] = obs_np[i, self.nq :]
            self.data.ctrl[:] = act_np[i]
            mujoco.mj_step(self.model, self.data, nstep=self.frame_skip)
            out[i, : self.nq] = self.data.qpos
            out[i, self.nq :] = self.data.qvel
        mean = torch.as_tensor(out, dtype=torch.float32)
        return mean, torch.zeros_like(mean)


def _episode_length(env, policy, seed: int) -> int:
    obs, _ = env.reset(seed=seed)
    for t in range(STEPS):
        obs, _, terminated, truncated, _ = env.step(policy(obs))
        if terminated or truncated:
            return t + 1
    return STEPS


@pytest.mark.slow
def test_cem_mpc_balances_longer_than_random():
    envs = pytest.importorskip("advex.envs")
    task = envs.get_task("InvertedPendulum-v5")
    env = envs.make_env(task)
    low, high = env.action_space.low, env.action_space.high

    def planning_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        # The task's survival reward is flat while the pole is up, so a short-horizon planner
        # lets the cart drift into the rail end; a small centring/upright term breaks the tie.
        upright = next_obs[:, 1] ** 2 + 0.1 * next_obs[:, 0] ** 2
        return task.reward_fn(act, next_obs) - upright

    model_env = ModelEnv(TrueInvertedPendulumDynamics(env), planning_reward, task.term_fn)
    config = MPCConfig(
        horizon=10, optimizer="cem", optimizer_config=CEMConfig(population=50, iterations=3)
    )
    agent = MPCAgent(model_env, low, high, config, seed=0)
    mpc_length = _episode_length(env, agent.act, seed=0)

    rng = np.random.default_rng(0)
    random_lengths = [
        _episode_length(env, lambda _obs: rng.uniform(low, high).astype(np.float32), seed=s)
        for s in range(5)
    ]
    # A 10-step (0.4 s) horizon is myopic for a cart-pole, so the claim is "far longer than
    # random", not "balances forever".
    assert max(random_lengths) < 40, random_lengths
    assert mpc_length >= min(STEPS, 3 * max(random_lengths)), (mpc_length, random_lengths)
