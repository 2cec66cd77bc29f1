"""Every Gymnasium MuJoCo v5 task on a small budget: can a model learned from a few random
steps beat predicting no change, and which tasks stay hard?

Per task (one seed, ``env`` episode rules): a small coverage set (``--starts`` starts, no SB3
pool), random data of ``--steps`` steps, and the yardstick's rows: no-change, ridge on the
random data, the evaluation MLP fitted on the random data and on ``--steps`` transitions of a
second coverage set (the oracle). Printed as Markdown with ``oracle / no-change`` (target: below
1 on every task), the contact share of the coverage set and the two strata of the random
model.

    python benchmarks/all_tasks.py [--tasks Humanoid-v5,Ant-v5] [--steps 1000]
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from harness import Stopwatch, pin_threads

from advex.engine.coverage import CoverageConfig, build_coverage_set
from advex.engine.evaluation import EvaluationConfig, evaluate_data
from advex.engine.references import no_change_scores, oracle_batch, oracle_rows, ridge_scores
from advex.envs import gymnasium_mujoco_ids
from advex.exploration.collect import collect
from advex.seeding import derive_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default=None, help="default: every Gymnasium MuJoCo v5 id")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--starts", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pin_threads()
    tasks = args.tasks.split(",") if args.tasks else [
        t for t in gymnasium_mujoco_ids() if t.endswith("-v5")]
    config = CoverageConfig(n_starts=args.starts, n_random_rollout_steps=2000, n_sb3_steps=0,
                            n_bang_bang_steps=1000)
    evaluation = replace(EvaluationConfig(), fit_seeds=1)
    print("| task | no-change | ridge | random (MLP) | oracle (MLP) | oracle / no-change "
          "| contact share | random @free | random @contact | s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for task in tasks:
        clock = Stopwatch()
        coverage = build_coverage_set(task, args.seed, config, progress=False)
        oracle_config = replace(config, n_starts=max(args.starts, args.steps // 5))
        oracle_set = build_coverage_set(task, derive_seed(args.seed, "oracle-coverage"),
                                        oracle_config, progress=False)
        data = collect(task, n_steps=args.steps, seed=derive_seed(args.seed, "random"),
                       progress=False)
        budget = min(args.steps, len(oracle_set))
        oracle_data = oracle_batch(oracle_set, oracle_rows(oracle_set, budget, args.seed))
        rows = {
            "no-change": no_change_scores(coverage),
            "ridge": ridge_scores(data.batch(), coverage, 1e-3),
            "random": evaluate_data(data, coverage, evaluation, args.seed),
            "oracle": evaluate_data(oracle_data, coverage, evaluation, args.seed),
        }
        value = {k: v["mse_1step"].value for k, v in rows.items()}
        strata = {name: rows["random"].get(f"mse_1step@{name}") for name in ("free", "contact")}
        shown = {k: "-" if v is None else f"{v.value:.3g}" for k, v in strata.items()}

        print(f"| {task} | {value['no-change']:.3g} | {value['ridge']:.3g} | "
              f"{value['random']:.3g} | {value['oracle']:.3g} | "
              f"{value['oracle'] / value['no-change']:.3f} | {coverage.contact_frac():.2f} | "
              f"{shown['free']} | {shown['contact']} | "
              f"{clock.seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
