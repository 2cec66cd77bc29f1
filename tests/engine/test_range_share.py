"""benchmarks/range_share.py: a fit's error split by whether one coordinate lies inside the
range of the fit's own buffer."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from benchmark_script import load_benchmark
from tiny_experiment import tiny_config

from advex.engine import run_files
from advex.engine.compare import run_compare
from advex.engine.metrics import evaluate_model, normalised_sq_error, predict_batched

range_share = load_benchmark("range_share")


def test_range_split_means_and_shares() -> None:
    errors = np.array([1.0, 2.0, 3.0, 10.0])
    coordinate = np.array([0.0, 0.5, 1.0, 4.0])  # the last lies above [0, 1]
    split = range_share.range_split(errors, coordinate, 0.0, 1.0)
    assert split["mse"] == pytest.approx(4.0)
    assert split["inside"] == pytest.approx(2.0)
    assert split["outside"] == pytest.approx(10.0)
    assert split["outside_frac"] == pytest.approx(0.25)
    assert split["outside_share"] == pytest.approx(10.0 / 16.0)
    assert split["median"] == pytest.approx(2.5)
    below = range_share.range_split(errors, -coordinate, 0.0, 1.0)  # all but 0.0 below
    assert below["outside_frac"] == pytest.approx(0.75)
    assert math.isnan(range_share.range_split(errors, coordinate, -9, 9)["outside"])


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("range") / "cmp"
    run_compare(tiny_config(strategies=["random"], references=["oracle"]), out,
                backend="serial", progress=False)
    return out


def test_folder_rows_score_the_kept_fit_against_its_buffer(finished: Path) -> None:
    rows = range_share.folder_rows(finished, dim=1)  # InvertedPendulum's pole angle
    assert [(r["seed"], r["strategy"]) for r in rows] == [(0, "random")]  # no references row
    row = rows[0]
    coverage = run_files.coverage_set(finished, 0)
    buffer = run_files.final_buffer(finished, "random", 0)
    model = run_files.final_model(finished, "random", 0)
    assert coverage is not None and buffer is not None and model is not None
    angle = buffer.batch().obs[:, 1]
    assert row["range"] == f"[{angle.min():.2f}, {angle.max():.2f}]"
    obs, act, next_obs = coverage.transitions()
    mean, _ = predict_batched(model, obs, act, 4096)
    errors = normalised_sq_error(mean, next_obs.astype(np.float64), coverage.delta_scale())
    assert row["mse"] == pytest.approx(errors.mean(), rel=1e-9)
    # the yardstick's own score of the same fit
    assert row["mse"] == pytest.approx(
        evaluate_model(model, coverage, rollouts=False)["mse_1step"], rel=1e-9)
    outside = (obs[:, 1] < angle.min()) | (obs[:, 1] > angle.max())
    assert row["outside_frac"] == pytest.approx(outside.mean())
    if outside.any() and (~outside).any():  # the means recombine into the whole
        assert row["mse"] == pytest.approx(
            row["inside"] * (1 - row["outside_frac"]) + row["outside"] * row["outside_frac"])


def test_a_coordinate_the_task_lacks_is_one_line(finished: Path) -> None:
    with pytest.raises(SystemExit, match="--dim 9: InvertedPendulum-v5 has 4 observation"):
        range_share.folder_rows(finished, dim=9)
