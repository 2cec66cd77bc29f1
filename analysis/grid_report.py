"""One report over several comparison folders: the grid's headline, task by task.

A grid runs one ``advex compare`` per task (and episode rule), or per task and group of seeds,
so each part's results can be committed as soon as they are done; this module puts them
together without rerunning anything. Folders whose ``config.json`` agree in everything but the
seeds are one *experiment*: their rows are merged (a seed may be in only one of them). For
every folder it rebuilds that folder's own report (:mod:`.report`), then writes into the grid
folder:

- ``headline.csv``: one row per (experiment, exploring strategy, stratum) with the steps the
  strategy needs to reach random's final error as a ratio of random's budget (paired bootstrap
  CI over seeds), the final-error ratio to random, and a verdict against the goal. The strata
  (:data:`STRATA`): ``all`` (``mse_1step``), ``free`` and ``contact`` (``mse_1step@free`` /
  ``@contact``: transitions without / with a contact or joint-limit hit), each with its own
  ratio, CI and verdict; results from before the contact labels have ``all`` only;
- ``<experiment>.png``: its sample-efficiency plot over all its seeds;
- ``report.md``: the headline, how many tasks meet the goal, and each experiment's summary.

The goal (issue "the sample-efficiency result at scale"): adversarial exploration reaches
random's final error in at most half of random's budget (``reach_ratio <= 0.5``) with the 95 %
CI's upper end below 1, on at least 3 of the 5 tasks, each with 5 seeds; read per stratum.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from advex.analysis.plots import plot_sample_efficiency
from advex.analysis.report import _config, headline_table, write_report
from advex.analysis.summary import format_table, summary_table
from advex.atomic_io import write_text_atomic
from advex.engine.experiment import ExperimentConfig
from advex.engine.results import (
    REFERENCE_NAMES,
    RESULTS_FILE,
    load_results,
    validate_results,
)

#: The strategies the goal is about: the adversarial policies, short-horizon (score function,
#: pathwise) and long-horizon (``adversarial-mpc``); the others are comparisons.
ADVERSARIES: tuple[str, ...] = ("adversarial-sf", "adversarial-pw", "adversarial-mpc")
#: The goal: reach random's final error within this share of random's budget ...
GOAL_REACH_RATIO = 0.5
#: ... on at least this many tasks ...
GOAL_TASKS = 3
#: ... each measured on at least this many seeds (a bootstrap over fewer is no interval).
GOAL_SEEDS = 5

#: The headline's strata: name -> the metric read for it.
STRATA: dict[str, str] = {
    "all": "mse_1step", "free": "mse_1step@free", "contact": "mse_1step@contact",
}

HEADLINE_COLUMNS = [
    "experiment", "task", "episodes", "budget", "strategy", "stratum", "seeds", "reach_ratio",
    "reach_ci_low", "reach_ci_high", "ratio_to_random", "ratio_ci_low", "ratio_ci_high",
    "verdict",
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


def verdict(reach_ratio: float, ci_high: float, seeds: int) -> str:
    """The goal's reading of one reach ratio and the upper end of its CI over ``seeds``."""
    if seeds < GOAL_SEEDS:
        return f"no verdict yet ({seeds} of {GOAL_SEEDS} seeds)"
    if math.isnan(reach_ratio):
        return "never reaches random's final error"
    if reach_ratio <= GOAL_REACH_RATIO and ci_high < 1:
        return f"goal met (<= {GOAL_REACH_RATIO:g}, CI below 1)"
    if ci_high < 1:
        return "faster than random (CI below 1), short of the goal"
    if reach_ratio < 1:
        return "faster on the IQM curve, CI reaches 1"
    return "not faster than random"


@dataclass
class Experiment:
    """Run folders of one experiment (same config but the seeds), their rows merged;
    ``table``: the headline table (``mse_1step``), ``strata``: each stratum's table (the
    strata whose metric the rows hold)."""

    label: str
    folders: list[Path]
    config: dict[str, Any]
    frame: pd.DataFrame
    table: pd.DataFrame
    strata: dict[str, pd.DataFrame]


