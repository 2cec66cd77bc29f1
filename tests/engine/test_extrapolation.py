"""benchmarks/extrapolation.py: a job's kept fit and a ridge fit on the same buffer, scored on
that buffer and on the coverage set, per coordinate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from benchmark_script import load_benchmark
from tiny_experiment import tiny_config

from advex.engine import run_files
from advex.engine.compare import run_compare
from advex.engine.metrics import evaluate_model
from advex.engine.references import RidgeModel
from advex.models.prediction_error import normalised_sq_error

extrapolation = load_benchmark("extrapolation")


def test_coordinate_errors_average_to_the_yardstick_error() -> None:
    rng = np.random.default_rng(0)
    pred, true, scale = rng.normal(size=(50, 3)), rng.normal(size=(50, 3)), np.array([1, 2, 4.0])
    per_coordinate = extrapolation.coordinate_errors(pred, true, scale)
    assert per_coordinate.shape == (3,)
    assert per_coordinate[2] == pytest.approx((((pred - true)[:, 2] / 4) ** 2).mean())
    assert per_coordinate.mean() == pytest.approx(normalised_sq_error(pred, true, scale).mean())
    assert extrapolation._worst(np.array([0.1, 3.0, 0.5])) == "1:3 2:0.5"


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("extrapolation") / "cmp"
    run_compare(tiny_config(strategies=["random"], references=["oracle"]), out,
                backend="serial", progress=False)
    return out


def test_rows_are_the_yardstick_scores_of_both_fits(finished: Path) -> None:
    rows = extrapolation.folder_rows(finished, alpha=1e-3)
    assert [(r["seed"], r["strategy"], r["model"]) for r in rows] == [
        (0, "random", "mlp"), (0, "random", "ridge")]  # no references row
    coverage = run_files.coverage_set(finished, 0)
    buffer = run_files.final_buffer(finished, "random", 0)
    model = run_files.final_model(finished, "random", 0)
    assert coverage is not None and buffer is not None and model is not None
    ridge = RidgeModel(coverage.obs_dim, coverage.act_dim, 1e-3).fit(buffer.batch())
    mlp_row, ridge_row = rows
    for row, fitted in ((mlp_row, model), (ridge_row, ridge)):
        assert row["coverage"] == pytest.approx(
            evaluate_model(fitted, coverage, rollouts=False)["mse_1step"], rel=1e-9)
        batch = buffer.batch()
        own = normalised_sq_error(fitted.predict(batch.obs, batch.act)[0],
                                  batch.next_obs.astype(np.float64), coverage.delta_scale())
        assert row["own"] == pytest.approx(float(np.mean(own)), rel=1e-5)
    assert mlp_row["own"] != pytest.approx(ridge_row["own"])  # two different models
