"""A 1-D MuJoCo slider (test helper): a box on a frictionless rail pushed by a motor.

Linear dynamics (Euler, no contacts, no limits), so the exact model is ``s' = A s + B a``,
read off the simulator's own Jacobian. :class:`RegionWrongModel` is that exact model plus a
velocity bump only where ``a > 0.5``: its true error is zero everywhere else, so a working
true-loss adversary must learn to push its actions there.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.mujoco import MujocoEnv
from torch import nn

from advex.envs import TaskSpec
from advex.envs.jacobians import SimulatorJacobians

SLIDER_ID = "advex-test/Slider-v0"
WRONG_FROM = 0.5
_XML = """
<mujoco>
  <option timestep="0.02" integrator="Euler" gravity="0 0 0"/>
  <worldbody>
    <body name="box">
      <joint name="slide" type="slide" axis="1 0 0" damping="0.5"/>
      <geom type="box" size="0.1 0.1 0.1" mass="1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator><motor joint="slide" ctrlrange="-1 1" ctrllimited="true" gear="1"/></actuator>
</mujoco>
"""


class SliderEnv(MujocoEnv):
    """Observation ``[x, v]``, action: the motor force in ``[-1, 1]``."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        path = Path(tempfile.gettempdir()) / "advex_test_slider.xml"
        path.write_text(_XML)
        space = gym.spaces.Box(-np.inf, np.inf, (2,), dtype=np.float64)
        super().__init__(str(path), 2, observation_space=space, **kwargs)

    def step(self, action):  # type: ignore[no-untyped-def]
        self.do_simulation(action, self.frame_skip)
        return self._get_obs(), 0.0, False, False, {}

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float64)

    def reset_model(self) -> np.ndarray:
        qpos = self.init_qpos + self.np_random.uniform(-0.1, 0.1, size=1)
        self.set_state(qpos, self.init_qvel.copy())
        return self._get_obs()


if SLIDER_ID not in gym.registry:
    gym.register(id=SLIDER_ID, entry_point=SliderEnv, max_episode_steps=20)


def _zero(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(act))


SLIDER_SPEC = TaskSpec(
    name=SLIDER_ID, gym_id=SLIDER_ID, obs_dim=2, act_dim=1, max_episode_steps=20,
    reward_fn=_zero, term_fn=lambda a, o: torch.zeros(len(a), dtype=torch.bool),
    description="1-D MuJoCo slider (tests)",
)


def exact_linear_dynamics() -> tuple[np.ndarray, np.ndarray]:
    """``(A 2 x 2, B 2 x 1)`` with ``obs' = A obs + B a`` (the env step's own Jacobian)."""
    jac = SimulatorJacobians(SLIDER_SPEC, "mjd")
    try:
        state = np.zeros(jac.full_state_dim)
        lin = jac.linearize(state[None], np.zeros((1, 1), np.float32))
        return lin.obs_state[0], lin.obs_act[0]
    finally:
        jac.close()


class RegionWrongModel(nn.Module):
    """The exact slider dynamics plus a velocity error of up to ``bump`` where ``a > 0.5``
    (and, with ``action_gain != 1``, a motor gain that is wrong everywhere)."""

    def __init__(self, bump: float = 0.5, action_gain: float = 1.0) -> None:
        super().__init__()
        a, b = exact_linear_dynamics()
        self.register_buffer("a", torch.as_tensor(a, dtype=torch.float32))
        # action_gain != 1: also wrong about how strongly the motor pushes, everywhere
        self.register_buffer("b", torch.as_tensor(action_gain * b, dtype=torch.float32))
        self.bump = nn.Parameter(torch.tensor(float(bump)))  # a parameter: must stay frozen

    def predict(self, obs, act):  # type: ignore[no-untyped-def]
        numpy_in = not isinstance(obs, torch.Tensor)
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        act_t = torch.as_tensor(act, dtype=torch.float32)
        mean = obs_t @ self.a.T + act_t @ self.b.T
        wrong = self.bump * torch.sigmoid(20.0 * (act_t[:, 0] - WRONG_FROM))
        mean = mean + torch.stack([torch.zeros_like(wrong), wrong], dim=-1)
        var = torch.ones_like(mean)
        return (mean.detach().numpy(), var.numpy()) if numpy_in else (mean, var)
