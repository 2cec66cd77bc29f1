"""The comparison's verdict: one row per strategy with robust across-seed statistics.

For one metric (``mse_1step`` by default, lower is better), per strategy:

- final error: IQM over seeds of each seed's value at its last env step, with a percentile
  bootstrap CI (see :mod:`advex.analysis.statistics` for why IQM and bootstrap);
- gap closed: how much of the no-change -> oracle gap the final error closes (paired by seed);
- ratio to random: geometric mean of per-seed final-error ratios to random (paired by seed);
- steps to reach random's final error: on the seed-IQM curve, the first env step from which
  the strategy stays at or below random's final seed-IQM error, and its ratio to random's
  budget, with a paired bootstrap CI over seeds (the sample-efficiency figure the project
  exists for);
- fit sd: the spread of the final value over evaluation fits, relative to the value.

The ``value_sd`` and ``n_fits`` columns are optional: frames without them summarise with
``fit_sd`` NaN and ``n_fits`` 1.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from advex.analysis.statistics import (
    bootstrap_ci,
    gap_closed,
    iqm,
    paired_ratio,
    reach_vs_reference,
)
from advex.engine.results import REFERENCE_NAMES, ResultsError

SUMMARY_COLUMNS = [
    "strategy",
    "seeds",
    "final_iqm",
    "final_ci_low",
    "final_ci_high",
    "gap_closed",
    "gap_closed_ci_low",
    "gap_closed_ci_high",
    "ratio_to_random",
    "ratio_ci_low",
    "ratio_ci_high",
    "steps_to_reach",
    "reach_ratio",
    "reach_ci_low",
    "reach_ci_high",
    "fit_sd",
    "n_fits",
]


def metric_rows(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Rows of one metric with ``value_sd``/``n_fits`` filled in when the frame lacks them
    (NaN / 1); raises :class:`ResultsError` naming the metrics present when there are none, or
    when the frame mixes tasks (a summary compares strategies on one task)."""
    sub = frame[frame["metric"] == metric].copy()
    if sub.empty:
        raise ResultsError(
            f"no rows for metric {metric!r}; have {sorted(frame['metric'].unique())}"
        )
    tasks = sorted(sub["task"].unique()) if "task" in sub.columns else []
    if len(tasks) > 1:
        raise ResultsError(f"results mix tasks {tasks}: summarise one task at a time")
    if "value_sd" not in sub.columns:
        sub["value_sd"] = math.nan
    if "n_fits" not in sub.columns:
        sub["n_fits"] = 1
    sub["value"] = sub["value"].astype(np.float64)
    sub["value_sd"] = sub["value_sd"].astype(np.float64)
    return sub


def strategy_order(strategies: list[str] | set[str], reference: str = "random") -> list[str]:
    """``reference`` first, then the other strategies sorted, then the reference rows
    (:data:`REFERENCE_NAMES`, in that order) last."""
    names = set(strategies)
    head = [reference] if reference in names else []
    middle = sorted(names - {reference} - set(REFERENCE_NAMES))
    tail = [r for r in REFERENCE_NAMES if r in names and r != reference]
    return head + middle + tail


def per_seed_table(
    frame: pd.DataFrame, metric: str = "mse_1step", reference: str = "random"
) -> pd.DataFrame:
    """Per (strategy, seed), the final point: columns ``strategy, seed, env_steps, value,
    value_sd, n_fits, rel_sd, ratio_to_random`` (``rel_sd = value_sd / value``;
    ``ratio_to_random`` = value / reference's final value on the same seed, NaN without one)."""
    sub = metric_rows(frame, metric).sort_values("env_steps", kind="stable")
    # tail(1), not last(): last() skips NaNs column by column, mixing rows of different steps
    finals = (
        sub.groupby(["strategy", "seed"])
        .tail(1)[["strategy", "seed", "env_steps", "value", "value_sd", "n_fits"]]
        .copy()
    )
    finals["strategy"] = finals["strategy"].astype(str)
    with np.errstate(divide="ignore", invalid="ignore"):
        finals["rel_sd"] = finals["value_sd"] / finals["value"]
    ref = finals[finals["strategy"] == reference].set_index("seed")["value"]
    finals["ratio_to_random"] = finals["value"] / finals["seed"].map(ref).astype(np.float64)
    order = {s: i for i, s in enumerate(strategy_order(list(finals["strategy"]), reference))}
    finals["_order"] = finals["strategy"].map(order)
    return (
        finals.sort_values(["_order", "seed"], kind="stable")
        .drop(columns="_order")
        .reset_index(drop=True)
    )


