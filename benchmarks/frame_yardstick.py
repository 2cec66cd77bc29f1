"""The camera's yardstick for a compare run: how good a *frame* model each strategy's data makes.

For every strategy and seed of a finished ``advex compare`` folder, its final buffer's states
are rendered (frame of ``s`` and of ``s'``), a frame model (VAE + latent dynamics, the
defaults of ``advex generative train``) is trained on them, and its 1- and 5-step frame
predictions are scored on the seed's coverage rollouts (replayed and rendered), next to
``z' = z`` and copying the frame. Prints one row per job and the mean over seeds.

Rendering a state from its observation needs an observation that *is* the state
(``qpos`` then ``qvel``), as on InvertedPendulum-v5; other tasks are refused with one line.

    MUJOCO_GL=egl python benchmarks/frame_yardstick.py RUN [--size 32 --vae-steps 2000]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from harness import Stopwatch, pin_threads

from advex.analysis.coverage_frames import frame_model_errors
from advex.atomic_io import read_json
from advex.engine.run_files import coverage_set, final_buffer
from advex.envs import make_env
from advex.envs.frames import FrameSpec, render_frame
from advex.exploration.buffer import ReplayBuffer
from advex.models.frame_model import train_frame_model
from advex.models.frame_vae import FrameVAEConfig
from advex.models.latent_dynamics import LatentDynamicsConfig


def rendered_buffer(task: str, buffer: ReplayBuffer, spec: FrameSpec) -> ReplayBuffer:
    """A copy of ``buffer`` with the frames of every ``obs`` and ``next_obs``."""
    env = make_env(task, **spec.env_kwargs()).unwrapped
    env.reset(seed=0)
    nq, nv = env.model.nq, env.model.nv
    if buffer.obs_dim != nq + nv:
        raise SystemExit(f"{task}: observations are not qpos + qvel ({buffer.obs_dim} != "
                         f"{nq} + {nv}), so a state cannot be rendered from its observation")

    def frames(states: np.ndarray) -> np.ndarray:
        out = np.zeros((len(states), *spec.shape), dtype=np.uint8)
        for i, state in enumerate(states.astype(np.float64)):
            env.set_state(state[:nq], state[nq:])
            out[i] = render_frame(env, spec)
        return out

    batch = buffer.batch()
    copy = ReplayBuffer(buffer.obs_dim, buffer.act_dim, frame_shape=spec.shape)
    copy.add(batch.obs, batch.act, batch.next_obs, batch.reward, batch.terminated,
             batch.truncated, buffer.episode_id, frame=frames(batch.obs),
             next_frame=frames(batch.next_obs))
    copy.meta.update(buffer.meta)
    env.close()
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--vae-steps", type=int, default=2000)
    parser.add_argument("--dynamics-steps", type=int, default=3000)
    parser.add_argument("--starts", type=int, default=200)
    args = parser.parse_args()
    pin_threads()
    config = read_json(args.run / "config.json")
    task, spec = config["task"], FrameSpec(args.size)
    rows = []
    for seed in config["seeds"]:
        coverage = coverage_set(args.run, seed)
        for strategy in config["strategies"]:
            buffer = final_buffer(args.run, strategy, seed)
            if buffer is None or coverage is None:
                print(f"{strategy} seed {seed}: no final buffer or coverage set, skipped")
                continue
            clock = Stopwatch()
            framed = rendered_buffer(task, buffer, spec)
            model, figures = train_frame_model(
                framed, FrameVAEConfig.for_frames(spec.shape, steps=args.vae_steps),
                LatentDynamicsConfig(steps=args.dynamics_steps), seed=seed, progress=False)
            errors = {r["horizon"]: r for r in frame_model_errors(model, coverage, args.starts)}
            row = {"strategy": strategy, "seed": seed,
                   "recon_vs_mean_frame": figures["heldout_recon_mse"] / figures["mean_frame_mse"],
                   **{f"{k}step_{name}": errors[k][name] for k in (1, 5)
                      for name in ("model", "constant", "copy")},
                   "s": clock.seconds}
            rows.append(row)
            print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                            for k, v in row.items()), flush=True)
    print("\nmean over seeds (coverage rollouts, frame MSE):")
    for strategy in config["strategies"]:
        mine = [r for r in rows if r["strategy"] == strategy]
        if mine:
            cells = {k: np.mean([r[k] for r in mine]) for k in
                     ("1step_model", "1step_constant", "5step_model", "5step_constant",
                      "5step_copy")}
            print(f"  {strategy:<20} " + "  ".join(f"{k} {v:.3e}" for k, v in cells.items()))


if __name__ == "__main__":
    main()
