"""Control quality per exploration strategy: MPC returns on models from a compare grid.

For every run folder given (one per seed) and every strategy, ``advex plan`` with the model
that strategy's data produced (the run's last checkpoint); plus two references: a uniform
random policy and MPC on the true simulator (the upper bound). Prints per (model) the mean
return over seeds with a 95 % bootstrap CI, the mean planning milliseconds per action, and
the run's own final yardstick error for that strategy (to read return against model error).

    python benchmarks/control.py RUN [RUN ...] [--strategies random,adversarial-sf,...]
        [--episodes 2] [--horizon 25 --candidates 60 --iterations 3] [--out control.csv]
        [--threads 1] [--max-steps 200]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from harness import pin_threads

from advex.analysis.statistics import bootstrap_ci, mean
from advex.atomic_io import read_json
from advex.engine.planning import PlanConfig, run_planning
from advex.engine.results import RESULTS_FILE, final_values, load_results
from advex.envs import make_env


def random_returns(task: str, episodes: int, seed: int,
                   max_steps: int | None = None) -> list[float]:
    env = make_env(task)
    env.action_space.seed(seed)
    returns = []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        total, done, steps = 0.0, False, 0
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            steps += 1
            done = terminated or truncated or steps == max_steps
        returns.append(total)
    env.close()
    return returns


def final_errors(run: Path) -> dict[str, float]:
    """Per strategy, the run's final yardstick ``mse_1step`` (mean over its evaluation fits):
    the model error to read each control return against. Empty without results."""
    if not (run / RESULTS_FILE).is_file():
        return {}
    finals = final_values(load_results(run), "mse_1step")
    return finals.groupby("strategy")["value"].mean().to_dict()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--strategies", default="random,adversarial-sf,adversarial-pw,disagreement")
    parser.add_argument("--episodes", type=int, default=2)
    parser.add_argument("--planner", default="cem")
    parser.add_argument("--horizon", type=int, default=25)
    parser.add_argument("--candidates", type=int, default=60)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--sim-episodes", type=int, default=None, help="default: --episodes")
    parser.add_argument("--max-steps", type=int, default=None,
                        help="episode length cap for every row, the random policy's too "
                        "(default: the task's time limit)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: the planner's batches are small; more threads "
                        "only spin on a loaded machine)")
    args = parser.parse_args()
    pin_threads(args.threads)
    plan = dict(planner=args.planner, horizon=args.horizon, candidates=args.candidates,
                iterations=args.iterations, max_steps=args.max_steps)
    rows = []
    for run in args.runs:
        config = read_json(run / "config.json")
        task, seed = config["task"], config["seeds"][0]
        errors = final_errors(run)
        for strategy in args.strategies.split(","):
            frame = run_planning(PlanConfig(task=task, model=str(run), strategy=strategy,
                                            episodes=args.episodes, seed=seed, **plan),
                                 progress=False)
            rows.append({"model": strategy, "seed": seed, "return": frame["return"].mean(),
                         "ms_per_action": frame["ms_per_action"].mean(),
                         "final_mse_1step": errors.get(strategy, np.nan)})
            print(rows[-1], flush=True)
        rows.append({"model": "random policy (ref.)", "seed": seed,
                     "return": float(np.mean(random_returns(task, args.episodes, seed,
                                                                args.max_steps))),
                     "ms_per_action": 0.0})
        sim = run_planning(PlanConfig(task=task, model="sim", episodes=args.sim_episodes
                                      or args.episodes, seed=seed, **plan), progress=False)
        rows.append({"model": "simulator (bound)", "seed": seed, "return": sim["return"].mean(),
                     "ms_per_action": sim["ms_per_action"].mean()})
        print(rows[-1], flush=True)
    frame = pd.DataFrame(rows)
    if args.out is not None:
        frame.to_csv(args.out, index=False)
    print(f"\n{task}: MPC ({args.planner}, horizon {args.horizon}, {args.candidates} candidates, "
          f"{args.iterations} iterations), {args.episodes} episodes per seed, "
          f"{frame['seed'].nunique()} seeds")
    print("| model | mean return over seeds [95% CI] | per seed | ms per action "
          "| the run's final mse_1step, mean over seeds |")
    print("| --- | --- | --- | --- | --- |")
    for model, group in frame.groupby("model", sort=False):
        values = group["return"].to_numpy()
        low, high = bootstrap_ci(values, statistic=mean)
        per_seed = ", ".join(f"{v:.0f}" for v in values)
        error = group["final_mse_1step"].mean() if "final_mse_1step" in group else np.nan
        error = "-" if np.isnan(error) else f"{error:.4g}"
        print(f"| {model} | {values.mean():.0f} [{low:.0f}, {high:.0f}] | {per_seed} | "
              f"{group['ms_per_action'].mean():.1f} | {error} |")


if __name__ == "__main__":
    main()
