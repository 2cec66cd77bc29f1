"""advex/ArenaRobot-v0: Gymnasium compliance, collisions, reward terms, rendering."""

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from advex.envs import make_env
from advex.envs.arena_robot import ARENA_GOAL, ArenaRobotEnv


def test_passes_gymnasium_env_checker():
    env = make_env("advex/ArenaRobot-v0")
    check_env(env.unwrapped, skip_render_check=True)
    env.close()


def test_reset_is_seeded_and_near_start():
    env = ArenaRobotEnv()
    obs_a, info = env.reset(seed=5)
    obs_b, _ = env.reset(seed=5)
    obs_c, _ = env.reset(seed=6)
    assert np.array_equal(obs_a, obs_b) and not np.array_equal(obs_a, obs_c)
    assert np.all(np.abs(obs_a[:2] - (-1.5)) <= 0.1)
    assert obs_a[6] == 0.0  # starts free of contact
    assert set(info) == {"x_position", "y_position", "distance_to_goal"}


def test_driving_into_wall_collides_and_stops():
    """Full thrust east from the start hits the east wall (inner face x = 2, radius 0.15)."""
    env = make_env("advex/ArenaRobot-v0")
    env.reset(seed=0)
    push_east = np.array([1.0, 0.0, 0.0], dtype=np.float32)
    speeds, collisions, contact_obs, xs = [], [], [], []
    for _ in range(60):
        obs, _, _, _, info = env.step(push_east)
        speeds.append(obs[3])
        collisions.append(info["collision"])
        contact_obs.append(obs[6])
        xs.append(obs[0])
    env.close()
    first = collisions.index(True)
    assert not any(collisions[:first]) and first > 5
    peak = max(speeds[:first])
    assert peak > 2.0
    # The wall stops it: after the impact the x-speed collapses and x stays inside the arena.
    assert abs(speeds[first]) < 0.3 * peak
    assert max(abs(v) for v in speeds[-10:]) < 0.05 * peak
    assert max(xs) < 2.0
    assert xs[-1] == pytest.approx(1.85, abs=0.02)
    # Pressed against the wall: the bounded contact observation lights up and stays in [0, 1).
    assert all(0.0 < c < 1.0 for c in contact_obs[-10:])
    assert all(collisions[-10:])


def test_free_motion_has_no_contact():
    env = make_env("advex/ArenaRobot-v0")
    env.reset(seed=0)
    for _ in range(5):
        obs, _, _, _, info = env.step(np.zeros(3, dtype=np.float32))
        assert not info["collision"] and info["contact_force"] == 0.0 and obs[6] == 0.0
    env.close()


def test_reward_terms_in_info_and_sum():
    env = make_env("advex/ArenaRobot-v0")
    env.reset(seed=3)
    act = np.array([0.5, -0.2, 1.0], dtype=np.float32)
    obs, reward, terminated, truncated, info = env.step(act)
    env.close()
    distance = np.hypot(obs[0] - ARENA_GOAL[0], obs[1] - ARENA_GOAL[1])
    assert info["distance_to_goal"] == pytest.approx(distance)
    assert info["reward_distance"] == pytest.approx(-distance)
    assert info["reward_ctrl"] == pytest.approx(-0.1 * float(np.sum(act.astype(np.float64) ** 2)))
    assert reward == pytest.approx(info["reward_distance"] + info["reward_ctrl"])
    assert not terminated and not truncated


def test_episode_truncates_at_200():
    env = make_env("advex/ArenaRobot-v0")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    step = -1
    for step in range(200):  # noqa: B007  (step read after the loop)
        _, _, terminated, truncated, _ = env.step(rng.uniform(-1, 1, 3).astype(np.float32))
        assert not terminated
        if truncated:
            break
    env.close()
    assert step == 199 and truncated


def test_bad_arguments():
    env = ArenaRobotEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action shape"):
        env.step(np.zeros(2))
    env.close()
    with pytest.raises(ValueError, match="contact_force_scale"):
        ArenaRobotEnv(contact_force_scale=0.0)


def test_render_rgb_array():
    try:
        env = make_env("advex/ArenaRobot-v0", render_mode="rgb_array", width=96, height=64)
        env.reset(seed=0)
        frame = env.render()
    except Exception as error:  # no EGL/OSMesa on this machine
        pytest.skip(f"offscreen rendering unavailable: {error}")
    env.close()
    assert frame.shape == (64, 96, 3) and frame.dtype == np.uint8
    assert frame.std() > 10  # not a blank image
