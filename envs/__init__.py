"""advex.envs: the MuJoCo tasks, their batched torch rewards, and full-state save/restore.

Any Gymnasium MuJoCo env is a task by its id (``"Walker2d-v5"``) or, for a user's own env, by
``"my_pkg.envs:MyRobot-v0"``; :func:`register_task` adds closed-form rewards to one.
Importing this package registers advex's own robot ``advex/ArenaRobot-v0`` with Gymnasium.
"""

import gymnasium

ARENA_ROBOT_ID = "advex/ArenaRobot-v0"

# Guard: re-importing (e.g. importlib.reload in tests or notebooks) must not re-register.
if ARENA_ROBOT_ID not in gymnasium.registry:
    gymnasium.register(
        id=ARENA_ROBOT_ID,
        entry_point="advex.envs.arena_robot:ArenaRobotEnv",
        max_episode_steps=200,
    )

from .derived import gymnasium_mujoco_ids  # noqa: E402
from .episodes import (  # noqa: E402
    EPISODE_MODES,
    EpisodeMode,
    EpisodeModeError,
    IgnoreTermination,
    check_episode_mode,
)
from .registry import (  # noqa: E402  (registration first, so make_env always finds the robot)
    BUILT_IN_TASKS,
    TASKS,
    PlannerDefaults,
    TaskSpec,
    UnknownTaskError,
    check_dims,
    get_task,
    list_tasks,
    make_env,
    register_task,
    registered_tasks,
    task_table,
)
from .state import StateSizeError, get_state, set_state, state_size  # noqa: E402

__all__ = [
    "ARENA_ROBOT_ID",
    "BUILT_IN_TASKS",
    "EPISODE_MODES",
    "EpisodeMode",
    "EpisodeModeError",
    "IgnoreTermination",
    "check_dims",
    "check_episode_mode",
    "TASKS",
    "PlannerDefaults",
    "StateSizeError",
    "TaskSpec",
    "UnknownTaskError",
    "get_state",
    "get_task",
    "gymnasium_mujoco_ids",
    "list_tasks",
    "make_env",
    "register_task",
    "registered_tasks",
    "set_state",
    "state_size",
    "task_table",
]
