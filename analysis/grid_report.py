"""One report over several comparison folders: the grid's headline, task by task.

A grid runs one ``advex compare`` per task (and episode rule) so each task's results can be
committed as soon as they are done; this module puts them side by side without rerunning
anything. For every run folder it rebuilds that folder's own report (:mod:`.report`), then
writes into the grid folder:

- ``headline.csv``: one row per (run, exploring strategy) with the steps the strategy needs to
  reach random's final error as a ratio of random's budget (paired bootstrap CI over seeds),
  the final-error ratio to random, and a verdict against the goal;
- ``report.md``: that table, how many tasks meet the goal, and each run's summary table.

The goal (issue "the sample-efficiency result at scale"): adversarial exploration reaches
random's final error in at most half of random's budget (``reach_ratio <= 0.5``) with the 95 %
CI's upper end below 1, on at least 3 of the 5 tasks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from advex.analysis.report import _config, headline_table, write_report
from advex.analysis.results import RESULTS_FILE, load_results
from advex.analysis.statistics import REFERENCE_NAMES
from advex.analysis.summary import format_table
from advex.atomic_io import write_text_atomic

#: The strategies the goal is about (the others are comparisons).
ADVERSARIES: tuple[str, ...] = ("adversarial-sf", "adversarial-pw")
#: The goal: reach random's final error within this share of random's budget ...
GOAL_REACH_RATIO = 0.5
#: ... on at least this many tasks.
GOAL_TASKS = 3

HEADLINE_COLUMNS = [
    "run", "task", "episodes", "budget", "strategy", "seeds", "reach_ratio", "reach_ci_low",
    "reach_ci_high", "ratio_to_random", "ratio_ci_low", "ratio_ci_high", "verdict",
]


class GridReportError(ValueError):
    """Folders that do not make a grid: no results, a name given twice, nowhere to write."""


def find_runs(paths: list[Path]) -> list[Path]:
    """The run folders among ``paths``: each path is a run folder (it holds
    ``results.parquet``) or a grid folder (its direct subfolders that hold one, sorted)."""
    runs: list[Path] = []
    for path in paths:
        if not path.is_dir():
            what = "a file" if path.exists() else "missing"
            raise GridReportError(f"{path}: expected a run or grid folder, it is {what}")
        if (path / RESULTS_FILE).is_file():
            runs.append(path)
            continue
        inner = sorted(p for p in path.iterdir() if (p / RESULTS_FILE).is_file())
        if not inner:
            raise GridReportError(
                f"{path}: holds no {RESULTS_FILE}, nor do its subfolders (run `advex compare`)"
            )
        runs += inner
    names = [run.name for run in runs]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise GridReportError(f"run folder name(s) given twice: {', '.join(repeated)}")
    return runs


def verdict(reach_ratio: float, ci_high: float) -> str:
    """The goal's reading of one reach ratio and the upper end of its CI."""
    if math.isnan(reach_ratio):
        return "never reaches random's final error"
    if math.isnan(ci_high):
        return "no CI (one seed): no verdict"
    if reach_ratio <= GOAL_REACH_RATIO and ci_high < 1:
        return f"goal met (<= {GOAL_REACH_RATIO:g}, CI below 1)"
    if ci_high < 1:
        return "faster than random (CI below 1), short of the goal"
    if reach_ratio < 1:
        return "faster on the IQM curve, CI reaches 1"
    return "not faster than random"


def _headline_rows(run: Path, frame: pd.DataFrame, table: pd.DataFrame) -> list[dict[str, Any]]:
    config = _config(run)
    rows = []
    for record in table.to_dict("records"):
        strategy = record["strategy"]
        if strategy == "random" or strategy in REFERENCE_NAMES:
            continue
        rows.append({
            "run": run.name,
            "task": ", ".join(sorted(frame["task"].unique())),
            "episodes": config.get("episodes", "env"),
            "budget": int(frame["env_steps"].max()),
            **{key: record[key] for key in HEADLINE_COLUMNS if key in record},
            "verdict": verdict(record["reach_ratio"], record["reach_ci_high"]),
        })
    return rows


def _cell(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isnan(low) and math.isnan(high):
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def write_grid_report(paths: list[Path], out: Path) -> str:
    """Rebuild every run's report, then write ``headline.csv`` and ``report.md`` into ``out``;
    return the headline as Markdown. Every folder is read before anything is written."""
    runs = find_runs(paths)
    if out.exists() and not out.is_dir():
        raise GridReportError(f"{out}: the grid report goes into a folder; this is a file")
    frames = {run: load_results(run) for run in runs}
    tables = {run: headline_table(frame) for run, frame in frames.items()}
    rows = [row for run in runs for row in _headline_rows(run, frames[run], tables[run])]
    headline = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    for run in runs:
        write_report(run, frames[run], tables[run])
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "headline.csv", headline.to_csv(index=False))
    text = _markdown(headline)
    lines = [
        "# advex grid: steps to reach random's final error",
        "",
        f"{len(runs)} run folder(s). Per task: the steps each exploring strategy needs to reach "
        "random's final held-out error (`mse_1step`, seed-IQM curve), as a ratio of random's "
        "budget, with a 95 % paired bootstrap CI over seeds; and the final error's paired ratio "
        f"to random. Goal: an adversary (`{'`, `'.join(ADVERSARIES)}`) at a reach ratio <= "
        f"{GOAL_REACH_RATIO:g} with the CI's upper end below 1 on at least {GOAL_TASKS} tasks.",
        "",
        text,
        "",
        _goal_line(headline),
        "",
    ]
    for run in runs:
        config = _config(run)
        lines += [
            f"## {run.name}: {', '.join(sorted(frames[run]['task'].unique()))}, "
            f"{config.get('episodes', 'env')} episodes",
            "",
            f"Full report: [{run.name}/report.md]({_relative(run, out)}/report.md).",
            "",
            "```",
            format_table(tables[run]),
            "```",
            "",
        ]
    write_text_atomic(out / "report.md", "\n".join(lines))
    return text


def _markdown(headline: pd.DataFrame) -> str:
    lines = [
        "| run | task | episodes | budget | strategy | seeds | steps to random (ratio) "
        "| final error / random's | verdict |",
        "| --- | --- | --- | ---: | --- | ---: | --- | --- | --- |",
    ]
    for row in headline.to_dict("records"):
        lines.append(
            f"| {row['run']} | {row['task']} | {row['episodes']} | {row['budget']} "
            f"| {row['strategy']} | {row['seeds']} "
            f"| {_cell(row['reach_ratio'], row['reach_ci_low'], row['reach_ci_high'])} "
            f"| {_cell(row['ratio_to_random'], row['ratio_ci_low'], row['ratio_ci_high'])} "
            f"| {row['verdict']} |"
        )
    return "\n".join(lines)


def _goal_line(headline: pd.DataFrame) -> str:
    adversaries = headline[headline["strategy"].isin(ADVERSARIES)]
    met = adversaries[adversaries["verdict"].str.startswith("goal met")]
    tasks = sorted(set(met["task"] + " (" + met["episodes"] + ")"))
    all_tasks = sorted(set(headline["task"]))
    verdict_text = "met" if len(set(met["task"])) >= GOAL_TASKS else "not met"
    return (
        f"Goal {verdict_text}: an adversary meets it on {len(set(met['task']))} of "
        f"{len(all_tasks)} task(s)" + (f" ({', '.join(tasks)})" if tasks else "") + "."
    )


def _relative(run: Path, out: Path) -> str:
    try:
        return str(run.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(run.resolve())
