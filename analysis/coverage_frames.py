"""The coverage set, seen: frames of its held-out rollouts, for frame models' yardstick.

Each chosen start is restored with ``set_state`` and its recorded actions replayed in a
rendering env (MuJoCo is deterministic, so the replay passes through the recorded states; the
observations are checked against the set's), rendering the frame of every state on the way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from advex.engine.coverage_set import CoverageSet
from advex.envs import make_env
from advex.envs.frames import FrameSpec, render_frame
from advex.envs.state import set_state


def coverage_frames(
    coverage: CoverageSet, spec: FrameSpec, starts: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(frames S x (steps+1) x H x W x C uint8, actions S x steps x A)`` of ``starts``,
    each of which must have a rollout of at least ``steps`` steps."""
    assert coverage.lengths is not None
    short = [int(s) for s in starts if coverage.lengths[s] < steps]
    if short:
        raise ValueError(f"coverage_frames: starts {short[:5]} have rollouts shorter than "
                         f"{steps} steps")
    env = make_env(coverage.task, **spec.env_kwargs()).unwrapped
    frames = np.zeros((len(starts), steps + 1, *spec.shape), dtype=np.uint8)
    try:
        env.reset(seed=0)
        for row, start in enumerate(starts):
            obs = set_state(env, coverage.start_states[start])
            frames[row, 0] = render_frame(env, spec)
            for t in range(steps):
                obs, *_ = env.step(coverage.act[start, t])
                frames[row, t + 1] = render_frame(env, spec)
            gap = float(np.max(np.abs(obs - coverage.obs[start, steps])))
            if not np.allclose(obs, coverage.obs[start, steps], rtol=1e-4, atol=1e-4):
                raise ValueError(f"coverage_frames: the replay of start {int(start)} left the "
                                 f"recorded rollout (largest gap {gap:.3g}): not this set's task?")
    finally:
        env.close()
    return frames, coverage.act[starts, :steps].astype(np.float32)


def long_starts(coverage: CoverageSet, steps: int, n: int, seed: int) -> np.ndarray:
    """Up to ``n`` starts (sorted) whose rollouts last at least ``steps`` steps, drawn with
    ``seed``."""
    assert coverage.lengths is not None
    candidates = np.flatnonzero(coverage.lengths >= steps)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, min(n, len(candidates)), replace=False))


def frame_model_errors(
    model: Any, coverage: CoverageSet, starts: int = 200, horizons: tuple[int, ...] = (1, 5),
    seed: int = 0,
) -> list[dict[str, float]]:
    """Per horizon ``k``: the pixel MSE of a :class:`~advex.models.frame_model.FrameModel`'s
    ``k``-step frame predictions on up to ``starts`` coverage rollouts (rendered at the
    model's frame size), with the constant (``z' = z``) and copy-the-frame baselines. Each
    rollout's first frame is the context frame; predictions start at its second."""
    from advex.models.latent_dynamics import frame_errors

    spec = FrameSpec.of_shape(model.vae.config.frame_shape)
    steps = max(horizons) + 1  # the first step gives the context frame
    chosen = long_starts(coverage, steps, starts, seed)
    if not len(chosen):
        raise ValueError(f"no coverage rollout lasts {steps} steps; use shorter horizons")
    frames, actions = coverage_frames(coverage, spec, chosen, steps)
    return [
        {"horizon": k, "starts": len(chosen),
         **frame_errors(model.vae, model.dynamics, frames, actions, horizon=k)}
        for k in horizons
    ]
