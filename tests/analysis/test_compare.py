"""A tiny comparison end to end: schema, per-strategy buffers, resume == uninterrupted, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from advex.analysis.checkpoint import Checkpointer
from advex.analysis.compare import run_compare
from advex.analysis.coverage import CoverageConfig, build_coverage_set
from advex.analysis.experiment import ExperimentConfig, run_single
from advex.analysis.results import RESULT_COLUMNS
from advex.cli import main

TINY = {
    "model_config": {"num_members": 3, "num_elites": 2, "hidden_sizes": [32, 32]},
    "train": {"max_epochs": 5, "patience": 2},
    "coverage": {
        "n_starts": 60,
        "n_sb3_steps": 0,
        "frac_sb3": 0.0,
        "frac_random": 0.5,
        "n_random_rollout_steps": 400,
        "n_bang_bang_steps": 200,
    },
}
STRATEGIES = ["random", "adversarial-sf", "adversarial-pw", "disagreement"]


def _cfg(**kw: object) -> ExperimentConfig:
    base = dict(
        task="InvertedPendulum-v5",
        strategies=STRATEGIES,
        seeds=[0],
        steps=300,
        round_steps=100,
        **TINY,
    )
    base.update(kw)
    return ExperimentConfig(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("cmp")
    frame = run_compare(_cfg(seeds=[0, 1]), out, backend="serial", progress=False)
    return out, frame


def test_results_schema_and_files(tiny_run: tuple[Path, pd.DataFrame]) -> None:
    out, frame = tiny_run
    assert list(frame.columns) == RESULT_COLUMNS
    assert set(frame["strategy"]) == set(STRATEGIES)
    assert set(frame["seed"]) == {0, 1}
    assert sorted(frame["env_steps"].unique()) == [100, 200, 300]
    assert {"mse_1step", "mse_1step_raw", "rollout_mse_k5", "rollout_mse_k20", "nll_1step"} <= set(
        frame["metric"]
    )
    assert np.isfinite(frame["value"]).all() and (frame["wall_s"] > 0).all()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), frame)
    assert len(pd.read_csv(out / "results.csv")) == len(frame)
    assert json.loads((out / "config.json").read_text())["steps"] == 300


def test_each_strategy_buffer_holds_only_its_own_data(tiny_run: tuple[Path, pd.DataFrame]) -> None:
    out, _ = tiny_run
    buffers = {s: Checkpointer(out / "runs" / f"{s}_seed0").load().buffer for s in STRATEGIES}
    for s, buf in buffers.items():
        assert len(buf) == 300, s  # exactly its own budget: nothing appended from elsewhere
        assert buf.meta["strategy"] == s
        data, same = buf.batch(), buf.episode_id[1:] == buf.episode_id[:-1]
        np.testing.assert_array_equal(data.next_obs[:-1][same], data.obs[1:][same])
    # Round 1 may coincide (adversarial-sf and disagreement start from the same seeded policy:
    # common random numbers); once each has learned from its own signal, the data differ.
    later = {s: {r.tobytes() for r in b.batch(np.arange(100, 300)).act} for s, b in buffers.items()}
    for a in STRATEGIES:
        for b in STRATEGIES:
            if a < b:
                assert not later[a] & later[b], f"{a} and {b} share transitions"


def test_resume_equals_uninterrupted(tmp_path: Path) -> None:
    cfg = _cfg(strategies=["adversarial-sf"])
    coverage = build_coverage_set(cfg.task, 0, CoverageConfig(**cfg.coverage), progress=False)
    full = run_single(cfg, "adversarial-sf", 0, tmp_path / "full", coverage, progress=False)
    run_single(
        cfg, "adversarial-sf", 0, tmp_path / "cut", coverage, progress=False, stop_after_rounds=1
    )
    resumed = run_single(
        cfg, "adversarial-sf", 0, tmp_path / "cut", coverage, progress=False, resume=True
    )

    def key(rows: list[dict]) -> list[tuple]:
        return [(r["env_steps"], r["metric"], r["value"]) for r in rows]

    assert len(resumed) == len(full)
    assert key(resumed) == key(full)  # bit-identical values, wall_s aside


def test_existing_run_is_not_overwritten(tiny_run: tuple[Path, pd.DataFrame]) -> None:
    out, _ = tiny_run
    with pytest.raises(FileExistsError, match="--resume"):
        run_compare(_cfg(seeds=[0, 1]), out, backend="serial", progress=False)


def test_bad_names_list_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="valid: .*adversarial-pw"):
        _cfg(strategies=["random", "advesarial"])
    with pytest.raises(ValueError, match="HalfCheetah-v5"):
        _cfg(task="HalfCheeta-v5")
    assert main(["compare", "--strategies", "random,nope", "--steps", "10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and "disagreement" in err


def test_process_pool_matches_serial(tmp_path: Path) -> None:
    cfg = _cfg(strategies=["random", "adversarial-sf"], steps=200)
    serial = run_compare(cfg, tmp_path / "a", backend="serial", progress=False)
    pooled = run_compare(cfg, tmp_path / "b", backend="process", workers=2, progress=False)
    cols = ["strategy", "seed", "env_steps", "metric", "value"]
    pd.testing.assert_frame_equal(serial[cols], pooled[cols])


@pytest.mark.slow
def test_ray_backend_matches_serial(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="Ray is the optional extra: pip install -e '.[ray]'")
    cfg = _cfg(strategies=["random", "adversarial-sf"], steps=200)
    serial = run_compare(cfg, tmp_path / "a", backend="serial", progress=False)
    on_ray = run_compare(cfg, tmp_path / "b", backend="ray", workers=2, progress=False)
    cols = ["strategy", "seed", "env_steps", "metric", "value"]
    pd.testing.assert_frame_equal(serial[cols], on_ray[cols])


def test_unknown_backend_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid: process, ray, serial"):
        run_compare(_cfg(), tmp_path / "out", backend="threads", workers=1)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()
