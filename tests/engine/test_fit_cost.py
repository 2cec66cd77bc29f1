"""benchmarks/fit_cost.py: the evaluation fits' work counted from a run folder's results."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from benchmark_script import load_benchmark

fit_cost = load_benchmark("fit_cost")


def test_macs_per_row_counts_every_layer() -> None:
    # 5 -> 128 -> 128 -> 4: 5*128 + 128*128 + 128*4
    assert fit_cost.macs_per_row(4, 1, [128, 128]) == 640 + 16384 + 512
    assert fit_cost.macs_per_row(4, 1, [128, 128], angles=1) == 768 + 16384 + 512


def test_fit_work_counts_steps_and_flops_per_job(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"task": "InvertedPendulum-v5"}))
    rows = [  # two points of one job, one of another; other metrics are not fits
        ("random", 1000, "fit_epochs", 10.0, 3, 50.0),
        ("random", 2000, "fit_epochs", 5.0, 3, 100.0),
        ("random", 2000, "mse_1step", 0.5, 3, 100.0),
        ("oracle", 1000, "fit_epochs", 20.0, 3, 40.0),
    ]
    pd.DataFrame(rows, columns=["strategy", "env_steps", "metric", "value", "n_fits", "wall_s"]
                 ).to_csv(tmp_path / "results.csv", index=False)
    table = fit_cost.fit_work(tmp_path).set_index("job")
    macs = 5 * 128 + 2 * 128 * 128 + 128 * 4  # the default 128 x 3 evaluation MLP
    # 900 and 1800 training rows: 4 and 8 batches of 256 an epoch
    assert table.loc["random", "grad_steps"] == 10 * 3 * 4 + 5 * 3 * 8
    assert table.loc["random", "tflop"] == pytest.approx(
        (10 * 3 * 900 + 5 * 3 * 1800) * 6 * macs / 1e12)
    assert table.loc["random", "wall_s"] == 100.0
    assert table.loc["oracle", "gflop_s"] == pytest.approx(20 * 3 * 900 * 6 * macs / 1e9 / 40)
    assert table.loc["oracle", "grad_steps"] == 20 * 3 * 4
