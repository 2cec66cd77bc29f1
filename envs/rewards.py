"""Rewards and terminations of every task as pure batched torch functions of ``(act, next_obs)``.

Planners and the adversary score imagined transitions of a learned model, so they need the
reward without a simulator (the mbrl-lib ``env/reward_fns.py`` / ``termination_fns.py`` habit).
Every function takes ``act`` ``B x A`` and ``next_obs`` ``B x O`` and returns ``B`` (float in
``next_obs``'s dtype for rewards, bool for terminations). They are differentiable where the
env's reward is.

Exactness against the Gymnasium v5 envs (default constructor arguments; the tests check it):

- InvertedPendulum, Reacher, Pusher, ArenaRobot: exact (up to float round-off).
- HalfCheetah: the env's forward reward is the *finite difference* ``(x' - x) / dt`` over the
  ``frame_skip`` sub-steps; the observation only holds the final x-velocity ``next_obs[:, 8]``,
  so the reward is approximate. Under uniform random actions the mean absolute error is about
  0.23 (max < 1, correlation with the true reward > 0.9); smoother policies do better.
- Hopper: same forward-velocity approximation with ``next_obs[:, 5]``, which the env also clips
  to ``[-10, 10]`` (random actions: mean absolute error about 0.04, max < 0.2). The
  termination is exact except when a joint speed exceeds the healthy bound of 100: the
  observation clips velocities to 10, so that case cannot be seen.
"""

from __future__ import annotations

import torch

from .arena_robot import (
    ARENA_ACT_DIM,
    ARENA_CTRL_COST_WEIGHT,
    ARENA_DISTANCE_WEIGHT,
    ARENA_GOAL,
    ARENA_OBS_DIM,
)


class RewardInputError(ValueError):
    """``act``/``next_obs`` of the wrong rank or width for a task's reward function."""


def _check(
    act: torch.Tensor, next_obs: torch.Tensor, obs_dim: int, act_dim: int, task: str
) -> None:
    if act.ndim != 2 or next_obs.ndim != 2:
        raise RewardInputError(
            f"{task} reward: expected act B x {act_dim} and next_obs B x {obs_dim}, got shapes "
            f"{tuple(act.shape)} and {tuple(next_obs.shape)}"
        )
    if act.shape[1] != act_dim or next_obs.shape[1] != obs_dim or len(act) != len(next_obs):
        raise RewardInputError(
            f"{task} reward: expected act B x {act_dim} and next_obs B x {obs_dim}, got shapes "
            f"{tuple(act.shape)} and {tuple(next_obs.shape)}"
        )


def _ctrl_sq(act: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``||a||^2`` per row, in ``like``'s dtype, shape ``B``."""
    return act.to(like.dtype).square().sum(dim=1)


def _never(next_obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(next_obs), dtype=torch.bool, device=next_obs.device)


# ------------------------------------------------------------------ InvertedPendulum-v5
# obs: [cart x, pole angle, cart v, pole angular v]; reward 1 while alive, 0 on the
# terminating step; terminate when the pole leaves |angle| <= 0.2 or the state is not finite.


def inverted_pendulum_term(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, 4, 1, "InvertedPendulum-v5")
    not_finite = ~torch.isfinite(next_obs).all(dim=1)
    return not_finite | (next_obs[:, 1].abs() > 0.2)


def inverted_pendulum_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    alive = ~inverted_pendulum_term(act, next_obs)
    return alive.to(next_obs.dtype)


def inverted_pendulum_planning_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    """The survival reward minus ``angle^2 + 0.1 cart^2``: the survival reward is flat while
    the pole is up, so a planner with a horizon shorter than a fall lets the cart drift into
    the rail's end; the small centring and upright terms break the tie (PETS' cart-pole cost
    has the same role). Planners maximise this; returns are still the env's reward."""
    upright = next_obs[:, 1] ** 2 + 0.1 * next_obs[:, 0] ** 2
    return inverted_pendulum_reward(act, next_obs) - upright


# ------------------------------------------------------------------ Reacher-v5
# obs: [cos q(2), sin q(2), target xy(2), qvel(2), (fingertip - target) xy(2)]; the fingertip
# and the target share z = 0.01, so the xy difference is the full 3-D distance.


def reacher_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, 10, 2, "Reacher-v5")
    distance = torch.linalg.vector_norm(next_obs[:, -2:], dim=1)
    return -distance - _ctrl_sq(act, next_obs)


