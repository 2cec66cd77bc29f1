"""The real simulator's derivatives of one env step, around recorded states.

The true-loss pathwise adversary (:mod:`advex.exploration.adversarial_pathwise`) needs
``d f(s, a) / d a`` of the *real* dynamics (and ``d f / d s`` to chain over a few steps). This
module linearises one Gymnasium MuJoCo env step ``(x, a) -> (obs', x')`` at given full states
``x`` (:func:`advex.envs.get_state`) and actions, in MuJoCo's tangent coordinates
``dx = (dqpos (nv), dqvel (nv), dact (na))`` (``S = 2 nv + na``; qpos perturbations go through
``mj_integratePos`` so quaternion joints are handled). Two sources:

- ``"mjd"``: ``mujoco.mjd_transitionFD`` per physics sub-step (MuJoCo's own finite
  differences, in C), chained over the env's ``frame_skip`` sub-steps with the control held,
  ``A = A_k ... A_1``, ``B = sum_j A_k ... A_{j+1} B_j``. The observation's Jacobian at the next
  state comes from differences of the env's own ``_get_obs`` (``S`` forward passes). MuJoCo
  refuses this for the RK4 integrator (InvertedPendulum-v5, Reacher-v5, Hopper-v5). Exact where
  the observation is a function of the state; approximate where an env reports kinematics of
  the last sub-step (Reacher/Pusher body positions, the arena's contact channel).
- ``"differences"``: forward differences of the whole env step through ``mj_setState`` +
  ``env.step``: ``S + A + 1`` env steps per row. Works for every integrator and is exact in what
  it differentiates (the env's own step and observation), at a higher cost.

``"auto"`` picks ``"mjd"`` unless the model integrates with RK4. Costs on this 2-core machine
are in ``docs/benchmarks.md`` (``benchmarks/adversary_update.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import mujoco
import numpy as np

from .registry import TaskSpec, get_task, make_env
from .state import STATE_SIGNATURE

JacobianSource = Literal["auto", "mjd", "differences"]
JACOBIAN_SOURCES: tuple[str, ...] = ("auto", "mjd", "differences")


class NotSettableError(ValueError):
    """The task's simulator state cannot be set (not a Gymnasium MuJoCo env)."""


@dataclass(frozen=True)
class StepJacobians:
    """Derivatives of the env step at ``B`` rows (float64, tangent coordinates, ``S`` dims).

    ``obs_state`` ``B x O x S`` = d obs' / d x, ``obs_act`` ``B x O x A`` = d obs' / d a,
    ``state_state`` ``B x S x S`` = d x' / d x, ``state_act`` ``B x S x A`` = d x' / d a.
    """

    obs_state: np.ndarray
    obs_act: np.ndarray
    state_state: np.ndarray
    state_act: np.ndarray


def mujoco_inner(env: Any, task: str) -> Any:
    """The unwrapped MuJoCo env of ``env``; :class:`NotSettableError` names ``task`` if none."""
    inner = env.unwrapped
    if not all(hasattr(inner, name) for name in ("model", "data", "frame_skip", "_get_obs")):
        raise NotSettableError(
            f"{task} is not a Gymnasium MuJoCo env ({type(inner).__name__}): its simulator "
            "state cannot be set, so simulator Jacobians are unavailable"
        )
    return inner


def check_settable(task: str | TaskSpec) -> None:
    """Raise :class:`NotSettableError` (one line) unless ``task`` is a MuJoCo env."""
    spec = get_task(task)
    env = make_env(spec, disable_env_checker=True)
    try:
        mujoco_inner(env, spec.name)
    finally:
        env.close()


