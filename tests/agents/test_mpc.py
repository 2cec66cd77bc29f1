"""MPCAgent on exact point-mass dynamics: reaches a goal, reproducible, warm starts, errors."""

import numpy as np
import pytest
import torch

from advex.agents import CEMConfig, ModelEnv, MPCAgent, MPCConfig, MPCInputError, MPPIConfig

DT = 0.1
GOAL = torch.tensor([1.0, -0.5])


class PointMass:
    """2-D point mass, obs ``(x, y, vx, vy)``, action = acceleration; exact Euler steps."""

    def predict(self, obs, act):
        pos, vel = obs[:, :2], obs[:, 2:]
        new_vel = vel + DT * act
        mean = torch.cat([pos + DT * new_vel, new_vel], dim=-1)
        return mean, torch.zeros_like(mean)

    def step_numpy(self, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        mean, _ = self.predict(torch.as_tensor(obs[None]), torch.as_tensor(act[None]))
        return mean[0].numpy()


def _reward(act, next_obs):
    return (
        -((next_obs[:, :2] - GOAL) ** 2).sum(-1)
        - 0.1 * (next_obs[:, 2:] ** 2).sum(-1)
        - 0.01 * (act**2).sum(-1)
    )


def _agent(optimizer="cem", seed=0, **overrides):
    configs = {
        "cem": CEMConfig(population=100, iterations=3),
        "mppi": MPPIConfig(population=100, iterations=3, temperature=0.5, noise_std=0.3),
        "random": None,
    }
    config = MPCConfig(
        horizon=12, optimizer=optimizer, optimizer_config=configs[optimizer], **overrides
    )
    env = ModelEnv(PointMass(), _reward)
    return MPCAgent(env, -np.ones(2), np.ones(2), config, seed=seed)


def _run(agent, steps=50):
    dynamics = PointMass()
    obs = np.zeros(4, dtype=np.float32)
    actions = []
    for _ in range(steps):
        act = agent.act(obs)
        actions.append(act)
        obs = dynamics.step_numpy(obs, act)
    return obs, np.array(actions)


@pytest.mark.parametrize("optimizer", ["cem", "mppi"])
def test_drives_point_mass_to_goal(optimizer):
    final, actions = _run(_agent(optimizer))
    assert np.linalg.norm(final[:2] - GOAL.numpy()) < 0.05
    assert np.abs(actions).max() <= 1.0


def test_replanning_every_few_steps_also_reaches_goal():
    final, _ = _run(_agent("cem", replan_every=3))
    assert np.linalg.norm(final[:2] - GOAL.numpy()) < 0.05


def test_same_seed_same_actions_and_reset():
    _, a = _run(_agent(seed=5), steps=10)
    _, b = _run(_agent(seed=5), steps=10)
    _, c = _run(_agent(seed=6), steps=10)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_batched_obs_plans_each_row():
    agent = _agent()
    obs = np.array([[0.0, 0.0, 0.0, 0.0], [2.0, -1.0, 0.0, 0.0]], dtype=np.float32)
    actions = agent.act(obs)
    assert actions.shape == (2, 2) and actions.dtype == np.float32
    # Row 0 must accelerate towards +x, row 1 (beyond the goal) towards -x.
    assert actions[0, 0] > 0 and actions[1, 0] < 0
    single = agent.act(obs[0])
    assert single.shape == (2,)


def test_warm_start_is_the_shifted_plan():
    agent = _agent()
    seen = []
    original = agent.optimizer.optimize

    def spy(objective, x0=None):
        seen.append(None if x0 is None else x0.clone())
        return original(objective, x0)

    agent.optimizer.optimize = spy
    obs = np.zeros(4, dtype=np.float32)
    agent.act(obs)
    first_plan = agent._plans[0].clone()
    agent.act(obs)
    torch.testing.assert_close(seen[1][:-1], first_plan[1:])
    torch.testing.assert_close(seen[1][-1], torch.zeros(2))  # padded with the box centre
    agent.reset()
    agent.act(obs)
    torch.testing.assert_close(seen[2], torch.zeros(12, 2))


def test_particles_average_over_sampled_model_noise():
    class Noisy(PointMass):
        def predict(self, obs, act):
            mean, _ = super().predict(obs, act)
            return mean, torch.full_like(mean, 0.01)

    env = ModelEnv(Noisy(), _reward, sample=True, generator=torch.Generator().manual_seed(0))
    config = MPCConfig(
        horizon=5, particles=4, optimizer_config=CEMConfig(population=20, iterations=2)
    )
    agent = MPCAgent(env, -np.ones(2), np.ones(2), config)
    calls = []
    original = env.rollout

    def spy(obs0, actions, discount=1.0):
        calls.append(actions.shape[0])
        return original(obs0, actions, discount)

    env.rollout = spy
    action = agent.act(np.zeros(4, dtype=np.float32))
    assert calls == [20 * 4, 20 * 4]
    assert np.all(np.isfinite(action))


def test_bad_inputs_raise_clear_errors():
    agent = _agent()
    with pytest.raises(MPCInputError, match="O or N x O"):
        agent.act(np.zeros((1, 2, 4)))
    with pytest.raises(MPCInputError, match="NaN"):
        agent.act(np.full(4, np.nan))
    with pytest.raises(ValueError, match="replan_every"):
        _agent(replan_every=20)
    with pytest.raises(ValueError, match="valid names"):
        _agent_with_name("ilqr")


def _agent_with_name(name):
    env = ModelEnv(PointMass(), _reward)
    return MPCAgent(env, -np.ones(2), np.ones(2), MPCConfig(optimizer=name))


def test_objective_is_the_mean_return_over_particles():
    class Stub:  # return of rollout row i is i: candidate k's particles are rows kP .. kP+P-1
        def rollout(self, obs0, actions, discount=1.0):
            return torch.arange(actions.shape[0], dtype=torch.float32)

    agent = MPCAgent(Stub(), -np.ones(2), np.ones(2), MPCConfig(horizon=3, particles=4))
    values = agent._objective(torch.zeros(4))(torch.zeros(5, 3, 2))
    torch.testing.assert_close(values, torch.arange(20.0).reshape(5, 4).mean(dim=1))
