"""advex's own robot: a planar disc driven into walls and obstacles (``advex/ArenaRobot-v0``).

Free motion of a damped point mass is easy to learn; what a transition model gets wrong is the
rare contact with a wall or an obstacle. This robot makes that region explicit so adversarial
exploration has something to find. Written in the Gymnasium v5 style of
``gymnasium/envs/mujoco/half_cheetah_v5.py``: reward weights are constructor arguments,
``_get_obs`` / ``_get_rew -> (reward, terms)``, every reward term is in ``info``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mujoco
import numpy as np
from gymnasium import utils
from gymnasium.envs.mujoco import MujocoEnv
from gymnasium.spaces import Box

#: The MJCF model shipped as package data next to this file.
ARENA_ROBOT_XML = str(Path(__file__).resolve().parent / "assets" / "arena_robot.xml")
#: World ``(x, y)`` the robot must reach, metres (the green marker in renders).
ARENA_GOAL = (1.5, 1.5)
#: Default reward weights; :mod:`advex.envs.rewards` uses the same values.
ARENA_DISTANCE_WEIGHT = 1.0
ARENA_CTRL_COST_WEIGHT = 0.1
#: Contact force (N) that maps to ``tanh(1) ~ 0.76`` in the bounded contact observation.
ARENA_CONTACT_FORCE_SCALE = 10.0
#: Observation layout: ``qpos (3) | qvel (3) | contact (1)``.
ARENA_OBS_DIM = 7
ARENA_ACT_DIM = 3

DEFAULT_CAMERA_CONFIG: dict[str, Any] = {
    "distance": 6.5,
    "elevation": -90.0,
    "azimuth": 90.0,
    "lookat": np.array([0.0, 0.0, 0.0]),
}


class ArenaRobotEnv(MujocoEnv, utils.EzPickle):
    r"""
    ## Description
    A sphere of radius 0.15 m and mass 1 kg slides in the plane (slide joints `x`, `y`, hinge
    `yaw`) inside a 4 m x 4 m walled arena holding two cylindrical pillars and two boxes. It
    starts near the south-west corner $(-1.5, -1.5)$ and must reach the fixed goal
    $(1.5, 1.5)$; a pillar sits on the straight line between them. The robot never touches the
    floor (its height is fixed by the joints), so every contact is a collision with a wall or an
    obstacle: the rare, hard-to-model part of the dynamics.

    ## Action Space
    `Box(-1, 1, (3,), float32)`.

    | Num | Action                         | Min | Max | Name (XML)   | Joint     | Unit       |
    | --- | ------------------------------ | --- | --- | ------------ | --------- | ---------- |
    | 0   | force along world x (gear 5)   | -1  | 1   | force_x      | slide_x   | force (N)  |
    | 1   | force along world y (gear 5)   | -1  | 1   | force_y      | slide_y   | force (N)  |
    | 2   | torque about z (gear 0.5)      | -1  | 1   | torque_yaw   | hinge_yaw | torque (Nm)|

    ## Observation Space
    `Box(-inf, inf, (7,), float64)`:

    | Num | Observation                                     | Unit            |
    | --- | ----------------------------------------------- | --------------- |
    | 0   | x position (world)                              | position (m)    |
    | 1   | y position (world)                              | position (m)    |
    | 2   | yaw angle                                       | angle (rad)     |
    | 3   | x velocity                                      | velocity (m/s)  |
    | 4   | y velocity                                      | velocity (m/s)  |
    | 5   | yaw rate                                        | ang. vel (rad/s)|
    | 6   | contact: `tanh(F_n / contact_force_scale)`      | in [0, 1)       |

    $F_n$ is the summed normal force of the robot's contacts at the current state (0 when free).
    The simulation is re-run forward after each step, so the observation is a function of the
    MuJoCo state alone (what `advex.envs.set_state` returns matches what `step` returned).

    ## Rewards
    ***reward*** = *reward_distance* + *reward_ctrl*:
    - *reward_distance* $= -w_{distance} \|(x, y) - goal\|_2$ (default $w_{distance} = 1$);
    - *reward_ctrl* $= -w_{ctrl} \|action\|_2^2$ (default $w_{ctrl} = 0.1$).

    `info` holds both terms, `x_position`, `y_position`, `distance_to_goal`, `collision` (the
    robot touched a wall or obstacle in any sub-step of this step) and `contact_force` (largest
    summed normal force over the sub-steps, N).

    ## Starting State
    qpos = $(-1.5, -1.5, 0) + \mathcal{U}(\pm reset\_noise\_scale)$,
    qvel = $\mathcal{N}(0, reset\_noise\_scale^2)$.

    ## Episode End
    Never terminates; truncated at 200 steps by the registration's `max_episode_steps`
    ($dt = 0.05$ s: 10 s of simulated time).

    ## Arguments
    | Parameter             | Default | Description                                      |
    | --------------------- | ------- | ------------------------------------------------ |
    | `xml_file`            | shipped | path to the MJCF model                           |
    | `frame_skip`          | 5       | MuJoCo steps (0.01 s each) per `step()`          |
    | `distance_weight`     | 1.0     | $w_{distance}$                                   |
    | `ctrl_cost_weight`    | 0.1     | $w_{ctrl}$                                       |
    | `contact_force_scale` | 10.0    | force (N) scaling the contact observation        |
    | `reset_noise_scale`   | 0.1     | scale of the initial position/velocity noise     |

    ## Version History
    * v0: initial version.
    """

    metadata = {"render_modes": ["human", "rgb_array", "depth_array", "rgbd_tuple"]}

    def __init__(
        self,
        xml_file: str = ARENA_ROBOT_XML,
        frame_skip: int = 5,
        default_camera_config: dict[str, Any] = DEFAULT_CAMERA_CONFIG,
        distance_weight: float = ARENA_DISTANCE_WEIGHT,
        ctrl_cost_weight: float = ARENA_CTRL_COST_WEIGHT,
        contact_force_scale: float = ARENA_CONTACT_FORCE_SCALE,
        reset_noise_scale: float = 0.1,
        **kwargs: Any,
    ) -> None:
        if contact_force_scale <= 0:
            raise ValueError(f"contact_force_scale must be > 0, got {contact_force_scale}")
        utils.EzPickle.__init__(
            self,
            xml_file,
            frame_skip,
            default_camera_config,
            distance_weight,
            ctrl_cost_weight,
            contact_force_scale,
            reset_noise_scale,
            **kwargs,
        )
        self._distance_weight = distance_weight
        self._ctrl_cost_weight = ctrl_cost_weight
        self._contact_force_scale = contact_force_scale
        self._reset_noise_scale = reset_noise_scale
        self._goal = np.asarray(ARENA_GOAL, dtype=np.float64)

        MujocoEnv.__init__(
            self,
            xml_file,
            frame_skip,
            observation_space=None,
            default_camera_config=default_camera_config,
            **kwargs,
        )
        self.metadata = {
            "render_modes": ["human", "rgb_array", "depth_array", "rgbd_tuple"],
            "render_fps": int(np.round(1.0 / self.dt)),
        }
        self._robot_geom_id = mujoco.mj_name2id(self.model, mujoco.mjtObj.mjOBJ_GEOM, "robot_body")
        self._contact_wrench = np.zeros(6, dtype=np.float64)  # scratch for mj_contactForce
        obs_size = self.data.qpos.size + self.data.qvel.size + 1
        self.observation_space = Box(low=-np.inf, high=np.inf, shape=(obs_size,), dtype=np.float64)
        self.observation_structure = {
            "qpos": self.data.qpos.size,
            "qvel": self.data.qvel.size,
            "contact": 1,
        }

    # ----------------------------------------------------------------- contact helpers
    def robot_contact_force(self) -> tuple[float, int]:
        """``(summed normal force N, number of contacts)`` of the robot in the current ``data``.

        Reads ``data.contact`` as left by the last forward pass (inside ``mj_step`` that is the
        state at the start of the sub-step).
        """
        total, count = 0.0, 0
        for i in range(self.data.ncon):
            geoms = self.data.contact.geom[i]
            if self._robot_geom_id in (geoms[0], geoms[1]):
                mujoco.mj_contactForce(self.model, self.data, i, self._contact_wrench)
                total += float(self._contact_wrench[0])
                count += 1
        return total, count

    # ----------------------------------------------------------------- gymnasium API
    def control_cost(self, action: np.ndarray) -> float:
        return float(self._ctrl_cost_weight * np.sum(np.square(action)))

    # MujocoEnv's stub declares a float64 reward and a dict[str, float64] info; gymnasium's Env
    # API (and this env's info, which holds bools and arrays) is float / dict[str, Any].
    def step(  # type: ignore[override]
        self, action: np.ndarray
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.asarray(action, dtype=np.float64)
        if action.shape != self.action_space.shape:
            raise ValueError(
                f"ArenaRobotEnv.step: action shape {action.shape}, expected "
                f"{self.action_space.shape}"
            )
        self.data.ctrl[:] = action
        max_force, collided = 0.0, False
        # Sub-step by hand so a collision that starts and ends inside one env step is still
        # reported in info (the final state alone could already be free again).
        for _ in range(self.frame_skip):
            # MujocoEnv's one stepping call, one sub-step at a time (what a ContactMonitor
            # watches: advex.envs.contacts); the same as mj_step with the control set.
            self._step_mujoco_simulation(action, 1)
            force, count = self.robot_contact_force()
            max_force = max(max_force, force)
            collided = collided or count > 0
        # Refresh derived quantities (contacts, forces) so the observation depends on the
        # state only; mj_forward does not change the integration state.
        mujoco.mj_forward(self.model, self.data)
        final_force, final_count = self.robot_contact_force()
        max_force = max(max_force, final_force)
        collided = collided or final_count > 0

        observation = self._get_obs()
        reward, reward_info = self._get_rew(action)
        info = {
            **self._position_info(),
            "collision": collided,
            "contact_force": max_force,
            **reward_info,
        }
        if self.render_mode == "human":
            self.render()
        # truncation=False: the time limit is the TimeLimit wrapper added by gymnasium.make.
        return observation, reward, False, False, info

    def _position_info(self) -> dict[str, float]:
        x, y = self.data.qpos[0], self.data.qpos[1]
        return {
            "x_position": float(x),
            "y_position": float(y),
            "distance_to_goal": float(np.hypot(x - self._goal[0], y - self._goal[1])),
        }

    def _get_rew(self, action: np.ndarray) -> tuple[float, dict[str, float]]:
        distance = float(np.linalg.norm(self.data.qpos[:2] - self._goal))
        reward_distance = -self._distance_weight * distance
        reward_ctrl = -self.control_cost(action)
        reward = reward_distance + reward_ctrl
        return reward, {"reward_distance": reward_distance, "reward_ctrl": reward_ctrl}

    def _get_obs(self) -> np.ndarray:
        force, _ = self.robot_contact_force()
        contact = np.tanh(force / self._contact_force_scale)
        return np.concatenate(
            [self.data.qpos.flatten(), self.data.qvel.flatten(), [contact]]
        ).astype(np.float64)

    def reset_model(self) -> np.ndarray:
        noise = self._reset_noise_scale
        qpos = self.init_qpos + self.np_random.uniform(low=-noise, high=noise, size=self.model.nq)
        qvel = self.init_qvel + noise * self.np_random.standard_normal(self.model.nv)
        self.set_state(qpos, qvel)  # runs mj_forward: contacts are fresh for _get_obs
        return self._get_obs()

    def _get_reset_info(self) -> dict[str, float]:
        return self._position_info()