def _identity(run: Path, config: dict[str, Any], frame: pd.DataFrame) -> str:
    """What makes folders one experiment: the tasks in their rows and the resolved config
    (:meth:`ExperimentConfig.resolved`: every default filled in, so a folder written before
    config.json was resolved joins the seeds written after) without its seeds. A config of a
    user's ``module:Id`` task is compared as written: reading results imports no module. A
    folder without a config is an experiment of its own."""
    if not config:
        return f"folder:{run.resolve()}"
    if ":" not in str(config.get("task", ":")):  # a user's module is never imported here
        try:  # written in full or with defaults left out, one experiment is one identity
            config = ExperimentConfig.from_dict(config).resolved().to_dict()
        except (TypeError, ValueError):
            pass  # a config this version cannot read (older fields): compared as written
    same = {k: v for k, v in config.items() if k != "seeds"}
    return json.dumps([sorted(frame["task"].unique().tolist()), same], sort_keys=True)


def _label(config: dict[str, Any], folders: list[Path]) -> str:
    """An experiment's name: ``<task>_<episodes>``, or the name its folders share less their
    seed suffix where that extends it (``grid.py --label long`` folders
    ``InvertedPendulum-v5_env_long_s0`` ... make ``InvertedPendulum-v5_env_long``), so two
    experiments of one task and rules are told apart by what their folders are called."""
    if not config or "task" not in config:
        return folders[0].name
    label = f"{str(config['task']).replace('/', '_')}_{config.get('episodes', 'env')}"
    stems = {re.sub(r"_s\d+$", "", folder.name) for folder in folders}
    if len(stems) == 1:
        stem = stems.pop()
        if stem.startswith(label):
            return stem
    return label


def _file_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_")


def _merged(folders: list[Path], frames: dict[Path, pd.DataFrame]) -> pd.DataFrame:
    """One frame of the folders' rows; a (strategy, seed) in two folders is an error."""
    owner: dict[tuple[str, int], Path] = {}
    for folder in folders:
        pairs = frames[folder][["strategy", "seed"]].drop_duplicates().itertuples(index=False)
        for strategy, seed in pairs:
            key = (str(strategy), int(seed))
            if key in owner:
                raise GridReportError(
                    f"{owner[key]} and {folder} both hold seed {seed} of {strategy}: one "
                    "experiment's folders must split its seeds"
                )
            owner[key] = folder
    return validate_results(pd.concat([frames[f] for f in folders], ignore_index=True))


def experiments(runs: list[Path], frames: dict[Path, pd.DataFrame]) -> list[Experiment]:
    """Group ``runs`` into experiments (first-seen order) and merge each one's rows."""
    groups: dict[str, list[Path]] = {}
    configs: dict[str, dict[str, Any]] = {}
    for run in runs:
        config = _config(run)
        key = _identity(run, config, frames[run])
        groups.setdefault(key, []).append(run)
        configs.setdefault(key, config)
    labels: dict[str, str] = {}
    for key, folders in groups.items():
        label = _label(configs[key], folders)
        if label in labels.values():  # same task and rules, another config: say which
            label = f"{label} ({folders[0].name})"
        labels[key] = label
    found = []
    for key, folders in groups.items():
        frame = _merged(folders, frames) if len(folders) > 1 else frames[folders[0]]
        table = headline_table(frame)
        metrics = set(frame["metric"])
        strata = {name: table if metric == STRATA["all"] else summary_table(frame, metric)
                  for name, metric in STRATA.items() if metric in metrics}
        found.append(Experiment(labels[key], folders, configs[key], frame, table, strata))
    return found


def _headline_rows(experiment: Experiment) -> list[dict[str, Any]]:
    frame = experiment.frame
    rows = []
    for stratum, table in experiment.strata.items():
        for record in table.to_dict("records"):
            strategy = record["strategy"]
            if strategy == "random" or strategy in REFERENCE_NAMES:
                continue
            rows.append({
                "experiment": experiment.label,
                "task": ", ".join(sorted(frame["task"].unique())),
                "episodes": experiment.config.get("episodes", "env"),
                "budget": int(frame["env_steps"].max()),
                **{key: record[key] for key in HEADLINE_COLUMNS if key in record},
                "stratum": stratum,
                "verdict": verdict(record["reach_ratio"], record["reach_ci_high"],
                                   record["seeds"]),
            })
    return rows