class SimulatorJacobians:
    """Linearise ``task``'s env step at recorded states (see the module docstring).

    ``source``: ``"auto"``, ``"mjd"`` or ``"differences"``; ``eps``: the finite-difference step
    (MuJoCo's default ``1e-6``); ``centered``: central instead of forward differences (twice
    the cost, second-order accurate).
    """

    def __init__(
        self,
        task: str | TaskSpec,
        source: JacobianSource = "auto",
        eps: float = 1e-6,
        centered: bool = False,
    ) -> None:
        if source not in JACOBIAN_SOURCES:
            raise ValueError(
                f"unknown Jacobian source {source!r}; valid: {', '.join(JACOBIAN_SOURCES)}"
            )
        if not eps > 0:
            raise ValueError(f"eps must be > 0, got {eps}")
        self.spec = get_task(task)
        self.env = make_env(self.spec, disable_env_checker=True)
        self.inner = mujoco_inner(self.env, self.spec.name)
        self.model, self.data = self.inner.model, self.inner.data
        rk4 = self.model.opt.integrator == mujoco.mjtIntegrator.mjINT_RK4
        if source == "mjd" and rk4:
            self.env.close()
            raise ValueError(
                f"{self.spec.name} integrates with RK4, which mujoco.mjd_transitionFD refuses; "
                "use source='differences' (or 'auto')"
            )
        self.source: str = ("differences" if rk4 else "mjd") if source == "auto" else source
        self.eps, self.centered = float(eps), bool(centered)
        m = self.model
        self.state_dim = 2 * m.nv + m.na
        self.full_state_dim = int(mujoco.mj_stateSize(m, STATE_SIGNATURE))

    def close(self) -> None:
        self.env.close()

    # ------------------------------------------------------------------ state handling
    def _set(self, state: np.ndarray) -> None:
        mujoco.mj_setState(self.model, self.data, state, STATE_SIGNATURE)

    def _perturb(self, j: int, step: float) -> None:
        """Move the current state by ``step`` along tangent coordinate ``j``."""
        m, d = self.model, self.data
        if j < m.nv:
            dq = np.zeros(m.nv)
            dq[j] = step
            mujoco.mj_integratePos(m, d.qpos, dq, 1.0)
        elif j < 2 * m.nv:
            d.qvel[j - m.nv] += step
        else:
            d.act[j - 2 * m.nv] += step

    def _tangent(self, ref_qpos: np.ndarray) -> np.ndarray:
        """The current state as tangent coordinates ``S`` relative to ``ref_qpos``."""
        m, d = self.model, self.data
        dq = np.zeros(m.nv)
        mujoco.mj_differentiatePos(m, dq, 1.0, ref_qpos, d.qpos)
        return np.concatenate([dq, d.qvel, d.act])

    # ------------------------------------------------------------------ sources
    def _step_outputs(self, state: np.ndarray, action: np.ndarray, j: int, step: float,
                      ref_qpos: np.ndarray) -> np.ndarray:
        """``[obs', x' (tangent, relative to ref_qpos)]`` after one env step from ``state``
        moved by ``step`` along input ``j`` (``j < S``: state, else action ``j - S``)."""
        self._set(state)
        act = np.array(action, dtype=np.float64)
        if j < self.state_dim:
            self._perturb(j, step)
        else:
            act[j - self.state_dim] += step
        obs = np.asarray(self.inner.step(act)[0], dtype=np.float64)
        return np.concatenate([obs, self._tangent(ref_qpos)])

    def _differences(self, state: np.ndarray, action: np.ndarray) -> np.ndarray:
        """``(O + S) x (S + A)`` Jacobian of the env step by differences."""
        self._set(state)
        obs = np.asarray(self.inner.step(np.asarray(action, dtype=np.float64))[0], np.float64)
        ref_qpos = self.data.qpos.copy()  # x' of the unperturbed step: tangent origin
        base = np.concatenate([obs, self._tangent(ref_qpos)])
        return self._columns(
            lambda j, step: self._step_outputs(state, action, j, step, ref_qpos),
            self.state_dim + self.spec.act_dim, base,
        )

    def _columns(self, outputs: Callable[[int, float], np.ndarray], n_inputs: int,
                 base: np.ndarray | None) -> np.ndarray:
        """``len(outputs) x n_inputs`` Jacobian of ``outputs(j, step)`` (the outputs with input
        ``j`` moved by ``step``) by central or forward differences; ``base``: the unmoved
        outputs (forward differences only)."""
        if self.centered:
            cols = [(outputs(j, self.eps) - outputs(j, -self.eps)) / (2 * self.eps)
                    for j in range(n_inputs)]
        else:
            assert base is not None
            cols = [(outputs(j, self.eps) - base) / self.eps for j in range(n_inputs)]
        return np.stack(cols, axis=1)

    def _obs_jacobian(self) -> np.ndarray:
        """``O x S`` d obs / d x of ``_get_obs`` at the current state (restored after)."""
        m, d = self.model, self.data
        saved = np.empty(self.full_state_dim)
        mujoco.mj_getState(m, d, saved, STATE_SIGNATURE)

        def obs_at(j: int, step: float) -> np.ndarray:
            self._set(saved)
            self._perturb(j, step)
            mujoco.mj_forward(m, d)
            return np.asarray(self.inner._get_obs(), dtype=np.float64)

        base = None if self.centered else obs_at(0, 0.0)
        jacobian = self._columns(obs_at, self.state_dim, base)
        self._set(saved)
        return jacobian

    def _mjd(self, state: np.ndarray, action: np.ndarray) -> np.ndarray:
        """``(O + S) x (S + A)`` Jacobian from ``mjd_transitionFD`` sub-step by sub-step."""
        m, d = self.model, self.data
        s, nu = self.state_dim, m.nu
        self._set(state)
        d.ctrl[:] = action
        a_total, b_total = np.eye(s), np.zeros((s, nu))
        a_k, b_k = np.zeros((s, s)), np.zeros((s, nu))
        for _ in range(self.inner.frame_skip):
            mujoco.mjd_transitionFD(m, d, self.eps, self.centered, a_k, b_k, None, None)
            a_total = a_k @ a_total
            b_total = a_k @ b_total + b_k
            mujoco.mj_step(m, d)
        g = self._obs_jacobian()
        state_part = np.concatenate([a_total, b_total], axis=1)
        return np.concatenate([g @ state_part, state_part], axis=0)

    # ------------------------------------------------------------------ public
    def linearize(self, states: np.ndarray, actions: np.ndarray) -> StepJacobians:
        """Jacobians of the env step at ``states`` ``B x full_state_dim`` (from ``get_state``)
        and ``actions`` ``B x A``."""
        states = np.asarray(states, dtype=np.float64)
        actions = np.asarray(actions, dtype=np.float64)
        a_dim, o_dim, s = self.spec.act_dim, self.spec.obs_dim, self.state_dim
        if states.ndim != 2 or states.shape[1] != self.full_state_dim:
            raise ValueError(
                f"states must be B x {self.full_state_dim} (get_state of {self.spec.name}), "
                f"got {states.shape}"
            )
        if actions.shape != (len(states), a_dim):
            raise ValueError(f"actions must be {len(states)} x {a_dim}, got {actions.shape}")
        if a_dim != self.model.nu:
            raise ValueError(
                f"{self.spec.name}: action dim {a_dim} is not the number of controls "
                f"{self.model.nu}; simulator Jacobians assume action = ctrl"
            )
        one_row = self._mjd if self.source == "mjd" else self._differences
        full = np.stack([one_row(x, a) for x, a in zip(states, actions, strict=True)]) if len(
            states) else np.zeros((0, o_dim + s, s + a_dim))
        return StepJacobians(
            obs_state=full[:, :o_dim, :s],
            obs_act=full[:, :o_dim, s:],
            state_state=full[:, o_dim:, :s],
            state_act=full[:, o_dim:, s:],
        )
