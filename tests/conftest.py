"""Test-wide settings: headless MuJoCo rendering, single-threaded torch for determinism."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import torch  # noqa: E402

torch.set_num_threads(1)
