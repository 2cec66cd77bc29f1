"""Simulator Jacobians match central finite differences of the env step, for both sources."""

from __future__ import annotations

import numpy as np
import pytest

from advex.envs import get_state, make_env, set_state
from advex.envs.jacobians import NotSettableError, SimulatorJacobians


def _visited(task: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` (state, action) pairs from a random walk after 20 warm-up steps."""
    env = make_env(task)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    states, actions = [], []
    for t in range(20 + n):
        act = rng.uniform(low, high).astype(np.float32)
        if t >= 20:
            states.append(get_state(env))
            actions.append(act)
        _, _, terminated, truncated, _ = env.step(act)
        if terminated or truncated:
            env.reset()
    env.close()
    return np.array(states), np.array(actions)


def _central_obs_jacobians(task: str, state: np.ndarray, action: np.ndarray,
                           h: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """d obs'/d a and d obs'/d (qpos, qvel) by central differences through the public
    ``set_state`` + ``env.step`` (an independent implementation: plain qpos/qvel arithmetic,
    valid for tasks without quaternion joints)."""
    env = make_env(task)
    env.reset(seed=0)
    inner = env.unwrapped
    nq, nv = inner.model.nq, inner.model.nv

    def next_obs(d_state: np.ndarray, d_act: np.ndarray) -> np.ndarray:
        set_state(env, state)
        qpos, qvel = inner.data.qpos.copy(), inner.data.qvel.copy()
        inner.set_state(qpos + d_state[:nq], qvel + d_state[nq:])
        return np.asarray(inner.step(action.astype(np.float64) + d_act)[0], np.float64)

    n_in, a_dim = nq + nv, len(action)
    d_state = [(next_obs(h * e, np.zeros(a_dim)) - next_obs(-h * e, np.zeros(a_dim))) / (2 * h)
               for e in np.eye(n_in)]
    d_act = [(next_obs(np.zeros(n_in), h * e) - next_obs(np.zeros(n_in), -h * e)) / (2 * h)
             for e in np.eye(a_dim)]
    env.close()
    return np.stack(d_act, axis=1), np.stack(d_state, axis=1)


@pytest.mark.parametrize(
    ("task", "source"),
    [("HalfCheetah-v5", "mjd"), ("InvertedPendulum-v5", "differences"),
     ("Hopper-v5", "differences"), ("HalfCheetah-v5", "differences")],
)
def test_matches_central_differences_of_the_env_step(task: str, source: str) -> None:
    states, actions = _visited(task, 4)
    jac = SimulatorJacobians(task, source)
    assert jac.source == source
    lin = jac.linearize(states, actions)
    jac.close()
    for i in range(len(states)):
        want_act, want_state = _central_obs_jacobians(task, states[i], actions[i])
        scale_a = np.abs(want_act).max()
        scale_s = np.abs(want_state).max()
        assert np.abs(lin.obs_act[i] - want_act).max() <= 1e-2 * scale_a
        assert np.abs(lin.obs_state[i] - want_state).max() <= 1e-2 * scale_s
        assert scale_a > 0


def test_state_jacobians_chain_two_steps() -> None:
    """d obs''/d a_0 through the state Jacobian equals differencing two real steps."""
    task = "InvertedPendulum-v5"
    states, actions = _visited(task, 1)
    jac = SimulatorJacobians(task)
    env = make_env(task)
    env.reset(seed=0)
    set_state(env, states[0])
    env.unwrapped.step(actions[0])
    second_state = get_state(env)
    a1 = np.array([0.3], np.float32)
    first = jac.linearize(states, actions)
    second = jac.linearize(second_state[None], a1[None])
    chained = second.obs_state[0] @ first.state_act[0]
    h = 1e-5

    def two_steps(d: float) -> np.ndarray:
        set_state(env, states[0])
        env.unwrapped.step(actions[0].astype(np.float64) + d)  # float32 would swallow d
        return np.asarray(env.unwrapped.step(a1)[0])

    numeric = (two_steps(h) - two_steps(-h)) / (2 * h)
    np.testing.assert_allclose(chained[:, 0], numeric, rtol=1e-3, atol=1e-6)
    env.close()
    jac.close()


def test_auto_source_and_refusals() -> None:
    assert SimulatorJacobians("HalfCheetah-v5").source == "mjd"
    assert SimulatorJacobians("Hopper-v5").source == "differences"  # RK4
    with pytest.raises(ValueError, match="RK4.*mjd_transitionFD"):
        SimulatorJacobians("InvertedPendulum-v5", "mjd")
    with pytest.raises(ValueError, match="unknown Jacobian source"):
        SimulatorJacobians("Hopper-v5", "magic")  # type: ignore[arg-type]
    jac = SimulatorJacobians("InvertedPendulum-v5")
    with pytest.raises(ValueError, match="states must be"):
        jac.linearize(np.zeros((2, 3)), np.zeros((2, 1)))
    with pytest.raises(ValueError, match="actions must be"):
        jac.linearize(np.zeros((2, jac.full_state_dim)), np.zeros((3, 1)))


def test_not_a_mujoco_env() -> None:
    from advex.envs import TaskSpec

    spec = TaskSpec(name="Pendulum-v1", gym_id="Pendulum-v1", obs_dim=3, act_dim=1,
                    max_episode_steps=200, reward_fn=lambda a, o: a[:, 0],
                    term_fn=lambda a, o: a[:, 0] > 1e9, description="classic control")
    with pytest.raises(NotSettableError, match="Pendulum-v1 is not a Gymnasium MuJoCo env"):
        SimulatorJacobians(spec)
