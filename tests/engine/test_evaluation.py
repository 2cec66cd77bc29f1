"""Evaluation fits and reference models: deterministic per fit seed, the right points, honest
aggregates, and a ridge model that recovers linear dynamics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from advex.engine.coverage import CoverageConfig, build_coverage_set
from advex.engine.evaluation import (
    EvaluationConfig,
    _aggregate,
    evaluate_data,
    fit_seeds,
)
from advex.engine.references import RidgeModel, oracle_batch, oracle_rows, oracle_starts
from advex.exploration.collect import collect
from advex.types import TransitionBatch

TASK = "InvertedPendulum-v5"
SMALL = CoverageConfig(n_starts=40, n_random_rollout_steps=300, n_bang_bang_steps=150,
                       n_sb3_steps=0)
MODEL = {"num_members": 2, "num_elites": 1, "hidden_sizes": [16]}
QUICK = EvaluationConfig(fit_seeds=2, max_epochs=5, patience=2, model="ensemble",
                         model_config=MODEL)
QUICK_MLP = EvaluationConfig(fit_seeds=2, max_epochs=5, patience=2,
                             model_config={"hidden_sizes": [16]})


@pytest.fixture(scope="module")
def coverage():  # type: ignore[no-untyped-def]
    return build_coverage_set(TASK, 0, SMALL, progress=False)


def test_same_data_and_run_seed_give_identical_scores(coverage) -> None:  # type: ignore[no-untyped-def]
    data = collect(TASK, n_steps=300, seed=1, progress=False)
    first = evaluate_data(data, coverage, QUICK, run_seed=0)
    again = evaluate_data(data, coverage, QUICK, run_seed=0)
    other = evaluate_data(data, coverage, QUICK, run_seed=1)
    assert first == again
    assert first["mse_1step"] != other["mse_1step"]  # another run seed, other fits
    assert first["mse_1step"].n_fits == 2 and first["fit_capped_frac"].value == 1.0  # 5 epochs
    assert "nll_1step" in first  # an ensemble's variance is scored
    mlp = evaluate_data(data, coverage, QUICK_MLP, run_seed=0)
    assert mlp["mse_1step"].n_fits == 2 and math.isfinite(mlp["mse_1step"].value)
    assert "nll_1step" not in mlp and "calib_ratio" not in mlp  # no forecast to score
    assert mlp["contact_frac"].value == data.contact_frac()


def test_default_evaluation_model_is_a_128x3_mlp() -> None:
    config = EvaluationConfig()
    assert config.model == "mlp" and config.model_config == {"hidden_sizes": [128, 128, 128]}
    # naming other fields keeps the evaluation's sizes (not the model class's 200 x 4)
    angles = EvaluationConfig.from_dict({"model_config": {"angle_obs": [1]}})
    assert angles.model_config == {"hidden_sizes": [128, 128, 128], "angle_obs": [1]}
    assert EvaluationConfig(model_config={"hidden_sizes": [16]}).model_config == {
        "hidden_sizes": [16]}
    with pytest.raises(ValueError, match="unknown model kind"):
        EvaluationConfig(model="forest")
    with pytest.raises(ValueError, match="hidden"):
        EvaluationConfig(model_config={"hidden": [3]})


def test_fit_seeds_depend_only_on_the_run_seed() -> None:
    assert fit_seeds(3, 4)[:2] == fit_seeds(3, 2)  # more fits extend, never reshuffle
    assert fit_seeds(3, 2) != fit_seeds(4, 2)
    assert len({s for pair in fit_seeds(0, 5) for s in pair}) == 10


@pytest.mark.parametrize(
    "points, n_rounds, expected",
    [("every", 4, [0, 1, 2, 3]), ("log", 6, [0, 1, 3, 5]), ("log", 8, [0, 1, 3, 7]),
     ("log", 1, [0])],
)
def test_evaluation_rounds(points: str, n_rounds: int, expected: list[int]) -> None:
    assert EvaluationConfig(points=points).rounds(n_rounds) == expected


def test_aggregate_mean_sd_and_divergence() -> None:
    score = _aggregate([1.0, 2.0, 3.0])
    assert (score.value, score.value_sd, score.n_fits) == (2.0, 1.0, 3)
    assert math.isnan(_aggregate([0.5]).value_sd)
    diverged = _aggregate([1.0, math.inf])
    assert diverged.value == math.inf and math.isnan(diverged.value_sd)


def test_ridge_recovers_linear_dynamics() -> None:
    rng = np.random.default_rng(0)
    a_matrix, b_matrix = rng.normal(size=(3, 3)) * 0.1, rng.normal(size=(3, 2))
    obs = rng.normal(size=(500, 3)).astype(np.float32)
    act = rng.uniform(-1, 1, size=(500, 2)).astype(np.float32)
    next_obs = (obs + obs @ a_matrix.T + act @ b_matrix.T + 0.3).astype(np.float32)
    batch = TransitionBatch(obs, act, next_obs, np.zeros(500, np.float32),
                            np.zeros(500, bool), np.zeros(500, bool))
    model = RidgeModel(3, 2, alpha=1e-9).fit(batch)
    mean, var = model.predict(obs[:50], act[:50])
    np.testing.assert_allclose(mean, next_obs[:50], atol=1e-4)
    assert np.all(var < 1e-8)


def test_oracle_draw_is_nested_and_sized(coverage) -> None:  # type: ignore[no-untyped-def]
    small = oracle_batch(coverage, oracle_rows(coverage, 20, seed=5))
    large = oracle_batch(coverage, oracle_rows(coverage, 60, seed=5))
    np.testing.assert_array_equal(small.obs, large.obs[:20])
    with pytest.raises(ValueError, match="the budget needs"):
        oracle_rows(coverage, len(coverage) + 1, seed=5)
    per_start = len(coverage) / coverage.n_starts
    assert oracle_starts(coverage, 10_000) * per_start >= 10_000


def test_round_seeds_differ_by_round_purpose_and_run_seed() -> None:
    from advex.engine.experiment import round_seed

    seeds = {round_seed(s, r, p) for s in (0, 1) for r in range(4) for p in ("collect", "fit")}
    assert len(seeds) == 2 * 4 * 2  # every (seed, round, purpose) gets its own stream
    assert round_seed(3, 2, "fit") == round_seed(3, 2, "fit")
