"""Task registry: every task builds, its declared shapes match the env, bad names fail clearly."""

import dataclasses

import gymnasium
import numpy as np
import pytest
import torch

import advex.envs as envs
from advex.envs import TASKS, TaskSpec, UnknownTaskError, get_task, list_tasks, make_env, task_table

REQUIRED = {
    "InvertedPendulum-v5",
    "Reacher-v5",
    "HalfCheetah-v5",
    "Hopper-v5",
    "Pusher-v5",
    "advex/ArenaRobot-v0",
}


def test_required_tasks_are_listed_in_order():
    assert REQUIRED <= set(list_tasks())
    assert list_tasks() == list(TASKS)
    for name, spec in TASKS.items():
        assert spec.name == name == spec.gym_id


@pytest.mark.parametrize("name", list(TASKS))
def test_spec_matches_env(name):
    spec = get_task(name)
    env = make_env(name)
    try:
        assert env.observation_space.shape == (spec.obs_dim,)
        assert env.action_space.shape == (spec.act_dim,)
        assert env.spec.max_episode_steps == spec.max_episode_steps
        obs, _ = env.reset(seed=0)
        act = torch.zeros(3, spec.act_dim)
        next_obs = torch.as_tensor(np.stack([obs] * 3))
        assert spec.reward_fn(act, next_obs).shape == (3,)
        term = spec.term_fn(act, next_obs)
        assert term.shape == (3,) and term.dtype == torch.bool
    finally:
        env.close()


def test_unknown_task_message_names_it_and_says_where_to_look():
    with pytest.raises(UnknownTaskError) as info:
        get_task("Walker9000-v1")
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "Walker9000-v1" in message and "\n" not in message
    assert "advex envs" in message and "module:Id" in message
    with pytest.raises(UnknownTaskError):
        make_env("nope")


def test_get_task_passes_spec_through_and_spec_is_frozen():
    spec = get_task("Hopper-v5")
    assert get_task(spec) is spec
    assert isinstance(spec, TaskSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.obs_dim = 3  # type: ignore[misc]


def test_make_env_forwards_kwargs():
    env = make_env("advex/ArenaRobot-v0", max_episode_steps=7, ctrl_cost_weight=0.0)
    try:
        env.reset(seed=1)
        for step in range(7):  # noqa: B007  (step read after the loop)
            _, _, terminated, truncated, info = env.step(np.ones(3, dtype=np.float32))
            assert not terminated
            assert info["reward_ctrl"] == 0.0
        assert truncated and step == 6
    finally:
        env.close()


def test_task_table_rows():
    rows = task_table()
    assert [row["name"] for row in rows] == list_tasks()
    for row in rows:
        assert set(row) == {
            "name", "obs_dim", "act_dim", "max_episode_steps", "reward", "planner", "description"
        }
        assert row["obs_dim"] == TASKS[row["name"]].obs_dim
        planner = TASKS[row["name"]].planner
        assert row["planner"] == f"{planner.horizon}/{planner.candidates}/{planner.iterations}"
        assert isinstance(row["description"], str) and row["description"]


def test_reimport_does_not_register_twice():
    import importlib

    importlib.reload(envs)
    assert "advex/ArenaRobot-v0" in gymnasium.registry
