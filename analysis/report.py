"""Turn a saved comparison folder into ``summary.csv``, ``sample_efficiency.png``,
``report.md`` and ``report.html``, plus, where the folder still holds its run checkpoints,
``coverage_map.png`` and ``rollouts.png``. Reads files only, so it can be rerun on any
finished, running or killed comparison; every file is written atomically (a reader sees the
old file or the new one, never half of one)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from advex.analysis.coverage_map import plot_coverage_maps
from advex.analysis.html_report import write_html_report
from advex.analysis.plots import plot_sample_efficiency
from advex.analysis.rollout_plot import plot_rollouts
from advex.analysis.summary import format_table, summary_table
from advex.atomic_io import write_text_atomic
from advex.engine.results import is_partial, job_rows_files, load_results

HEADLINE_METRIC = "mse_1step"
#: Further tables in report.md: the free-motion and contact strata with the share of each
#: strategy's data in contact, the robust and stratified readings of the headline (where the
#: error comes from: data the model saw the like of, or extrapolation), then rollouts.
SECONDARY_METRICS = (
    "mse_1step@free",
    "mse_1step@contact",
    "contact_frac",
    "mse_1step_median",
    "mse_1step@in_support",
    "mse_1step@out_of_support",
    "out_of_support_frac",
    "rollout_mse_k20",
)

EXPLANATION = [
    "How to read the tables (rliable-style statistics over seeds):",
    "- **IQM** = interquartile mean, the mean of the middle 50 % of seeds (robust to one wild "
    "seed); brackets are 95 % percentile bootstrap CIs over seeds (2000 resamples, fixed seed).",
    "- **gap closed** = (no-change - strategy) / (no-change - oracle) per seed, then IQM: 0 is "
    "no better than predicting s' = s, 1 is as good as training on held-out-like data.",
    "- **ratio vs random** = geometric mean over seeds of the strategy's final error divided by "
    "random's on the same seed (paired), below 1 is better.",
    "- **steps to random** = first env step from which the strategy's seed-IQM curve stays at or "
    "below random's final seed-IQM error (a dip that rises again does not count); the ratio is "
    "to random's budget, with a paired bootstrap CI over seeds (inf = some resamples never got "
    "there). Random's own row is its budget, 1.00, by definition.",
]


def _config(out: Path) -> dict[str, Any]:
    """The run's ``config.json``, or ``{}`` when it is missing or unreadable (decorative)."""
    try:
        config = json.loads((out / "config.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return config if isinstance(config, dict) else {}


def partial_note(out: Path) -> str:
    """The report's warning for a comparison that has not finished."""
    return (
        f"**Partial results**: the comparison has not finished (running, or stopped); these "
        f"are the rows its {len(job_rows_files(out))} jobs had written. Rerun `advex report` "
        "for more, or `advex compare --resume` to finish it."
    )


def headline_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The summary table of the headline metric (:func:`summary_table` of ``mse_1step``)."""
    return summary_table(frame, HEADLINE_METRIC)


def write_report(
    out: Path, frame: pd.DataFrame | None = None, table: pd.DataFrame | None = None
) -> str:
    """Write ``summary.csv`` (the headline-metric table), the pictures, ``report.md`` and
    ``report.html`` into ``out``; return the headline text table. ``frame`` and ``table``,
    when given, are the folder's results and :func:`headline_table` (read and computed if
    not)."""
    out = Path(out)
    frame = load_results(out) if frame is None else frame
    table = headline_table(frame) if table is None else table
    write_text_atomic(out / "summary.csv", table.to_csv(index=False))
    images = [("Sample efficiency", plot_sample_efficiency(frame, out / "sample_efficiency.png"))]
    missing: list[str] = []
    skipped: list[str] = []
    for title, draw, name in (
        ("Coverage maps", plot_coverage_maps, "coverage_map.png"),
        ("Predicted vs true rollouts", plot_rollouts, "rollouts.png"),
    ):
        path = draw(out, out / name, None, skipped)
        if path is None:
            (out / name).unlink(missing_ok=True)  # never leave an older run's picture
            missing.append(f"{title}: not drawn, the folder holds no run checkpoints "
                           "(buffers, kept fits) or coverage set (a results-only copy, or no "
                           "job has reached its last point yet)")
        else:
            images.append((title, path))
    for line in dict.fromkeys(skipped):  # each unreadable file once, on stderr too
        print(f"advex report: {line}", file=sys.stderr)
        missing.append(line)
    text = format_table(table)
    config = _config(out)
    budget = int(frame["env_steps"].max())
    partial = is_partial(out)
    if partial and "steps" in config:  # the configured budget, not the reach so far
        budget = int(config["steps"])
    notes = [
        *([partial_note(out)] if partial else []),
        f"Strategies: {', '.join(sorted(frame['strategy'].unique()))}; "
        f"seeds: {sorted(frame['seed'].unique().tolist())}; budget: {budget} env steps"
        + (f", rounds of {config['round_steps']}" if "round_steps" in config else "")
        + (f", {config['episodes']} episodes" if "episodes" in config else "")
        + ". Errors are on the task's held-out coverage set (same episode rules).",
    ]
    tables = [("Headline: " + HEADLINE_METRIC, table)]
    tables += [(metric, summary_table(frame, metric)) for metric in SECONDARY_METRICS
               if metric in set(frame["metric"])]
    title = f"advex comparison: {', '.join(sorted(frame['task'].unique()))}"
    lines = [f"# {title}", ""]
    for note in notes:
        lines += [note, ""]
    lines += [*EXPLANATION, "", "```", text, "```", ""]
    for _, secondary in tables[1:]:
        lines += ["```", format_table(secondary), "```", ""]
    capped = frame.loc[frame["metric"] == "fit_capped_frac"]
    if len(capped):
        weights = capped["n_fits"].to_numpy()
        share = float((capped["value"].to_numpy() * weights).sum() / weights.sum())
        notes.append(
            f"Evaluation fits that reached the epoch cap instead of converging: {share:.1%} "
            f"of {int(weights.sum())}."
        )
        lines += [notes[-1], ""]
    lines += [f"![{name.lower()}]({path.name})" for name, path in images] + [""]
    lines += [f"Skipped: {line}" for line in dict.fromkeys(skipped)]
    write_text_atomic(out / "report.md", "\n".join(lines))
    write_html_report(out, title, [*notes, *EXPLANATION], tables, images, config, missing)
    return text
