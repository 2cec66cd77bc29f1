"""The sample-efficiency plot: a real PNG, one clear error when there is nothing to draw, no
figure left open (pyplot would keep it alive for the whole comparison), IQM lines with
bootstrap bands that stay positive on the log axis, and dashed reference rows."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from advex.analysis import plots
from advex.analysis.plots import plot_sample_efficiency
from advex.analysis.statistics import bootstrap_ci, iqm
from advex.engine.results import ResultsError

SEED_SCALE = (1.0, 1.1, 1.3, 0.0)  # seed 3's model is perfect: a band reaching zero


def _frame(metric: str = "mse_1step") -> pd.DataFrame:
    rows = [
        {"task": "T", "strategy": strategy, "seed": seed, "env_steps": steps, "metric": metric,
         "value": base / steps * scale, "value_sd": 0.0, "n_fits": 2, "wall_s": 0.0}
        for strategy, base in (("random", 100.0), ("adversarial-sf", 50.0), ("oracle", 10.0))
        for seed, scale in enumerate(SEED_SCALE)
        for steps in (100, 200, 300)
    ]  # fmt: skip
    rows += [
        {"task": "T", "strategy": "no-change", "seed": seed, "env_steps": 300, "metric": metric,
         "value": 2.0, "value_sd": np.nan, "n_fits": 1, "wall_s": 0.0}
        for seed in range(len(SEED_SCALE))
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_writes_a_png_and_closes_the_figure(tmp_path: Path) -> None:
    before = set(plt.get_fignums())
    out = plot_sample_efficiency(_frame(), tmp_path / "sub" / "plot.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(plt.get_fignums()) == before


def test_works_on_todays_schema(tmp_path: Path) -> None:
    frame = _frame().drop(columns=["value_sd", "n_fits"])
    assert plot_sample_efficiency(frame, tmp_path / "plot.png").stat().st_size > 10_000


def test_no_requested_metric_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"none of the metrics.*have \['nll_1step'\]"):
        plot_sample_efficiency(_frame("nll_1step"), tmp_path / "plot.png")
    assert not (tmp_path / "plot.png").exists()


def test_iqm_lines_positive_bands_and_dashed_references() -> None:
    fig, axes = plt.subplots(1, 1, squeeze=False)
    try:
        plots._draw(fig, axes, _frame(), ("mse_1step",))
        ax = axes[0][0]
        lines = {line.get_label(): line for line in ax.get_lines()}
        seeds = 50.0 / 200 * np.array(SEED_SCALE)
        adv = lines["adversarial-sf"]
        assert adv.get_ydata()[1] == pytest.approx(iqm(seeds))
        assert adv.get_linestyle() == "-"
        assert lines["oracle"].get_linestyle() == "--"
        assert lines["no-change"].get_linestyle() == "--"  # one point: a dashed level
        assert lines["no-change"].get_ydata()[0] == pytest.approx(2.0)
        bands = [c.get_paths()[0].vertices[:, 1] for c in ax.collections]
        assert len(bands) == 3  # random, adversarial-sf, oracle
        assert all((band > 0).all() for band in bands)  # seed 3's zero clipped for log axis
        low, high = bootstrap_ci(seeds)
        assert low == 0.0 or low < iqm(seeds) < high
        assert any(np.isclose(band, high).any() for band in bands)
        assert ax.get_yscale() == "log"
    finally:
        plt.close(fig)
