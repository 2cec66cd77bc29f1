"""ModelEnv with exact linear dynamics: closed-form trajectories, termination masking."""

import pytest
import torch

from advex.agents import ModelEnv, ModelEnvError


class LinearDynamics:
    """Exact ``x' = x A^T + u B^T`` with a constant predicted variance."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, var: float = 0.0) -> None:
        self.a, self.b, self.var = a, b, var

    def predict(self, obs, act):
        mean = obs @ self.a.T + act @ self.b.T
        return mean, torch.full_like(mean, self.var)


A_MAT = torch.tensor([[1.0, 0.1], [0.0, 0.9]])
B_MAT = torch.tensor([[0.0], [0.5]])


def _reward(act, next_obs):
    return -(next_obs**2).sum(dim=-1) - 0.1 * (act**2).sum(dim=-1)


def _closed_form(x0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``B x H x O`` states by unrolling ``x_{t+1} = A x_t + B u_t`` as a matrix power sum."""
    states = []
    horizon = actions.shape[1]
    for t in range(1, horizon + 1):
        x = x0 @ torch.linalg.matrix_power(A_MAT, t).T
        for k in range(t):
            x = x + actions[:, k] @ (torch.linalg.matrix_power(A_MAT, t - 1 - k) @ B_MAT).T
        states.append(x)
    return torch.stack(states, dim=1)


def test_reproduces_closed_form_trajectory_and_return():
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 2, generator=g)
    actions = torch.randn(4, 5, 1, generator=g)
    expected = _closed_form(x0, actions)
    env = ModelEnv(LinearDynamics(A_MAT, B_MAT), _reward)
    obs = env.reset(x0)
    assert torch.equal(obs, x0)
    total = torch.zeros(4)
    for t in range(5):
        obs, reward, terminated = env.step(actions[:, t])
        torch.testing.assert_close(obs, expected[:, t])
        torch.testing.assert_close(reward, _reward(actions[:, t], expected[:, t]))
        assert not terminated.any()
        total += reward
    torch.testing.assert_close(env.rollout(x0, actions), total)
    discounted = env.rollout(x0, actions, discount=0.9)
    manual = sum(0.9**t * _reward(actions[:, t], expected[:, t]) for t in range(5))
    torch.testing.assert_close(discounted, manual)


def test_terminated_rows_stay_terminated_and_get_no_reward():
    # x position drifts +1 per step; terminate once x > 2.5. Reward is 1 per step.
    model = LinearDynamics(torch.eye(1), torch.ones(1, 1))
    env = ModelEnv(
        model,
        reward_fn=lambda act, nxt: torch.ones(nxt.shape[0]),
        term_fn=lambda act, nxt: nxt[:, 0] > 2.5,
    )
    start = torch.tensor([[0.0], [2.0]])
    env.reset(start)
    rewards, terms, observations = [], [], []
    for _ in range(4):
        obs, reward, terminated = env.step(torch.ones(2, 1))
        rewards.append(reward)
        terms.append(terminated)
        observations.append(obs)
    rewards = torch.stack(rewards)  # H x B
    terms = torch.stack(terms)
    # Row 1 terminates on its first step (x = 3): that step's reward counts, later ones do not.
    assert rewards[:, 1].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert terms[:, 1].all()
    assert observations[-1][1, 0] == 3.0  # frozen at the terminal observation
    # Row 0 reaches 3 on step 3.
    assert rewards[:, 0].tolist() == [1.0, 1.0, 1.0, 0.0]
    assert terms[:, 0].tolist() == [False, False, True, True]
    actions = torch.ones(2, 4, 1)
    assert env.rollout(start, actions).tolist() == [3.0, 1.0]


def test_sampling_uses_the_variance_and_the_generator():
    model = LinearDynamics(torch.eye(2), torch.zeros(2, 1), var=0.25)
    obs0 = torch.zeros(4000, 2)
    act = torch.zeros(4000, 1)

    def sampled(seed):
        env = ModelEnv(model, _reward, sample=True, generator=torch.Generator().manual_seed(seed))
        env.reset(obs0)
        return env.step(act)[0]

    a, b, c = sampled(1), sampled(1), sampled(2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert abs(float(a.std()) - 0.5) < 0.03
    assert abs(float(a.mean())) < 0.03
    deterministic = ModelEnv(model, _reward, sample=False)
    deterministic.reset(obs0)
    assert torch.equal(deterministic.step(act)[0], obs0)


def test_bad_shapes_raise_clear_errors():
    env = ModelEnv(LinearDynamics(A_MAT, B_MAT), _reward)
    with pytest.raises(ModelEnvError, match="reset"):
        env.step(torch.zeros(3, 1))
    with pytest.raises(ModelEnvError, match="B x O"):
        env.reset(torch.zeros(2))
    env.reset(torch.zeros(3, 2))
    with pytest.raises(ModelEnvError, match="B = 3"):
        env.step(torch.zeros(2, 1))
    with pytest.raises(ModelEnvError, match="B x H x A"):
        env.rollout(torch.zeros(3, 2), torch.zeros(3, 1))
    with pytest.raises(ModelEnvError, match="one start per sequence"):
        env.rollout(torch.zeros(2, 2), torch.zeros(3, 4, 1))
    with pytest.raises(TypeError, match="predict"):
        ModelEnv(object(), _reward)
    wrong = ModelEnv(LinearDynamics(A_MAT, B_MAT), lambda a, o: torch.zeros(5))
    wrong.reset(torch.zeros(3, 2))
    with pytest.raises(ModelEnvError, match="reward_fn returned 5 values"):
        wrong.step(torch.zeros(3, 1))
