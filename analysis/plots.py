"""Sample-efficiency curves: held-out error vs environment steps, one line per strategy."""

from __future__ import annotations

from pathlib import Path
from typing import Any, BinaryIO

import matplotlib

matplotlib.use("Agg")  # files only: advex never needs a screen
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from advex.analysis.statistics import bootstrap_ci, iqm  # noqa: E402
from advex.analysis.summary import metric_rows, strategy_order  # noqa: E402
from advex.atomic_io import atomic_write  # noqa: E402
from advex.engine.results import (
    REFERENCE_NAMES,  # noqa: E402
    ResultsError,  # noqa: E402
)

_FLOOR = 1e-12  # a log axis cannot show a band reaching zero or below


def plot_sample_efficiency(
    frame: pd.DataFrame,
    path: Path,
    metrics: tuple[str, ...] = ("mse_1step", "rollout_mse_k20"),
) -> Path:
    """Save one panel per metric (PNG, written atomically), log y axis: per strategy the IQM
    over seeds at each env step with a shaded 95 % percentile bootstrap band over seeds; the
    reference rows (no-change, ridge, oracle) dashed. Raises :class:`ResultsError` when none of
    ``metrics`` is in ``frame``; the figure is always closed."""
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

        def write(handle: BinaryIO) -> None:
            fig.savefig(handle, format="png", dpi=110)

        atomic_write(path, write)
    finally:
        plt.close(fig)  # pyplot keeps every open figure alive otherwise
    return Path(path)


def iqm_band(values: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``values`` (env_steps x seed, NaN = no point): IQM over seeds and the 95 %
    bootstrap CI ends, each of shape (steps,). Rows with one seed get a NaN band."""
    rows = values.to_numpy(dtype=np.float64)
    center = np.array([iqm(row) for row in rows])
    band = np.array([bootstrap_ci(row) for row in rows]).reshape(-1, 2)
    return center, band[:, 0], band[:, 1]


def _draw(fig: Any, axes: Any, frame: pd.DataFrame, metrics: tuple[str, ...]) -> None:
    task = ", ".join(sorted(frame["task"].unique()))
    for ax, metric in zip(axes[0], metrics, strict=True):
        sub = metric_rows(frame, metric)
        wide = sub.pivot_table(
            index=["strategy", "env_steps"], columns="seed", values="value", aggfunc="first"
        )
        for strategy in strategy_order(list(wide.index.get_level_values("strategy").unique())):
            per_step = wide.loc[strategy]
            steps = per_step.index.to_numpy(dtype=np.float64)
            center, low, high = iqm_band(per_step)
            dashed = strategy in REFERENCE_NAMES
            if dashed and len(steps) == 1:  # a reference evaluated once: a level, not a curve
                line = ax.axhline(center[0], ls="--", lw=1.2, label=strategy)
                continue
            (line,) = ax.plot(
                steps, center, ls="--" if dashed else "-", marker="o", ms=3, label=strategy
            )
            ok = np.isfinite(low) & np.isfinite(high)
            ax.fill_between(
                steps,
                np.maximum(np.where(ok, low, center), _FLOOR),
                np.maximum(np.where(ok, high, center), _FLOOR),
                color=line.get_color(),
                alpha=0.15,
            )
        ax.set_yscale("log")
        ax.set_xlabel("environment steps")
        ax.set_ylabel(f"held-out {metric}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    n_seeds = frame["seed"].nunique()
    fig.suptitle(f"{task}: held-out error vs steps ({n_seeds} seed(s), IQM, 95 % bootstrap CI)")
    fig.tight_layout()
