"""Collection throughput: plain Gymnasium loop vs advex collection vs raw ``mj_step``.

Prints one row per task: steps/s of
- ``gym``: ``gymnasium.make`` + ``action_space.sample()`` + ``step`` + reset on episode end,
- ``advex``: :func:`advex.exploration.collect.collect` (random policy, into a buffer),
- ``raw``: ``mujoco.mj_step`` x frame_skip with random controls (the physical limit),
and the ratios advex/gym (target >= 1.0) and advex/raw. All measured in this one run.

    python benchmarks/collect.py [--steps 20000] [--tasks A,B] [--n-envs 1]
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import mujoco
import numpy as np
from harness import Stopwatch

from advex.envs import get_task, list_tasks
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import Collector


def gym_loop(gym_id: str, n_steps: int, seed: int) -> float:
    env = gym.make(gym_id)
    env.reset(seed=seed)
    env.action_space.seed(seed)
    with Stopwatch() as clock:
        for _ in range(n_steps):
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            if terminated or truncated:
                env.reset()
    env.close()
    return n_steps / clock.seconds


def advex_collect(task: str, n_steps: int, seed: int, n_envs: int, vectorization: str) -> float:
    # Env construction is outside the timed region, as it is for the gym loop.
    spec = get_task(task)
    collector = Collector(task, n_envs=n_envs, vectorization=vectorization)  # type: ignore[arg-type]
    buffer = ReplayBuffer(spec.obs_dim, spec.act_dim)
    with Stopwatch() as clock:
        collector.run(buffer, n_steps, seed, progress=False)
    collector.close()
    return n_steps / clock.seconds


def raw_mj_step(gym_id: str, n_steps: int, seed: int) -> float:
    env = gym.make(gym_id).unwrapped
    env.reset(seed=seed)
    model, data, frame_skip = env.model, env.data, env.frame_skip
    rng = np.random.default_rng(seed)
    low, high = model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1]
    ctrls = rng.uniform(low, high, size=(n_steps, model.nu))
    with Stopwatch() as clock:
        for k in range(n_steps):
            data.ctrl[:] = ctrls[k]
            mujoco.mj_step(model, data, nstep=frame_skip)
    env.close()
    return n_steps / clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--tasks", default=",".join(list_tasks()))
    parser.add_argument("--n-envs", type=int, default=1)
    parser.add_argument("--vectorization", default="lean", choices=["lean", "async"])
    parser.add_argument("--repeats", type=int, default=3, help="best of N for each figure")
    args = parser.parse_args()

    header = (
        f"{'task':<24} {'gym/s':>9} {'advex/s':>9} {'raw/s':>9} {'advex/gym':>10} {'advex/raw':>10}"
    )
    print(header)
    print("-" * len(header))
    for task in args.tasks.split(","):
        gym_id = get_task(task).gym_id
        g = max(gym_loop(gym_id, args.steps, s) for s in range(args.repeats))
        a = max(
            advex_collect(task, args.steps, s, args.n_envs, args.vectorization)
            for s in range(args.repeats)
        )
        r = max(raw_mj_step(gym_id, args.steps, s) for s in range(args.repeats))
        print(f"{task:<24} {g:>9.0f} {a:>9.0f} {r:>9.0f} {a / g:>10.2f} {a / r:>10.2f}")


if __name__ == "__main__":
    main()
