"""How much of a strategy's score is extrapolation: each job's kept final fit (the yardstick's
MLP) against a linear model fitted on the same buffer, each scored on that buffer and on the
seed's coverage set, per observation coordinate.

The yardstick scores a model on the coverage set, which can hold states no 10 000-step buffer
reached. Where the MLP's error on the coverage set is many times its error on its own data
while a ridge fit on the same rows degrades gracefully, the score measures how the network
extrapolates, not what the strategy's data taught it. This script reads finished comparison
folders (``final_model.pt``, the last buffer and the seed's coverage set) and prints, per seed
and strategy, for ``mlp`` (the kept fit) and ``ridge`` (:class:`RidgeModel`, closed form,
refitted here on the job's final buffer):

* ``own``: ``mse_1step`` on the job's own buffer (the fit's training and validation rows);
* ``coverage``: ``mse_1step`` on the coverage set, in the yardstick's units;
* ``worst``: the coverage set's two worst coordinates, ``index:error``.

Usage::

    python benchmarks/extrapolation.py runs/grid-v2/Hopper-v5_free_s0 [--alpha 1e-3]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from advex.engine import run_files
from advex.engine.metrics import predict_batched
from advex.engine.references import RidgeModel


def coordinate_errors(pred_next: np.ndarray, next_obs: np.ndarray, scale: np.ndarray
                      ) -> np.ndarray:
    """Squared error of predicted next states ``B x O`` in units of ``scale`` ``O``, averaged
    over the rows: ``O`` (its mean is the yardstick's ``mse_1step``)."""
    return (((pred_next - next_obs) / scale) ** 2).mean(axis=0)


def _worst(errors: np.ndarray, count: int = 2) -> str:
    order = np.argsort(errors)[::-1][:count]
    return " ".join(f"{i}:{errors[i]:.3g}" for i in order)


def folder_rows(folder: Path, alpha: float) -> list[dict[str, object]]:
    """Two rows (``mlp``, ``ridge``) per (seed, strategy) of ``folder`` with a kept final
    fit and a buffer."""
    rows: list[dict[str, object]] = []
    for seed in run_files.coverage_seeds(folder):
        coverage = run_files.coverage_set(folder, seed)
        if coverage is None:
            continue
        obs, act, next_obs = coverage.transitions()
        target, scale = next_obs.astype(np.float64), coverage.delta_scale()
        for job, model, buffer in run_files.strategy_fits(folder, seed):
            batch = buffer.batch()
            ridge = RidgeModel(coverage.obs_dim, coverage.act_dim, alpha).fit(batch)
            for name, fitted in (("mlp", model), ("ridge", ridge)):
                own = coordinate_errors(predict_batched(fitted, batch.obs, batch.act)[0],
                                        batch.next_obs.astype(np.float64), scale)
                held_out = coordinate_errors(predict_batched(fitted, obs, act)[0], target,
                                             scale)
                rows.append({"folder": folder.name, "seed": seed, "strategy": job,
                             "model": name, "own": float(own.mean()),
                             "coverage": float(held_out.mean()), "worst": _worst(held_out)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="comparison folders")
    parser.add_argument("--alpha", type=float, default=1e-3,
                        help="ridge penalty (the references' default)")
    args = parser.parse_args()
    for folder in args.runs:
        if not folder.is_dir():
            raise SystemExit(f"{folder}: no such folder")
    if not args.alpha >= 0:
        raise SystemExit(f"--alpha must be >= 0, got {args.alpha}")
    rows = [row for folder in args.runs for row in folder_rows(folder, args.alpha)]
    if not rows:
        raise SystemExit("no job with a kept final fit and a buffer in these folders")
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))


if __name__ == "__main__":
    main()
