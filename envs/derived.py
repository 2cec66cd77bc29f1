"""Task specs derived from the env itself, so any Gymnasium MuJoCo env works by its id.

advex's hand-written :data:`~advex.envs.registry.TASKS` add closed-form batched rewards and
terminations; everything else a task needs (observation and action sizes, the time limit,
full-state get/set) can be read off the env. :func:`derive_task` builds the env once, checks
that it is a MuJoCo env with 1-D continuous spaces and a time limit, and returns a
:class:`~advex.envs.registry.TaskSpec` with ``reward_fn = term_fn = None``: code that needs
them learns them from data (:mod:`advex.models.reward_head`).

Two spellings of a task:

- a registered Gymnasium id, ``"Walker2d-v5"``;
- the Gymnasium ``"module:Id"`` convention, ``"my_pkg.envs:MyRobot-v0"``: the module is
  imported first (it registers ``MyRobot-v0`` with Gymnasium, and may also call
  :func:`advex.envs.register_task` to give it closed-form rewards). The spec keeps the whole
  string as its name and Gymnasium id, so a process that only sees the name (a compare worker,
  a resumed run, a buffer file's meta) imports the module again by itself.
"""

from __future__ import annotations

import difflib
import importlib

import gymnasium
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from .registry import TASKS, TaskSpec, UnknownTaskError


def split_module(name: str) -> tuple[str | None, str]:
    """``"pkg.mod:Id"`` -> ``("pkg.mod", "Id")``; ``"Id"`` -> ``(None, "Id")``."""
    if ":" not in name:
        return None, name
    module, _, gym_id = name.partition(":")
    return module, gym_id


def import_task_module(name: str) -> str:
    """Import the module of a ``"module:Id"`` task (a no-op without one); return ``Id``.

    Raises :class:`UnknownTaskError` with the import error's own message.
    """
    module, gym_id = split_module(name)
    if module is not None:
        if not module or not gym_id:
            raise UnknownTaskError(f"task {name!r}: expected 'module:Id' with both parts")
        try:
            importlib.import_module(module)
        except Exception as error:  # any import-time failure is the user's module's own
            reason = f"{type(error).__name__}: {error}".splitlines()[0]
            raise UnknownTaskError(
                f"task {name!r}: cannot import module {module!r} ({reason})"
            ) from None
    return gym_id


def derive_task(name: str) -> TaskSpec:
    """The spec of ``name`` (a Gymnasium id or ``"module:Id"``), read off one built env.

    One-line :class:`UnknownTaskError` when the id is not registered, its module does not
    import, the env cannot be built, is not a MuJoCo env, has spaces advex cannot model
    (not a 1-D ``Box``) or registers no time limit.
    """
    gym_id = import_task_module(name)
    if gym_id not in gymnasium.registry:
        close = difflib.get_close_matches(gym_id, [*TASKS, *gymnasium.registry], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownTaskError(
            f"unknown task {name!r}: {gym_id!r} is not a registered Gymnasium id ({hint}run "
            "`advex envs` for the tasks; for your own env use 'module:Id')"
        )
    try:
        env = gymnasium.make(gym_id, disable_env_checker=True)
    except Exception as error:  # the env's own constructor failed: say why, in one line
        reason = f"{type(error).__name__}: {error}".splitlines()[0]
        raise UnknownTaskError(f"task {name!r}: gymnasium.make failed ({reason})") from None
    try:
        inner = env.unwrapped
        if not isinstance(inner, MujocoEnv):
            raise UnknownTaskError(
                f"task {name!r}: not a MuJoCo env: {type(inner).__name__} (advex needs a "
                "gymnasium MujocoEnv, whose full simulator state it can save and restore)"
            )
        dims = {}
        for what, space in (("observation", env.observation_space), ("action", env.action_space)):
            if not (isinstance(space, gymnasium.spaces.Box) and len(space.shape) == 1):
                raise UnknownTaskError(
                    f"task {name!r}: its {what} space is {space}; advex models 1-D Box spaces"
                )
            dims[what] = int(space.shape[0])
        max_steps = env.spec.max_episode_steps if env.spec is not None else None
        if not max_steps:
            raise UnknownTaskError(
                f"task {name!r}: registers no time limit; register it with "
                "max_episode_steps=... (advex's episodes end at the time limit)"
            )
        return TaskSpec(
            name=name,
            gym_id=name,  # "module:Id" makes gymnasium import the module wherever it runs
            obs_dim=dims["observation"],
            act_dim=dims["action"],
            max_episode_steps=int(max_steps),
            reward_fn=None,
            term_fn=None,
            description=f"{type(inner).__name__}, derived from the env",
        )
    finally:
        env.close()


def gymnasium_mujoco_ids(version: str = "v5") -> list[str]:
    """Gymnasium's own MuJoCo env ids of one ``version``, in registration order (each works
    as a task by name; others registered by users work too)."""
    return [
        env_id
        for env_id, spec in gymnasium.registry.items()
        if isinstance(spec.entry_point, str)
        and spec.entry_point.startswith("gymnasium.envs.mujoco")
        and env_id.endswith(f"-{version}")
    ]
