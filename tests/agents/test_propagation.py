"""PETS propagation: TS-1 redraws members every step, TS-inf keeps one per particle, each
member runs only on its own rows, and MPC averages the return over every particle."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advex.agents import CEMConfig, ModelEnv, MPCAgent, MPCConfig
from advex.models import EnsembleConfig, EnsembleModel, MLPModel
from advex.models.ensemble import MemberGroups


class ShiftByMember:
    """Member ``m`` moves the first coordinate by ``m + 1`` (exact, so runs are readable)."""

    def __init__(self, members: int = 5, elites: tuple[int, ...] = (0, 1, 2, 3)) -> None:
        self.num_members = members
        self.elite_idx = torch.tensor(elites)
        self.calls: list[torch.Tensor] = []

    def predict(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shift = self.elite_idx.float().mean() + 1
        return obs + torch.nn.functional.pad(shift.expand(len(obs), 1), (0, obs.shape[1] - 1)), \
            torch.zeros_like(obs)

    def predict_by_member(self, obs: torch.Tensor, act: torch.Tensor,
                          groups: MemberGroups) -> tuple[torch.Tensor, torch.Tensor]:
        members = groups.members
        self.calls.append(members.clone())
        step = torch.zeros_like(obs)
        step[:, 0] = members.float() + 1
        return obs + step, torch.zeros_like(obs)


def _first(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    return next_obs[:, 0]


def test_predict_by_member_is_each_rows_own_member() -> None:
    model = EnsembleModel(3, 2, EnsembleConfig(num_members=5, num_elites=3, hidden_sizes=(16, 16)))
    gen = torch.Generator().manual_seed(0)
    obs, act = torch.randn(13, 3, generator=gen), torch.randn(13, 2, generator=gen)
    members = torch.tensor([4, 0, 0, 2, 4, 4, 4, 0, 2, 2, 4, 0, 4])  # uneven; member 1, 3 unused
    all_mean, all_var = model.predict_members(obs, act)
    rows = torch.arange(13)
    for given in (members, MemberGroups.of(members)):  # uneven groups: the padded path
        mean, var = model.predict_by_member(obs, act, given)
        torch.testing.assert_close(mean, all_mean[members, rows])
        torch.testing.assert_close(var, all_var[members, rows])
    even = torch.tensor([1, 3, 3, 1, 1, 3])  # equal groups: the reshape path
    mean, _ = model.predict_by_member(obs[:6], act[:6], even)
    torch.testing.assert_close(mean, all_mean[even, torch.arange(6)])
    with pytest.raises(ValueError, match="indices must be in"):
        model.predict_by_member(obs, act, torch.full((13,), 5))


def test_tsinf_keeps_one_member_per_particle_and_ts1_redraws_each_step() -> None:
    model = ShiftByMember()
    env = ModelEnv(model, _first, propagation="tsinf", generator=torch.Generator().manual_seed(1))
    env.rollout(torch.zeros(8, 2), torch.zeros(8, 6, 1))
    assert all(torch.equal(c, model.calls[0]) for c in model.calls)  # the same every step
    counts = torch.bincount(model.calls[0], minlength=5)
    assert counts.tolist() == [2, 2, 2, 2, 0]  # spread evenly over the elites only

    model = ShiftByMember()
    env = ModelEnv(model, _first, propagation="ts1", generator=torch.Generator().manual_seed(1))
    env.rollout(torch.zeros(8, 2), torch.zeros(8, 6, 1))
    assert len({tuple(c.tolist()) for c in model.calls}) > 1  # redrawn between steps
    for call in model.calls:
        assert torch.bincount(call, minlength=5).tolist() == [2, 2, 2, 2, 0]


def test_tsinf_returns_follow_each_particles_member() -> None:
    model = ShiftByMember()
    env = ModelEnv(model, _first, propagation="tsinf")
    returns = env.rollout(torch.zeros(4, 2), torch.zeros(4, 3, 1))
    members = env.members
    assert members is not None
    # member m adds m+1 per step: positions (m+1), 2(m+1), 3(m+1) sum to 6(m+1)
    torch.testing.assert_close(returns, 6 * (members.float() + 1))


def test_mpc_averages_the_return_over_every_particle() -> None:
    """Four particles on four elites (TS-inf): the objective is the mean of all four
    returns, not any one of them."""
    env = ModelEnv(ShiftByMember(), _first, propagation="tsinf")
    agent = MPCAgent(env, -np.ones(1), np.ones(1), MPCConfig(horizon=3, particles=4))
    objective = agent._objective(torch.zeros(2))
    value = objective(torch.zeros(1, 3, 1))
    torch.testing.assert_close(value, torch.tensor([6 * 2.5]))  # mean of 6, 12, 18, 24


def test_same_seed_same_actions_with_trajectory_sampling() -> None:
    model = EnsembleModel(2, 1, EnsembleConfig(num_members=4, num_elites=3, hidden_sizes=(8,)))

    def actions(seed: int) -> np.ndarray:
        env = ModelEnv(model, _first, propagation="ts1", sample=True,
                       generator=torch.Generator().manual_seed(seed))
        config = MPCConfig(horizon=4, particles=3,
                           optimizer_config=CEMConfig(population=20, iterations=2))
        agent = MPCAgent(env, -np.ones(1), np.ones(1), config, seed=seed)
        return np.stack([agent.act(np.array([0.1 * k, 0.0], np.float32)) for k in range(3)])

    np.testing.assert_array_equal(actions(0), actions(0))
    assert not np.array_equal(actions(0), actions(1))


def test_bad_propagation_is_one_line() -> None:
    with pytest.raises(ValueError, match="unknown propagation 'ts2'; valid: mean, ts1, tsinf"):
        ModelEnv(ShiftByMember(), _first, propagation="ts2")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="MLPModel has none; use 'mean'"):
        ModelEnv(MLPModel(2, 1), _first, propagation="ts1")
