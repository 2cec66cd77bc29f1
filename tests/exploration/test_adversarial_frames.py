"""``adversarial-frames``: the adversary against a camera model collects exactly the rows a
plain collector would, rewards each with its frame model's one-step error, and refuses a
buffer it did not fill."""

from __future__ import annotations

import numpy as np
import pytest

from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import Collector
from advex.exploration.strategy import StrategyStateError, make_strategy
from advex.models.latent_dynamics import previous_rows, transition_frame_errors

TASK = "InvertedPendulum-v5"
SMALL = {"frame_size": 16, "latent_dim": 4, "vae_steps": 30, "dynamics_steps": 30}


def _buffer() -> ReplayBuffer:
    return ReplayBuffer(4, 1)


def test_rows_are_the_plain_collectors_and_rewards_are_frame_errors() -> None:
    frames_adversary = make_strategy("adversarial-frames", TASK, SMALL, seed=2)
    state_adversary = make_strategy("adversarial-sf", TASK, None, seed=2)  # same seeded policy
    collector = Collector(TASK)
    mine, plain = _buffer(), _buffer()
    data = frames_adversary.collect(collector, mine, 120, seed=5, progress=False)
    plain_data = state_adversary.collect(collector, plain, 120, seed=5, progress=False)
    np.testing.assert_array_equal(data.rows, plain_data.rows)
    np.testing.assert_array_equal(data.policy_draws, plain_data.policy_draws)
    for field in ("obs", "act", "next_obs", "reward", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(mine.batch(), field), getattr(plain.batch(), field))
    np.testing.assert_array_equal(mine.episode_id, plain.episode_id)
    assert frames_adversary.frames.shape == (120, 16, 16, 1)
    # consecutive rows of one episode: a row's next frame is the next row's frame
    same = mine.episode_id[1:] == mine.episode_id[:-1]
    np.testing.assert_array_equal(frames_adversary.next_frames[:-1][same],
                                  frames_adversary.frames[1:][same])

    diagnostics = frames_adversary.update(mine, None, data)
    assert diagnostics["u_recorded"] == 1.0  # the draws went from the rendering twin to the run
    assert frames_adversary.frame_rounds == 1 and np.isfinite(diagnostics["frame_vae_loss"])
    idx = np.arange(120)
    expected = transition_frame_errors(
        frames_adversary.vae, frames_adversary.dynamics, frames_adversary.frames,
        mine.batch().act, frames_adversary.next_frames,
        frames_adversary.frames[previous_rows(mine.episode_id)])
    np.testing.assert_allclose(frames_adversary.last_rewards, expected[idx], rtol=1e-6)
    assert expected.std() > 0 and diagnostics["reward_max"] == pytest.approx(expected.max())

    # the second round continues the episode numbering as a plain collector would
    second = frames_adversary.collect(collector, mine, 50, seed=6, progress=False)
    np.testing.assert_array_equal(second.rows, np.arange(120, 170))
    assert mine.episode_id[120] == plain.episode_id.max() + 1
    assert len(frames_adversary.frames) == len(mine) == 170
    collector.close()
    frames_adversary.close()


def test_a_buffer_it_did_not_fill_is_refused() -> None:
    adversary = make_strategy("adversarial-frames", TASK, SMALL, seed=0)
    buffer = _buffer()
    collector = Collector(TASK)
    collector.run(buffer, 10, 0, progress=False)
    with pytest.raises(StrategyStateError, match="holds frames of 0"):
        adversary.collect(collector, buffer, 10, seed=1, progress=False)
    collector.close()


def test_bad_settings_are_one_line() -> None:
    with pytest.raises(ValueError, match="pixels a side, got 24"):
        make_strategy("adversarial-frames", TASK, {"frame_size": 24})
    with pytest.raises(ValueError, match="vae_steps >= 1"):
        make_strategy("adversarial-frames", TASK, {"vae_steps": 0})
