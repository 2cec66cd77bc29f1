"""Print a task's default coverage set as Markdown: size, pools, per-dimension ranges, and the
no-change reference (the figures in docs/coverage.md come from this script).

    python benchmarks/coverage_summary.py --task InvertedPendulum-v5 --episodes env
"""

from __future__ import annotations

import argparse

import numpy as np
from harness import Stopwatch

from advex.engine.coverage import SOURCE_NAMES, CoverageConfig, build_coverage_set
from advex.engine.metrics import evaluate_model
from advex.engine.references import NoChangeModel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--task", default="InvertedPendulum-v5")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--episodes", choices=["env", "free"], default="env")
    parser.add_argument("--sb3-algo", choices=["sac", "ppo"], default="sac")
    args = parser.parse_args()

    with Stopwatch() as clock:
        config = CoverageConfig(episodes=args.episodes, sb3_algo=args.sb3_algo)
        coverage = build_coverage_set(args.task, args.seed, config, progress=False)
    seconds = clock.seconds
    summary = coverage.summary()
    assert coverage.lengths is not None
    pools = ", ".join(f"{name} {summary['sources'][name]}" for name in SOURCE_NAMES)
    print(f"### {args.task} (seed {args.seed}, {args.episodes} episodes, {args.sb3_algo})\n")
    print(
        f"{coverage.n_starts} starts, {len(coverage)} transitions (mean rollout "
        f"{coverage.lengths.mean():.1f} of {coverage.horizon} steps; "
        f"{summary['n_terminated_rollouts']} rollouts terminated), obs dim {coverage.obs_dim}, "
        f"act dim {coverage.act_dim}; starts per pool: {pools}; built in {seconds:.0f} s.\n"
    )
    print("| dim | min | max | std | delta scale |")
    print("|---:|---:|---:|---:|---:|")
    for d, (lo, hi, sd, scale) in enumerate(
        zip(summary["obs_min"], summary["obs_max"], summary["obs_std"], summary["delta_scale"],
            strict=True)
    ):
        print(f"| {d} | {lo:.3f} | {hi:.3f} | {sd:.3f} | {scale:.4f} |")
    metrics = evaluate_model(NoChangeModel(coverage.obs_dim, coverage.act_dim), coverage)
    shown = ", ".join(
        f"{name} {metrics[name]:.3f}"
        for name in ("mse_1step", "rollout_mse_k5", "rollout_mse_k20")
        if name in metrics and np.isfinite(metrics[name])
    )
    print(f"\nReference: the no-change model s' = s scores {shown}.")


if __name__ == "__main__":
    main()
