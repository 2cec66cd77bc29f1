"""SB3 strategies record exactly the transitions they take, into the shared buffer."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

from advex.envs import get_task
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import Collector
from advex.exploration.strategy import make_strategy

TASK = "InvertedPendulum-v5"
# Small settings so a few dozen steps exercise SB3's learning: PPO rollouts of 32 steps (a
# round of 50 ends mid-rollout), SAC learning after 10 steps.
CONFIGS = {
    "sb3-ppo": {"n_steps": 32, "batch_size": 16, "n_epochs": 2},
    "sb3-sac": {"learning_starts": 10, "batch_size": 16, "net_arch": (32, 32)},
}


def _chains(buf: ReplayBuffer) -> None:
    data, ep = buf.batch(), buf.episode_id
    same = ep[1:] == ep[:-1]
    np.testing.assert_array_equal(data.next_obs[:-1][same], data.obs[1:][same])
    # an episode that ended (terminated/truncated) never continues under the same id
    ended = data.terminated | data.truncated
    assert not np.any(ended[:-1] & same)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_collects_exactly_n_steps_with_chained_episodes(name: str) -> None:
    spec = get_task(TASK)
    collector = Collector(TASK)
    buf = ReplayBuffer(spec.obs_dim, spec.act_dim)
    collector.run(buf, 30, seed=0, progress=False)  # someone else's data first
    strategy = make_strategy(name, TASK, CONFIGS[name], seed=0)
    prior_max_episode = int(buf.episode_id.max())
    for r, n in enumerate((50, 50, 37)):
        before = len(buf)
        data = strategy.collect(collector, buf, n, seed=r, progress=False)
        assert len(buf) == before + n
        np.testing.assert_array_equal(data.rows, np.arange(before, before + n))
        # the agent's current observation is the env's (PPO stopped mid-rollout included)
        np.testing.assert_allclose(strategy.agent._last_obs[0], strategy.recorder._obs,
                                   rtol=1e-6)
        strategy.update(buf, None, data)
    ours = buf.episode_id[30:]
    assert ours.min() > prior_max_episode  # continues the buffer's numbering
    assert np.all(np.diff(ours) >= 0)
    _chains(buf)
    data = buf.batch(np.arange(30, len(buf)))
    assert np.all(np.abs(data.act) <= 3.0)
    assert data.terminated.sum() >= 3  # the pendulum falls: episodes end and restart
    # rewards are the env's (InvertedPendulum-v5 pays 1 per step, 0 on the fall)
    np.testing.assert_array_equal(data.reward, (~data.terminated).astype(np.float32))
    # the agent learned: SB3 counted every recorded step
    assert strategy.agent.num_timesteps == 137


def test_sb3_data_interleaves_with_other_strategies() -> None:
    """Another strategy appending between rounds: the ongoing SB3 episode takes a fresh id."""
    spec = get_task(TASK)
    collector = Collector(TASK)
    buf = ReplayBuffer(spec.obs_dim, spec.act_dim)
    strategy = make_strategy("sb3-ppo", TASK, CONFIGS["sb3-ppo"], seed=1)
    strategy.collect(collector, buf, 20, seed=0, progress=False)
    collector.run(buf, 15, seed=5, progress=False)
    max_before = int(buf.episode_id.max())
    strategy.collect(collector, buf, 20, seed=1, progress=False)
    assert buf.episode_id[-20] > max_before
    _chains(buf)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_state_dict_restores_the_agent(name: str) -> None:
    spec = get_task(TASK)
    collector = Collector(TASK)
    buf = ReplayBuffer(spec.obs_dim, spec.act_dim)
    strategy = make_strategy(name, TASK, CONFIGS[name], seed=2)
    strategy.collect(collector, buf, 40, seed=0, progress=False)
    blob = io.BytesIO()
    torch.save(strategy.state_dict(), blob)
    blob.seek(0)
    state = torch.load(blob, weights_only=True)
    restored = make_strategy(name, TASK, CONFIGS[name], seed=99)
    restored.load_state_dict(state)
    assert restored.agent.num_timesteps == 40
    for (k, v), v2 in zip(strategy.agent.policy.state_dict().items(),
                          restored.agent.policy.state_dict().values(), strict=True):
        assert torch.equal(v, v2), k
    obs = buf.batch().obs[:8]
    np.testing.assert_array_equal(strategy.act(obs), restored.act(obs))
    if name == "sb3-sac":
        assert restored.agent.replay_buffer.size() == strategy.agent.replay_buffer.size()
    restored.collect(collector, buf, 30, seed=1, progress=False)  # resumes: a fresh episode
    assert len(buf) == 70 and restored.agent.num_timesteps == 70
    _chains(buf)


def test_sb3_leaves_global_rngs_alone() -> None:
    """SB3 seeds and draws from the global generators; the strategy fences that off."""
    np_before = np.random.get_state()[1].copy()  # noqa: NPY002  (the state under test)
    torch_before = torch.get_rng_state()
    spec = get_task(TASK)
    strategy = make_strategy("sb3-ppo", TASK, CONFIGS["sb3-ppo"], seed=0)
    strategy.act(np.zeros((2, spec.obs_dim), np.float32))
    strategy.collect(Collector(TASK), ReplayBuffer(spec.obs_dim, spec.act_dim), 40, seed=0,
                     progress=False)
    np.testing.assert_array_equal(np.random.get_state()[1], np_before)  # noqa: NPY002
    assert torch.equal(torch.get_rng_state(), torch_before)


def test_sac_train_freq_must_divide_the_round() -> None:
    spec = get_task(TASK)
    strategy = make_strategy("sb3-sac", TASK, {**CONFIGS["sb3-sac"], "train_freq": 4})
    with pytest.raises(ValueError, match="multiple of train_freq"):
        strategy.collect(Collector(TASK), ReplayBuffer(spec.obs_dim, spec.act_dim), 10, seed=0)


def test_close_releases_the_agents_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SB3 strategy owns a MuJoCo env; ``close`` must reach it (other strategies: no-op)."""
    strategy = make_strategy("sb3-ppo", TASK, CONFIGS["sb3-ppo"], seed=0)
    closed: list[str] = []
    inner = strategy.recorder.unwrapped
    monkeypatch.setattr(inner, "close", lambda: closed.append("env"))
    strategy.close()
    assert closed == ["env"]
    make_strategy("random", TASK).close()  # the base no-op exists for every strategy


@pytest.mark.parametrize("name", list(CONFIGS))
def test_free_episodes_reach_sb3_too(name: str) -> None:
    """Under "free" episode rules SB3 never sees a termination: its data goes past the
    pendulum's 0.2 rad limit within one long episode, and no row is terminated."""
    spec = get_task(TASK)
    buf = ReplayBuffer(spec.obs_dim, spec.act_dim)
    strategy = make_strategy(name, TASK, CONFIGS[name], seed=0, episodes="free")
    try:
        strategy.collect(Collector(TASK, episodes="free"), buf, 200, seed=0, progress=False)
    finally:
        strategy.close()
    data = buf.batch()
    assert not data.terminated.any() and len(set(buf.episode_id.tolist())) == 1
    assert np.abs(data.obs[:, 1]).max() > 0.2
    _chains(buf)
