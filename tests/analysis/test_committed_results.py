"""The committed grid results rebuild to the committed tables (``advex report`` reproduces
them anywhere, without rerunning anything)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from advex.analysis.grid_report import write_grid_report

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
GRIDS = sorted(p for p in RESULTS.glob("*") if (p / "headline.csv").is_file())


def test_there_are_committed_grids() -> None:
    assert GRIDS, f"no grid with a headline.csv under {RESULTS}"


@pytest.mark.parametrize("grid", GRIDS, ids=[g.name for g in GRIDS])
def test_report_rebuilds_the_committed_headline(grid: Path, tmp_path: Path) -> None:
    copy = tmp_path / grid.name
    shutil.copytree(grid, copy)
    for generated in ("headline.csv", "report.md"):
        (copy / generated).unlink()
    write_grid_report([copy], copy)
    assert (copy / "headline.csv").read_text() == (grid / "headline.csv").read_text()
    # report.md names its folders relative to the grid, so it is the same text too
    assert (copy / "report.md").read_text() == (grid / "report.md").read_text()
