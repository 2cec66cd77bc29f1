"""Frames: what the robot's camera sees, rendered offscreen beside each state vector.

The background texts frame the robot as partially observed: the learner gets images, not the
simulator's state. advex renders each observation with MuJoCo's offscreen renderer through
Gymnasium (``render_mode="rgb_array"`` at ``size x size``, the env's own default camera; the
arena's is top-down over walls, pillars and boxes) and keeps it as ``uint8`` (grey: one
channel, ITU-R 601 luma; or RGB). On a machine with no screen, ``MUJOCO_GL=egl`` renders
through EGL (Debian's ``libegl1 libegl-mesa0 libgl1-mesa-dri``, installed by ``install.sh``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Colour modes of a frame.
FRAME_COLORS: tuple[str, ...] = ("grey", "rgb")
#: Luma weights of R, G, B (ITU-R BT.601), as integers over 1000 for exact, fast rounding.
_LUMA = np.array([299, 587, 114], dtype=np.uint32)


class FrameError(ValueError):
    """Frames asked of something that cannot give them (rendering, sizes, a frameless buffer)."""


@dataclass(frozen=True)
class FrameSpec:
    """``size x size`` frames, ``grey`` (1 channel) or ``rgb`` (3)."""

    size: int = 64
    color: str = "grey"

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or not 8 <= self.size <= 1024:
            raise FrameError(f"frame size must be an integer in [8, 1024], got {self.size!r}")
        if self.color not in FRAME_COLORS:
            raise FrameError(
                f"unknown frame color {self.color!r}; valid: {', '.join(FRAME_COLORS)}"
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one stored frame."""
        return (self.size, self.size, 1 if self.color == "grey" else 3)

    @classmethod
    def of_shape(cls, shape: tuple[int, ...]) -> FrameSpec:
        """The spec of stored frames of ``shape`` ``(H, W, C)``."""
        if len(shape) != 3 or shape[0] != shape[1] or shape[2] not in (1, 3):
            raise FrameError(f"frames must be square H x W x 1|3, got shape {tuple(shape)}")
        return cls(int(shape[0]), "grey" if shape[2] == 1 else "rgb")

    def env_kwargs(self) -> dict[str, Any]:
        """What ``gymnasium.make`` needs to render such frames."""
        return {"render_mode": "rgb_array", "width": self.size, "height": self.size}

    def convert(self, rgb: np.ndarray) -> np.ndarray:
        """``H x W x 3`` uint8 render -> ``H x W x C`` uint8 frame."""
        if self.color == "rgb":
            return np.ascontiguousarray(rgb, dtype=np.uint8)
        luma = (rgb.astype(np.uint32) @ _LUMA + 500) // 1000
        return luma.astype(np.uint8)[..., None]


def pin_camera(env: Any) -> None:
    """Make ``env``'s frames a function of its state alone.

    Gymnasium's offscreen viewer aims its free camera at the median geom position of
    whatever state the env is in when it first renders, so two envs (or one recreated on a
    resume) that first rendered in different states draw the same state shifted. Unless the
    task's camera config names a ``lookat``, this sets one: the median geom position at the
    model's reference pose ``qpos0``, the same rule at a fixed state. Idempotent; a no-op
    for an env without a MuJoCo renderer."""
    import mujoco

    renderer = getattr(getattr(env, "unwrapped", env), "mujoco_renderer", None)
    if renderer is None or "lookat" in (renderer.default_cam_config or {}):
        return
    data = mujoco.MjData(renderer.model)
    mujoco.mj_forward(renderer.model, data)
    lookat = np.median(data.geom_xpos, axis=0)
    renderer.default_cam_config = {**(renderer.default_cam_config or {}), "lookat": lookat}
    for viewer in getattr(renderer, "_viewers", {}).values():  # one made before this call
        viewer.cam.lookat[:] = lookat


def render_frame(env: Any, spec: FrameSpec) -> np.ndarray:
    """The current frame of ``env`` (an env made with :meth:`FrameSpec.env_kwargs`); the
    camera is pinned first (:func:`pin_camera`). A backend that cannot render is one line
    (:func:`rendering_failure`)."""
    try:
        pin_camera(env)
        rgb = env.render()
    except Exception as error:  # EGL/OSMesa missing, no GL context: one line, not a trace
        raise rendering_failure(error) from None
    if rgb is None or np.shape(rgb) != (spec.size, spec.size, 3):
        raise FrameError(
            f"the env rendered {None if rgb is None else np.shape(rgb)}, expected "
            f"({spec.size}, {spec.size}, 3): was it made with render_mode='rgb_array'?"
        )
    return spec.convert(rgb)


def rendering_failure(error: BaseException) -> FrameError:
    """One line saying why offscreen rendering could not start, and what fixes it."""
    backend = os.environ.get("MUJOCO_GL", "unset")
    return FrameError(
        f"cannot render frames offscreen (MUJOCO_GL={backend}): {type(error).__name__}: "
        f"{str(error).splitlines()[0] if str(error) else ''}; on a machine with no screen "
        "set MUJOCO_GL=egl and install libegl1 libegl-mesa0 libgl1-mesa-dri (install.sh does)"
    )


def check_rendering(task: str) -> None:
    """Render one small frame of ``task`` now, so that a backend that cannot start is one
    line (:func:`rendering_failure`) before any work rather than a failure mid-run."""
    from advex.envs import make_env

    spec = FrameSpec(8)
    try:
        env = make_env(task, **spec.env_kwargs())
    except Exception as error:
        raise rendering_failure(error) from None
    try:
        env.reset(seed=0)
        render_frame(env.unwrapped, spec)
    finally:
        env.close()


def grey_unit(frames: np.ndarray, pixel_max: int = 255) -> np.ndarray:
    """``N x H x W x 1`` uint8 grey frames -> ``N x H x W`` float32 divided by ``pixel_max``
    and clipped to ``[0, 1]`` (what the image models read; a ``pixel_max`` below 255 is the
    frame VAE's contrast stretch); RGB frames are one line."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 1 or frames.dtype != np.uint8:
        raise FrameError(
            f"expected grey uint8 frames N x H x W x 1, got {frames.dtype} {frames.shape} "
            "(collect with --frame-color grey)"
        )
    return np.clip(frames[..., 0].astype(np.float32) / pixel_max, 0.0, 1.0)
