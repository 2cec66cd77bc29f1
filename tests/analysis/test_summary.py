"""The summary table on known frames (IQM finals, gap closed, paired ratio, sustained reach,
fit spread), the text table, the report files, and the results schema round trip."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
import pytest

from advex.analysis.report import write_report
from advex.analysis.summary import SUMMARY_COLUMNS, format_table, per_seed_table, summary_table
from advex.engine.results import (
    REFERENCE_NAMES,
    ResultsError,
    load_results,
    save_results,
    validate_results,
)


def _frame(
    curves: dict[str, dict[int, list[float]]], steps: list[int], sd: float = 0.1
) -> pd.DataFrame:
    """Tidy frame of the new schema, built directly (value_sd = sd * value, n_fits = 3)."""
    rows = []
    for strategy, per_seed in curves.items():
        for seed, values in per_seed.items():
            for s, v in zip(steps[-len(values) :], values, strict=True):
                for metric, scale in (("mse_1step", 1.0), ("rollout_mse_k20", 10.0)):
                    rows.append(
                        {
                            "task": "T",
                            "strategy": strategy,
                            "seed": seed,
                            "env_steps": s,
                            "metric": metric,
                            "value": v * scale,
                            "value_sd": sd * v * scale,
                            "n_fits": 3,
                            "wall_s": 0.1 * s,
                        }
                    )
    return pd.DataFrame(rows)


STEPS = [100, 200, 300, 400]
# random's seed-IQM curve (2 seeds: the mean) is 1.0, 0.45, 0.5, 0.55: at or below its own
# final 0.55 from 200 steps on, so only the construction keeps its row at its budget
CURVES = {
    "random": {0: [1.0, 0.4, 0.45, 0.5], 1: [1.0, 0.5, 0.55, 0.6]},
    "adversarial-sf": {0: [0.9, 0.5, 0.3, 0.2], 1: [0.8, 0.4, 0.4, 0.3]},
    "disagreement": {0: [1.0, 0.9, 0.8, 0.7], 1: [1.0, 0.9, 0.8, 0.7]},
    "oracle": {0: [0.1], 1: [0.2]},  # references evaluated once, at the budget
    "no-change": {0: [5.0], 1: [6.0]},
    "ridge": {0: [2.0], 1: [2.5]},
}


def test_summary_columns_and_order() -> None:
    table = summary_table(_frame(CURVES, STEPS))
    assert list(table.columns) == SUMMARY_COLUMNS
    assert list(table["strategy"]) == ["random", "adversarial-sf", "disagreement", *REFERENCE_NAMES]
    assert set(SUMMARY_COLUMNS) >= {
        "strategy", "seeds", "final_iqm", "final_ci_low", "final_ci_high", "gap_closed",
        "gap_closed_ci_low", "gap_closed_ci_high", "ratio_to_random", "ratio_ci_low",
        "ratio_ci_high", "steps_to_reach", "reach_ratio", "reach_ci_low", "reach_ci_high",
        "fit_sd",
    }  # fmt: skip


def test_summary_values() -> None:
    table = summary_table(_frame(CURVES, STEPS)).set_index("strategy")
    adv = table.loc["adversarial-sf"]
    assert adv["seeds"] == 2
    assert adv["final_iqm"] == pytest.approx(0.25)  # two seeds: the IQM is their mean
    assert adv["final_ci_low"] == pytest.approx(0.2) and adv["final_ci_high"] == pytest.approx(0.3)
    assert adv["ratio_to_random"] == pytest.approx(math.sqrt(0.2 / 0.5 * 0.3 / 0.6))
    # IQM curve 0.85, 0.45, 0.35, 0.25 vs random's final 0.55: at or below from 200 on
    assert (adv["steps_to_reach"], adv["reach_ratio"]) == (200.0, 0.5)
    assert adv["reach_ci_low"] <= 0.5 <= adv["reach_ci_high"]
    assert table.loc["oracle", "gap_closed"] == 1.0
    assert table.loc["no-change", "gap_closed"] == 0.0
    expected = np.mean([(5.0 - 0.2) / (5.0 - 0.1), (6.0 - 0.3) / (6.0 - 0.2)])
    assert adv["gap_closed"] == pytest.approx(expected)
    assert adv["fit_sd"] == pytest.approx(0.1) and adv["n_fits"] == 3
    never = table.loc["disagreement"]
    assert math.isnan(never["steps_to_reach"]) and never["reach_ci_high"] == math.inf


def test_reference_row_is_its_budget_even_after_a_dip() -> None:
    row = summary_table(_frame(CURVES, STEPS)).set_index("strategy").loc["random"]
    assert row["steps_to_reach"] == 400.0  # not 200, from where its IQM curve is <= 0.55
    assert row["reach_ratio"] == 1.0
    assert (row["reach_ci_low"], row["reach_ci_high"]) == (1.0, 1.0)
    assert (row["ratio_to_random"], row["ratio_ci_low"], row["ratio_ci_high"]) == (1, 1, 1)


def test_summary_without_reference_columns_or_rows() -> None:
    plain = _frame({k: v for k, v in CURVES.items() if k not in REFERENCE_NAMES}, STEPS)
    plain = plain.drop(columns=["value_sd", "n_fits"])  # today's results schema
    table = summary_table(plain).set_index("strategy")
    assert table["gap_closed"].isna().all() and table["fit_sd"].isna().all()
    assert (table["n_fits"] == 1).all()
    no_random = summary_table(plain, reference="nobody")
    assert no_random[["ratio_to_random", "steps_to_reach", "reach_ci_high"]].isna().all().all()
    with pytest.raises(ResultsError, match="no rows for metric 'nll'"):
        summary_table(plain, metric="nll")


def test_summary_is_deterministic_and_takes_the_metric() -> None:
    frame = _frame(CURVES, STEPS)
    pd.testing.assert_frame_equal(summary_table(frame), summary_table(frame))
    rollout = summary_table(frame, metric="rollout_mse_k20").set_index("strategy")
    assert rollout.loc["adversarial-sf", "final_iqm"] == pytest.approx(2.5)


def test_per_seed_table() -> None:
    seeds = per_seed_table(_frame(CURVES, STEPS)).set_index(["strategy", "seed"])
    assert seeds.loc[("adversarial-sf", 1), "value"] == 0.3
    assert seeds.loc[("adversarial-sf", 1), "ratio_to_random"] == pytest.approx(0.5)
    assert seeds.loc[("oracle", 0), "env_steps"] == 400
    frame = _frame(CURVES, STEPS)
    final = (frame["strategy"] == "random") & (frame["env_steps"] == 400)
    frame.loc[final, "value_sd"] = np.nan  # one fit at the end: no spread, not an earlier one
    seeds = per_seed_table(frame).set_index(["strategy", "seed"])
    assert np.isnan(seeds.loc[("random", 0), "value_sd"])
    assert np.isnan(summary_table(frame).set_index("strategy").loc["random", "fit_sd"])


def test_format_table_text() -> None:
    text = format_table(summary_table(_frame(CURVES, STEPS)))
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= 120
    assert any(line.startswith("random") and "400 (1.00) [1.00, 1.00]" in line for line in lines)
    adv = next(line for line in lines if line.startswith("adversarial-sf"))
    assert "0.25 [0.2, 0.3]" in adv and "200 (0.50)" in adv and "10.0%" in adv
    assert "not reached" in next(line for line in lines if line.startswith("disagreement"))


def test_validate_rejects_bad_frames() -> None:
    frame = validate_results(_frame(CURVES, STEPS))
    with pytest.raises(ResultsError, match="lack columns"):
        validate_results(frame.drop(columns=["wall_s"]))
    broken = frame.copy()
    broken.loc[3, "value"] = np.nan
    with pytest.raises(ResultsError, match="NaN"):
        validate_results(broken)
    with pytest.raises(ResultsError, match="duplicate"):
        validate_results(pd.concat([frame, frame.iloc[:1]]))


def test_save_load_and_report(tmp_path: Path) -> None:
    frame = validate_results(_frame(CURVES, STEPS))
    save_results(frame, tmp_path)
    pd.testing.assert_frame_equal(load_results(tmp_path), frame)
    pd.testing.assert_frame_equal(load_results(tmp_path / "results.csv"), frame)
    assert not (tmp_path / "config.json").exists()  # the report works without it
    text = write_report(tmp_path)
    assert "adversarial-sf" in text and "not reached" in text
    assert (tmp_path / "sample_efficiency.png").stat().st_size > 10_000
    report = (tmp_path / "report.md").read_text()
    assert "sample_efficiency.png" in report and text in report
    assert "IQM" in report and "bootstrap" in report and "gap closed" in report
    csv = pd.read_csv(tmp_path / "summary.csv")
    assert list(csv.columns) == SUMMARY_COLUMNS and len(csv) == len(CURVES)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temps
    with pytest.raises(FileNotFoundError, match="no results file"):
        load_results(tmp_path / "nowhere")


def test_report_files_go_through_atomic_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from advex import atomic_io
    from advex.analysis import plots

    written: list[str] = []
    original = atomic_io.atomic_write

    def spy(path: Path, write_fn: Callable[[BinaryIO], None]) -> Path:
        written.append(Path(path).name)
        return original(path, write_fn)

    monkeypatch.setattr(atomic_io, "atomic_write", spy)  # write_text_atomic goes through it
    monkeypatch.setattr(plots, "atomic_write", spy)
    write_report(tmp_path, _frame(CURVES, STEPS))
    assert sorted(written) == ["report.html", "report.md", "sample_efficiency.png", "summary.csv"]
