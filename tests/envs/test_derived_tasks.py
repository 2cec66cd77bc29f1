"""Any Gymnasium MuJoCo env and a user's own env work as tasks, by name, everywhere."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pandas as pd
import pytest
import torch

from advex.cli import main
from advex.engine.compare import RuntimeTooLongError, run_compare
from advex.engine.experiment import ExperimentConfig
from advex.envs import (
    TASKS,
    TaskSpec,
    UnknownTaskError,
    get_task,
    gymnasium_mujoco_ids,
    make_env,
    register_task,
    registered_tasks,
)
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import collect

sys.path.insert(0, str(Path(__file__).parent))  # the "user's package" (spawned workers inherit)
USER_TASK = "user_robot:AdvexTestPointMass-v0"
TINY = {
    "model_config": {"num_members": 2, "num_elites": 2, "hidden_sizes": [16, 16]},
    "train": {"max_epochs": 3, "patience": 2},
    "evaluation": {"fit_seeds": 1, "max_epochs": 3, "patience": 2},
    "coverage": {
        "n_starts": 20,
        "n_sb3_steps": 0,
        "frac_sb3": 0.0,
        "frac_random": 0.5,
        "n_random_rollout_steps": 200,
        "n_bang_bang_steps": 100,
    },
    "references": ["no-change"],
}


def _cfg(task: str, **kw: object) -> ExperimentConfig:
    base = dict(task=task, strategies=["random", "adversarial-sf"], seeds=[0], steps=100,
                round_steps=50, **TINY)
    base.update(kw)
    return ExperimentConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("gym_id", gymnasium_mujoco_ids())
def test_every_gymnasium_mujoco_v5_id_is_a_task_with_the_envs_own_sizes(gym_id: str) -> None:
    spec = get_task(gym_id)
    env = gym.make(gym_id)
    try:
        assert (spec.obs_dim, spec.act_dim) == (env.observation_space.shape[0],
                                                env.action_space.shape[0])
        assert spec.max_episode_steps == env.spec.max_episode_steps
    finally:
        env.close()
    if gym_id in TASKS:  # the hand-written entries agree with the env they describe
        assert spec.closed_form
    else:
        assert spec.reward_fn is None and spec.term_fn is None


def test_a_user_env_by_module_and_id() -> None:
    spec = get_task(USER_TASK)
    assert (spec.name, spec.obs_dim, spec.act_dim, spec.max_episode_steps) == (
        USER_TASK, 4, 2, 40)
    env = make_env(spec)
    try:
        obs, _ = env.reset(seed=0)
        assert obs.shape == (4,)
    finally:
        env.close()


@pytest.mark.parametrize(
    ("task", "reason"),
    [
        ("Walker2d-v9", "not a registered Gymnasium id"),
        ("HalfCheeta-v5", "did you mean 'HalfCheetah-v5'"),
        ("no_such_module_xyz:Robot-v0", "cannot import module 'no_such_module_xyz' "
                                        "(ModuleNotFoundError: No module named"),
        ("CartPole-v1", "not a MuJoCo env: CartPoleEnv"),
        (":Robot-v0", "expected 'module:Id'"),
    ],
)
def test_bad_tasks_are_one_line_naming_the_id_and_the_reason(task: str, reason: str) -> None:
    with pytest.raises(UnknownTaskError) as error:
        get_task(task)
    message = str(error.value)
    assert task in message and reason in message and "\n" not in message


def test_bad_task_in_the_cli_is_one_line_before_any_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["compare", "--task", "CartPole-v1", "--steps", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a MuJoCo env" in err
    assert not out.exists()


def test_an_env_object_stands_for_its_id_and_meta_stays_json(tmp_path: Path) -> None:
    buffer = collect(gym.make("Swimmer-v5"), n_steps=30, progress=False)
    assert buffer.meta == {"task": "Swimmer-v5"}
    loaded = ReplayBuffer.load(buffer.save(tmp_path / "swimmer.npz"))
    assert loaded.meta == {"task": "Swimmer-v5"} and len(loaded) == 30
    np.testing.assert_array_equal(loaded.batch().next_obs, buffer.batch().next_obs)
    with pytest.raises(UnknownTaskError, match="other than its registered ones"):
        get_task(gym.make("Swimmer-v5", ctrl_cost_weight=0.5))


def test_user_env_buffer_saves_and_loads_under_its_module_name(tmp_path: Path) -> None:
    buffer = collect(USER_TASK, n_steps=60, seed=3, progress=False)
    loaded = ReplayBuffer.load(buffer.save(tmp_path / "user.npz"))
    assert loaded.meta["task"] == USER_TASK
    assert get_task(loaded.meta["task"]).obs_dim == loaded.obs_dim
    assert loaded.batch().terminated.dtype == np.bool_


def _zero_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(act))


def _never(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(act), dtype=torch.bool)


def test_register_task_adds_closed_forms_visible_to_workers_and_refuses_a_clash(
    tmp_path: Path,
) -> None:
    spec = TaskSpec("advex-test/Registered-v0", "Swimmer-v5", 8, 2, 1000, _zero_reward, _never,
                    "Swimmer under another name")
    register_task(spec)
    try:
        assert get_task(spec.name) is spec and registered_tasks()[spec.name] is spec
        # spawned workers start with the built-in tasks only: the registered spec is sent along
        cfg = _cfg(spec.name, strategies=["random"], steps=50, references=[])
        rows = run_compare(cfg, tmp_path / "run", backend="process", workers=2, progress=False)
        assert set(rows["task"]) == {spec.name} and len(rows) > 0
        register_task(spec)  # the same spec again (a module imported twice): fine
        with pytest.raises(ValueError, match="already registered differently"):
            register_task(TaskSpec(spec.name, "Swimmer-v5", 8, 2, 500, _zero_reward, _never))
        with pytest.raises(ValueError, match="obs_dim must be an int >= 1"):
            register_task(TaskSpec("advex-test/Bad-v0", "Swimmer-v5", 0, 2, 10))
    finally:
        TASKS.pop(spec.name)


def test_a_registered_task_with_a_lambda_is_refused_before_the_process_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = TaskSpec("advex-test/Lambda-v0", "Swimmer-v5", 8, 2, 1000,
                    lambda a, o: torch.zeros(len(a)), _never)
    from advex.envs import registry

    monkeypatch.setitem(registry.TASKS, spec.name, spec)
    with pytest.raises(ValueError, match="cannot be sent to worker processes"):
        run_compare(_cfg(spec.name), tmp_path / "run", backend="process", workers=2,
                    progress=False)
    assert not (tmp_path / "run").exists()
    assert pickle.loads(pickle.dumps(get_task("Swimmer-v5"))).name == "Swimmer-v5"


@pytest.mark.parametrize("task", ["Walker2d-v5", "Swimmer-v5", USER_TASK])
def test_tiny_compare_by_name_on_the_process_pool_with_resume(task: str, tmp_path: Path) -> None:
    """A run stopped after its first round, then resumed on the process pool (whose spawned
    workers only see the task's name), gives the rows of an uninterrupted serial run."""
    cfg = _cfg(task)
    out = tmp_path / "run"
    with pytest.raises(RuntimeTooLongError):
        run_compare(cfg, out, backend="process", workers=2, progress=False, max_hours=1e-9)
    pooled = run_compare(cfg, out, backend="process", workers=2, progress=False, resume=True)
    serial = run_compare(cfg, tmp_path / "serial", backend="serial", progress=False)
    cols = ["strategy", "seed", "env_steps", "metric", "value"]
    pd.testing.assert_frame_equal(serial[cols], pooled[cols])
    assert set(serial["strategy"]) == {"random", "adversarial-sf", "no-change"}
    assert np.isfinite(serial["value"]).all()


def test_ray_workers_import_a_user_env_module(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="Ray is in the test extra: pip install -e '.[test]'")
    cfg = _cfg(USER_TASK, strategies=["random"])
    on_ray = run_compare(cfg, tmp_path / "ray", backend="ray", workers=2, progress=False)
    serial = run_compare(cfg, tmp_path / "serial", backend="serial", progress=False)
    cols = ["strategy", "seed", "env_steps", "metric", "value"]
    pd.testing.assert_frame_equal(serial[cols], on_ray[cols])
    assert not ray.is_initialized()
