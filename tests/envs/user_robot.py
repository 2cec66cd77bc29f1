"""A user's own MuJoCo robot, as a researcher would bring it (test helper for ``module:Id``).

A point mass on a plane pushed by two motors toward the origin; it "falls" (terminates) when
it leaves a 1 m box. Importing this module registers ``AdvexTestPointMass-v0`` with Gymnasium
(as a user's package would), so ``--task user_robot:AdvexTestPointMass-v0`` works anywhere
the module imports: the CLI, compare's worker processes and a resumed run.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium.envs.mujoco import MujocoEnv

POINT_MASS_ID = "AdvexTestPointMass-v0"
_XML = """
<mujoco>
  <option timestep="0.02" gravity="0 0 0"/>
  <worldbody>
    <body name="mass">
      <joint name="x" type="slide" axis="1 0 0" damping="0.2"/>
      <joint name="y" type="slide" axis="0 1 0" damping="0.2"/>
      <geom type="sphere" size="0.05" mass="1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <actuator>
    <motor joint="x" ctrlrange="-1 1" ctrllimited="true"/>
    <motor joint="y" ctrlrange="-1 1" ctrllimited="true"/>
  </actuator>
</mujoco>
"""


class PointMassEnv(MujocoEnv):
    """Observation ``[x, y, vx, vy]``; reward ``-|position|``; terminates outside the 1 m box."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 25}

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        path = Path(tempfile.gettempdir()) / "advex_test_point_mass.xml"
        path.write_text(_XML)
        space = gym.spaces.Box(-np.inf, np.inf, (4,), dtype=np.float64)
        super().__init__(str(path), 2, observation_space=space, **kwargs)

    def step(self, action):  # type: ignore[no-untyped-def]
        self.do_simulation(action, self.frame_skip)
        obs = self._get_obs()
        terminated = bool(np.abs(obs[:2]).max() > 1.0)
        return obs, -float(np.linalg.norm(obs[:2])), terminated, False, {}

    def _get_obs(self) -> np.ndarray:
        return np.concatenate([self.data.qpos, self.data.qvel]).astype(np.float64)

    def reset_model(self) -> np.ndarray:
        qpos = self.init_qpos + self.np_random.uniform(-0.5, 0.5, size=2)
        self.set_state(qpos, self.init_qvel.copy())
        return self._get_obs()


if POINT_MASS_ID not in gym.registry:
    gym.register(id=POINT_MASS_ID, entry_point=PointMassEnv, max_episode_steps=40)
