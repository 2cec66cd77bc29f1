"""Seeded collection: identical buffers, correct episode bookkeeping, honest final observations."""

from __future__ import annotations

import numpy as np
import pytest

from advex.envs import UnknownTaskError, get_task
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import collect


def _assert_same(a, b) -> None:  # type: ignore[no-untyped-def]
    for name in ("obs", "act", "next_obs", "reward", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(a.batch(), name), getattr(b.batch(), name))
    np.testing.assert_array_equal(a.episode_id, b.episode_id)


@pytest.mark.parametrize("n_envs", [1, 3])
def test_same_seed_same_buffer(n_envs: int) -> None:
    a = collect("InvertedPendulum-v5", n_steps=300, seed=5, n_envs=n_envs, progress=False)
    b = collect("InvertedPendulum-v5", n_steps=300, seed=5, n_envs=n_envs, progress=False)
    c = collect("InvertedPendulum-v5", n_steps=300, seed=6, n_envs=n_envs, progress=False)
    assert len(a) == 300
    _assert_same(a, b)
    assert not np.array_equal(a.batch().obs, c.batch().obs)


def test_transitions_chain_within_episodes_and_end_correctly() -> None:
    buf = collect("InvertedPendulum-v5", n_steps=400, seed=0, progress=False)
    data, ep = buf.batch(), buf.episode_id
    same_episode = ep[1:] == ep[:-1]
    # inside an episode, s'_t is s_{t+1}
    np.testing.assert_array_equal(data.next_obs[:-1][same_episode], data.obs[1:][same_episode])
    # an episode id changes exactly after a terminated/truncated row
    ended = data.terminated | data.truncated
    np.testing.assert_array_equal(~same_episode, ended[:-1])
    assert data.terminated.sum() > 5  # random actions drop the pendulum often
    # the terminal next_obs is the fallen pole (|angle| > 0.2), not a reset observation
    assert np.all(np.abs(data.next_obs[data.terminated, 1]) > 0.2)


def test_truncation_at_time_limit() -> None:
    spec = get_task("Reacher-v5")  # never terminates: every episode ends by the time limit
    buf = collect("Reacher-v5", n_steps=2 * spec.max_episode_steps + 7, seed=1, progress=False)
    data = buf.batch()
    assert not data.terminated.any()
    assert np.flatnonzero(data.truncated).tolist() == [
        spec.max_episode_steps - 1,
        2 * spec.max_episode_steps - 1,
    ]
    assert buf.episode_id.tolist()[-1] == 2


def test_custom_policy_and_appending_continues_episode_ids() -> None:
    spec = get_task("InvertedPendulum-v5")
    calls = []

    def zero_policy(obs: np.ndarray) -> np.ndarray:
        calls.append(obs.shape)
        return np.zeros((len(obs), spec.act_dim), dtype=np.float32)

    buf = collect("InvertedPendulum-v5", zero_policy, n_steps=50, seed=0, progress=False)
    assert calls[0] == (1, spec.obs_dim)
    assert np.all(buf.batch().act == 0)
    first_max = buf.episode_id.max()
    collect("InvertedPendulum-v5", n_steps=20, seed=1, buffer=buf, progress=False)
    assert len(buf) == 70 and buf.episode_id[50] == first_max + 1


def test_nan_policy_and_unknown_task_give_clear_errors() -> None:
    with pytest.raises(ValueError, match="NaN"):
        collect(
            "InvertedPendulum-v5", lambda o: np.full((len(o), 1), np.nan), n_steps=5, progress=False
        )
    with pytest.raises(UnknownTaskError, match="HalfCheetah-v5"):
        collect("HalfCheeta-v5", n_steps=5, progress=False)


def test_async_matches_lean() -> None:
    lean = collect("InvertedPendulum-v5", n_steps=120, seed=2, n_envs=2, progress=False)
    sub = collect(
        "InvertedPendulum-v5", n_steps=120, seed=2, n_envs=2, vectorization="async", progress=False
    )
    _assert_same(lean, sub)


def test_refuses_to_mix_tasks_in_one_buffer() -> None:
    """Dims can coincide across tasks; the buffer's task label is what keeps data apart."""
    spec = get_task("InvertedPendulum-v5")
    buf = ReplayBuffer(spec.obs_dim, spec.act_dim)
    buf.meta["task"] = "advex/SomeOtherTask-v0"
    with pytest.raises(ValueError, match="holds advex/SomeOtherTask-v0 transitions"):
        collect("InvertedPendulum-v5", n_steps=5, buffer=buf, progress=False)
    assert len(buf) == 0


@pytest.mark.parametrize("vectorization", ["lean", "async"])
def test_free_episodes_continue_past_termination(vectorization: str) -> None:
    """"free" episode rules: the pole falls past 0.2 rad and the episode goes on to the time
    limit (1000 steps); nothing is marked terminated."""
    n = 1200 if vectorization == "lean" else 1010  # the async env is slow to step
    buf = collect("InvertedPendulum-v5", n_steps=n, seed=0, episodes="free",
                  vectorization=vectorization, progress=False)
    data = buf.batch()
    assert not data.terminated.any()
    assert np.abs(data.obs[:, 1]).max() > 0.2
    assert np.sum(buf.episode_id == 0) == 1000 and data.truncated[999]
    env_rules = collect("InvertedPendulum-v5", n_steps=n, seed=0, progress=False)
    assert env_rules.batch().terminated.any() and np.abs(env_rules.batch().obs[:, 1]).max() <= 0.2


def test_unknown_episode_mode_is_refused_before_any_step() -> None:
    with pytest.raises(ValueError, match="unknown episodes mode 'sometimes'; valid: env, free"):
        collect("InvertedPendulum-v5", n_steps=10, episodes="sometimes",  # type: ignore[arg-type]
                progress=False)


def test_recorded_states_replay_every_row_exactly() -> None:
    """``record_states``: row i's state, set and stepped with row i's action, gives row i's
    next observation bit for bit (two envs, so rows interleave; Hopper terminates, so episodes
    reset in between)."""
    from advex.envs import make_env, set_state
    from advex.exploration.collect import Collector

    collector = Collector("Hopper-v5", n_envs=2)
    buf = ReplayBuffer(11, 3)
    data = collector.run(buf, 301, seed=0, progress=False, record_states=True)
    states, batch = data.states, buf.batch()
    assert states is not None and states.shape[0] == 301
    np.testing.assert_array_equal(data.rows, np.arange(301))
    assert collector.run(buf, 5, seed=1, progress=False).states is None
    np.testing.assert_array_equal(collector.run(buf, 5, seed=1, progress=False).rows,
                                  np.arange(306, 311))
    env = make_env("Hopper-v5")
    env.reset(seed=0)
    for i in range(0, 301, 7):
        set_state(env, states[i])
        next_obs = env.unwrapped.step(batch.act[i])[0]
        np.testing.assert_array_equal(next_obs.astype(np.float32), batch.next_obs[i])
    collector.close()
    async_collector = Collector("Hopper-v5", n_envs=2, vectorization="async")
    with pytest.raises(ValueError, match="record_states needs vectorization='lean'"):
        async_collector.run(buf, 10, seed=0, progress=False, record_states=True)
    async_collector.close()


def test_another_seed_gives_other_random_actions_and_starts() -> None:
    a = collect("InvertedPendulum-v5", n_steps=50, seed=0, progress=False).batch()
    b = collect("InvertedPendulum-v5", n_steps=50, seed=1, progress=False).batch()
    assert not np.array_equal(a.act, b.act)
    assert not np.array_equal(a.obs[0], b.obs[0])
