"""The comparison's verdict: final errors with confidence intervals and steps-to-reach-random.

"Steps to reach random's final error" is the sample-efficiency figure the project exists for:
the first env-step count at which a strategy's held-out error is at or below what random
exploration reached with its whole budget, and its ratio to that budget. Two readings:

- per seed (strict): strategy and random share the seed; the mean over seeds is reported
  only when every seed got there;
- on the seed-geometric-mean curve: held-out errors are heavy-tailed (one run's model can
  extrapolate wildly off its data), so curves are averaged across seeds in log space, and the
  mean curve is compared with random's final geometric mean.
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


def _reach(curve: pd.DataFrame, target: float, budget: int) -> dict[str, float]:
    """First ``env_steps`` of ``curve`` (columns env_steps, value) with ``value <= target``."""
    hit = curve.sort_values("env_steps")
    hit = hit[hit["value"] <= target]
    steps = float(hit["env_steps"].iloc[0]) if len(hit) else math.nan
    return {"target": target, "steps": steps, "budget": budget, "ratio": steps / budget}


def steps_to_reach(frame: pd.DataFrame, metric: str, reference: str = "random") -> pd.DataFrame:
    """Per (strategy, seed): first ``env_steps`` with ``metric <= reference's final value``.

    Returns columns ``strategy, seed, target, steps, budget, ratio`` (``steps``/``ratio`` NaN
    where the strategy never got there within its budget).
    """
    finals = final_values(frame, metric)
    ref = finals[finals["strategy"] == reference].set_index("seed")
    if ref.empty:
        raise ValueError(f"reference strategy {reference!r} has no {metric} rows")
    out = []
    for (strategy, seed), group in frame[frame["metric"] == metric].groupby(["strategy", "seed"]):
        if seed in ref.index:
            target, budget = float(ref.at[seed, "value"]), int(ref.at[seed, "env_steps"])
            out.append({"strategy": strategy, "seed": seed, **_reach(group, target, budget)})
    return pd.DataFrame(out)


def geometric_mean_curve(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``strategy x env_steps`` geometric mean of ``metric`` over seeds (columns: strategy,
    env_steps, value, seeds)."""
    sub = frame[frame["metric"] == metric].copy()
    sub["log"] = np.log(np.maximum(sub["value"].to_numpy(dtype=np.float64), 1e-300))
    grouped = sub.groupby(["strategy", "env_steps"])
    out = grouped["log"].mean().apply(np.exp).rename("value").to_frame()
    out["seeds"] = grouped["seed"].nunique()
    return out.reset_index()


def steps_to_reach_geomean(
    frame: pd.DataFrame, metric: str, reference: str = "random"
) -> pd.DataFrame:
    """Per strategy: first ``env_steps`` where its seed-geometric-mean curve is at or below
    ``reference``'s final geometric mean. Columns ``strategy, target, steps, budget, ratio``."""
    curves = geometric_mean_curve(frame, metric)
    ref = curves[curves["strategy"] == reference].sort_values("env_steps")
    if ref.empty:
        raise ValueError(f"reference strategy {reference!r} has no {metric} rows")
    target, budget = float(ref["value"].iloc[-1]), int(ref["env_steps"].iloc[-1])
    return pd.DataFrame(
        [
            {"strategy": strategy, **_reach(group, target, budget)}
            for strategy, group in curves.groupby("strategy")
        ]
    )


def summary_table(
    frame: pd.DataFrame,
    metrics: tuple[str, ...] = ("mse_1step", "rollout_mse_k20"),
    reference: str = "random",
) -> pd.DataFrame:
    """One row per strategy: final metrics (mean, CI) and steps to reach ``reference``'s error."""
    rows = []
    has_reference = reference in set(frame["strategy"])
    reach = steps_to_reach(frame, metrics[0], reference) if has_reference else None
    geo = (
        steps_to_reach_geomean(frame, metrics[0], reference).set_index("strategy")
        if has_reference
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
        if geo is not None:
            row["geomean_steps_to_reach_random"] = float(geo.at[strategy, "steps"])
            row["geomean_ratio_to_random_budget"] = float(geo.at[strategy, "ratio"])
        rows.append(row)
    return pd.DataFrame(rows)


def format_table(table: pd.DataFrame) -> str:
    """Fixed-width text of :func:`summary_table` for the terminal and report."""

    def fmt(mean: float, ci: float) -> str:
        return f"{mean:.4g}" + ("" if math.isnan(ci) else f" ± {ci:.2g}")

    def reach(steps: float, ratio: float, missing: str) -> str:
        return missing if math.isnan(steps) else f"{steps:.0f} ({ratio:.2f})"

    lines = [
        f"{'':<16} {'final (mean ± 95% CI)':^41} {'steps to reach random (ratio)':^34}",
        f"{'strategy':<16} {'mse_1step':>20} {'rollout_mse_k20':>20} "
        f"{'per seed':>17} {'geo-mean curve':>16}",
    ]
    for _, r in table.iterrows():
        seeds = f"not ({int(r.get('seeds_reached', 0))}/{int(r.get('seeds', 0))} seeds)"
        per_seed = reach(
            r.get("steps_to_reach_random", math.nan),
            r.get("ratio_to_random_budget", math.nan),
            seeds,
        )
        geo = reach(
            r.get("geomean_steps_to_reach_random", math.nan),
            r.get("geomean_ratio_to_random_budget", math.nan),
            "not reached",
        )
        lines.append(
            f"{r['strategy']:<16} {fmt(r['mse_1step'], r['mse_1step_ci95']):>20} "
            f"{fmt(r['rollout_mse_k20'], r['rollout_mse_k20_ci95']):>20} "
            f"{per_seed:>17} {geo:>16}"
        )
    return "\n".join(lines)
