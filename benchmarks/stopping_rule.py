"""Which stopping rule makes the evaluation fits converge? Measured, not assumed.

For each task and budget, random data (the task's own episode rules) is fitted by the
evaluation model (``EvaluationConfig``'s default MLP) under each candidate rule and under a
long reference rule (10 000 gradient steps without any improvement, cap 100 000 steps).
Printed per
(task, budget, rule), as Markdown: epochs (median over fit seeds), the share of fits that hit
the cap, seconds per fit, and the coverage-set ``mse_1step`` as a ratio to the long rule's
(1.00: the rule stopped where a much longer fit ends up; above 1: it was cut on a plateau).

    python benchmarks/stopping_rule.py --tasks InvertedPendulum-v5,Reacher-v5 --fit-seeds 2
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

import numpy as np
from harness import Stopwatch, int_list, pin_threads

from advex.engine.coverage import CoverageConfig, load_or_build_coverage
from advex.engine.evaluation import EvaluationConfig, fit_models, score_models
from advex.exploration.collect import collect

#: Candidate rules: name -> EvaluationConfig overrides.
RULES: dict[str, dict[str, Any]] = {
    "v1: 20 epochs, 1 %, cap 1000 epochs": {
        "patience": 20, "patience_steps": 0, "min_rel_improvement": 1e-2, "max_epochs": 1000,
        "max_steps": None},
    "1500 steps, 0.1 %": {"patience_steps": 1500, "min_rel_improvement": 1e-3},
    "3000 steps, 0.1 %": {"patience_steps": 3000, "min_rel_improvement": 1e-3},
}
LONG = "long: 10000 steps, 0 %, cap 100000 steps"
RULES[LONG] = {"patience_steps": 10_000, "min_rel_improvement": 0.0, "max_steps": 100_000}
GRID_TASKS = "InvertedPendulum-v5,Reacher-v5,HalfCheetah-v5,Hopper-v5,advex/ArenaRobot-v0"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default=GRID_TASKS)
    parser.add_argument("--budgets", type=int_list, default="1000,10000")
    parser.add_argument("--fit-seeds", type=int, default=2)
    parser.add_argument("--no-long", action="store_true", help="skip the long reference rule")
    args = parser.parse_args()
    pin_threads()
    print("| task | budget | rule | epochs (median) | capped | s / fit | mse_1step | / long |")
    print("|---|---:|---|---:|---:|---:|---:|---:|")
    for task in args.tasks.split(","):
        coverage = load_or_build_coverage(task, 0, CoverageConfig(sb3_algo="ppo"),
                                          progress=False)
        for budget in args.budgets:
            data = collect(task, n_steps=budget, seed=1, progress=False)
            results = {}
            for name, overrides in RULES.items():
                if args.no_long and name == LONG:
                    continue
                config = replace(EvaluationConfig(), fit_seeds=args.fit_seeds, **overrides)
                with Stopwatch() as clock:
                    report = fit_models(config.model, coverage.obs_dim, coverage.act_dim,
                                        config.model_config, data, config, run_seed=0)
                seconds = clock.seconds / args.fit_seeds
                mse = float(np.mean([score_models([m], coverage, None)["mse_1step"].value
                                     for m in report.models]))
                results[name] = (int(np.median(report.epochs)), float(np.mean(report.capped)),
                                 seconds, mse)
            reference = results[LONG][3] if LONG in results else float("nan")
            for name, (epochs, capped, seconds, mse) in results.items():
                print(f"| {task} | {budget} | {name} | {epochs} | {capped:.0%} | {seconds:.1f} | "
                      f"{mse:.4g} | {mse / reference:.2f} |", flush=True)


if __name__ == "__main__":
    main()
