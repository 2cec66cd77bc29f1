"""Sample-efficiency curves: held-out error vs environment steps, one line per strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: advex never needs a screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from advex.analysis.results import ResultsError, curve  # noqa: E402
from advex.analysis.summary import mean_ci95  # noqa: E402


def plot_sample_efficiency(
    frame: pd.DataFrame,
    path: Path,
    metrics: tuple[str, ...] = ("mse_1step", "rollout_mse_k20"),
) -> Path:
    """Save one panel per metric, log y axis: per strategy the geometric mean over seeds with a
    shaded 95 % CI, both computed on log values (errors are heavy-tailed and positive, and an
    arithmetic band on a log axis would dip below zero)."""
    present = set(frame["metric"])
    wanted = metrics
    metrics = tuple(m for m in metrics if m in present)
    if not metrics:
        raise ResultsError(
            f"plot_sample_efficiency: none of the metrics {list(wanted)} is in the results; "
            f"have {sorted(present)}"
        )
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.5 * len(metrics), 4), squeeze=False)
    try:
        _draw(fig, axes, frame, metrics)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    finally:
        plt.close(fig)  # pyplot keeps every open figure alive otherwise
    return path


def _draw(fig: Any, axes: Any, frame: pd.DataFrame, metrics: tuple[str, ...]) -> None:
    task = ", ".join(sorted(frame["task"].unique()))
    for ax, metric in zip(axes[0], metrics, strict=True):
        wide = curve(frame, metric)
        for strategy in wide.index.get_level_values("strategy").unique():
            per_step = wide.loc[strategy]
            steps = per_step.index.to_numpy()
            logs = np.log(np.maximum(per_step.to_numpy(dtype=np.float64), 1e-300))
            stats = np.array([mean_ci95(row[np.isfinite(row)]) for row in logs])
            center, half = stats[:, 0], np.nan_to_num(stats[:, 1])
            (line,) = ax.plot(steps, np.exp(center), marker="o", ms=3, label=strategy)
            ax.fill_between(
                steps,
                np.exp(center - half),
                np.exp(center + half),
                color=line.get_color(),
                alpha=0.15,
            )
        ax.set_yscale("log")
        ax.set_xlabel("environment steps")
        ax.set_ylabel(f"held-out {metric}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    n_seeds = frame["seed"].nunique()
    fig.suptitle(
        f"{task}: coverage-set error vs steps ({n_seeds} seed(s), geometric mean, 95 % CI)"
    )
    fig.tight_layout()
