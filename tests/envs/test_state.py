"""Full MuJoCo state save/restore: replays from a saved state are bit-identical."""

import mujoco
import numpy as np
import pytest

from advex.envs import TASKS, get_state, make_env, set_state, state_size
from advex.envs.state import StateSizeError


def _random_steps(env, rng, n):
    obs = None
    for _ in range(n):
        act = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        obs, _, terminated, truncated, _ = env.step(act)
        if terminated or truncated:
            obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
    return obs


def _action(env, rng):
    return rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)


@pytest.mark.parametrize("name", list(TASKS))
def test_same_state_same_action_bit_identical(name):
    env = make_env(name)
    rng = np.random.default_rng(0)
    try:
        env.reset(seed=0)
        for _ in range(3):
            _random_steps(env, rng, 5)
            state = get_state(env)
            assert state.dtype == np.float64 and state.shape == (state_size(env),)
            act = _action(env, rng)
            o1, r1, *_ = env.step(act)
            _random_steps(env, rng, 4)  # wander off, then come back
            set_state(env, state)
            o2, r2, *_ = env.step(act)
            assert np.array_equal(o1, o2)
            assert r1 == r2
            # several steps on: still identical
            actions = [_action(env, rng) for _ in range(5)]
            set_state(env, state)
            first = [env.step(a)[0] for a in actions]
            set_state(env, state)
            second = [env.step(a)[0] for a in actions]
            assert np.array_equal(np.stack(first), np.stack(second))
    finally:
        env.close()


@pytest.mark.parametrize("name", list(TASKS))
def test_state_from_another_episode(name):
    """A state saved in env A, restored into a separately seeded env B, replays A's next obs."""
    env_a, env_b = make_env(name), make_env(name)
    rng = np.random.default_rng(1)
    try:
        env_a.reset(seed=11)
        _random_steps(env_a, rng, 6)
        state = get_state(env_a)
        act = _action(env_a, rng)
        expected, *_ = env_a.step(act)

        env_b.reset(seed=99)
        _random_steps(env_b, rng, 3)
        set_state(env_b, state)
        assert np.array_equal(get_state(env_b), state)
        got, *_ = env_b.step(act)
        assert np.array_equal(expected, got)
    finally:
        env_a.close()
        env_b.close()


def test_set_state_returns_observation_of_that_state():
    env = make_env("advex/ArenaRobot-v0")
    rng = np.random.default_rng(2)
    try:
        env.reset(seed=0)
        obs = _random_steps(env, rng, 10)
        state = get_state(env)
        _random_steps(env, rng, 3)
        # ArenaRobot re-forwards after each step, so its observation is a function of state.
        assert np.array_equal(set_state(env, state), obs)
    finally:
        env.close()


def test_set_state_rejects_wrong_size_and_nan():
    env = make_env("Hopper-v5")
    try:
        env.reset(seed=0)
        state = get_state(env)
        with pytest.raises(StateSizeError, match=str(state_size(env))):
            set_state(env, state[:-1])
        with pytest.raises(StateSizeError):
            set_state(env, np.stack([state, state]))
        bad = state.copy()
        bad[1] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            set_state(env, bad)
    finally:
        env.close()


def test_get_state_rejects_non_mujoco_env():
    import gymnasium

    env = gymnasium.make("CartPole-v1")
    with pytest.raises(TypeError, match="not a MuJoCo env"):
        get_state(env)


def test_set_state_forwards_the_kinematics_its_observation_reads() -> None:
    """Reacher's observation holds the fingertip position, which MuJoCo only updates in a
    forward pass: the observation set_state returns must be that of the new state, not the
    kinematics left over from the old one."""
    env = make_env("Reacher-v5")
    rng = np.random.default_rng(3)
    try:
        env.reset(seed=0)
        _random_steps(env, rng, 5)
        state = get_state(env)
        inner = env.unwrapped
        mujoco.mj_forward(inner.model, inner.data)
        expected = inner._get_obs().copy()
        _random_steps(env, rng, 20)  # somewhere else, with other kinematics
        np.testing.assert_array_equal(set_state(env, state), expected)
    finally:
        env.close()
