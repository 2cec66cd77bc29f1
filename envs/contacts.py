"""Contact labels: did a constraint act on the robot during a transition?

Free motion and contact are different questions for a transition model (a collision's
outcome forks; a joint stop clips a velocity), so advex labels every transition it records,
in coverage sets and collected buffers alike, and scores the two strata apart
(``mse_1step@free`` / ``mse_1step@contact``, :mod:`advex.engine.metrics`).

A transition ``s -> s'`` is **contact** when, at ``s``, at any sub-step state of the step
(an env step is ``frame_skip`` MuJoCo steps) or at ``s'``, MuJoCo reports

* a contact: ``data.ncon > 0`` after collision detection, or
* a joint or tendon limit row: a constraint row of type ``mjCNSTR_LIMIT_JOINT`` or
  ``mjCNSTR_LIMIT_TENDON`` (a slider at its rail end, a knee at its stop).

Equality constraints and friction-loss rows are left out on purpose: a model may carry them
in every state (they are part of its ordinary dynamics, not an event), which would make every
transition "contact". Each state is checked on a private scratch ``MjData`` (positions only:
``mj_fwdPosition``), so labelling never changes the simulation: the env's own ``data`` is
read, never written.

Sub-steps are seen through Gymnasium's ``MujocoEnv._step_mujoco_simulation`` (the one place
its envs step the simulator, advex's arena included); an env that steps another way is
checked at ``s`` and ``s'`` only. An env without a MuJoCo simulator (a test's toy system) has
no constraints to report: :meth:`ContactMonitor.of` gives it a monitor that labels every step
free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import mujoco
import numpy as np

#: Constraint row types that count as a limit hit.
LIMIT_TYPES = (int(mujoco.mjtConstraint.mjCNSTR_LIMIT_JOINT),
               int(mujoco.mjtConstraint.mjCNSTR_LIMIT_TENDON))


def _has_simulator(inner: Any) -> bool:
    """Whether an unwrapped env holds a MuJoCo simulator (``model`` and ``data``)."""
    return hasattr(inner, "model") and hasattr(inner, "data")


class ContactMonitor:
    """Labels the steps of one MuJoCo env (module docstring): call :meth:`begin` before
    ``env.step`` and :meth:`end` after it, which returns the step's label.

    Installing the monitor wraps the unwrapped env's ``_step_mujoco_simulation`` so that each
    sub-step is checked; the wrapped call steps the simulator exactly as before (one
    ``mj_step`` per sub-step, ``nstep=1`` each, which is what ``nstep=n`` does).
    """

    def __init__(self, env: Any) -> None:
        inner = env.unwrapped
        if not _has_simulator(inner):
            raise TypeError(f"ContactMonitor needs a MuJoCo env, got {type(inner).__name__}")
        self.model, self.data = inner.model, inner.data
        self._scratch = mujoco.MjData(self.model)
        self._checked_qpos = np.full(self.model.nq, np.nan)
        self._checked_mocap = np.full((self.model.nmocap, 7), np.nan)
        self._checked_result = False
        self._hit = False
        original: Callable[[Any, int], None] | None = getattr(
            inner, "_step_mujoco_simulation", None
        )
        if original is not None:
            if getattr(original, "advex_contact_monitor", None) is not None:
                raise ValueError("this env already has a ContactMonitor; share that one")

            def step_and_check(ctrl: Any, n_frames: int) -> None:
                for _ in range(int(n_frames)):
                    original(ctrl, 1)
                    self._hit = self.constrained() or self._hit

            step_and_check.advex_contact_monitor = self  # type: ignore[attr-defined]
            inner._step_mujoco_simulation = step_and_check

    @classmethod
    def of(cls, env: Any) -> ContactMonitor | NoConstraints:
        """The env's monitor, installed on first use (one per simulator); for an env without
        a MuJoCo simulator, a :class:`NoConstraints`."""
        inner = env.unwrapped
        if not _has_simulator(inner):
            return NoConstraints()
        step = getattr(inner, "_step_mujoco_simulation", None)
        existing = getattr(step, "advex_contact_monitor", None)
        return existing if existing is not None else cls(env)

    def constrained(self) -> bool:
        """Whether the env's current state has a contact or a limit row (module docstring).
        The result for the last state checked is kept, so ``s'`` of one step and ``s`` of the
        next cost one check."""
        data = self.data
        mocap = np.concatenate([data.mocap_pos, data.mocap_quat], axis=1)
        if np.array_equal(data.qpos, self._checked_qpos) and np.array_equal(
            mocap, self._checked_mocap
        ):
            return self._checked_result
        scratch = self._scratch
        scratch.qpos[:] = data.qpos
        scratch.mocap_pos[:] = data.mocap_pos
        scratch.mocap_quat[:] = data.mocap_quat
        mujoco.mj_fwdPosition(self.model, scratch)
        result = scratch.ncon > 0
        if not result and scratch.nefc:
            types = scratch.efc_type[: scratch.nefc]
            result = bool(np.any((types == LIMIT_TYPES[0]) | (types == LIMIT_TYPES[1])))
        self._checked_qpos[:] = data.qpos
        self._checked_mocap[:] = mocap
        self._checked_result = bool(result)
        return self._checked_result

    def begin(self) -> None:
        """Start a step's label with its start state ``s``."""
        self._hit = self.constrained()

    def end(self) -> bool:
        """The label of the step since :meth:`begin`: ``s``, the sub-steps and ``s'``."""
        return self.constrained() or self._hit


class NoConstraints:
    """The monitor of an env without a MuJoCo simulator: no constraint ever acts."""

    def begin(self) -> None:
        """Nothing to record."""

    def end(self) -> bool:
        return False