def reacher_term(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, 10, 2, "Reacher-v5")
    return _never(next_obs)


# ------------------------------------------------------------------ HalfCheetah-v5
# obs (x excluded): [rootz, rooty, 6 joint angles, rootx velocity (index 8), ...]; reward
# forward_velocity - 0.1 ||a||^2 (approximate: see the module docstring).


def half_cheetah_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, 17, 6, "HalfCheetah-v5")
    return next_obs[:, 8] - 0.1 * _ctrl_sq(act, next_obs)


def half_cheetah_term(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, 17, 6, "HalfCheetah-v5")
    return _never(next_obs)


# ------------------------------------------------------------------ Hopper-v5
# obs (x excluded): [z, torso angle, 3 joint angles, clip(qvel, +-10) (6)]; x-velocity is
# obs[5]. Healthy: every entry of state_vector()[2:] (= obs[1:] up to the velocity clip) within
# (-100, 100), 0.7 < z, -0.2 < angle < 0.2. Reward forward + 1 * healthy - 1e-3 ||a||^2.


def _hopper_healthy(next_obs: torch.Tensor) -> torch.Tensor:
    state = next_obs[:, 1:]
    healthy_state = ((state > -100.0) & (state < 100.0)).all(dim=1)
    z, angle = next_obs[:, 0], next_obs[:, 1]
    healthy_z = z > 0.7  # upper bound is +inf; NaN fails, as in the env
    healthy_angle = (angle > -0.2) & (angle < 0.2)
    return healthy_state & healthy_z & healthy_angle


def hopper_term(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, 11, 3, "Hopper-v5")
    return ~_hopper_healthy(next_obs)


def hopper_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, 11, 3, "Hopper-v5")
    healthy = _hopper_healthy(next_obs).to(next_obs.dtype)
    return next_obs[:, 5] + healthy - 1e-3 * _ctrl_sq(act, next_obs)


# ------------------------------------------------------------------ Pusher-v5
# obs: [qpos[:7], qvel[:7], tips_arm xyz (14:17), object xyz (17:20), goal xyz (20:23)];
# reward -0.5 ||object - tip|| - ||object - goal|| - 0.1 ||a||^2.


def pusher_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, 23, 7, "Pusher-v5")
    tip, obj, goal = next_obs[:, 14:17], next_obs[:, 17:20], next_obs[:, 20:23]
    near = torch.linalg.vector_norm(obj - tip, dim=1)
    dist = torch.linalg.vector_norm(obj - goal, dim=1)
    return -0.5 * near - dist - 0.1 * _ctrl_sq(act, next_obs)


def pusher_term(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, 23, 7, "Pusher-v5")
    return _never(next_obs)


# ------------------------------------------------------------------ advex/ArenaRobot-v0
# obs: [x, y, yaw, vx, vy, yaw rate, contact]; reward -||(x, y) - goal|| - 0.1 ||a||^2.


def arena_robot_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, ARENA_OBS_DIM, ARENA_ACT_DIM, "advex/ArenaRobot-v0")
    goal = torch.as_tensor(ARENA_GOAL, dtype=next_obs.dtype, device=next_obs.device)
    distance = torch.linalg.vector_norm(next_obs[:, :2] - goal, dim=1)
    return -ARENA_DISTANCE_WEIGHT * distance - ARENA_CTRL_COST_WEIGHT * _ctrl_sq(act, next_obs)


def arena_robot_term(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    _check(act, next_obs, ARENA_OBS_DIM, ARENA_ACT_DIM, "advex/ArenaRobot-v0")
    return _never(next_obs)
