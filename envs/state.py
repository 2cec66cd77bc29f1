"""Save and restore the full MuJoCo state of a Gymnasium MuJoCo env.

Exploration strategies and the coverage yardstick restart the simulator from chosen states;
``qpos``/``qvel`` alone are not enough for bit-identical replays (the constraint solver's
warm start, the last control, the time and applied forces matter too). MuJoCo's
``mjSTATE_INTEGRATION`` signature is exactly "everything ``mj_step`` reads", so
``set_state(env, get_state(env))`` followed by the same action reproduces the next observation
bit for bit.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import mujoco
import numpy as np

#: The state signature: every input of ``mj_step`` (time, qpos, qvel, act, warm start, ctrl,
#: applied forces, mocap, equality flags, user data, plugin state).
STATE_SIGNATURE = mujoco.mjtState.mjSTATE_INTEGRATION


class StateSizeError(ValueError):
    """A state vector whose length does not match the env's MuJoCo model."""


def _mujoco_env(env: gymnasium.Env) -> Any:
    """The innermost MuJoCo env behind any wrappers (needs ``.model`` and ``.data``)."""
    inner = env.unwrapped
    if not (hasattr(inner, "model") and hasattr(inner, "data")):
        raise TypeError(
            f"{type(inner).__name__} is not a MuJoCo env (no .model/.data); "
            "get_state/set_state need a gymnasium MujocoEnv"
        )
    return inner


def state_size(env: gymnasium.Env) -> int:
    """Length of the vector :func:`get_state` returns for ``env``."""
    inner = _mujoco_env(env)
    return int(mujoco.mj_stateSize(inner.model, STATE_SIGNATURE))


def get_state(env: gymnasium.Env) -> np.ndarray:
    """The full integration state of ``env``, a fresh ``state_size(env)`` float64 vector."""
    inner = _mujoco_env(env)
    state = np.empty(mujoco.mj_stateSize(inner.model, STATE_SIGNATURE), dtype=np.float64)
    mujoco.mj_getState(inner.model, inner.data, state, STATE_SIGNATURE)
    return state


def set_state(env: gymnasium.Env, state: np.ndarray) -> np.ndarray:
    """Restore ``state`` (from :func:`get_state`), run ``mj_forward``, return the observation.

    The returned observation is computed from freshly forwarded kinematics. Gymnasium's own
    envs build some observation entries (``Reacher``/``Pusher`` body positions) from the
    kinematics of the *last sub-step* of ``step``, so for those entries the returned
    observation can differ slightly from the one ``step`` returned on reaching the same state;
    the *next* observation after the same action is identical either way.
    """
    inner = _mujoco_env(env)
    state = np.asarray(state)
    expected = mujoco.mj_stateSize(inner.model, STATE_SIGNATURE)
    if state.ndim != 1 or state.shape[0] != expected:
        raise StateSizeError(
            f"set_state: state has shape {state.shape}, expected ({expected},) for "
            f"{type(inner).__name__} (use get_state on the same task)"
        )
    if not np.all(np.isfinite(state)):
        raise ValueError("set_state: state contains NaN or inf")
    state = np.ascontiguousarray(state, dtype=np.float64)
    mujoco.mj_setState(inner.model, inner.data, state, STATE_SIGNATURE)
    mujoco.mj_forward(inner.model, inner.data)
    return inner._get_obs()


def reports_terminal(env: gymnasium.Env) -> bool:
    """Whether ``env``'s current state is one its next ``step`` would terminate on, where the
    env can say so without stepping.

    For tasks without a closed-form termination (derived ones). Gymnasium's locomotion envs
    (Hopper, Walker2d, Ant, Humanoid) expose ``is_healthy``; an unhealthy state terminates
    when ``terminate_when_unhealthy`` is on. Other envs: ``False`` (a rollout from the state
    still ends on the first step the env flags as terminated).
    """
    inner = _mujoco_env(env)
    if not getattr(inner, "_terminate_when_unhealthy", False):
        return False
    healthy = getattr(inner, "is_healthy", True)
    return not bool(healthy)
