"""A tiny comparison end to end: schema, per-strategy buffers, resume == uninterrupted, errors."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_experiment import STRATEGIES, TINY, tiny_config

from advex.cli import main
from advex.engine.checkpoint import Checkpointer
from advex.engine.compare import run_compare
from advex.engine.coverage import CoverageSet, build_coverage_set
from advex.engine.experiment import ExperimentConfig, run_single
from advex.engine.results import RESULT_COLUMNS


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    out = tmp_path_factory.mktemp("cmp")
    frame = run_compare(tiny_config(seeds=[0, 1]), out, backend="serial", progress=False)
    return out, frame


def test_results_schema_and_files(tiny_run: tuple[Path, pd.DataFrame]) -> None:
    out, frame = tiny_run
    assert list(frame.columns) == RESULT_COLUMNS
    assert set(frame["strategy"]) == set(STRATEGIES) | {"no-change", "ridge", "oracle"}
    assert set(frame["seed"]) == {0, 1}
    assert sorted(frame["env_steps"].unique()) == [100, 200, 300]
    strategy_metrics = set(frame.loc[frame["strategy"] == "random", "metric"])
    assert {
        "mse_1step", "mse_1step_median", "mse_1step_trim10", "mse_1step_raw",
        "mse_1step@random", "mse_1step@bang_bang", "mse_1step@perturbed",
        "out_of_support_frac", "mse_1step@in_support", "fit_epochs", "fit_capped_frac",
        "mse_1step@free", "coverage_contact_frac", "contact_frac",
    } <= strategy_metrics
    # the evaluation MLP forecasts no variance: NLL and calibration come from the online
    # ensemble, labelled as such, for the strategies that train one
    assert not strategy_metrics & {"nll_1step", "calib_ratio", "online_nll_1step"}
    adversary_metrics = set(frame.loc[frame["strategy"] == "adversarial-sf", "metric"])
    assert {"online_nll_1step", "online_calib_ratio"} <= adversary_metrics
    contact = frame[(frame["metric"] == "contact_frac")]
    assert ((contact["value"] >= 0) & (contact["value"] <= 1)).all()
    assert set(contact["strategy"]) == set(STRATEGIES) | {"ridge", "oracle"}
    assert np.isfinite(frame["value"]).all() and (frame["wall_s"] > 0).all()
    fitted = frame[frame["strategy"].isin(STRATEGIES) & (frame["metric"] == "mse_1step")]
    assert (fitted["n_fits"] == 2).all() and fitted["value_sd"].notna().all()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "results.parquet"), frame)
    assert len(pd.read_csv(out / "results.csv")) == len(frame)
    assert json.loads((out / "config.json").read_text())["steps"] == 300


def test_config_json_holds_every_value_of_every_nested_config(
    tiny_run: tuple[Path, pd.DataFrame],
) -> None:
    """config.json is the resolved config: a default changed later cannot change what a resume
    or a rerun of the folder does (only ``device`` and the models' per-run ``seed`` stay out)."""
    from dataclasses import fields

    from advex.engine.coverage import CoverageConfig
    from advex.engine.evaluation import EvaluationConfig
    from advex.exploration.strategy import strategy_class
    from advex.models import TrainConfig
    from advex.models.factory import MODEL_KINDS

    out, _ = tiny_run
    saved = json.loads((out / "config.json").read_text())

    def names(cls: type, *left_out: str) -> set[str]:
        return {f.name for f in fields(cls)} - set(left_out)

    assert set(saved["train"]) == names(TrainConfig, "device")
    assert set(saved["coverage"]) == names(CoverageConfig)
    assert set(saved["evaluation"]) == names(EvaluationConfig, "device")
    assert set(saved["model_config"]) == names(MODEL_KINDS[saved["model"]][1], "seed")
    eval_model = saved["evaluation"]["model"]
    assert set(saved["evaluation"]["model_config"]) == names(MODEL_KINDS[eval_model][1], "seed")
    assert set(saved["strategy_config"]) == set(saved["strategies"])
    for name, values in saved["strategy_config"].items():
        assert set(values) == names(strategy_class(name).config_cls)
    assert saved["train"]["max_epochs"] == 5 and saved["coverage"]["n_starts"] == 60  # TINY's
    resolved = ExperimentConfig.from_dict(saved)
    assert resolved.resolved() == resolved  # resolving is idempotent


def test_a_folder_saved_with_overrides_only_still_resumes(tmp_path: Path) -> None:
    """Folders written before configs were resolved hold override dicts; a resume resolves
    both sides before comparing, and still refuses a config that differs."""
    from advex.engine.compare import _check_out_dir

    cfg = tiny_config()
    (tmp_path / "config.json").write_text(json.dumps(cfg.to_dict()))
    _check_out_dir(tmp_path, cfg.resolved(), resume=True)
    with pytest.raises(ValueError, match="differs"):
        _check_out_dir(tmp_path, tiny_config(steps=400).resolved(), resume=True)


def test_progress_reads_each_jobs_finished_rounds(tiny_run: tuple[Path, pd.DataFrame]) -> None:
    """The compare bar counts rounds from the jobs' own files (a job's checkpoint, the
    references' progress), so a long job is seen moving."""
    from advex.engine.compare import REFERENCES_JOB, Job, _rounds_done

    out, _ = tiny_run
    for name in ("random", REFERENCES_JOB):
        job = Job(name, 1, str(out / "runs" / f"{name}_seed1"), "unused")
        assert _rounds_done(job) == 3
    assert _rounds_done(Job("random", 7, str(out / "runs" / "random_seed7"), "unused")) == 0


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


@pytest.mark.parametrize(
    ("strategy", "overrides"),
    [("adversarial-sf", {}), ("adversarial-sf", {"reward_timing": "before-refit"}),
     ("adversarial-pw", {"reward_timing": "before-refit", "policy_steps": 2}),
     ("adversarial-frames", {"frame_size": 16, "latent_dim": 4, "vae_steps": 20,
                             "dynamics_steps": 20}),
     ("adversarial-mpc", {"horizon": 4, "candidates": 8, "iterations": 1}),
     ("max", {"imagined_steps": 64, "n_envs": 4, "horizon": 5, "hidden": 8, "batch_size": 16,
              "learning_starts": 16})],
)
def test_resume_equals_uninterrupted(
    strategy: str, overrides: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Also: the loop hands the adversary the yardstick's error scale, and lets a before-refit
    adversary see each round before the refit (its update refuses to run otherwise)."""
    from advex.exploration.strategy import Strategy

    scales: list[np.ndarray] = []
    original = Strategy.set_error_scale

    def recording(self: Strategy, scale: np.ndarray | None) -> None:
        scales.append(np.asarray(scale))
        original(self, scale)

    monkeypatch.setattr(Strategy, "set_error_scale", recording)
    cfg = tiny_config(strategies=[strategy], strategy_config={strategy: overrides})
    coverage = build_coverage_set(cfg.task, 0, cfg.coverage_config(), progress=False)
    full = run_single(cfg, strategy, 0, tmp_path / "full", coverage, progress=False)
    np.testing.assert_array_equal(scales[0], coverage.delta_scale())
    run_single(cfg, strategy, 0, tmp_path / "cut", coverage, progress=False, stop_after_rounds=1)
    resumed = run_single(cfg, strategy, 0, tmp_path / "cut", coverage, progress=False,
                         resume=True)

    def key(rows: list[dict]) -> list[tuple]:
        return [(r["env_steps"], r["metric"], r["value"], str(r["value_sd"])) for r in rows]

    assert len(resumed) == len(full)
    assert key(resumed) == key(full)  # bit-identical values, wall_s aside


def test_existing_run_is_not_overwritten(tiny_run: tuple[Path, pd.DataFrame]) -> None:
    out, _ = tiny_run
    with pytest.raises(FileExistsError, match="--resume"):
        run_compare(tiny_config(seeds=[0, 1]), out, backend="serial", progress=False)


def test_bad_names_list_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="valid strategies: .*adversarial-pw"):
        tiny_config(strategies=["random", "advesarial"])
    with pytest.raises(ValueError, match="HalfCheetah-v5"):
        tiny_config(task="HalfCheeta-v5")
    assert main(["compare", "--strategies", "random,nope", "--steps", "10"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nope" in err and "disagreement" in err


def test_process_pool_matches_serial(tmp_path: Path) -> None:
    cfg = tiny_config(strategies=["random", "adversarial-sf"], steps=200)
    serial = run_compare(cfg, tmp_path / "a", backend="serial", progress=False)
    pooled = run_compare(cfg, tmp_path / "b", backend="process", workers=2, progress=False)
    cols = ["strategy", "seed", "env_steps", "metric", "value"]
    pd.testing.assert_frame_equal(serial[cols], pooled[cols])


def test_ray_backend_matches_serial(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")
    cfg = tiny_config(strategies=["random", "adversarial-sf"], steps=200, seeds=[0, 1])
    serial = run_compare(cfg, tmp_path / "a", backend="serial", progress=False)
    on_ray = run_compare(cfg, tmp_path / "b", backend="ray", workers=2, progress=False)
    cols = ["strategy", "seed", "env_steps", "metric", "value"]
    pd.testing.assert_frame_equal(serial[cols], on_ray[cols])
    assert not ray.is_initialized()  # the local instance advex started is gone


def test_unknown_backend_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="valid: process, ray, serial"):
        run_compare(tiny_config(), tmp_path / "out", backend="threads", workers=1)  # type: ignore[arg-type]
    assert not (tmp_path / "out").exists()


def test_references_resume_equals_uninterrupted(tmp_path: Path) -> None:
    from advex.engine.experiment import run_references
    from advex.engine.references import oracle_starts

    cfg = tiny_config(strategies=["random"])
    coverage = build_coverage_set(cfg.task, 0, cfg.coverage_config(), progress=False)
    oracle_cfg = replace(cfg.coverage_config(), n_starts=oracle_starts(coverage, cfg.steps))
    oracle = build_coverage_set(cfg.task, 99, oracle_cfg, progress=False)
    full = run_references(cfg, 0, tmp_path / "full", coverage, oracle, progress=False)
    # a killed job: the same loop and checkpoints as a strategy's, stopped after round one
    cut = run_references(cfg, 0, tmp_path / "cut", coverage, oracle, progress=False,
                         stop_after_rounds=1)
    assert {row["env_steps"] for row in cut} == {100}
    assert Checkpointer(tmp_path / "cut").completed_rounds() == 1
    assert not (Checkpointer(tmp_path / "cut").latest_folder() / "model.pt").exists()
    resumed = run_references(cfg, 0, tmp_path / "cut", coverage, oracle, progress=False,
                             resume=True)

    def key(rows: list[dict]) -> list[tuple]:
        return [(r["strategy"], r["env_steps"], r["metric"], r["value"]) for r in rows]

    assert key(resumed) == key(full)
    with pytest.raises(FileExistsError, match="resume"):
        run_references(cfg, 0, tmp_path / "full", coverage, oracle, progress=False)


def test_oracle_beats_no_change_by_a_wide_margin() -> None:
    """On InvertedPendulum the model class trained on the yardstick's own distribution must
    leave "learned nothing" far behind, or the gap-closed scale means nothing."""
    from advex.engine.experiment import run_references
    from advex.engine.references import oracle_starts

    cfg = tiny_config(
        strategies=["random"], steps=1000, round_steps=1000,
        evaluation={"fit_seeds": 2},  # the real stopping rule: fits that converge
    )
    coverage = build_coverage_set(cfg.task, 0, cfg.coverage_config(), progress=False)
    oracle_cfg = replace(cfg.coverage_config(), n_starts=oracle_starts(coverage, cfg.steps))
    oracle = build_coverage_set(cfg.task, 99, oracle_cfg, progress=False)
    import tempfile

    rows = run_references(cfg, 0, Path(tempfile.mkdtemp()) / "r", coverage, oracle,
                          progress=False)
    value = {(r["strategy"], r["metric"]): r["value"] for r in rows}
    assert value[("no-change", "mse_1step")] > 0.9
    assert value[("oracle", "mse_1step")] < 0.2 * value[("no-change", "mse_1step")]
    assert value[("oracle", "fit_capped_frac")] == 0.0  # converged, not capped


@pytest.mark.parametrize("strategy", ["random", "adversarial-sf", "adversarial-pw", "disagreement"])
def test_free_episodes_reach_every_strategy(strategy: str, tmp_path: Path) -> None:
    """Under "free" rules every strategy's data goes past the pendulum's 0.2 rad limit and no
    row is terminated; the coverage set it is scored on follows the same rules."""
    cfg = tiny_config(strategies=[strategy], steps=1200, round_steps=1200, episodes="free",
               references=[], evaluation={"fit_seeds": 1, "max_epochs": 2})
    coverage = build_coverage_set(cfg.task, 0, cfg.coverage_config(), progress=False)
    assert coverage.config.episodes == "free" and not coverage.terminated.any()
    run_single(cfg, strategy, 0, tmp_path / "run", coverage, progress=False)
    buffer = Checkpointer(tmp_path / "run").load().buffer
    data = buffer.batch()
    assert buffer.meta["episodes"] == "free" and not data.terminated.any()
    assert np.abs(data.obs[:, 1]).max() > 0.2


def test_coverage_must_follow_the_runs_episode_rules() -> None:
    with pytest.raises(ValueError, match="must follow the run's rules"):
        tiny_config(episodes="free", coverage={**TINY["coverage"], "episodes": "env"})
    with pytest.raises(ValueError, match="unknown episodes mode"):
        tiny_config(episodes="sometimes")
    with pytest.raises(ValueError, match="unknown evaluation points"):
        tiny_config(evaluation={"points": "often"})
    with pytest.raises(ValueError, match="unknown evaluation config field"):
        tiny_config(evaluation={"fit_seed": 2})


def test_oracle_set_always_holds_the_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rollout lengths vary under "env" rules, so a first oracle set can fall short of the
    budget (here: forced by a far too small first guess); it is rebuilt larger instead of
    failing the comparison."""
    from advex.engine import compare

    monkeypatch.setattr(compare, "oracle_starts", lambda coverage, budget: 5)
    cfg = tiny_config(strategies=["random"], steps=120, round_steps=120)
    _, oracle_path = compare.prepare_coverage(cfg, tmp_path, progress=False)[0]
    assert oracle_path is not None
    oracle = CoverageSet.load(oracle_path)
    assert len(oracle) >= 120 and oracle.n_starts > 5


@pytest.mark.parametrize(
    ("override", "message"),
    [({"train": {"max_epochs": "ten"}}, "train config field max_epochs must be int, got 'ten'"),
     ({"steps": "3000"}, "experiment config field steps must be int"),
     ({"seeds": [0, "a"]}, "field seeds must be list\\[int\\]"),
     ({"coverage": {"n_starts": 2.5}}, "coverage config field n_starts must be int"),
     ({"strategy_config": {"adversarial-sf": {"gamma": "x"}}},
      "adversarial-sf config field gamma must be float"),
     ({"model_config": {"hidden_sizes": "big"}}, "ensemble config field hidden_sizes"),
     ({"evaluation": {"fit_seeds": "x"}}, "evaluation config field fit_seeds must be int")],
)
def test_mistyped_config_values_are_one_line_before_anything_is_written(
    override: dict, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps(override))
    assert main(["compare", "--config", str(config), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert re.search(message, err) and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_estimate_is_rounds_times_waves_of_the_first_round() -> None:
    from advex.engine.compare import _estimate

    # 5 jobs on 2 workers run in 3 waves of 10 rounds of 12 s: 360 s
    assert _estimate(12.0, 10, 5, 2) == pytest.approx(360 / 3600)
    assert _estimate(12.0, 10, 1, 8) == pytest.approx(120 / 3600)


def test_max_hours_stops_after_the_timed_round_and_resume_finishes_it(tmp_path: Path) -> None:
    from advex.engine.compare import RuntimeTooLongError

    cfg = tiny_config(strategies=["random", "adversarial-sf"], references=["no-change"])
    with pytest.raises(RuntimeTooLongError, match=r"at least .* h \(the first round of random "
                       r"seed 0 took .* s; 3 rounds x 3 jobs on 1 worker\(s\)\), over "
                       r"--max-hours 1e-09"):
        run_compare(cfg, tmp_path / "a", backend="serial", progress=False, max_hours=1e-9)
    runs = tmp_path / "a" / "runs"
    assert [p.name for p in runs.iterdir()] == ["random_seed0"]  # nothing else started
    assert Checkpointer(runs / "random_seed0").load().completed_rounds == 1
    resumed = run_compare(cfg, tmp_path / "a", backend="serial", progress=False, resume=True)
    straight = run_compare(cfg, tmp_path / "b", backend="serial", progress=False, max_hours=10)
    cols = ["strategy", "seed", "env_steps", "metric", "value"]
    pd.testing.assert_frame_equal(resumed[cols], straight[cols])
    with pytest.raises(ValueError, match="max_hours must be > 0"):
        run_compare(cfg, tmp_path / "c", backend="serial", progress=False, max_hours=0)
    assert not (tmp_path / "c").exists()


@pytest.mark.slow
def test_default_yardstick_writes_both_strata_and_the_contact_share(tmp_path: Path) -> None:
    """The issue's command, as a user runs it: the rows of both strata and of the data's
    contact share are there (IP's coverage set reaches the rail ends under env rules)."""
    out = tmp_path / "ip"
    assert main(["compare", "--task", "InvertedPendulum-v5", "--steps", "1000", "--round",
                 "500", "--strategies", "random", "--out", str(out), "--backend", "serial",
                 "--no-tensorboard"]) == 0
    frame = pd.read_parquet(out / "results.parquet")
    random_rows = frame[frame["strategy"] == "random"]
    assert {"mse_1step@free", "mse_1step@contact", "contact_frac"} <= set(random_rows["metric"])
    share = frame.loc[frame["metric"] == "coverage_contact_frac", "value"]
    assert ((share > 0) & (share < 0.2)).all()


def test_public_python_api_returns_the_results_frame(tmp_path: Path) -> None:
    import advex

    frame = advex.compare(tiny_config(strategies=["random"], steps=100, round_steps=100,
                               references=["no-change"]), tmp_path / "nb", backend="serial",
                          progress=False, tensorboard=False)
    assert list(frame.columns) == RESULT_COLUMNS
    assert set(frame["strategy"]) == {"random", "no-change"}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "nb" / "results.parquet"), frame)
    with pytest.raises(TypeError, match="ExperimentConfig"):
        advex.compare({"task": "InvertedPendulum-v5"})  # type: ignore[arg-type]


def test_report_says_which_unreadable_files_it_skipped(
    tiny_run: tuple[Path, pd.DataFrame], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A damaged buffer or kept model is named in report.md and on stderr; with nothing left
    to draw, the older pictures are removed rather than left standing."""
    import shutil

    from advex.analysis.report import write_report

    out = tmp_path / "copy"
    shutil.copytree(tiny_run[0], out)
    write_report(out)
    assert (out / "coverage_map.png").is_file() and (out / "rollouts.png").is_file()
    damaged = []
    for run in sorted((out / "runs").glob("*_seed0")):  # the seed the pictures draw
        for name in ("final_model.pt",):
            if (run / name).is_file():
                (run / name).write_bytes(b"not a model")
                damaged.append(run / name)
        latest = Checkpointer(run).latest_folder()
        is_strategy = not run.name.startswith("references")  # the maps draw strategies' data
        if is_strategy and latest is not None and (latest / "buffer.npz").is_file():
            (latest / "buffer.npz").write_bytes(b"not a buffer")
            damaged.append(latest / "buffer.npz")
    capsys.readouterr()
    write_report(out)
    report, err = (out / "report.md").read_text(), capsys.readouterr().err
    for path in damaged:
        assert f"Skipped: {path}: unreadable" in report and str(path) in err
    assert not (out / "coverage_map.png").exists() and not (out / "rollouts.png").exists()
