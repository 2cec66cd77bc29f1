"""Compare variants of a strategy that were run as separate `advex compare` folders.

Each ``--run LABEL=FOLDER[:STRATEGY]`` renames ``STRATEGY``'s rows in that folder to ``LABEL``
(default strategy: adversarial-sf); rows of other strategies and the reference rows are kept
from the first folder that has them (same seeds and config give the same coverage set and
references). Prints the usual summary table for each metric and, for every pair of labels,
the paired per-seed ratio of final values (geometric mean, 95 % bootstrap CI).

    python benchmarks/variants.py --run before=runs/ip_before --run after=runs/ip_after
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import pandas as pd

from advex.analysis.statistics import paired_ratio
from advex.analysis.summary import format_table, summary_table
from advex.engine.results import final_values, load_results


def merged(runs: list[str]) -> tuple[pd.DataFrame, list[str]]:
    frames, labels = [], []
    for spec in runs:
        label, _, rest = spec.partition("=")
        folder, _, strategy = rest.partition(":")
        frame = load_results(Path(folder))
        strategy = strategy or "adversarial-sf"
        if strategy not in set(frame["strategy"]):
            raise SystemExit(f"{folder}: no rows of strategy {strategy!r}")
        frame = frame.copy()
        frame.loc[frame["strategy"] == strategy, "strategy"] = label
        frames.append(frame)
        labels.append(label)
    out = pd.concat(frames, ignore_index=True)
    return out.drop_duplicates(["strategy", "seed", "env_steps", "metric"]), labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", action="append", required=True, help="LABEL=FOLDER[:STRATEGY]")
    parser.add_argument("--metrics", default="mse_1step,mse_1step_median,mse_1step@in_support")
    args = parser.parse_args()
    frame, labels = merged(args.run)
    for metric in args.metrics.split(","):
        print(f"\n{metric}")
        print(format_table(summary_table(frame, metric)))
        finals = final_values(frame, metric).pivot(index="seed", columns="strategy",
                                                   values="value")
        for a, b in itertools.combinations(labels, 2):
            r = paired_ratio(finals[a], finals[b])
            print(f"{a} / {b}: {r.value:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] over "
                  f"{r.per_seed.notna().sum()} seeds; per seed "
                  + ", ".join(f"{v:.2f}" for v in r.per_seed))


if __name__ == "__main__":
    main()
