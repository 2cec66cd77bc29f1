"""Is the yardstick sound? Fit noise against the gaps it must resolve, capped fits, references.

Takes a finished ``advex compare`` folder and re-scores each strategy's *final* buffer of one
seed with ``--fit-seeds`` fresh evaluation fits (the protocol of ``analysis/evaluation.py``),
then prints, as Markdown:

- per strategy: ``mse_1step`` mean, sd, min and max over the fits, ``mse_1step@in_support``,
  ``out_of_support_frac`` and the share of fits that reached the epoch cap;
- the fit-seed spread of random's buffer against the gap between random and the best other
  strategy (target: sd < gap / 3);
- the three reference rows at the same budget (no-change, ridge, oracle).

    python benchmarks/yardstick.py --run runs/default --fit-seeds 5
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from advex.analysis.checkpoint import Checkpointer
from advex.analysis.coverage import CoverageSet
from advex.analysis.evaluation import EvaluationConfig, evaluate_data, fit_models, score_models
from advex.analysis.experiment import ExperimentConfig
from advex.analysis.metrics import SupportBox
from advex.analysis.references import no_change_scores, oracle_batch, ridge_scores
from advex.envs import check_episode_mode
from advex.exploration.collect import collect
from advex.seeding import derive_seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True, help="an advex compare folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fit-seeds", type=int, default=5)
    args = parser.parse_args()

    cfg = ExperimentConfig.from_dict(json.loads((args.run / "config.json").read_text()))
    coverage = CoverageSet.load(args.run / "coverage" / f"seed{args.seed}.npz")
    evaluation = EvaluationConfig.from_dict({**cfg.evaluation, "fit_seeds": args.fit_seeds})
    print(f"## {cfg.task}: {args.fit_seeds} evaluation fits per buffer, seed {args.seed}, "
          f"{cfg.episodes} episodes\n")
    print("| data | rows | mse_1step mean | sd | min | max | @in_support | out_of_support_frac "
          "| capped | fit s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    means: dict[str, float] = {}
    sds: dict[str, float] = {}
    budget = 0
    for strategy in cfg.strategies:
        run_dir = args.run / "runs" / f"{strategy}_seed{args.seed}"
        buffer = Checkpointer(run_dir).load().buffer
        budget = len(buffer)
        batch = buffer.batch()
        start = time.perf_counter()
        report = fit_models(cfg.model, coverage.obs_dim, coverage.act_dim, cfg.model_config,
                            buffer, evaluation, args.seed)
        seconds = time.perf_counter() - start
        per_fit = [
            score_models([model], coverage, SupportBox.of(batch.obs, batch.act))
            for model in report.models
        ]
        values = np.array([scores["mse_1step"].value for scores in per_fit])
        inside = np.mean([s["mse_1step@in_support"].value for s in per_fit
                          if "mse_1step@in_support" in s])
        means[strategy], sds[strategy] = float(values.mean()), float(values.std(ddof=1))
        print(f"| {strategy} | {len(buffer)} | {values.mean():.4g} | {values.std(ddof=1):.2g} | "
              f"{values.min():.4g} | {values.max():.4g} | {inside:.3g} | "
              f"{per_fit[0]['out_of_support_frac'].value:.3f} | "
              f"{np.mean(report.capped):.0%} | {seconds:.0f} |")

    random_data = collect(cfg.task, n_steps=budget, seed=derive_seed(args.seed, "yardstick"),
                          episodes=check_episode_mode(cfg.episodes), progress=False)
    references = {
        "no-change": no_change_scores(coverage),
        "ridge": ridge_scores(random_data.batch(), coverage, cfg.ridge_alpha),
    }
    oracle_path = args.run / "coverage" / f"oracle_seed{args.seed}.npz"
    if oracle_path.exists():
        oracle = CoverageSet.load(oracle_path)
        data = oracle_batch(oracle, budget, derive_seed(args.seed, "oracle"))
        references["oracle"] = evaluate_data(cfg.model, cfg.model_config, data, coverage,
                                             evaluation, args.seed)
    for name, scores in references.items():
        s = scores["mse_1step"]
        sd = "-" if np.isnan(s.value_sd) else f"{s.value_sd:.2g}"
        print(f"| {name} (reference) | {budget} | {s.value:.4g} | {sd} | | | | | | |")

    if "random" in means and len(means) > 1:
        best = min((m, s) for s, m in means.items() if s != "random")
        gap = abs(means["random"] - best[0])
        ratio = sds["random"] / gap if gap > 0 else float("inf")
        print(f"\nFit-seed sd of random's mse_1step: {sds['random']:.3g}; gap to the best "
              f"other strategy ({best[1]}, {best[0]:.4g}): {gap:.3g}; sd / gap = {ratio:.2f} "
              f"-> {'meets' if ratio < 1 / 3 else 'misses'} the < 1/3 target.")


if __name__ == "__main__":
    main()