def _cell(value: float, low: float, high: float) -> str:
    if math.isnan(value):
        return "-"
    if math.isnan(low) and math.isnan(high):
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def write_grid_report(paths: list[Path], out: Path) -> str:
    """Rebuild every folder's report, then write ``headline.csv``, one plot per experiment
    and ``report.md`` into ``out``; return the headline as Markdown. Every folder is read and
    every experiment merged before anything is written."""
    runs = find_runs(paths)
    if out.exists() and not out.is_dir():
        raise GridReportError(f"{out}: the grid report goes into a folder; this is a file")
    frames = {run: load_results(run) for run in runs}
    found = experiments(runs, frames)
    rows = [row for experiment in found for row in _headline_rows(experiment)]
    headline = pd.DataFrame(rows, columns=HEADLINE_COLUMNS)
    # a one-folder experiment's table is that folder's table: not computed twice
    own = {e.folders[0]: e.table for e in found if len(e.folders) == 1}
    for run in runs:
        write_report(run, frames[run], own.get(run))
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "headline.csv", headline.to_csv(index=False))
    text = _markdown(headline)
    lines = [
        "# advex grid: steps to reach random's final error",
        "",
        f"{len(found)} experiment(s) from {len(runs)} run folder(s). Per task: the steps each "
        "exploring strategy needs to reach random's final held-out error (`mse_1step`, "
        "seed-IQM curve), as a ratio of random's budget, with a 95 % paired bootstrap CI over "
        "seeds; and the final error's paired ratio to random. Goal: an adversary "
        f"(`{'`, `'.join(ADVERSARIES)}`) at a reach ratio <= {GOAL_REACH_RATIO:g} with the CI's "
        f"upper end below 1 on at least {GOAL_TASKS} tasks, each measured on {GOAL_SEEDS} seeds "
        "or more. Read per stratum: `all` is the whole coverage set (`mse_1step`), `free` and "
        "`contact` its transitions without and with a contact or joint-limit hit "
        "(`mse_1step@free`, `mse_1step@contact`); a stratum shows `-` where the results "
        "predate the contact labels.",
        "",
        text,
        "",
        *_goal_lines(headline),
        "",
    ]
    for experiment in found:
        plot = f"{_file_name(experiment.label)}.png"
        plot_sample_efficiency(experiment.frame, out / plot)
        seeds = sorted(experiment.frame["seed"].unique().tolist())
        links = ", ".join(
            f"[{f.name}]({_relative(f, out)}/report.md)" for f in experiment.folders
        )
        lines += [
            f"## {experiment.label}: {', '.join(sorted(experiment.frame['task'].unique()))}, "
            f"{experiment.config.get('episodes', 'env')} episodes, seeds {seeds}",
            "",
            f"Folders: {links}.",
            "",
            "```",
            format_table(experiment.table),
            "```",
            "",
            f"![{experiment.label}]({plot})",
            "",
        ]
    write_text_atomic(out / "report.md", "\n".join(lines))
    return text


def _markdown(headline: pd.DataFrame) -> str:
    """The headline with the strata side by side: one line per (experiment, strategy), each
    stratum's steps-to-random ratio, final-error ratio and verdict in its own columns."""
    header = ["experiment", "budget", "strategy", "seeds"]
    align = ["---", "---:", "---", "---:"]
    for stratum in STRATA:
        header += [f"{stratum}: steps to random", f"{stratum}: final / random's",
                   f"{stratum}: verdict"]
        align += ["---", "---", "---"]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    keys = ["experiment", "strategy"]
    for (experiment, strategy), rows in headline.groupby(keys, sort=False):
        by_stratum = {row["stratum"]: row for row in rows.to_dict("records")}
        first = next(iter(by_stratum.values()))
        cells = [str(experiment), str(first["budget"]), str(strategy), str(first["seeds"])]
        for stratum in STRATA:
            row = by_stratum.get(stratum)
            if row is None:
                cells += ["-", "-", "-"]
                continue
            cells += [_cell(row["reach_ratio"], row["reach_ci_low"], row["reach_ci_high"]),
                      _cell(row["ratio_to_random"], row["ratio_ci_low"], row["ratio_ci_high"]),
                      str(row["verdict"])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _goal_lines(headline: pd.DataFrame) -> list[str]:
    """The goal's verdict per stratum the headline holds (one line each)."""
    lines = []
    for stratum in STRATA:
        rows = headline[headline["stratum"] == stratum]
        if len(rows):
            lines.append(f"- `{stratum}`: {_goal_line(rows)}")
    return lines


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
