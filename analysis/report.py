"""Turn a saved comparison folder into ``summary.csv``, ``sample_efficiency.png`` and
``report.md``. Reads files only, so it can be rerun on any finished (or partial) run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from advex.analysis.plots import plot_sample_efficiency
from advex.analysis.results import load_results
from advex.analysis.summary import format_table, summary_table


def write_report(out: Path, frame: pd.DataFrame | None = None) -> str:
    """Write the summary files into ``out`` and return the text table."""
    out = Path(out)
    frame = load_results(out) if frame is None else frame
    table = summary_table(frame)
    table.to_csv(out / "summary.csv", index=False)
    plot_sample_efficiency(frame, out / "sample_efficiency.png")
    text = format_table(table)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text()) if config_path.exists() else {}
    budget = int(frame["env_steps"].max())
    lines = [
        f"# advex comparison: {', '.join(sorted(frame['task'].unique()))}",
        "",
        f"Strategies: {', '.join(sorted(frame['strategy'].unique()))}; "
        f"seeds: {sorted(frame['seed'].unique().tolist())}; budget: {budget} env steps"
        + (f", rounds of {config['round_steps']}" if "round_steps" in config else "")
        + ".",
        "Errors are on the task's held-out coverage set (mean ± 95 % t-interval over seeds).",
        "'steps to random' = first env-step count at which the strategy's `mse_1step` is at or "
        "below random exploration's final `mse_1step` (same seed); ratio = that / budget.",
        "",
        "```",
        text,
        "```",
        "",
        "![sample efficiency](sample_efficiency.png)",
        "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    return text
