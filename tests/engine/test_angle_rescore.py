"""benchmarks/angle_rescore.py: a finished run's final data scored again by an evaluation
model with angle inputs, paired fit for fit with the run's own kept fit."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from benchmark_script import load_benchmark
from tiny_experiment import tiny_config

from advex.engine.compare import run_compare

angle_rescore = load_benchmark("angle_rescore")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("rescore") / "cmp"
    run_compare(tiny_config(strategies=["random", "adversarial-sf"]), out,
                backend="serial", progress=False)
    return out


def test_no_angles_refits_exactly_the_runs_kept_fit(finished: Path) -> None:
    """With no angle index the fresh fit is the run's own first fit (same data and type,
    seed and settings), so the pairing isolates the encoding."""
    table = pd.DataFrame(angle_rescore.folder_rows(finished, []))
    assert sorted(table.strategy.unique()) == ["adversarial-sf", "oracle", "random"]
    assert set(table.task) == {"InvertedPendulum-v5"} and set(table.fit) == {0}
    raw = table[table.encoding == "raw"].set_index("strategy")
    refit = table[table.encoding == "angles"].set_index("strategy")
    metrics = [m for m in angle_rescore.METRICS if m in table]  # the tiny set has no contacts
    assert {"mse_1step", "mse_1step@free", "mse_1step_median"} <= set(metrics)
    pd.testing.assert_frame_equal(raw[metrics], refit[metrics], rtol=1e-6)


def test_angle_fits_of_chosen_jobs(finished: Path) -> None:
    table = pd.DataFrame(angle_rescore.folder_rows(finished, [1], fits=2, jobs=["random"]))
    assert set(table.strategy) == {"random"}
    assert sorted(zip(table.encoding, table.fit, strict=True)) == [
        ("angles", 0), ("angles", 1), ("raw", 0)]
    raw = table[table.encoding == "raw"].mse_1step.iloc[0]
    angles = table[table.encoding == "angles"].mse_1step
    assert (angles != raw).all() and (angles > 0).all() and angles.nunique() == 2


def test_paired_ratios_divide_by_random_on_the_same_seed() -> None:
    table = pd.DataFrame({
        "task": ["T"] * 5 + ["U"] * 2, "seed": [0, 0, 1, 1, 2, 0, 0],
        "strategy": ["random", "a", "random", "a", "a", "random", "a"],
        "encoding": ["raw"] * 7, "fit": [0] * 7,
        "mse_1step": [1.0, 2.0, 4.0, 2.0, 9.0, 1.0, 3.0],
    })
    ratios = angle_rescore.paired_ratios(table).set_index(["task", "strategy"])
    assert ratios.loc[("T", "a"), "ratio"] == pytest.approx(1.0)  # sqrt(2 x 0.5); s2 unpaired
    assert ratios.loc[("T", "a"), "seeds"] == 2
    assert ratios.loc[("T", "a"), "ci_low"] == pytest.approx(0.5)
    assert ratios.loc[("T", "a"), "ci_high"] == pytest.approx(2.0)
    assert ratios.loc[("U", "a"), "ratio"] == pytest.approx(3.0)  # another task, its own random
    assert ratios.loc[("T", "random"), "ratio"] == pytest.approx(1.0)
    more_fits = pd.concat([table, table.assign(fit=1, mse_1step=100.0)])
    pd.testing.assert_frame_equal(angle_rescore.paired_ratios(more_fits),
                                  angle_rescore.paired_ratios(table))  # fit 0 is paired
    with pytest.raises(SystemExit, match="rows given twice"):
        angle_rescore.paired_ratios(pd.concat([table, table]))
