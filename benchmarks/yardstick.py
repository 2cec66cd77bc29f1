"""Is the yardstick sound? Fit noise against the gaps it must resolve, capped fits, references,
for the old and the new evaluation protocol in one run.

Takes a finished ``advex compare`` folder and re-scores each strategy's *final* buffer of one
seed with ``--fit-seeds`` fresh evaluation fits under each protocol:

- ``v1``: the online model's kind and architecture (the 5-member NLL ensemble of the default
  compare) with the stopping rule of yardstick v1 (patience 20, 1 % minimum improvement, cap
  1000 epochs);
- ``v2``: ``EvaluationConfig``'s defaults (the 128 x 3 MSE MLP and its measured stopping
  rule, :mod:`benchmarks.stopping_rule`).

Printed as Markdown, per protocol and strategy: ``mse_1step`` mean, sd, min and max over the
fits, the share of fits that reached the epoch cap and the median seconds per fit; then per
protocol the fit-seed spread of random's buffer against the gap between random and the
strategy farthest from it (target: sd / gap <= 1/3), the strategies' order, and the speed-up of
v2 over v1 (target >= 10x). Reference rows at the same budget close the table.

    python benchmarks/yardstick.py --run runs/ip4k --fit-seeds 5
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from harness import Stopwatch, pin_threads

from advex.engine.checkpoint import Checkpointer
from advex.engine.coverage import CoverageSet
from advex.engine.evaluation import EvaluationConfig, evaluate_data, fit_models, score_models
from advex.engine.experiment import ExperimentConfig
from advex.engine.references import no_change_scores, oracle_batch, ridge_scores, run_oracle_rows
from advex.envs import check_episode_mode
from advex.exploration.collect import collect
from advex.seeding import derive_seed

#: Yardstick v1's stopping rule (its EvaluationConfig defaults).
V1_RULE: dict[str, Any] = {"max_epochs": 1000, "patience": 20, "min_rel_improvement": 0.01,
                           "patience_steps": 0, "max_steps": None}


def protocols(cfg: ExperimentConfig, fit_seeds: int) -> dict[str, EvaluationConfig]:
    """The two protocols of the module docstring for the run ``cfg``."""
    v2 = replace(cfg.evaluation_config(), fit_seeds=fit_seeds)
    v1 = replace(EvaluationConfig(), fit_seeds=fit_seeds, model=cfg.model,
                 model_config=dict(cfg.model_config), **V1_RULE)
    return {"v1": v1, "v2": v2}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="an advex compare folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit-seeds", type=int, default=5)
    parser.add_argument("--protocols", default="v1,v2", help="which of v1, v2 to run")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    pin_threads(args.threads)

    cfg = ExperimentConfig.from_dict(json.loads((args.run / "config.json").read_text()))
    coverage = CoverageSet.load(args.run / "coverage" / f"seed{args.seed}.npz")
    buffers = {s: Checkpointer(args.run / "runs" / f"{s}_seed{args.seed}").load().buffer
               for s in cfg.strategies}
    budget = max(len(b) for b in buffers.values())
    chosen = {k: v for k, v in protocols(cfg, args.fit_seeds).items()
              if k in args.protocols.split(",")}
    print(f"## {cfg.task}: {args.fit_seeds} evaluation fits per buffer, seed {args.seed}, "
          f"{cfg.episodes} episodes, {budget} steps\n")
    print("| protocol | data | mse_1step mean | sd | min | max | capped | epochs (median) "
          "| s / fit (median) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    summary: dict[str, dict[str, float]] = {}
    for name, evaluation in chosen.items():
        means, sds, seconds = {}, {}, []
        for strategy, buffer in buffers.items():
            with Stopwatch() as clock:
                report = fit_models(evaluation.model, coverage.obs_dim, coverage.act_dim,
                                    evaluation.model_config, buffer, evaluation, args.seed)
            seconds.append(clock.seconds / args.fit_seeds)
            values = np.array([score_models([m], coverage, None)["mse_1step"].value
                               for m in report.models])
            means[strategy], sds[strategy] = float(values.mean()), float(values.std(ddof=1))
            print(f"| {name} | {strategy} | {values.mean():.4g} | {values.std(ddof=1):.2g} | "
                  f"{values.min():.4g} | {values.max():.4g} | {np.mean(report.capped):.0%} | "
                  f"{int(np.median(report.epochs))} | {seconds[-1]:.1f} |", flush=True)
        farthest = max((s for s in means if s != "random"),
                       key=lambda s: abs(means[s] - means["random"]), default=None)
        gap = abs(means[farthest] - means["random"]) if farthest else float("nan")
        summary[name] = {"s_per_fit": float(np.median(seconds)),
                         "noise_to_gap": sds.get("random", float("nan")) / gap,
                         "order": " < ".join(sorted(means, key=means.__getitem__))}  # type: ignore[dict-item]

    random_data = collect(cfg.task, n_steps=budget, seed=derive_seed(args.seed, "yardstick"),
                          episodes=check_episode_mode(cfg.episodes), progress=False)
    references = {
        "no-change": no_change_scores(coverage),
        "ridge": ridge_scores(random_data.batch(), coverage, cfg.ridge_alpha),
    }
    oracle_path = args.run / "coverage" / f"oracle_seed{args.seed}.npz"
    if oracle_path.exists() and "v2" in chosen:
        oracle = CoverageSet.load(oracle_path)
        data = oracle_batch(oracle, run_oracle_rows(oracle, budget, args.seed))
        references["oracle (v2)"] = evaluate_data(data, coverage, chosen["v2"], args.seed)
    for name, scores in references.items():
        s = scores["mse_1step"]
        sd = "-" if np.isnan(s.value_sd) else f"{s.value_sd:.2g}"
        print(f"| reference | {name} | {s.value:.4g} | {sd} | | | | | |")

    print("\n| protocol | s / fit (median over strategies) | fit sd of random / gap to the "
          "farthest strategy | order (best first) |")
    print("|---|---:|---:|---|")
    for name, row in summary.items():
        print(f"| {name} | {row['s_per_fit']:.1f} | {row['noise_to_gap']:.2f} | {row['order']} |")
    if {"v1", "v2"} <= set(summary):
        speedup = summary["v1"]["s_per_fit"] / summary["v2"]["s_per_fit"]
        print(f"\nv2 is {speedup:.1f}x cheaper per fit than v1 (target >= 10x); noise / gap "
              f"{summary['v2']['noise_to_gap']:.2f} against {summary['v1']['noise_to_gap']:.2f} "
              "(target <= 0.33).")


if __name__ == "__main__":
    main()
