"""benchmarks/grid.py: which runs a grid command plans, and how the loop keeps, skips and
stops them (the runs themselves are ``advex compare``, tested in test_compare.py; here a
stand-in "runs" a seed by copying that seed's committed grid-v2 files, so the kept report is
built for real)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from benchmark_script import load_benchmark

from advex.engine.experiment import ExperimentConfig
from advex.run_lock import run_folder_lock

grid = load_benchmark("grid")
COMMITTED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "grid-v2"
TASK = "InvertedPendulum-v5"


def test_plan_one_run_per_seed_or_one_for_all() -> None:
    per_seed = grid.plan_runs([TASK], ["env"], [0, 1], per_seed=True)
    assert [name for *_, name in per_seed] == [f"{TASK}_env_s0", f"{TASK}_env_s1"]
    assert [seeds for _, _, seeds, _ in per_seed] == [[0], [1]]
    together = grid.plan_runs([TASK], ["env", "free"], [0, 1], per_seed=False, label="long")
    assert [name for *_, name in together] == [f"{TASK}_env_long_s0-1", f"{TASK}_free_long_s0-1"]


@pytest.mark.parametrize(("tasks", "rules", "words"), [
    (["Hoper-v5"], ["env"], "'Hoper-v5' is not in the grid"),
    (None, ["fre"], "'fre' is not a rule"),
    (["Reacher-v5"], ["free"], "no run of the grid"),  # Reacher runs under env rules only
])
def test_plan_refuses_what_the_grid_does_not_have(tasks, rules, words) -> None:
    with pytest.raises(ValueError, match=words):
        grid.plan_runs(tasks, rules, [0], per_seed=True)


def _runs(seeds: list[int]) -> list[tuple[str, ExperimentConfig]]:
    return [(name, ExperimentConfig(task=task, episodes=rule, seeds=s))
            for task, rule, s, name in grid.plan_runs([TASK], ["env"], seeds, per_seed=True)]


def _copy_committed(cfg: ExperimentConfig, out: Path) -> None:
    """Stands in for ``advex compare``: the seed's committed files appear in ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for file in grid.KEPT:
        shutil.copy2(COMMITTED / out.name / file, out / file)


def test_keeps_each_seed_skips_busy_and_done_and_stops_on_the_stop_file(tmp_path: Path) -> None:
    runs_root, kept_root, stop = tmp_path / "runs", tmp_path / "kept", tmp_path / "STOP"
    hooked: list[str] = []
    keep = lambda name, hours: hooked.append(name)  # noqa: E731

    def run(cfg: ExperimentConfig, out: Path) -> None:
        if cfg.seeds == [1]:
            stop.touch()  # asked to stop while seed 1 runs: seed 1 still lands, 2 does not
        _copy_committed(cfg, out)

    busy = runs_root / f"{TASK}_env_s0"
    with run_folder_lock(busy):  # seed 0 is another worker's: skipped, not waited for
        def held(cfg: ExperimentConfig, out: Path) -> None:
            if out == busy:
                with run_folder_lock(out):
                    pass
            run(cfg, out)
        done = grid.run_grid(_runs([0, 1, 2]), runs_root, kept_root, held, keep, stop)
    assert done == hooked == [f"{TASK}_env_s1"]
    assert (kept_root / f"{TASK}_env_s1" / "results.csv").is_file()
    assert not (kept_root / f"{TASK}_env_s0").exists()
    assert not (kept_root / f"{TASK}_env_s2").exists()
    assert (kept_root / "report.md").read_text().count(f"{TASK}_env_s1") >= 1

    stop.unlink()  # the same command again: seed 1 is done, 0 and 2 run
    done = grid.run_grid(_runs([0, 1, 2]), runs_root, kept_root, run, keep, stop)
    assert done == [f"{TASK}_env_s0", f"{TASK}_env_s2"]
    assert "seeds [0, 1, 2]" in (kept_root / "report.md").read_text()
