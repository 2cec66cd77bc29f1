"""The comparison's verdict: final errors with confidence intervals and steps-to-reach-random.

"Steps to reach random's final error" is the sample-efficiency figure the project exists for:
for each seed, the first env-step count at which a strategy's held-out error is at or below
what random exploration reached with its whole budget, and its ratio to that budget.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from advex.analysis.results import final_values

# Two-sided 95 % Student-t critical values for 1..30 degrees of freedom (no scipy needed).
_T95 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]


def mean_ci95(values: np.ndarray) -> tuple[float, float]:
    """Mean and half-width of the 95 % t-interval across seeds (half-width NaN for one seed)."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = float(values.mean())
    if n == 1:
        return mean, math.nan
    t = _T95[n - 2] if n - 1 <= len(_T95) else 1.96
    return mean, float(t * values.std(ddof=1) / math.sqrt(n))


def steps_to_reach(frame: pd.DataFrame, metric: str, reference: str = "random") -> pd.DataFrame:
    """Per (strategy, seed): first ``env_steps`` with ``metric <= reference's final value``.

    Returns columns ``strategy, seed, target, steps, budget, ratio`` (``steps``/``ratio`` NaN
    where the strategy never got there within its budget).
    """
    finals = final_values(frame, metric)
    ref = finals[finals["strategy"] == reference].set_index("seed")
    if ref.empty:
        raise ValueError(f"reference strategy {reference!r} has no {metric} rows")
    sub = frame[frame["metric"] == metric]
    out = []
    for (strategy, seed), group in sub.groupby(["strategy", "seed"]):
        if seed not in ref.index:
            continue
        target, budget = float(ref.at[seed, "value"]), int(ref.at[seed, "env_steps"])
        group = group.sort_values("env_steps")
        hit = group[group["value"] <= target]
        steps = float(hit["env_steps"].iloc[0]) if len(hit) else math.nan
        out.append(
            {
                "strategy": strategy,
                "seed": seed,
                "target": target,
                "steps": steps,
                "budget": budget,
                "ratio": steps / budget,
            }
        )
    return pd.DataFrame(out)


def summary_table(
    frame: pd.DataFrame,
    metrics: tuple[str, ...] = ("mse_1step", "rollout_mse_k20"),
    reference: str = "random",
) -> pd.DataFrame:
    """One row per strategy: final metrics (mean, CI) and steps to reach ``reference``'s error."""
    rows = []
    reach = (
        steps_to_reach(frame, metrics[0], reference)
        if reference in set(frame["strategy"])
        else None
    )
    for strategy in sorted(frame["strategy"].unique(), key=lambda s: (s != reference, s)):
        row: dict[str, object] = {"strategy": strategy}
        for metric in metrics:
            finals = final_values(frame, metric)
            mean, ci = mean_ci95(finals.loc[finals["strategy"] == strategy, "value"].to_numpy())
            row[metric], row[f"{metric}_ci95"] = mean, ci
        if reach is not None:
            mine = reach[reach["strategy"] == strategy]
            row["seeds"] = len(mine)
            row["seeds_reached"] = int(mine["steps"].notna().sum())
            row["steps_to_reach_random"] = (
                float(mine["steps"].mean())
                if len(mine) and mine["steps"].notna().all()
                else math.nan
            )
            row["ratio_to_random_budget"] = (
                float(mine["ratio"].mean())
                if len(mine) and mine["ratio"].notna().all()
                else math.nan
            )
        rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    """Fixed-width text of :func:`summary_table` for the terminal and report."""

    def fmt(mean: float, ci: float) -> str:
        return f"{mean:.4g}" + ("" if math.isnan(ci) else f" ± {ci:.2g}")

    lines = [
        f"{'strategy':<16} {'mse_1step':>20} {'rollout_mse_k20':>20} "
        f"{'steps to random':>16} {'ratio':>7}"
    ]
    for _, r in table.iterrows():
        steps = r.get("steps_to_reach_random", math.nan)
        if isinstance(steps, float) and math.isnan(steps):
            reached = f"{int(r.get('seeds_reached', 0))}/{int(r.get('seeds', 0))} seeds"
            steps_text, ratio_text = f"not ({reached})", "-"
        else:
            steps_text, ratio_text = f"{steps:.0f}", f"{r['ratio_to_random_budget']:.2f}"
        lines.append(
            f"{r['strategy']:<16} {fmt(r['mse_1step'], r['mse_1step_ci95']):>20} "
            f"{fmt(r['rollout_mse_k20'], r['rollout_mse_k20_ci95']):>20} "
            f"{steps_text:>16} {ratio_text:>7}"
        )
    return "\n".join(lines)
