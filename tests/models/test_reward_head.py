"""Learned rewards and terminations: better than a constant on held-out transitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advex.envs import get_task
from advex.exploration.collect import collect
from advex.models.reward_head import (
    HeadConfig,
    fit_reward_head,
    fit_termination_head,
    task_functions,
)

FAST = HeadConfig(hidden_sizes=(64, 64), epochs=25, patience=5)


@pytest.fixture(scope="module")
def hopper() -> tuple:
    """Random Hopper transitions: a train buffer and held-out ones from other episodes."""
    return (collect("Hopper-v5", n_steps=2000, seed=0, progress=False),
            collect("Hopper-v5", n_steps=1000, seed=1, progress=False))


def _held_out(buffer) -> tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    batch = buffer.batch()
    return (torch.as_tensor(batch.act), torch.as_tensor(batch.next_obs), batch.reward,
            batch.terminated)


def test_reward_head_beats_a_constant_on_held_out_transitions(hopper: tuple) -> None:
    train, test = hopper
    head = fit_reward_head(train, FAST)
    act, next_obs, reward, _ = _held_out(test)
    mse = float(((head(act, next_obs).numpy() - reward) ** 2).mean())
    constant = float(((train.batch().reward.mean() - reward) ** 2).mean())
    assert mse < 0.25 * constant  # R^2 vs the train mean above 0.75 on unseen episodes


def test_termination_head_finds_the_falls(hopper: tuple) -> None:
    train, test = hopper
    head = fit_termination_head(train, FAST)
    act, next_obs, _, terminated = _held_out(test)
    assert terminated.sum() >= 10  # random Hopper falls often: enough positives to score
    predicted = head(act, next_obs).numpy()
    assert predicted.dtype == np.bool_
    balanced = 0.5 * (predicted[terminated].mean() + (~predicted[~terminated]).mean())
    assert balanced > 0.85  # a constant scores 0.5


def test_a_buffer_without_terminations_gives_a_head_that_never_terminates() -> None:
    buffer = collect("Swimmer-v5", n_steps=200, seed=0, progress=False)
    head = fit_termination_head(buffer, FAST)
    assert not head(torch.zeros(5, 2), torch.zeros(5, 8)).any()


def test_task_functions_keep_closed_forms_and_learn_the_rest(hopper: tuple) -> None:
    reward_fn, term_fn, source = task_functions("Hopper-v5")
    assert source == "closed form" and reward_fn is get_task("Hopper-v5").reward_fn
    walker = collect("Walker2d-v5", n_steps=300, seed=0, progress=False)
    reward_fn, term_fn, source = task_functions("Walker2d-v5", walker, FAST)
    assert source == "learned"
    assert reward_fn(torch.zeros(4, 6), torch.zeros(4, 17)).shape == (4,)
    assert term_fn(torch.zeros(4, 6), torch.zeros(4, 17)).shape == (4,)
    with pytest.raises(ValueError, match="no closed-form reward; give a buffer"):
        task_functions("Walker2d-v5")
    with pytest.raises(ValueError, match="11-obs/3-act but Walker2d-v5 is 17-obs/6-act"):
        task_functions("Walker2d-v5", hopper[0])
    with pytest.raises(ValueError, match="expected act ... x 6"):
        reward_fn(torch.zeros(4, 3), torch.zeros(4, 17))
