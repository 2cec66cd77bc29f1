"""Seeing a comparison: live rows per round, TensorBoard scalars, coverage maps, rollout plots
and the self-contained ``report.html``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.image import imread
from tiny_experiment import TINY, tiny_config

from advex.analysis.report import write_report
from advex.cli import main
from advex.engine.compare import run_compare
from advex.engine.results import JOB_ROWS_FILE, load_results
from advex.engine.run_log import TENSORBOARD_DIR, RunLog

EVERY_ROUND = {**TINY["evaluation"], "points": "every"}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("live") / "cmp"
    cfg = tiny_config(strategies=["random", "adversarial-sf"], evaluation=EVERY_ROUND)
    frame = run_compare(cfg, out, backend="serial", progress=False)
    write_report(out, frame)
    return out, frame


def _scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / TENSORBOARD_DIR))
    events.Reload()
    return {
        tag: [(e.step, e.value) for e in events.Scalars(tag)]
        for tag in events.Tags()["scalars"]
    }


def test_every_job_keeps_its_rows_so_far(finished: tuple[Path, pd.DataFrame]) -> None:
    out, frame = finished
    merged = pd.concat(
        [pd.read_csv(out / "runs" / job / JOB_ROWS_FILE)
         for job in ("random_seed0", "adversarial-sf_seed0", "references_seed0")]
    )
    key = ["strategy", "env_steps", "metric"]
    assert sorted(map(tuple, merged[key].astype(str).to_numpy())) == sorted(
        map(tuple, frame[key].astype(str).to_numpy())
    )


def test_tensorboard_holds_the_named_scalars(finished: tuple[Path, pd.DataFrame]) -> None:
    out, frame = finished
    adversary = _scalars(out / "runs" / "adversarial-sf_seed0")
    for tag in ("online/train_loss", "online/val_loss", "online/epochs", "heldout/mse_1step",
                "strategy/reward_mean", "strategy/entropy", "strategy/approx_kl"):
        assert tag in adversary, f"{tag} missing; have {sorted(adversary)}"
    assert [s for s, _ in adversary["heldout/mse_1step"]] == [100, 200, 300]
    logged = [v for _, v in adversary["heldout/mse_1step"]]
    rows = frame[(frame["strategy"] == "adversarial-sf") & (frame["metric"] == "mse_1step")]
    np.testing.assert_allclose(logged, rows.sort_values("env_steps")["value"], rtol=1e-6)
    # one point per epoch of each round's refit, the rounds one after another
    steps = [s for s, _ in adversary["online/train_loss"]]
    assert steps == sorted(steps) and len(steps) == sum(v for _, v in adversary["online/epochs"])
    references = _scalars(out / "runs" / "references_seed0")
    assert {"heldout/oracle/mse_1step", "heldout/ridge/mse_1step"} <= set(references)


def test_tensorboard_can_be_switched_off_and_changes_no_result(
    finished: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    out, frame = finished
    cfg = tiny_config(strategies=["random", "adversarial-sf"], evaluation=EVERY_ROUND)
    quiet = run_compare(cfg, tmp_path / "off", backend="serial", progress=False,
                        tensorboard=False)
    assert not list((tmp_path / "off").glob(f"runs/*/{TENSORBOARD_DIR}"))
    pd.testing.assert_frame_equal(quiet.drop(columns="wall_s"), frame.drop(columns="wall_s"))


def test_a_writer_that_cannot_start_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    with pytest.warns(RuntimeWarning, match="TensorBoard logging is off"):
        log = RunLog(tmp_path)
    assert not log.enabled
    log.scalars("heldout", {"mse_1step": 1.0}, 100)  # a no-op, not a crash
    log.close()


def _non_background_share(path: Path) -> float:
    image = imread(path)[..., :3]
    return float((image.min(axis=-1) < 0.9).mean())


def test_coverage_map_and_rollouts_are_drawn(finished: tuple[Path, pd.DataFrame]) -> None:
    out, _ = finished
    for name in ("coverage_map.png", "rollouts.png"):
        assert (out / name).is_file(), f"{name} not written"
        assert _non_background_share(out / name) > 0.03, f"{name} is (nearly) blank"
    report = (out / "report.md").read_text()
    assert "](coverage_map.png)" in report and "](rollouts.png)" in report


def test_rollouts_plot_each_strategy_and_the_oracle(finished: tuple[Path, pd.DataFrame]) -> None:
    from advex.analysis.rollout_plot import open_loop, pick_starts
    from advex.engine import run_files

    out, _ = finished
    coverage = run_files.coverage_set(out, 0)
    assert coverage is not None and coverage.lengths is not None
    starts = pick_starts(coverage, 3, 0)
    assert len(starts) == 3
    assert coverage.lengths[starts].min() >= np.sort(coverage.lengths)[-3]  # the longest
    for job in ("random", "adversarial-sf", "references"):
        model = run_files.final_model(out, job, 0)
        assert model is not None, f"{job} kept no model"
        path = open_loop(model, coverage, starts)
        assert path.shape == (3, coverage.horizon + 1, coverage.obs_dim)
        np.testing.assert_allclose(path[:, 0], coverage.obs[starts, 0], rtol=1e-6)
        # step 1 is the model's one-step prediction from the recorded start and action
        one_step, _ = model.predict(coverage.obs[starts, 0], coverage.act[starts, 0])
        np.testing.assert_allclose(path[:, 1], one_step, rtol=1e-5, atol=1e-6)


def test_html_report_is_self_contained(finished: tuple[Path, pd.DataFrame]) -> None:
    out, _ = finished
    page = (out / "report.html").read_text()
    assert page.count("<table>") >= 2  # the headline and the secondary tables
    assert "adversarial-sf" in page and "oracle" in page
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 3 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r"(href|src)=\"(https?:)?//", page)  # no network request


def test_results_only_folder_says_which_pictures_it_cannot_draw(
    finished: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    out, frame = finished
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("config.json", "results.parquet"):
        (copy / name).write_bytes((out / name).read_bytes())
    write_report(copy)
    assert not (copy / "coverage_map.png").exists()
    page = (copy / "report.html").read_text()
    assert page.count('src="data:image/png') == 1
    assert "Coverage maps: not drawn" in page and "rollouts: not drawn" in page


def test_killed_after_round_two_leaves_rows_that_report_shows(tmp_path: Path) -> None:
    out = tmp_path / "killed"
    config = tmp_path / "config.json"
    cfg = tiny_config(strategies=["random"], steps=600, evaluation=EVERY_ROUND, references=[])
    config.write_text(json.dumps(cfg.to_dict()))
    env = {**os.environ, "MUJOCO_GL": os.environ.get("MUJOCO_GL", "egl")}
    process = subprocess.Popen(
        [sys.executable, "-m", "advex.cli", "compare", "--config", str(config), "--out",
         str(out), "--backend", "serial", "--quiet"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    rows = out / "runs" / "random_seed0" / JOB_ROWS_FILE
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if rows.is_file() and pd.read_csv(rows)["env_steps"].nunique() >= 2:
                break
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it was killed"
    frame = load_results(out)
    steps = sorted(frame["env_steps"].unique())
    assert steps[:2] == [100, 200] and steps[-1] < 600  # rounds 1-2 there, the end not
    assert main(["report", str(out)]) == 0
    assert "Partial results" in (out / "report.md").read_text()
    assert (out / "report.html").is_file()


def test_report_on_nothing_or_an_old_format_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    old = tmp_path / "old"
    (old / "runs" / "random_seed0").mkdir(parents=True)
    (old / "runs" / "random_seed0" / JOB_ROWS_FILE).write_text("strategy,seed,value\nrandom,0,1\n")
    assert main(["report", str(old)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "lack columns" in err, err
    assert sorted(p.name for p in old.iterdir()) == ["runs"]  # nothing was written
