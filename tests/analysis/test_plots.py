"""The sample-efficiency plot: a real PNG, one clear error when there is nothing to draw, and
no figure left open (pyplot would keep it alive for the whole comparison)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from advex.analysis.plots import plot_sample_efficiency
from advex.analysis.results import ResultsError, validate_results


def _frame(metric: str = "mse_1step") -> pd.DataFrame:
    rows = [
        {"task": "T", "strategy": strategy, "seed": seed, "env_steps": steps, "metric": metric,
         "value": base / steps * (1 + 0.1 * seed), "wall_s": 0.0}
        for strategy, base in (("random", 100.0), ("adversarial-sf", 50.0))
        for seed in (0, 1)
        for steps in (100, 200, 300)
    ]
    return validate_results(pd.DataFrame(rows))


def test_writes_a_png_and_closes_the_figure(tmp_path: Path) -> None:
    before = set(plt.get_fignums())
    out = plot_sample_efficiency(_frame(), tmp_path / "sub" / "plot.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(plt.get_fignums()) == before


def test_no_requested_metric_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=r"none of the metrics.*have \['nll_1step'\]"):
        plot_sample_efficiency(_frame("nll_1step"), tmp_path / "plot.png")
    assert not (tmp_path / "plot.png").exists()
