"""``advex report`` over a grid: run folders side by side, the headline and the goal's verdict."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from advex.analysis.grid_report import GridReportError, find_runs, verdict, write_grid_report
from advex.cli import main
from advex.engine.experiment import ExperimentConfig
from advex.engine.results import save_results, validate_results

STEPS = [1000, 2000, 3000, 4000]


def _run(
    folder: Path,
    task: str,
    adversary_curve: list[float],
    episodes: str = "env",
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    strata: dict[str, list[float]] | None = None,
    adversary: str = "adversarial-sf",
    config: dict[str, object] | None = None,
) -> Path:
    """A finished run folder: random's error falls 1.0 -> 0.4; the adversary follows
    ``adversary_curve`` (and ``strata``: metric -> the adversary's curve of that metric,
    random's the same as for mse_1step); ``seeds`` with a small per-seed offset; one
    no-change row."""
    rows = []
    metrics = {"mse_1step": adversary_curve, **(strata or {})}
    for seed in seeds:
        jitter = 1 + 0.02 * (seed - 2)
        for metric, curve in metrics.items():
            curves = {"random": [1.0, 0.7, 0.5, 0.4], adversary: curve}
            for strategy, values in curves.items():
                for steps, value in zip(STEPS, values, strict=True):
                    rows.append({"task": task, "strategy": strategy, "seed": seed,
                                 "env_steps": steps, "metric": metric,
                                 "value": value * jitter, "value_sd": 0.0, "n_fits": 3,
                                 "wall_s": 1.0})
        rows.append({"task": task, "strategy": "no-change", "seed": seed, "env_steps": 4000,
                     "metric": "mse_1step", "value": 2.0, "value_sd": 0.0, "n_fits": 1,
                     "wall_s": 0.0})
    folder.mkdir(parents=True)
    save_results(validate_results(pd.DataFrame(rows)), folder)
    config = {"task": task, "episodes": episodes, "round_steps": 1000, "seeds": list(seeds),
              **(config or {})}
    (folder / "config.json").write_text(json.dumps(config))
    return folder


FAST = [0.5, 0.38, 0.3, 0.25]  # at or below random's final 0.4 from 2000 steps: ratio 0.5
SLOW = [1.2, 1.0, 0.9, 0.8]  # never gets there


def test_verdicts_follow_the_goal() -> None:
    assert verdict(0.5, 0.9, 5).startswith("goal met")
    assert verdict(0.7, 0.9, 5) == "faster than random (CI below 1), short of the goal"
    assert verdict(0.4, 1.0, 6) == "faster on the IQM curve, CI reaches 1"
    assert verdict(1.0, 1.0, 5) == "not faster than random"
    assert verdict(math.nan, math.inf, 5) == "never reaches random's final error"
    # a bootstrap over fewer seeds than the goal asks for gives no verdict, however it looks
    assert verdict(0.3, 0.4, 2) == "no verdict yet (2 of 5 seeds)"
    assert verdict(0.3, math.nan, 1) == "no verdict yet (1 of 5 seeds)"


def test_grid_folder_gives_headline_rows_and_the_goal_count(tmp_path: Path) -> None:
    grid = tmp_path / "grid"
    _run(grid / "a_env", "TaskA", FAST)
    _run(grid / "b_env", "TaskB", SLOW)
    (grid / "notes").mkdir()  # a folder without results is not a run
    text = write_grid_report([grid], grid)
    headline = pd.read_csv(grid / "headline.csv")
    assert headline["experiment"].tolist() == ["TaskA_env", "TaskB_env"]
    assert headline["strategy"].tolist() == ["adversarial-sf", "adversarial-sf"]
    fast, slow = headline.iloc[0], headline.iloc[1]
    assert fast["reach_ratio"] == pytest.approx(0.5) and fast["reach_ci_high"] < 1
    assert fast["verdict"].startswith("goal met")
    assert math.isnan(slow["reach_ratio"]) and slow["verdict"].startswith("never")
    report = (grid / "report.md").read_text()
    assert text in report and "Goal not met: an adversary meets it on 1 of 2 task(s)" in report
    assert "TaskA (env)" in report and "a_env/report.md" in report
    assert (grid / "TaskA_env.png").is_file() and "![TaskA_env](TaskA_env.png)" in report
    for run in ("a_env", "b_env"):  # each run's own report is rebuilt too
        assert (grid / run / "report.md").is_file() and (grid / run / "summary.csv").is_file()


def test_strata_get_their_own_ratio_ci_and_verdict_side_by_side(tmp_path: Path) -> None:
    """An adversary that is fast on contacts and slow in free motion: the headline says both,
    each stratum with its own verdict and goal line, and the mix (``all``) beside them."""
    grid = tmp_path / "grid"
    _run(grid / "a_env", "TaskA", SLOW,
         strata={"mse_1step@free": SLOW, "mse_1step@contact": FAST})
    _run(grid / "b_env", "TaskB", FAST)  # results from before the labels: `all` only
    write_grid_report([grid], grid)
    headline = pd.read_csv(grid / "headline.csv")
    a = headline[headline["experiment"] == "TaskA_env"].set_index("stratum")
    assert list(a.index) == ["all", "free", "contact"]
    assert a.loc["contact", "verdict"].startswith("goal met")
    assert a.loc["contact", "reach_ratio"] == pytest.approx(0.5)
    assert a.loc["free", "verdict"].startswith("never")
    assert headline[headline["experiment"] == "TaskB_env"]["stratum"].tolist() == ["all"]
    report = (grid / "report.md").read_text()
    line = next(row for row in report.splitlines() if row.startswith("| TaskA_env"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[4:7] == ["-", "2.00 [2.00, 2.00]", "never reaches random's final error"]
    assert cells[10].startswith("0.50") and cells[12].startswith("goal met")
    b_line = next(row for row in report.splitlines() if row.startswith("| TaskB_env"))
    assert b_line.rstrip(" |").endswith("| - | - | -")  # no contact stratum there
    assert "- `contact`: Goal not met: an adversary meets it on 1 of 1 task(s)" in report
    assert "- `free`: Goal not met: an adversary meets it on 0 of 1 task(s)" in report


def test_cli_merges_folders_and_refuses_bad_ones_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _run(tmp_path / "a", "TaskA", FAST)
    b = _run(tmp_path / "b", "TaskB", FAST, episodes="free")
    assert main(["report", str(a), str(b)]) == 2
    assert "needs --out" in capsys.readouterr().err
    assert main(["report", str(a), str(a / "results.csv"), "--out", str(tmp_path / "g")]) == 2
    assert "it is a file" in capsys.readouterr().err and not (tmp_path / "g").exists()
    assert main(["report", str(tmp_path / "empty_missing")]) == 2
    assert "missing" in capsys.readouterr().err
    assert main(["report", str(a), str(b), "--out", str(tmp_path / "g")]) == 0
    report = (tmp_path / "g" / "report.md").read_text()  # 2 tasks can't make the 3 the goal asks
    assert "Goal not met: an adversary meets it on 2 of 2 task(s)" in report
    headline = pd.read_csv(tmp_path / "g" / "headline.csv")
    assert headline["episodes"].tolist() == ["env", "free"]
    assert main(["report", str(a)]) == 0  # one run folder: its own report, no headline
    assert not (a / "headline.csv").exists()


def test_folders_of_one_experiment_merge_their_seeds(tmp_path: Path) -> None:
    grid = tmp_path / "grid"
    _run(grid / "a_s01", "TaskA", FAST, seeds=(0, 1))
    _run(grid / "a_s234", "TaskA", FAST, seeds=(2, 3, 4))
    _run(grid / "a_free", "TaskA", SLOW, episodes="free", seeds=(0, 1))  # other rules
    write_grid_report([grid], grid)
    headline = pd.read_csv(grid / "headline.csv")
    # experiments in the order their first folder sorts: a_free, then a_s01 (+ a_s234)
    assert headline["experiment"].tolist() == ["TaskA_free", "TaskA_env"]
    assert headline["seeds"].tolist() == [2, 5]
    assert headline.iloc[1]["verdict"].startswith("goal met")
    report = (grid / "report.md").read_text()
    assert "seeds [0, 1, 2, 3, 4]" in report and "[a_s01](a_s01/report.md)" in report
    _run(grid / "a_s4", "TaskA", FAST, seeds=(4,))  # seed 4 twice
    with pytest.raises(GridReportError, match="both hold seed 4 of"):
        write_grid_report([grid], grid)


def test_a_run_name_given_twice_is_refused(tmp_path: Path) -> None:
    a = _run(tmp_path / "x" / "run", "TaskA", FAST)
    b = _run(tmp_path / "y" / "run", "TaskB", FAST)
    with pytest.raises(GridReportError, match="given twice: run"):
        find_runs([a, b])


def test_two_strategy_sets_of_one_task_are_named_by_their_folders(tmp_path: Path) -> None:
    """A task run under two strategy sets (``grid.py --label long``): each experiment is named
    by its folders less the seed suffix, and the long-horizon adversary counts for the goal."""
    grid = tmp_path / "grid"
    for seed in range(5):
        _run(grid / f"TaskA_env_long_s{seed}", "TaskA", FAST, seeds=(seed,),
             adversary="adversarial-mpc", config={"strategies": ["random", "adversarial-mpc"]})
        _run(grid / f"TaskA_env_s{seed}", "TaskA", SLOW, seeds=(seed,),
             config={"strategies": ["random", "adversarial-sf"]})
    write_grid_report([grid], grid)
    headline = pd.read_csv(grid / "headline.csv")
    assert headline["experiment"].tolist() == ["TaskA_env_long", "TaskA_env"]
    assert headline["seeds"].tolist() == [5, 5]
    assert headline.iloc[0]["verdict"].startswith("goal met")
    report = (grid / "report.md").read_text()
    assert "Goal not met: an adversary meets it on 1 of 1 task(s) (TaskA (env))" in report
    assert (grid / "TaskA_env_long.png").is_file() and (grid / "TaskA_env.png").is_file()


def test_a_config_written_in_full_joins_its_compact_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seeds whose config.json was written before configs were resolved (defaults left out)
    and seeds written after (every field) are one experiment; a user's ``module:Id`` task is
    compared as written, never imported by a report."""
    compact = {"strategies": ["random", "adversarial-sf"], "steps": 4000}
    full = ExperimentConfig.from_dict(
        {"task": "InvertedPendulum-v5", "episodes": "env", "round_steps": 1000, "seeds": [3],
         **compact}).resolved().to_dict()
    assert len(json.dumps(full)) > 3 * len(json.dumps(compact))  # really written in full
    grid = tmp_path / "grid"
    _run(grid / "ip_s012", "InvertedPendulum-v5", FAST, seeds=(0, 1, 2), config=compact)
    _run(grid / "ip_s34", "InvertedPendulum-v5", FAST, seeds=(3, 4), config=full)
    marker = tmp_path / "imported"
    (tmp_path / "user_task_module.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).touch()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for seed in range(2):
        _run(grid / f"user_s{seed}", "user_task_module:Env", FAST, seeds=(seed,))
    write_grid_report([grid], grid)
    headline = pd.read_csv(grid / "headline.csv")
    assert headline.groupby("experiment")["seeds"].first().to_dict() == {
        "InvertedPendulum-v5_env": 5, "user_task_module:Env_env": 2}
    assert not marker.exists()
