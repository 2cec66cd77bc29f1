"""The tasks advex knows: dimensions, episode length and model-side reward of each MuJoCo env.

One :class:`TaskSpec` per task, keyed by its Gymnasium id, so the CLI, the model code and the
exploration strategies agree on shapes without building an env first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium

from advex.types import RewardFn, TermFn

from . import rewards
from .arena_robot import ARENA_ACT_DIM, ARENA_OBS_DIM
from .episodes import EpisodeMode, IgnoreTermination, check_episode_mode


class UnknownTaskError(ValueError):
    """A task name that is not in :data:`TASKS`."""


@dataclass(frozen=True)
class TaskSpec:
    """A task: its Gymnasium id, shapes (default env arguments) and batched reward/termination.

    ``reward_fn`` / ``term_fn``: ``(act B x A, next_obs B x O) -> B`` torch functions from
    :mod:`advex.envs.rewards` that reproduce the env's reward from the observation.
    """

    name: str
    gym_id: str
    obs_dim: int
    act_dim: int
    max_episode_steps: int
    reward_fn: RewardFn
    term_fn: TermFn
    description: str


def _spec(
    gym_id: str,
    obs_dim: int,
    act_dim: int,
    max_episode_steps: int,
    reward_fn: RewardFn,
    term_fn: TermFn,
    description: str,
) -> TaskSpec:
    return TaskSpec(
        name=gym_id,
        gym_id=gym_id,
        obs_dim=obs_dim,
        act_dim=act_dim,
        max_episode_steps=max_episode_steps,
        reward_fn=reward_fn,
        term_fn=term_fn,
        description=description,
    )


#: Every task advex supports, keyed by name (= Gymnasium id). ``max_episode_steps`` is
#: Gymnasium's registered default.
TASKS: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "InvertedPendulum-v5",
            obs_dim=4,
            act_dim=1,
            max_episode_steps=1000,
            reward_fn=rewards.inverted_pendulum_reward,
            term_fn=rewards.inverted_pendulum_term,
            description="cart-pole balance; terminates when |pole angle| > 0.2",
        ),
        _spec(
            "Reacher-v5",
            obs_dim=10,
            act_dim=2,
            max_episode_steps=50,
            reward_fn=rewards.reacher_reward,
            term_fn=rewards.reacher_term,
            description="2-link arm reaching a random target",
        ),
        _spec(
            "HalfCheetah-v5",
            obs_dim=17,
            act_dim=6,
            max_episode_steps=1000,
            reward_fn=rewards.half_cheetah_reward,
            term_fn=rewards.half_cheetah_term,
            description="planar runner; reward forward velocity (model reward approximate)",
        ),
        _spec(
            "Hopper-v5",
            obs_dim=11,
            act_dim=3,
            max_episode_steps=1000,
            reward_fn=rewards.hopper_reward,
            term_fn=rewards.hopper_term,
            description="planar one-legged hopper; terminates when it falls (unhealthy)",
        ),
        _spec(
            "Pusher-v5",
            obs_dim=23,
            act_dim=7,
            max_episode_steps=100,
            reward_fn=rewards.pusher_reward,
            term_fn=rewards.pusher_term,
            description="7-DoF arm pushing a cylinder to a goal",
        ),
        _spec(
            "advex/ArenaRobot-v0",
            obs_dim=ARENA_OBS_DIM,
            act_dim=ARENA_ACT_DIM,
            max_episode_steps=200,
            reward_fn=rewards.arena_robot_reward,
            term_fn=rewards.arena_robot_term,
            description="advex's disc robot in a walled arena with obstacles (collisions)",
        ),
    )
}


def list_tasks() -> list[str]:
    """Task names in :data:`TASKS` order."""
    return list(TASKS)


def get_task(name: str | TaskSpec) -> TaskSpec:
    """The :class:`TaskSpec` called ``name`` (a spec passes through unchanged)."""
    if isinstance(name, TaskSpec):
        return name
    try:
        return TASKS[name]
    except (KeyError, TypeError):
        raise UnknownTaskError(f"unknown task {name!r}; valid tasks: {', '.join(TASKS)}") from None


def make_env(
    task: str | TaskSpec, *, episodes: EpisodeMode = "env", **kwargs: Any
) -> gymnasium.Env:
    """``gymnasium.make(task.gym_id, **kwargs)``: the MuJoCo env with the standard wrappers.

    ``episodes="free"`` wraps it in :class:`~advex.envs.episodes.IgnoreTermination` (outside
    the time limit): the env never terminates, episodes end at the time limit only.
    ``kwargs`` go to ``gymnasium.make`` (``render_mode``, ``max_episode_steps``, env
    constructor arguments). Changing constructor arguments that alter the observation or the
    reward makes the task's ``obs_dim``/``reward_fn`` stale; that is the caller's choice.
    """
    spec = get_task(task)
    check_episode_mode(episodes)
    # Registration of advex's own envs happens on `import advex.envs`, which importing this
    # module already triggered; nothing else to do here.
    env = gymnasium.make(spec.gym_id, **kwargs)
    return IgnoreTermination(env) if episodes == "free" else env


def task_table() -> list[dict[str, Any]]:
    """One row per task (name, obs_dim, act_dim, max_episode_steps, description) for the CLI."""
    return [
        {
            "name": spec.name,
            "obs_dim": spec.obs_dim,
            "act_dim": spec.act_dim,
            "max_episode_steps": spec.max_episode_steps,
            "description": spec.description,
        }
        for spec in TASKS.values()
    ]
