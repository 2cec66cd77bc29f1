"""How much of each strategy's final error comes from states outside its own buffer's range
in one observation coordinate.

Written for HalfCheetah-v5, whose observation holds the root pitch (``obs[1]``) as an
unwrapped angle: a cheetah that flips over backwards reaches pitches its buffer may never
have held, and an MLP fitted without them extrapolates there. This script reads finished
comparison folders (each job's kept final fit ``final_model.pt``, its last buffer and the
seed's coverage set) and prints, per seed and strategy:

* ``range``: the coordinate's ``[min, max]`` over the strategy's final buffer;
* ``mse``: the fit's ``mse_1step`` on the whole coverage set (normalised units, as the
  yardstick scores it; the kept fit is one of the point's evaluation fits, so it can differ
  from the point's mean over fits);
* ``inside`` / ``outside``: the same error over the coverage transitions whose coordinate
  lies inside / outside that range, ``outside_frac`` the share of transitions outside and
  ``outside_share`` the share of the summed error they carry;
* ``median``: the median per-transition error.

Usage::

    python benchmarks/range_share.py runs/grid-v2/HalfCheetah-v5_env_s{0,1,2} --dim 1
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from advex.engine import run_files
from advex.engine.metrics import normalised_sq_error, predict_batched


def range_split(errors: np.ndarray, coordinate: np.ndarray, low: float, high: float
                ) -> dict[str, float]:
    """Split ``N`` per-transition ``errors`` by whether ``coordinate`` (``N``) lies in
    ``[low, high]``; the means of each side (NaN for an empty side) and the outside side's
    share of transitions and of the summed error."""
    outside = (coordinate < low) | (coordinate > high)
    total = float(errors.sum())
    return {
        "mse": float(errors.mean()),
        "inside": float(errors[~outside].mean()) if (~outside).any() else math.nan,
        "outside": float(errors[outside].mean()) if outside.any() else math.nan,
        "outside_frac": float(outside.mean()),
        "outside_share": float(errors[outside].sum()) / total if total > 0 else math.nan,
        "median": float(np.median(errors)),
    }


def folder_rows(folder: Path, dim: int) -> list[dict[str, object]]:
    """One row per (seed, strategy) of ``folder`` that kept a final fit and a buffer."""
    rows: list[dict[str, object]] = []
    for seed in run_files.coverage_seeds(folder):
        coverage = run_files.coverage_set(folder, seed)
        if coverage is None:
            continue
        if not 0 <= dim < coverage.obs_dim:
            raise SystemExit(f"--dim {dim}: {coverage.task} has {coverage.obs_dim} "
                             "observation coordinates")
        obs, act, next_obs = coverage.transitions()
        target, scale = next_obs.astype(np.float64), coverage.delta_scale()  # once a seed
        for job, model, buffer in run_files.strategy_fits(folder, seed):
            held = buffer.batch().obs[:, dim]
            mean, _ = predict_batched(model, obs, act, 4096)
            errors = normalised_sq_error(mean, target, scale)
            low, high = float(held.min()), float(held.max())
            rows.append({"folder": folder.name, "seed": seed, "strategy": job,
                         "range": f"[{low:.2f}, {high:.2f}]",
                         **range_split(errors, obs[:, dim], low, high)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="comparison folders")
    parser.add_argument("--dim", type=int, required=True,
                        help="observation coordinate (HalfCheetah-v5: 1, the root pitch)")
    args = parser.parse_args()
    for folder in args.runs:
        if not folder.is_dir():
            raise SystemExit(f"{folder}: no such folder")
    rows = [row for folder in args.runs for row in folder_rows(folder, args.dim)]
    if not rows:
        raise SystemExit("no job with a kept final fit and a buffer in these folders")
    table = pd.DataFrame(rows)
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))


if __name__ == "__main__":
    main()
