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

    def predict_by_member(self, obs: torch.Tensor, act: torch.Tensor, groups: MemberGroups,
                          checked: bool = True,
                          with_var: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
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
    starts = torch.arange(16.0).reshape(8, 2)  # distinct rows: none shared
    env.rollout(starts, torch.zeros(8, 6, 1))
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


def _manual_returns(model: EnsembleModel, obs0: torch.Tensor, acts: torch.Tensor,
                    members: torch.Tensor) -> torch.Tensor:
    """Each row's return by definition: its own member, step by step, one row at a time."""
    returns = []
    for i in range(len(obs0)):
        obs, total = obs0[i:i + 1], torch.zeros(1)
        for t in range(acts.shape[1]):
            obs, _ = model.predict_by_member(obs, acts[i:i + 1, t], members[i:i + 1])
            total = total + _first(acts[i:i + 1, t], obs)
        returns.append(total)
    return torch.cat(returns)


@torch.no_grad()
def test_deterministic_tsinf_runs_each_distinct_row_once_with_the_same_returns() -> None:
    """20 particles of 3 candidates over 4 elites: at most 12 distinct rows run, and every
    row's return is what its own member gives it."""
    model = EnsembleModel(2, 1, EnsembleConfig(num_members=5, num_elites=4, hidden_sizes=(8,)))
    gen = torch.Generator().manual_seed(0)
    obs0 = torch.randn(3, 2, generator=gen).repeat_interleave(20, dim=0)
    acts = torch.randn(3, 4, 1, generator=gen).repeat_interleave(20, dim=0)
    rows_run: list[int] = []
    predict = model.predict_by_member

    def counting(obs, act, groups, **kwargs):  # type: ignore[no-untyped-def]
        rows_run.append(len(obs))
        return predict(obs, act, groups, **kwargs)

    model.predict_by_member = counting  # type: ignore[method-assign]
    env = ModelEnv(model, _first, propagation="tsinf")
    returns = env.rollout(obs0, acts)
    del model.predict_by_member
    members = env.members
    assert members is not None and len(members) == 60 and env.obs.shape == (60, 2)
    assert max(rows_run) <= 12 and len(rows_run) == 4
    torch.testing.assert_close(returns, _manual_returns(model, obs0, acts, members))


@torch.no_grad()
def test_sharing_falls_back_to_every_row_when_the_projection_collides() -> None:
    model = ShiftByMember()
    env = ModelEnv(model, _first, propagation="tsinf")
    # keys are start (2), actions (3) and member (1): a zero projection hashes all alike
    env._projection = torch.zeros(2 + 3 + 1, dtype=torch.float64)
    starts = torch.arange(8.0).reshape(4, 2)
    returns = env.rollout(starts, torch.zeros(4, 3, 1))
    assert env._projection is not None and not env._projection.any()  # still the zero one
    assert all(len(call) == 4 for call in model.calls)  # no row was dropped
    members = env.members
    assert members is not None
    # positions x0 + k (m+1), k = 1, 2, 3: the return is 3 x0 + 6 (m+1)
    torch.testing.assert_close(returns, 3 * starts[:, 0] + 6 * (members.float() + 1))


def test_ts1_and_sampling_run_every_row() -> None:
    for propagation, sample in (("ts1", False), ("tsinf", True)):
        model = ShiftByMember()
        env = ModelEnv(model, _first, propagation=propagation, sample=sample)
        env.rollout(torch.zeros(8, 2), torch.zeros(8, 3, 1))
        assert all(len(call) == 8 for call in model.calls)


def test_spread_evenly_deals_every_row_once_and_redealing_keeps_the_sizes() -> None:
    """13 rows over members (1, 3, 4): groups of 5, 4, 4, and predictions are each row's own
    member's, through the padded layout, for the first deal and a re-deal."""
    model = EnsembleModel(3, 2, EnsembleConfig(num_members=5, num_elites=3, hidden_sizes=(16,)))
    gen = torch.Generator().manual_seed(0)
    obs, act = torch.randn(13, 3, generator=gen), torch.randn(13, 2, generator=gen)
    all_mean, _ = model.predict_members(obs, act)
    groups = MemberGroups.spread_evenly(torch.tensor([4, 1, 3]), torch.randperm(13, generator=gen))
    for deal in (groups, groups.redealt(torch.randperm(13, generator=gen))):
        assert torch.bincount(deal.members, minlength=5).tolist() == [0, 5, 0, 4, 4]
        assert deal.used.tolist() == [1, 3, 4]
        mean, _ = model.predict_by_member(obs, act, deal)
        torch.testing.assert_close(mean, all_mean[deal.members, torch.arange(13)])
    assert not torch.equal(groups.members, deal.members)


@torch.no_grad()
def test_cached_member_weights_follow_in_place_parameter_changes() -> None:
    """Planning caches the elites' gathered weights; an optimiser step (an in-place change)
    must show in the next prediction."""
    model = EnsembleModel(3, 2, EnsembleConfig(num_members=4, num_elites=2, hidden_sizes=(8,)))
    obs, act = torch.randn(6, 3), torch.randn(6, 2)
    members = torch.tensor([0, 1, 0, 1, 0, 1])
    before, _ = model.predict_by_member(obs, act, members)
    model.output.bias.add_(1.0)
    after, _ = model.predict_by_member(obs, act, members)
    expected, _ = model.predict_members(obs, act)
    torch.testing.assert_close(after, expected[members, torch.arange(6)])
    assert not torch.allclose(before, after)


def test_unchecked_mean_only_prediction_matches_and_lets_nan_through() -> None:
    model = EnsembleModel(3, 2, EnsembleConfig(num_members=4, num_elites=2, hidden_sizes=(8,)))
    obs, act = torch.randn(6, 3), torch.randn(6, 2)
    members = MemberGroups.of(torch.tensor([2, 3, 2, 3, 2, 3]))
    mean, var = model.predict_by_member(obs, act, members)
    fast_mean, no_var = model.predict_by_member(obs, act, members, checked=False, with_var=False)
    torch.testing.assert_close(fast_mean, mean)
    assert no_var is None and var is not None
    obs[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        model.predict_by_member(obs, act, members)
    diverged, _ = model.predict_by_member(obs, act, members, checked=False)
    assert torch.isnan(diverged[0]).any() and torch.isfinite(diverged[1:]).all()


class CountingMean(ShiftByMember):
    """``predict`` that records how many rows it was asked for."""

    def predict(self, obs: torch.Tensor, act: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.calls.append(torch.zeros(len(obs)))
        return obs + act.sum(dim=1, keepdim=True), torch.zeros_like(obs)


def test_mean_propagation_shares_identical_rows_and_edge_batches_work() -> None:
    model = CountingMean()
    env = ModelEnv(model, _first)
    acts = torch.tensor([[[1.0]], [[2.0]]]).repeat_interleave(3, dim=0)  # 2 distinct x 3
    returns = env.rollout(torch.zeros(6, 2), acts)
    assert [len(call) for call in model.calls] == [2]
    torch.testing.assert_close(returns, torch.tensor([1.0, 1, 1, 2, 2, 2]))
    for propagation in ("mean", "tsinf", "ts1"):  # empty and one-row batches
        env = ModelEnv(CountingMean(), _first, propagation=propagation)  # type: ignore[arg-type]
        assert env.rollout(torch.zeros(0, 2), torch.zeros(0, 3, 1)).shape == (0,)
        assert env.rollout(torch.zeros(1, 2), torch.ones(1, 3, 1)).shape == (1,)


def test_sharing_tells_signed_zeros_apart() -> None:
    def sign_of_action(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return torch.copysign(torch.ones_like(act[:, 0]), act[:, 0])

    env = ModelEnv(CountingMean(), sign_of_action)
    returns = env.rollout(torch.zeros(2, 2), torch.tensor([[[0.0]], [[-0.0]]]))
    torch.testing.assert_close(returns, torch.tensor([1.0, -1.0]))


def test_every_repeated_row_gets_its_own_gradient() -> None:
    model = EnsembleModel(2, 1, EnsembleConfig(num_members=3, num_elites=2, hidden_sizes=(8,)))
    acts = torch.randn(1, 3, 1).repeat(4, 1, 1).requires_grad_()
    ModelEnv(model, _first).rollout(torch.zeros(4, 2), acts).sum().backward()
    assert acts.grad is not None
    per_row = acts.grad.abs().sum(dim=(1, 2))
    assert per_row[0] > 0
    torch.testing.assert_close(per_row, per_row[:1].expand(4))


def test_a_non_finite_start_is_refused_in_every_mode() -> None:
    for propagation in ("mean", "tsinf", "ts1"):
        env = ModelEnv(ShiftByMember(), _first, propagation=propagation)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="NaN or inf"):
            env.rollout(torch.tensor([[float("nan"), 0.0]]), torch.zeros(1, 2, 1))
