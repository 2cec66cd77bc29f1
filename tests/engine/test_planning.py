"""`advex plan`: the simulator bound, models from files and compare runs, one-line errors."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from advex.agents.simulator_env import SimulatorEnv
from advex.atomic_io import write_json_atomic
from advex.cli import main
from advex.engine.evaluation import fit_models
from advex.engine.experiment import ExperimentConfig
from advex.engine.planning import PlanConfig, planning_model, run_planning
from advex.envs import make_env, set_state
from advex.exploration.collect import collect
from advex.models import EnsembleConfig, EnsembleModel, TrainConfig, fit_model

SMALL = EnsembleConfig(num_members=3, num_elites=2, hidden_sizes=(32, 32))


@pytest.fixture(scope="module")
def pendulum_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    buffer = collect("InvertedPendulum-v5", n_steps=600, seed=0, progress=False)
    model = EnsembleModel(4, 1, SMALL)
    fit_model(model, buffer, TrainConfig(max_epochs=5), progress=False)
    path = tmp_path_factory.mktemp("model") / "ip.pt"
    model.save(path)
    return path


def test_simulator_rollout_is_the_envs_own_return() -> None:
    """From a synced state, an imagined rollout scores exactly what the real env pays for the
    same actions (HalfCheetah: no planning reward, no termination)."""
    env = make_env("HalfCheetah-v5")
    env.reset(seed=3)
    for _ in range(5):
        env.step(env.action_space.sample())
    sim = SimulatorEnv("HalfCheetah-v5")
    sim.sync(env)
    actions = np.random.default_rng(0).uniform(-1, 1, size=(2, 8, 6)).astype(np.float32)
    imagined = sim.rollout(torch.zeros(2, 17), torch.as_tensor(actions))
    paid = []
    for row in actions:
        replay = make_env("HalfCheetah-v5")
        replay.reset(seed=3)
        set_state(replay, sim._state)
        paid.append(sum(replay.unwrapped.step(a)[1] for a in row))
        replay.close()
    np.testing.assert_allclose(imagined.numpy(), paid, rtol=1e-5)
    sim.close()
    env.close()


def test_plan_with_a_model_file_is_reproducible(pendulum_model: Path) -> None:
    config = PlanConfig(task="InvertedPendulum-v5", model=str(pendulum_model), planner="cem",
                        episodes=2, horizon=5, candidates=20, iterations=2, particles=2,
                        propagation="ts1", max_steps=15, seed=4)
    first, second = run_planning(config, progress=False), run_planning(config, progress=False)
    assert list(first.columns) == ["task", "model", "episode", "return", "steps", "terminated",
                                   "ms_per_action"]
    np.testing.assert_array_equal(first["return"], second["return"])
    assert (first["steps"] >= 1).all() and (first["ms_per_action"] > 0).all()


def _fake_run(folder: Path, buffers: dict[str, int]) -> ExperimentConfig:
    """A compare run folder as `advex compare` leaves it: its config and, per strategy, a
    last checkpoint whose buffer was collected with the given seed."""
    cfg = ExperimentConfig(task="InvertedPendulum-v5", strategies=list(buffers), seeds=[0],
                           model_config={"num_members": 2, "num_elites": 1,
                                         "hidden_sizes": [8]},
                           evaluation={"max_epochs": 3, "patience": 2})
    write_json_atomic(folder / "config.json", cfg.to_dict())
    for name, buffer_seed in buffers.items():
        round_dir = folder / "runs" / f"{name}_seed0" / "round_0002"
        round_dir.mkdir(parents=True)
        buffer = collect("InvertedPendulum-v5", n_steps=80, seed=buffer_seed, progress=False)
        buffer.save(round_dir / "buffer.npz")
        write_json_atomic(round_dir.parent / "latest.json", {"folder": "round_0002"})
    return cfg


def test_plan_on_a_compare_run_fits_the_named_strategys_data(tmp_path: Path) -> None:
    """The model is the yardstick's first converged fit of that strategy's final buffer."""
    cfg = _fake_run(tmp_path, {"random": 1, "adversarial-sf": 2})
    for name, buffer_seed in {"random": 1, "adversarial-sf": 2}.items():
        model_env, label = planning_model(PlanConfig(task="InvertedPendulum-v5",
                                                     model=str(tmp_path), strategy=name))
        assert label == f"{name} seed 0"
        data = collect("InvertedPendulum-v5", n_steps=80, seed=buffer_seed, progress=False)
        evaluation = replace(cfg.evaluation_config(), fit_seeds=1)
        expected = fit_models(evaluation.model, 4, 1, evaluation.model_config, data,
                              evaluation, 0).models[0]
        for key, value in expected.state_dict().items():
            torch.testing.assert_close(model_env.model.state_dict()[key], value)
    others = planning_model(PlanConfig(task="InvertedPendulum-v5", model=str(tmp_path),
                                       strategy="random"))[0].model.state_dict()
    assert not torch.equal(others["input_normalizer.mean"],
                           model_env.model.state_dict()["input_normalizer.mean"])
    with pytest.raises(ValueError, match="ran no strategy 'disagreement'"):
        planning_model(PlanConfig(task="InvertedPendulum-v5", model=str(tmp_path),
                                  strategy="disagreement"))
    with pytest.raises(ValueError, match="name the strategy"):
        planning_model(PlanConfig(task="InvertedPendulum-v5", model=str(tmp_path)))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--planner", "ilqr"], "unknown planner 'ilqr'; valid: rs, cem, mppi"),
        (["--propagation", "ts2"], "unknown propagation 'ts2'; valid: mean, ts1, tsinf"),
        (["--horizon", "0"], "horizon must be >= 1"),
        (["--candidates", "0"], "candidates must be >= 1"),
        (["--task", "HalfCheetah-v5", "--model", "MODEL"], "ip.pt is 4-obs/1-act but "
                                                           "HalfCheetah-v5 is 17-obs/6-act"),
        (["--model", "nowhere.pt"], "no such file or run folder"),
    ],
)
def test_bad_plan_input_is_one_line_before_any_env(
    args: list[str], message: str, pendulum_model: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import advex.engine.planning as planning

    def no_env(*a: object, **k: object) -> None:
        raise AssertionError("an env was built before the input was checked")

    monkeypatch.setattr(planning, "make_env", no_env)
    args = [str(pendulum_model) if a == "MODEL" else a for a in args]
    assert main(["plan", "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


@pytest.mark.slow
def test_mpc_on_the_simulator_balances_the_pendulum_for_a_full_episode() -> None:
    config = PlanConfig(task="InvertedPendulum-v5", model="sim", planner="cem", episodes=1,
                        horizon=25, candidates=60, iterations=3)
    frame = run_planning(config, progress=False)
    assert frame["return"].iloc[0] == 1000 and frame["steps"].iloc[0] == 1000


def test_plan_cli_prints_episodes_and_a_ci_and_writes_the_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plans" / "sim.csv"
    assert main(["plan", "--model", "sim", "--planner", "rs", "--candidates", "5",
                 "--horizon", "3", "--episodes", "2", "--max-steps", "5", "--out", str(out),
                 "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("episode ") == 2 and "mean return" in printed and "95% CI" in printed
    frame = pd.read_csv(out)
    assert len(frame) == 2 and set(frame["model"]) == {"simulator"}
    assert (frame["steps"] <= 5).all()
