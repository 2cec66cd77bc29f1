"""The tasks advex knows: dimensions, episode length and model-side reward of each MuJoCo env.

One :class:`TaskSpec` per task, keyed by its name, so the CLI, the model code and the
exploration strategies agree on shapes. :data:`TASKS` holds the built-in tasks (hand-written
because they add closed-form batched rewards and terminations) and whatever a user adds with
:func:`register_task`; every other Gymnasium MuJoCo id, and the ``"module:Id"`` spelling of a
user's own env, is derived from the env on first use (:mod:`advex.envs.derived`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import gymnasium

from advex.types import RewardFn, TermFn

from . import rewards
from .arena_robot import ARENA_ACT_DIM, ARENA_OBS_DIM
from .episodes import EpisodeMode, IgnoreTermination, check_episode_mode


class UnknownTaskError(ValueError):
    """A task name that is neither in :data:`TASKS` nor a usable Gymnasium MuJoCo id."""


@dataclass(frozen=True)
class PlannerDefaults:
    """The MPC settings ``advex plan`` uses on a task unless a flag says otherwise, chosen by
    measurement with the true simulator (``benchmarks/plan_defaults.py``,
    docs/benchmarks.md). ``horizon``: steps planned ahead; ``candidates``: action sequences
    per optimiser iteration; ``iterations``: CEM/MPPI refinements per action. The defaults
    are the generic ones derived and user tasks get (PETS' horizon, a 200-candidate CEM)."""

    horizon: int = 15
    candidates: int = 200
    iterations: int = 3


@dataclass(frozen=True)
class TaskSpec:
    """A task: its Gymnasium id, shapes (default env arguments) and batched reward/termination.

    ``reward_fn`` / ``term_fn``: ``(act B x A, next_obs B x O) -> B`` torch functions (for
    the built-in tasks from :mod:`advex.envs.rewards`) that reproduce the env's reward and
    termination from the observation; ``None`` where the task has no closed form, and code
    that needs one learns it from data (:func:`advex.models.reward_head.task_functions`).
    Functions of a task given to :func:`register_task` must be importable module-level
    functions when a comparison runs the task in worker processes (they travel by pickle).
    """

    name: str
    gym_id: str
    obs_dim: int
    act_dim: int
    max_episode_steps: int
    reward_fn: RewardFn | None = None
    term_fn: TermFn | None = None
    description: str = ""
    #: What planners maximise where it is not the env's reward (a flat survival reward gives
    #: a short horizon nothing to prefer); ``None``: the reward itself.
    planning_reward_fn: RewardFn | None = None
    #: ``advex plan``'s MPC settings on this task (measured per built-in task).
    planner: PlannerDefaults = PlannerDefaults()

    @property
    def planning_reward(self) -> RewardFn | None:
        """The reward planners maximise: ``planning_reward_fn`` if set, else ``reward_fn``."""
        return self.planning_reward_fn or self.reward_fn

    @property
    def closed_form(self) -> bool:
        """Whether both the reward and the termination have closed forms."""
        return self.reward_fn is not None and self.term_fn is not None


def _spec(
    gym_id: str,
    obs_dim: int,
    act_dim: int,
    max_episode_steps: int,
    reward_fn: RewardFn,
    term_fn: TermFn,
    description: str,
    planning_reward_fn: RewardFn | None = None,
    planner: PlannerDefaults = PlannerDefaults(),
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
        planning_reward_fn=planning_reward_fn,
        planner=planner,
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
            planning_reward_fn=rewards.inverted_pendulum_planning_reward,
            # 15 / 200 / 3 dropped the pole after 168 steps; 25 / 60 / 3 balanced it for the
            # whole 1 000 (docs/benchmarks.md, "Planner defaults")
            planner=PlannerDefaults(horizon=25, candidates=60, iterations=3),
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


BUILT_IN_TASKS: tuple[str, ...] = tuple(TASKS)

#: Specs derived from their env in this process (deriving builds the env once).
_DERIVED: dict[str, TaskSpec] = {}


def list_tasks() -> list[str]:
    """Task names in :data:`TASKS` order (built-in first, then registered ones)."""
    return list(TASKS)


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add ``spec`` to :data:`TASKS` so every advex entry point accepts ``spec.name``.

    For a task with its own closed-form ``reward_fn``/``term_fn`` (a task without them needs no
    registration: its Gymnasium id works as it is). Registering the same spec again is a no-op
    (a module registering at import may be imported twice); a different spec under a taken name
    is refused. Compare workers receive the registered specs, so the functions must pickle
    (module-level functions). A user module can call this at import, and ``--task
    module:Id`` then picks the spec up in the CLI, in workers and on resume.
    """
    if not isinstance(spec, TaskSpec):
        raise TypeError(f"register_task expects a TaskSpec, got {type(spec).__name__}")
    if not spec.name or not isinstance(spec.name, str):
        raise ValueError("register_task: the spec needs a non-empty name")
    for what in ("obs_dim", "act_dim", "max_episode_steps"):
        value = getattr(spec, what)
        if not (isinstance(value, int) and value >= 1):
            raise ValueError(
                f"register_task {spec.name!r}: {what} must be an int >= 1, got {value!r}"
            )
    for what in ("reward_fn", "term_fn"):
        fn = getattr(spec, what)
        if fn is not None and not callable(fn):
            raise TypeError(f"register_task {spec.name!r}: {what} must be callable or None")
    existing = TASKS.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(f"register_task: task {spec.name!r} is already registered differently")
    TASKS[spec.name] = spec
    _DERIVED.pop(spec.name, None)
    return spec


def registered_tasks() -> dict[str, TaskSpec]:
    """The specs :func:`register_task` added in this process: the tasks of :data:`TASKS`
    that are not built in (what compare sends to its workers)."""
    return {name: spec for name, spec in TASKS.items() if name not in BUILT_IN_TASKS}


def get_task(name: str | TaskSpec | gymnasium.Env) -> TaskSpec:
    """The :class:`TaskSpec` called ``name`` (a spec passes through unchanged; an env stands
    for its registered id: advex builds its own copies of it).

    Looks in :data:`TASKS`, then derives the spec from the env (any Gymnasium MuJoCo id, or
    ``"module:Id"``; see :mod:`advex.envs.derived`). A ``"module:Id"`` whose module registered
    ``Id`` with :func:`register_task` gets that spec, named by the whole string so that any
    process reading the name imports the module again.
    """
    if isinstance(name, TaskSpec):
        return name
    if isinstance(name, gymnasium.Env):
        if name.spec is None:
            raise UnknownTaskError(
                f"{type(name.unwrapped).__name__} was not made by gymnasium.make, so it has no "
                "id advex can rebuild it from; register it and pass its id"
            )
        registered = gymnasium.spec(name.spec.id)
        if name.spec.kwargs != registered.kwargs:
            raise UnknownTaskError(
                f"{name.spec.id} was made with arguments {name.spec.kwargs} other than its "
                "registered ones; register that variant under its own id and pass the id"
            )
        return get_task(name.spec.id)
    if not isinstance(name, str):
        raise UnknownTaskError(f"a task is a name (str), got {type(name).__name__}")
    if name in TASKS:
        return TASKS[name]
    if name not in _DERIVED:
        from .derived import derive_task, import_task_module

        gym_id = import_task_module(name)
        if gym_id != name and gym_id in TASKS:
            _DERIVED[name] = replace(TASKS[gym_id], name=name, gym_id=name)
        else:
            _DERIVED[name] = derive_task(name)
    return _DERIVED[name]


def check_dims(task: str | TaskSpec, obs_dim: int, act_dim: int, what: str) -> None:
    """One clear line when ``what`` (a buffer, a model) does not have ``task``'s observation
    and action sizes; called before any work is done with it."""
    spec = get_task(task)
    if (obs_dim, act_dim) != (spec.obs_dim, spec.act_dim):
        raise ValueError(
            f"{what} is {obs_dim}-obs/{act_dim}-act but {spec.name} is "
            f"{spec.obs_dim}-obs/{spec.act_dim}-act"
        )


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


def task_table(names: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per task (name, obs_dim, act_dim, max_episode_steps, reward, planner: ``advex
    plan``'s horizon/candidates/iterations, description) for
    the CLI: the tasks of :data:`TASKS` by default, or ``names`` (derived where needed).
    ``reward`` says where planners get rewards and terminations: ``closed form`` or
    ``learned`` (from the buffer, :mod:`advex.models.reward_head`)."""
    return [
        {
            "name": spec.name,
            "obs_dim": spec.obs_dim,
            "act_dim": spec.act_dim,
            "max_episode_steps": spec.max_episode_steps,
            "reward": "closed form" if spec.closed_form else "learned",
            "planner": f"{spec.planner.horizon}/{spec.planner.candidates}/"
                       f"{spec.planner.iterations}",
            "description": spec.description,
        }
        for spec in (get_task(n) for n in (names if names is not None else list(TASKS)))
    ]
