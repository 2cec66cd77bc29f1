"""Test-wide settings: headless MuJoCo rendering, one torch thread, a private cache.

One torch thread: the test networks are tiny and two threads spinning on a loaded 2-core
machine made them up to 25x slower. A fresh ``ADVEX_CACHE`` keeps coverage sets built by tests
out of the user's cache (and the user's cache out of the tests).
"""

import os
import tempfile

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ["ADVEX_CACHE"] = tempfile.mkdtemp(prefix="advex-test-cache-")

import torch  # noqa: E402

torch.set_num_threads(1)
