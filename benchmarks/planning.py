"""Planning speed: milliseconds per MPC action on HalfCheetah-v5 by propagation and particles.

The issue's setting: a 7-member ensemble (5 elites, 4 x 200 hidden, advex's defaults), CEM with
horizon 15, population 200, 3 iterations, one torch thread. Rows:
- 20 particles with ``mean`` (every particle through the elite mixture: all 7 members run on
  every particle), ``ts1`` and ``tsinf`` (each particle through one elite member);
- 1 particle with each propagation, on 1 and on 2 threads.

mbrl-lib 0.2.0 is not installed here, so its figures come from the issue (measured on the
issue author's machine, 1 thread): ``TrajectoryOptimizerAgent`` 572 ms per action with its
default propagation and 2 489 ms with expectation over the 5 elites; advex's ``MPCAgent``
then took 4 209 ms (20 particles) and 139 ms (1 particle, 1 thread). Those are from another
machine, so each row is also given "scaled": its time times (the issue's ``mean`` time / this
run's ``mean`` time, same particles, 1 thread). ``mean`` propagation is the code the issue
timed, unchanged, so the factor is the speed of this machine against that one.

    python benchmarks/planning.py [--actions 5]
"""

from __future__ import annotations

import argparse
import time

import torch

from advex.agents import CEMConfig, ModelEnv, MPCAgent, MPCConfig
from advex.envs import get_task, make_env
from advex.exploration.collect import collect
from advex.models import EnsembleModel, TrainConfig, fit_model

MBRL_TS_MS = 572.0  # mbrl-lib 0.2.0, default propagation, 20 particles (from the issue)
ADVEX_BEFORE_20_MS = 4209.0
ADVEX_BEFORE_1_MS = 139.0


def time_agent(model: EnsembleModel, propagation: str, particles: int, n_actions: int) -> float:
    spec = get_task("HalfCheetah-v5")
    env = make_env(spec)
    obs, _ = env.reset(seed=0)
    assert spec.reward_fn is not None  # HalfCheetah has a closed-form reward
    model_env = ModelEnv(model, spec.reward_fn, spec.term_fn,
                         propagation=propagation,  # type: ignore[arg-type]
                         generator=torch.Generator().manual_seed(0))
    config = MPCConfig(horizon=15, particles=particles,
                       optimizer_config=CEMConfig(population=200, iterations=3))
    agent = MPCAgent(model_env, env.action_space.low, env.action_space.high, config, seed=0)
    agent.act(obs)  # warm-up (first-call allocations)
    started = time.perf_counter()
    for _ in range(n_actions):
        obs, *_ = env.step(agent.act(obs))
    elapsed = time.perf_counter() - started
    env.close()
    return 1000 * elapsed / n_actions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=5)
    args = parser.parse_args()
    buffer = collect("HalfCheetah-v5", n_steps=2000, seed=0, progress=False)
    model = EnsembleModel(17, 6)
    fit_model(model, buffer, TrainConfig(max_epochs=3), progress=False)
    model.eval()
    print("| particles | propagation | threads | ms per action | vs mean (this run) "
          "| scaled ms | scaled vs mbrl-lib TS (572 ms) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    scale: dict[int, float] = {}
    for particles, threads in ((20, 1), (1, 1), (1, 2)):
        torch.set_num_threads(threads)
        for propagation in ("mean", "ts1", "tsinf"):
            ms = time_agent(model, propagation, particles, args.actions)
            if propagation == "mean" and threads == 1:
                before = ADVEX_BEFORE_20_MS if particles == 20 else ADVEX_BEFORE_1_MS
                scale[particles], mean_ms = before / ms, ms
            elif propagation == "mean":
                mean_ms = ms
            scaled = ms * scale[particles]
            mbrl = f"{scaled / MBRL_TS_MS:.2f}x" if particles == 20 else "-"
            print(f"| {particles} | {propagation} | {threads} | {ms:.0f} | "
                  f"{ms / mean_ms:.2f}x | {scaled:.0f} | {mbrl} |", flush=True)


if __name__ == "__main__":
    main()
