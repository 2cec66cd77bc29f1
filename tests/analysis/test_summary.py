"""Results schema, confidence intervals and the steps-to-reach-random verdict on known frames."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from advex.analysis.report import write_report
from advex.analysis.results import ResultsError, load_results, save_results, validate_results
from advex.analysis.summary import format_table, mean_ci95, steps_to_reach, summary_table


def _frame(curves: dict[str, dict[int, list[float]]], steps: list[int]) -> pd.DataFrame:
    rows = []
    for strategy, per_seed in curves.items():
        for seed, values in per_seed.items():
            for s, v in zip(steps, values, strict=True):
                for metric, scale in (("mse_1step", 1.0), ("rollout_mse_k20", 10.0)):
                    rows.append(
                        {
                            "task": "T",
                            "strategy": strategy,
                            "seed": seed,
                            "env_steps": s,
                            "metric": metric,
                            "value": v * scale,
                            "wall_s": 0.1 * s,
                        }
                    )
    return validate_results(pd.DataFrame(rows))


STEPS = [100, 200, 300, 400]
CURVES = {
    "random": {0: [1.0, 0.8, 0.6, 0.5], 1: [1.0, 0.9, 0.7, 0.6]},
    "adversarial-sf": {0: [0.9, 0.5, 0.3, 0.2], 1: [0.8, 0.6, 0.4, 0.3]},
    "disagreement": {0: [1.0, 0.9, 0.8, 0.7], 1: [1.0, 0.9, 0.8, 0.7]},
}


def test_mean_ci95_matches_t_interval() -> None:
    mean, half = mean_ci95(np.array([1.0, 2.0, 3.0]))
    assert mean == 2.0
    assert half == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert math.isnan(mean_ci95(np.array([5.0]))[1])


def test_steps_to_reach_random_final_error() -> None:
    reach = steps_to_reach(_frame(CURVES, STEPS), "mse_1step").set_index(["strategy", "seed"])
    assert reach.loc[("random", 0), "steps"] == 400  # random reaches itself at its end
    assert reach.loc[("adversarial-sf", 0), "steps"] == 200  # 0.5 <= 0.5
    assert reach.loc[("adversarial-sf", 1), "steps"] == 200  # 0.6 <= 0.6
    assert reach.loc[("adversarial-sf", 0), "ratio"] == 0.5
    assert math.isnan(reach.loc[("disagreement", 0), "steps"])  # never below 0.5


def test_geometric_mean_curve_reach() -> None:
    from advex.analysis.summary import geometric_mean_curve, steps_to_reach_geomean

    frame = _frame(CURVES, STEPS)
    curves = geometric_mean_curve(frame, "mse_1step").set_index(["strategy", "env_steps"])
    assert curves.loc[("random", 400), "value"] == pytest.approx(math.sqrt(0.5 * 0.6))
    assert curves.loc[("random", 400), "seeds"] == 2
    reach = steps_to_reach_geomean(frame, "mse_1step").set_index("strategy")
    # random's final geometric mean is sqrt(0.3) ~ 0.548; adversarial's curve at 200 steps is
    # sqrt(0.5 * 0.6) ~ 0.548 too (equal counts as reached), disagreement never gets there.
    assert reach.loc["adversarial-sf", "steps"] == 200
    assert reach.loc["adversarial-sf", "ratio"] == 0.5
    assert reach.loc["random", "steps"] == 400
    assert math.isnan(reach.loc["disagreement", "steps"])


def test_summary_table_and_text() -> None:
    table = summary_table(_frame(CURVES, STEPS)).set_index("strategy")
    assert table.index[0] == "random"
    assert table.loc["adversarial-sf", "mse_1step"] == pytest.approx(0.25)
    assert table.loc["adversarial-sf", "rollout_mse_k20"] == pytest.approx(2.5)
    assert table.loc["adversarial-sf", "ratio_to_random_budget"] == pytest.approx(0.5)
    assert table.loc["disagreement", "seeds_reached"] == 0
    text = format_table(table.reset_index())
    assert "not (0/2 seeds)" in text and "200 (0.50)" in text and "not reached" in text


def test_validate_rejects_bad_frames() -> None:
    frame = _frame(CURVES, STEPS)
    with pytest.raises(ResultsError, match="lack columns"):
        validate_results(frame.drop(columns=["wall_s"]))
    broken = frame.copy()
    broken.loc[3, "value"] = np.nan
    with pytest.raises(ResultsError, match="NaN"):
        validate_results(broken)
    with pytest.raises(ResultsError, match="duplicate"):
        validate_results(pd.concat([frame, frame.iloc[:1]]))


def test_save_load_and_report(tmp_path: Path) -> None:
    frame = _frame(CURVES, STEPS)
    save_results(frame, tmp_path)
    loaded = load_results(tmp_path)
    pd.testing.assert_frame_equal(loaded, frame)
    pd.testing.assert_frame_equal(load_results(tmp_path / "results.csv"), frame)
    text = write_report(tmp_path)
    assert "adversarial-sf" in text
    assert (tmp_path / "sample_efficiency.png").stat().st_size > 10_000
    assert "sample_efficiency.png" in (tmp_path / "report.md").read_text()
    with pytest.raises(FileNotFoundError, match="no results file"):
        load_results(tmp_path / "nowhere")
