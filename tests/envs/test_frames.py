"""Frames beside the state vectors: headless rendering, storage, the frame/next-frame pairing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from advex.envs.frames import FrameError, FrameSpec
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import Collector, collect


@pytest.fixture(scope="module")
def pendulum() -> ReplayBuffer:
    return collect("InvertedPendulum-v5", n_steps=240, seed=3, n_envs=2, progress=False,
                   frames=FrameSpec(32))


def test_frames_are_rendered_headless_and_show_the_robot(pendulum: ReplayBuffer) -> None:
    frame, next_frame = pendulum.frames()
    assert frame.shape == next_frame.shape == (240, 32, 32, 1) and frame.dtype == np.uint8
    assert frame.std() > 5  # not a blank image
    # the pole moves: frames of one episode's first and last rows differ
    rows = np.flatnonzero(pendulum.episode_id == pendulum.episode_id[0])
    assert np.abs(frame[rows[0]].astype(int) - next_frame[rows[-1]].astype(int)).sum() > 0


def test_next_frame_is_the_next_rows_frame_within_an_episode(pendulum: ReplayBuffer) -> None:
    frame, next_frame = pendulum.frames()
    episode = pendulum.episode_id
    for e in np.unique(episode):
        rows = np.flatnonzero(episode == e)
        np.testing.assert_array_equal(next_frame[rows[:-1]], frame[rows[1:]])
    # an episode's first frame is its reset state's, not the last outcome of the episode
    # before it in the same env (one env here, so that episode is the previous row's)
    single = collect("InvertedPendulum-v5", n_steps=120, seed=3, progress=False,
                     frames=FrameSpec(32))
    frame, next_frame = single.frames()
    starts = np.flatnonzero(np.diff(single.episode_id)) + 1
    assert len(starts) >= 2
    assert all(np.any(frame[r] != next_frame[r - 1]) for r in starts)


def test_rendering_changes_no_transition(pendulum: ReplayBuffer) -> None:
    plain = collect("InvertedPendulum-v5", n_steps=240, seed=3, n_envs=2, progress=False)
    a, b = pendulum.batch(), plain.batch()
    for name in ("obs", "act", "next_obs", "reward", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@pytest.mark.parametrize("task", ["InvertedPendulum-v5", "advex/ArenaRobot-v0"])
def test_a_state_looks_the_same_whatever_the_env_rendered_before(task: str) -> None:
    """Gymnasium aims its camera at wherever the robot was at the first render; pinned, a
    collector that rendered another run first draws the same frames as a fresh one (a
    resumed run depends on it)."""
    def frames(collector: Collector, seed: int) -> np.ndarray:
        buffer = ReplayBuffer(collector.spec.obs_dim, collector.spec.act_dim,
                              frame_shape=(16, 16, 1))
        collector.run(buffer, 40, seed, progress=False)
        return buffer.frames()[0]

    used, fresh = Collector(task, frames=FrameSpec(16)), Collector(task, frames=FrameSpec(16))
    frames(used, 0)  # its first render is of another state
    np.testing.assert_array_equal(frames(used, 1), frames(fresh, 1))
    used.close()
    fresh.close()


def test_frames_reload_bit_exact_and_compressed(pendulum: ReplayBuffer, tmp_path: Path) -> None:
    pendulum.save(tmp_path / "b.npz")
    back = ReplayBuffer.load(tmp_path / "b.npz")
    assert back.frame_shape == (32, 32, 1)
    for mine, theirs in zip(pendulum.frames(), back.frames(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    raw = 2 * pendulum.frames()[0].nbytes
    assert (tmp_path / "b.npz").stat().st_size < raw / 2


def test_rgb_and_grey_conversion() -> None:
    rgb = np.array([[[255, 255, 255], [255, 0, 0]], [[0, 255, 0], [0, 0, 255]]], np.uint8)
    grey = FrameSpec(8, "grey").convert(rgb)
    assert grey.shape == (2, 2, 1)
    np.testing.assert_array_equal(grey[..., 0], [[255, 76], [150, 29]])  # BT.601 luma
    assert FrameSpec(8, "rgb").convert(rgb).shape == (2, 2, 3)


def test_arena_frames_are_top_down_rgb(tmp_path: Path) -> None:
    buffer = collect("advex/ArenaRobot-v0", n_steps=30, seed=0, progress=False,
                     frames=FrameSpec(48, "rgb"))
    frame, _ = buffer.frames()
    assert frame.shape == (30, 48, 48, 3)
    # the arena floor is bright, its walls and obstacles are not: a picture, not a flat fill
    assert frame[0].mean() > 100 and frame[0].std() > 20


def test_frameless_buffer_and_mismatches_are_one_line(pendulum: ReplayBuffer) -> None:
    plain = ReplayBuffer(4, 1)
    with pytest.raises(FrameError, match="holds no frames"):
        plain.frames()
    collector = Collector("InvertedPendulum-v5", frames=FrameSpec(32))
    try:
        with pytest.raises(FrameError, match="frame_shape"):
            collector.run(plain, 10, seed=0, progress=False)
    finally:
        collector.close()
    assert len(plain) == 0
    with pytest.raises(ValueError, match="frame and next_frame"):
        pendulum.add(*[np.zeros((1, d)) for d in (4, 1, 4)], np.zeros(1), np.zeros(1, bool),
                     np.zeros(1, bool), 0, **{c: np.zeros(1) for c in pendulum.extra_columns})
    with pytest.raises(ValueError, match="frame and next_frame"):  # one without the other
        plain.add(*[np.zeros((1, d)) for d in (4, 1, 4)], np.zeros(1), np.zeros(1, bool),
                  np.zeros(1, bool), 0, frame=np.zeros((1, 32, 32, 1), np.uint8))
    for bad in (4, 2000):
        with pytest.raises(FrameError, match="frame size"):
            FrameSpec(bad)
    with pytest.raises(FrameError, match="frame color"):
        FrameSpec(32, "sepia")


def test_no_offscreen_backend_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["MUJOCO_GL"] = "glfw"  # an on-screen backend with no screen: cannot start
    out = tmp_path / "b.npz"
    result = subprocess.run(
        [sys.executable, "-m", "advex.cli", "collect", "--steps", "10", "--frames", "32",
         "--out", str(out), "--quiet"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("advex:")]
    assert len(ours) == 1 and "cannot render frames offscreen" in ours[0], result.stderr
    assert "MUJOCO_GL=egl" in ours[0] and not out.exists()


def test_a_camera_adversary_without_a_backend_stops_before_any_work(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env["MUJOCO_GL"] = "glfw"
    out = tmp_path / "cmp"
    result = subprocess.run(
        [sys.executable, "-m", "advex.cli", "compare", "--strategies", "random,adversarial-frames",
         "--steps", "100", "--round", "50", "--out", str(out), "--quiet"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2, result.stderr
    ours = [line for line in result.stderr.splitlines() if line.startswith("advex:")]
    assert len(ours) == 1 and "cannot render frames offscreen" in ours[0], result.stderr
    assert not out.exists()
