"""The ``advex`` command line: envs, collect, fit, eval, report and one-line errors."""

from __future__ import annotations

import argparse
import os
from dataclasses import replace
from pathlib import Path

import pytest

from advex.cli import main
from advex.exploration.buffer import ReplayBuffer


def test_envs_lists_every_task(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["envs"]) == 0
    out = capsys.readouterr().out
    for task, obs, act in [
        ("HalfCheetah-v5", 17, 6),
        ("InvertedPendulum-v5", 4, 1),
        ("advex/ArenaRobot-v0", 7, 3),
    ]:
        line = next(line for line in out.splitlines() if line.startswith(task))
        assert line.split()[1:3] == [str(obs), str(act)]


def test_collect_writes_a_loadable_buffer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "d" / "ip.npz"
    assert (
        main(
            [
                "collect",
                "--task",
                "InvertedPendulum-v5",
                "--steps",
                "250",
                "--seed",
                "3",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    buf = ReplayBuffer.load(out)
    assert len(buf) == 250 and buf.meta["task"] == "InvertedPendulum-v5"
    assert "wrote 250 transitions" in capsys.readouterr().out


def test_errors_are_one_line_and_name_the_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["collect", "--task", "Nope-v0", "--steps", "5", "--out", str(tmp_path / "x.npz")])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("advex: error:") and "Nope-v0" in err and "Hopper-v5" in err
    assert err.count("\n") == 1
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"garbage")
    assert main(["fit", "--buffer", str(bad), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "not a readable buffer file" in err and err.count("\n") == 1
    assert not (tmp_path / "m.pt").exists()


def test_fit_then_eval(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADVEX_CACHE", str(tmp_path / "cache"))
    import advex.cli as cli
    from advex.engine.coverage import CoverageConfig, load_or_build_coverage

    small = CoverageConfig(
        n_starts=50,
        n_sb3_steps=0,
        frac_sb3=0.0,
        frac_random=0.5,
        n_random_rollout_steps=300,
        n_bang_bang_steps=200,
    )
    monkeypatch.setattr(
        cli,
        "_coverage_for",
        lambda task, seed, episodes, quiet: load_or_build_coverage(
            task, seed, replace(small, episodes=episodes), progress=False
        ),
    )
    data = tmp_path / "ip.npz"
    main(
        [
            "collect",
            "--task",
            "InvertedPendulum-v5",
            "--steps",
            "400",
            "--out",
            str(data),
            "--quiet",
        ]
    )
    model = tmp_path / "m.pt"
    assert (
        main(
            [
                "fit",
                "--buffer",
                str(data),
                "--model",
                "mlp",
                "--out",
                str(model),
                "--epochs",
                "3",
                "--quiet",
            ]
        )
        == 0
    )
    fit_out = capsys.readouterr().out
    assert model.is_file() and "mse_1step" in fit_out
    assert main(["eval", "--model", str(model), "--task", "InvertedPendulum-v5", "--quiet"]) == 0
    eval_out = capsys.readouterr().out

    def metric(text: str, name: str) -> float:
        return float(next(ln.split()[1] for ln in text.splitlines() if ln.split()[:1] == [name]))

    assert metric(eval_out, "mse_1step") == metric(fit_out, "mse_1step")


def test_compare_refuses_to_overwrite_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "config.json").write_text("{}")
    assert main(["compare", "--out", str(tmp_path), "--steps", "10", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "already holds a comparison" in err and "--resume" in err and err.count("\n") == 1
    assert (tmp_path / "config.json").read_text() == "{}"  # nothing lost


def test_compare_resume_reuses_the_saved_config(tmp_path: Path) -> None:
    import json

    import pandas as pd

    config = tmp_path / "tiny.json"
    config.write_text(
        json.dumps(
            {
                "task": "InvertedPendulum-v5",
                "strategies": ["random", "adversarial-sf"],
                "steps": 200,
                "round_steps": 100,
                "model_config": {"num_members": 2, "num_elites": 1, "hidden_sizes": [16]},
                "train": {"max_epochs": 2},
                # A short evaluation fit: the default fits to convergence (minutes here).
                "evaluation": {"fit_seeds": 1, "max_epochs": 2, "patience": 1},
                "coverage": {
                    "n_starts": 40,
                    "n_sb3_steps": 0,
                    "frac_sb3": 0.0,
                    "frac_random": 0.5,
                    "n_random_rollout_steps": 200,
                    "n_bang_bang_steps": 100,
                },
            }
        )
    )
    out = tmp_path / "run"
    assert (
        main(
            [
                "compare",
                "--config",
                str(config),
                "--out",
                str(out),
                "--backend",
                "serial",
                "--quiet",
            ]
        )
        == 0
    )
    first = pd.read_parquet(out / "results.parquet")
    # No flags but --out/--resume: the saved config is used, finished rounds are not redone.
    assert main(["compare", "--out", str(out), "--resume", "--backend", "serial", "--quiet"]) == 0
    again = pd.read_parquet(out / "results.parquet")
    pd.testing.assert_frame_equal(first, again)
    assert (out / "sample_efficiency.png").is_file() and (out / "report.md").is_file()


def test_coverage_writes_an_ordinary_buffer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ADVEX_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "cov.npz"
    args = ["coverage", "--task", "InvertedPendulum-v5", "--seed", "1", "--n-starts", "30",
            "--sb3-algo", "ppo", "--out", str(out), "--quiet"]
    assert main(args) == 0
    buffer = ReplayBuffer.load(out)
    steps = buffer.column("rollout_step")
    assert buffer.meta["episodes"] == "env" and set(buffer.column("start_pool")) <= {0, 1, 2, 3}
    assert len(set(buffer.episode_id.tolist())) == 30 and steps.min() == 0 and steps.max() < 20
    assert abs(buffer.batch().obs[:, 1]).max() <= 0.2  # env episodes: the pole never fallen
    assert f"{len(buffer)} transitions from 30 starts" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["compare", "--episodes", "sometimes"], "argument --episodes: invalid choice"),
        (["coverage", "--task", "InvertedPendulum-v5", "--episodes", "x", "--out", "c.npz"],
         "invalid choice: 'x'"),
        (["eval", "--model", "m.pt", "--task", "InvertedPendulum-v5", "--episodes", "none"],
         "invalid choice"),
    ],
)
def test_bad_flag_values_are_one_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("advex: error:") and message in err and err.count("\n") == 1


def test_eval_refuses_a_model_of_other_dims_before_building_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import advex.cli as cli
    from advex.models import make_model

    model = tmp_path / "hc.pt"
    make_model("mlp", 17, 6, {"hidden_sizes": [8]}).save(model)

    def no_coverage(*args: object) -> None:
        raise AssertionError("eval built a coverage set for a model it cannot score")

    monkeypatch.setattr(cli, "_coverage_for", no_coverage)
    assert main(["eval", "--model", str(model), "--task", "InvertedPendulum-v5"]) == 2
    err = capsys.readouterr().err
    assert "17-obs/6-act but InvertedPendulum-v5 is 4-obs/1-act" in err and err.count("\n") == 1


def test_fit_seeds_flag_keeps_the_other_evaluation_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import advex.engine.compare as compare

    seen = []

    def capture(cfg, out, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(cfg)
        raise RuntimeError("stop here")

    monkeypatch.setattr(compare, "run_compare", capture)
    assert main(["compare", "--fit-seeds", "4", "--out", str(tmp_path / "a")]) == 2
    assert seen[-1].evaluation == {"points": "log", "fit_seeds": 4}
    assert main(["compare", "--eval-points", "every", "--out", str(tmp_path / "b")]) == 2
    assert seen[-1].evaluation == {"points": "every", "fit_seeds": 2}


def test_output_paths_and_task_mismatches_are_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import advex.exploration.collect as collect_module
    from advex.exploration.buffer import ReplayBuffer

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("collected before checking --out")

    monkeypatch.setattr(collect_module, "collect", no_work)
    assert main(["collect", "--task", "Hopper-v5", "--steps", "5", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--out {tmp_path} is a directory" in err and err.count("\n") == 1
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if not os.access(locked, os.W_OK):  # root can write anywhere: nothing to check then
            assert main(["collect", "--task", "Hopper-v5", "--steps", "5", "--out",
                         str(locked / "sub" / "b.npz")]) == 2
            assert f"cannot write into {locked}" in capsys.readouterr().err
    finally:
        locked.chmod(0o700)
    monkeypatch.undo()
    # a buffer of one task fitted as another (same dims: the buffer's meta says otherwise)
    buf = ReplayBuffer(4, 1)
    buf.meta["task"] = "InvertedPendulum-v5"
    path = buf.save(tmp_path / "ip.npz")
    from advex.envs import TASKS, TaskSpec

    twin = TaskSpec(**{**TASKS["InvertedPendulum-v5"].__dict__, "name": "Twin-v0"})
    monkeypatch.setitem(TASKS, "Twin-v0", twin)
    assert main(["fit", "--buffer", str(path), "--task", "Twin-v0", "--out",
                 str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err
    assert "holds InvertedPendulum-v5 transitions, not Twin-v0" in err
    assert not (tmp_path / "m.pt").exists()


def test_huge_step_counts_are_refused_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["collect", "--task", "HalfCheetah-v5", "--steps", str(10**12), "--out",
                 str(tmp_path / "b.npz")]) == 2
    err = capsys.readouterr().err
    assert "10000000000" in err and "GiB of memory" in err and err.count("\n") == 1
    assert main(["compare", "--steps", str(10**12), "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "compare steps" in err and "GiB" in err and not (tmp_path / "c").exists()


def test_damaged_files_never_advise_loading_them_unsafely(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """numpy and torch suggest allow_pickle / weights_only=False for a file they cannot read;
    advex says the file is damaged and that it never unpickles."""
    model = tmp_path / "m.pt"
    model.write_bytes(b"garbage")
    buffer = tmp_path / "b.npz"
    buffer.write_bytes(b"x")  # numpy takes a 1-byte file for a pickle
    for argv in (["eval", "--model", str(model), "--task", "Hopper-v5"],
                 ["fit", "--buffer", str(buffer), "--out", str(tmp_path / "out.pt")]):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "never unpickles" in err
        assert "weights_only" not in err and "allow_pickle" not in err


def test_eval_refuses_a_model_fitted_on_another_task_before_building_coverage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import advex.cli as cli
    from advex.envs import TASKS, TaskSpec
    from advex.models import TransitionModel, make_model

    model = make_model("mlp", 4, 1, {"hidden_sizes": [8]})
    model.meta["task"] = "InvertedPendulum-v5"
    path = tmp_path / "ip.pt"
    model.save(path)
    assert TransitionModel.load(path).meta == {"task": "InvertedPendulum-v5"}
    twin = TaskSpec(**{**TASKS["InvertedPendulum-v5"].__dict__, "name": "Twin-v0"})
    monkeypatch.setitem(TASKS, "Twin-v0", twin)

    def no_coverage(*args: object) -> None:
        raise AssertionError("eval built a coverage set for a model of another task")

    monkeypatch.setattr(cli, "_coverage_for", no_coverage)
    assert main(["eval", "--model", str(path), "--task", "Twin-v0"]) == 2
    err = capsys.readouterr().err
    assert "was fitted on InvertedPendulum-v5, not Twin-v0" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    ("flags", "config", "expected"),
    [
        (["--seeds", "-1"], None, "seeds must be integers >= 0"),
        ([], {"seeds": [-1]}, "seeds must be integers >= 0"),
        ([], {"coverage": {"frac_random": float("nan")}}, "frac_random must be finite"),
        ([], {"coverage": {"noise_scale": float("nan")}}, "noise_scale must be finite"),
        ([], {"train": {"lr": float("inf")}}, "lr must be finite"),
        ([], {"ridge_alpha": float("nan")}, "ridge_alpha"),
        ([], [1, 2], "expected a JSON object"),
    ],
)
def test_bad_compare_inputs_fail_before_anything_is_written(
    flags: list[str], config: object, expected: str, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each is one line, exit 2, and the output folder is not created (so a corrected rerun
    is not refused as "already holds a comparison")."""
    import json

    out = tmp_path / "run"
    argv = ["compare", "--out", str(out), "--quiet", *flags]
    if config is not None:
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(config))  # NaN and Infinity as JSON writes them
        argv += ["--config", str(path)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err
    assert not out.exists()


def test_a_round_longer_than_the_budget_is_recorded_as_what_ran() -> None:
    from advex.engine.experiment import ExperimentConfig

    cfg = ExperimentConfig(steps=400, round_steps=1000)
    assert cfg.round_steps == 400 and cfg.to_dict()["round_steps"] == 400 and cfg.n_rounds == 1


def test_resume_needs_a_run_to_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "typo"
    assert main(["compare", "--out", str(out), "--resume", "--quiet"]) == 2
    assert "nothing to resume" in capsys.readouterr().err
    assert not out.exists()


def test_resume_does_not_import_a_module_the_run_folder_names_without_trust(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json
    import sys

    (tmp_path / "planted.py").write_text("import pathlib\npathlib.Path(__file__).with_name("
                                         "'imported').write_text('yes')\n")
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps({"task": "planted:Evil-v0"}))
    sys.path.insert(0, str(tmp_path))
    try:
        assert main(["compare", "--out", str(out), "--resume", "--quiet"]) == 2
    finally:
        sys.path.remove(str(tmp_path))
    err = capsys.readouterr().err
    assert "--trust-run-folder" in err and "planted" in err
    assert not (tmp_path / "imported").exists()


def _parsers(parser: argparse.ArgumentParser, name: str = "advex") -> list[tuple[str, object]]:
    """Every (sub)command's parser, nested ones included, by its command line."""
    import argparse as ap

    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, ap._SubParsersAction):
            for sub_name, sub in action.choices.items():
                found += _parsers(sub, f"{name} {sub_name}")
    return found


def test_every_cli_option_has_help_text() -> None:
    import argparse as ap

    from advex.cli import build_parser

    missing = [
        f"{command} {action.option_strings or action.dest}"
        for command, parser in _parsers(build_parser())
        for action in parser._actions  # type: ignore[attr-defined]
        if not isinstance(action, ap._HelpAction) and not action.help
    ]
    assert missing == []


def test_plan_takes_the_tasks_measured_defaults_unless_a_flag_says_otherwise() -> None:
    from advex.engine.planning import PlanConfig
    from advex.envs import PlannerDefaults, get_task

    pendulum = get_task("InvertedPendulum-v5").planner
    config = PlanConfig(task="InvertedPendulum-v5")
    assert (config.horizon, config.candidates, config.iterations) == (
        pendulum.horizon, pendulum.candidates, pendulum.iterations)
    assert PlanConfig(task="InvertedPendulum-v5", horizon=7).horizon == 7  # the flag wins
    generic = PlanConfig(task="Walker2d-v5")  # a derived task: the documented generic default
    assert (generic.horizon, generic.candidates, generic.iterations) == (15, 200, 3)
    assert PlannerDefaults() == PlannerDefaults(15, 200, 3)
