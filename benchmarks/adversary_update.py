"""Time per round of the adversaries' updates against the model refit they follow.

One process, one torch thread (as in a compare worker). Per task: random warm-up data, then
``--rounds`` rounds; each round ``adversarial-pw`` and ``adversarial-sf`` each collect
``--round`` steps into their own buffer, the compare's default online model refits on
``adversarial-pw``'s buffer, and the refit, ``adversarial-pw``'s update (simulator Jacobians +
ascent steps) and ``adversarial-sf``'s update (rewards + PPO epochs) are timed. Prints median
seconds and the ratio ``pw update / refit`` (target: <= 1).

    python benchmarks/adversary_update.py --tasks HalfCheetah-v5,Hopper-v5
"""

from __future__ import annotations

import argparse
import statistics

from harness import Stopwatch, pin_threads

from advex.engine.experiment import ExperimentConfig
from advex.envs import get_task
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import Collector
from advex.exploration.strategy import make_strategy
from advex.models import make_model


def _round_times(task: str, rounds: int, round_steps: int, warmup: int) -> dict[str, list[float]]:
    spec = get_task(task)
    cfg = ExperimentConfig(task=task, strategies=["adversarial-pw"])
    train = cfg.train_config()
    model = make_model(cfg.model, spec.obs_dim, spec.act_dim, {"seed": 0, **cfg.model_config})
    pw = make_strategy("adversarial-pw", spec, seed=0)
    sf = make_strategy("adversarial-sf", spec, seed=0)
    collector = Collector(task)
    buffer = ReplayBuffer(spec.obs_dim, spec.act_dim)
    collector.run(buffer, warmup, seed=1000, progress=False)
    sf_buffer = ReplayBuffer(spec.obs_dim, spec.act_dim)  # sf's own rounds, same warm-up
    sf_buffer.add_batch(buffer.batch(), buffer.episode_id.copy())
    times: dict[str, list[float]] = {"refit": [], "pw_update": [], "pw_jacobians": [],
                                     "sf_update": []}
    for r in range(rounds):
        pw_round = pw.collect(collector, buffer, round_steps, seed=r, progress=False)
        sf_round = sf.collect(collector, sf_buffer, round_steps, seed=r, progress=False)
        with Stopwatch() as clock:
            model.fit(buffer, train, seed=r, progress=False)
        times["refit"].append(clock.seconds)
        with Stopwatch() as clock:
            sf.update(sf_buffer, model, sf_round)
        times["sf_update"].append(clock.seconds)
        with Stopwatch() as clock:
            diag = pw.update(buffer, model, pw_round)
        times["pw_update"].append(clock.seconds)
        times["pw_jacobians"].append(diag["jacobian_s"])
    collector.close()
    pw.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default="HalfCheetah-v5,Hopper-v5")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--round", type=int, default=1000, help="env steps per round")
    parser.add_argument("--warmup", type=int, default=2000, help="random steps before round 1")
    args = parser.parse_args()
    pin_threads()
    print(f"median seconds per round over {args.rounds} rounds of {args.round} steps "
          f"(after {args.warmup} random steps), 1 torch thread")
    print(f"{'task':22s} {'refit':>7s} {'pw update':>10s} {'(jacobians)':>12s} "
          f"{'sf update':>10s} {'pw/refit':>9s} {'pw/sf':>7s}")
    for task in args.tasks.split(","):
        t = {k: statistics.median(v) for k, v in
             _round_times(task, args.rounds, args.round, args.warmup).items()}
        print(f"{task:22s} {t['refit']:7.2f} {t['pw_update']:10.2f} {t['pw_jacobians']:12.2f} "
              f"{t['sf_update']:10.2f} {t['pw_update'] / t['refit']:9.2f} "
              f"{t['pw_update'] / t['sf_update']:7.2f}")


if __name__ == "__main__":
    main()