def _seed_curves(sub: pd.DataFrame) -> pd.DataFrame:
    """``(strategy, seed) x env_steps`` wide table of values (NaN where a run has no point)."""
    return sub.pivot_table(
        index=["strategy", "seed"], columns="env_steps", values="value", aggfunc="first"
    )


def _reach_row(
    wide: pd.DataFrame,
    strategy: str,
    reference: str,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> dict[str, float]:
    """Reach columns for one strategy: paired seeds, steps both have for all those seeds."""
    mine, ref = wide.loc[strategy], wide.loc[reference]
    seeds = mine.index.intersection(ref.index).sort_values()
    mine, ref = mine.loc[seeds], ref.loc[seeds]
    steps = mine.columns[(mine.notna().all(axis=0) & ref.notna().all(axis=0)).to_numpy()]
    reach = reach_vs_reference(
        steps.to_numpy(dtype=np.float64),
        mine[steps].to_numpy(dtype=np.float64),
        ref[steps].to_numpy(dtype=np.float64),
        is_reference=strategy == reference,
        confidence=confidence,
        n_resamples=n_resamples,
        seed=seed,
    )
    return {
        "steps_to_reach": reach.steps,
        "reach_ratio": reach.ratio,
        "reach_ci_low": reach.ci_low,
        "reach_ci_high": reach.ci_high,
    }


def summary_table(
    frame: pd.DataFrame,
    metric: str = "mse_1step",
    reference: str = "random",
    *,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per strategy (``reference`` first, others sorted, reference rows last) with the
    columns of :data:`SUMMARY_COLUMNS`.

    ``seeds``: seeds with a final value. ``final_*``: IQM and bootstrap CI of the final values.
    ``gap_closed*``: NaN unless ``no-change`` and ``oracle`` rows exist on shared seeds.
    ``ratio_*`` and ``*reach*``: NaN when ``reference`` is absent; ``steps_to_reach`` NaN when
    not reached, ``reach_ci_high`` inf when resamples did not reach. ``fit_sd``: median over
    seeds of the final ``value_sd / value``. ``n_fits``: median final ``n_fits``.
    Every interval uses ``confidence``, ``n_resamples`` and the fixed ``seed``: reruns agree.
    """
    finals = per_seed_table(frame, metric, reference)
    wide = _seed_curves(metric_rows(frame, metric))
    by_strategy = {s: g.set_index("seed") for s, g in finals.groupby("strategy")}
    has_reference = reference in by_strategy
    no_change, oracle = by_strategy.get("no-change"), by_strategy.get("oracle")
    ci: dict[str, Any] = {"confidence": confidence, "n_resamples": n_resamples, "seed": seed}
    rows = []
    for strategy in strategy_order(list(by_strategy), reference):
        mine = by_strategy[strategy]
        values = mine["value"]
        low, high = bootstrap_ci(values.to_numpy(), iqm, **ci)
        rel_sd = mine["rel_sd"].to_numpy(dtype=np.float64)
        rel_sd = rel_sd[np.isfinite(rel_sd)]
        row: dict[str, object] = {
            "strategy": strategy,
            "seeds": len(mine),
            "final_iqm": iqm(values.to_numpy()),
            "final_ci_low": low,
            "final_ci_high": high,
            "gap_closed": math.nan,
            "gap_closed_ci_low": math.nan,
            "gap_closed_ci_high": math.nan,
            "ratio_to_random": math.nan,
            "ratio_ci_low": math.nan,
            "ratio_ci_high": math.nan,
            "steps_to_reach": math.nan,
            "reach_ratio": math.nan,
            "reach_ci_low": math.nan,
            "reach_ci_high": math.nan,
            "fit_sd": float(np.median(rel_sd)) if rel_sd.size else math.nan,
            "n_fits": float(np.median(mine["n_fits"].to_numpy(dtype=np.float64))),
        }
        if no_change is not None and oracle is not None:
            gap = gap_closed(values, no_change["value"], oracle["value"], **ci)
            row.update(
                gap_closed=gap.value, gap_closed_ci_low=gap.ci_low, gap_closed_ci_high=gap.ci_high
            )
        if has_reference:
            ratio = paired_ratio(values, by_strategy[reference]["value"], **ci)
            row.update(
                ratio_to_random=ratio.value, ratio_ci_low=ratio.ci_low, ratio_ci_high=ratio.ci_high
            )
            row.update(_reach_row(wide, strategy, reference, **ci))
        rows.append(row)
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    table.attrs.update(metric=metric, reference=reference, confidence=confidence)
    return table


def _num(x: float, spec: str = ".3g") -> str:
    """Compact number in ``spec``, '-' for NaN, 'inf' for infinity."""
    if math.isnan(x):
        return "-"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return format(x, spec)


def _ci(value: float, low: float, high: float, spec: str = ".3g") -> str:
    """``value [low, high]`` or just ``value`` when there is no interval."""
    if math.isnan(value):
        return "-"
    if math.isnan(low) and math.isnan(high):
        return _num(value, spec)
    return f"{_num(value, spec)} [{_num(low, spec)}, {_num(high, spec)}]"


def _reach(steps: float, ratio: float, low: float, high: float) -> str:
    """``steps (ratio) [ratio CI]``; 'not reached' when the IQM curve never got there."""
    head = "not reached" if math.isnan(steps) else f"{steps:.0f} ({ratio:.2f})"
    if math.isnan(low) and math.isnan(high):
        return head if not (math.isnan(steps) and math.isnan(ratio)) else "-"
    return f"{head} [{_num(low, '.2f')}, {_num(high, '.2f')}]"


def table_cells(table: pd.DataFrame) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The header and the rows of :func:`summary_table`, each cell formatted as text (value
    and CI); the text table and the HTML report lay out the same cells."""
    reference = table.attrs.get("reference", "random")
    header: tuple[str, ...] = (
        "strategy",
        "seeds",
        "final IQM",
        "gap closed",
        f"ratio vs {reference}",
        f"steps to {reference} (ratio)",
        "fit sd",
    )
    rows: list[tuple[str, ...]] = []
    for _, r in table.iterrows():
        fit_sd = "-" if math.isnan(r["fit_sd"]) else f"{100 * r['fit_sd']:.1f}%"
        rows.append(
            (
                str(r["strategy"]),
                str(int(r["seeds"])),
                _ci(r["final_iqm"], r["final_ci_low"], r["final_ci_high"]),
                _ci(r["gap_closed"], r["gap_closed_ci_low"], r["gap_closed_ci_high"], ".3f"),
                _ci(r["ratio_to_random"], r["ratio_ci_low"], r["ratio_ci_high"]),
                _reach(r["steps_to_reach"], r["reach_ratio"], r["reach_ci_low"],
                       r["reach_ci_high"]),
                fit_sd,
            )
        )
    return header, rows


def table_legend(table: pd.DataFrame) -> list[str]:
    """The lines that say how to read :func:`summary_table`'s columns."""
    metric = table.attrs.get("metric", "mse_1step")
    reference = table.attrs.get("reference", "random")
    confidence = table.attrs.get("confidence", 0.95)
    return [
        f"{metric}, each seed's final value: IQM over seeds [{confidence:.0%} percentile "
        "bootstrap CI over seeds]",
        "gap closed = (no-change - x) / (no-change - oracle); "
        f"ratio vs {reference} = geometric mean of per-seed ratios",
        f"steps to {reference} = first step from which the IQM curve stays at or below "
        f"{reference}'s final IQM (ratio to its budget)",
        "fit sd = median over seeds of the final value's sd over evaluation fits / value",
    ]


def format_table(table: pd.DataFrame) -> str:
    """Fixed-width text of :func:`summary_table` (about 115 columns) for terminal and report."""
    widths = (14, 5, 24, 21, 20, 24, 6)

    def line(cells: tuple[str, ...]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        rest = [f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True)]
        return " ".join([first, *rest]).rstrip()

    header, rows = table_cells(table)
    return "\n".join([*table_legend(table), line(header), *map(line, rows)])
