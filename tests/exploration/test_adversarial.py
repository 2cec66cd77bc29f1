"""Adversaries learn to go where the model's loss is high (1-D toy, stand-in models)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toy_problem import (
    TOY_SPEC,
    RegionDisagreementModel,
    RegionLossModel,
    high_loss_fraction,
)

from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import Collector
from advex.exploration.round_data import RoundData
from advex.exploration.strategy import make_strategy

ROUND = 400


def _play(name: str, model, rounds: int, config=None, seed: int = 0):  # type: ignore[no-untyped-def]
    """Random warm-up, then ``rounds`` of collect + update; returns (strategy, buffer,
    high-loss fraction of each round's actions)."""
    collector = Collector(TOY_SPEC)
    buf = ReplayBuffer(1, 1)
    collector.run(buf, 200, seed=100, progress=False)
    strategy = make_strategy(name, TOY_SPEC, config, seed=seed)
    fractions = []
    for r in range(rounds):
        data = strategy.collect(collector, buf, ROUND, seed=r, progress=False)
        fractions.append(high_loss_fraction(buf.batch(data.rows).act))
        strategy.update(buf, model, data)
    return strategy, buf, fractions


def test_random_baseline_fraction() -> None:
    *_, fractions = _play("random", RegionLossModel(), rounds=3)
    assert all(0.18 < f < 0.32 for f in fractions)  # 25 % of a uniform box


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("adversarial-sf", RegionLossModel()),
        ("disagreement", RegionDisagreementModel()),
        ("disagreement-pw", RegionLossModel()),  # surrogate: learned loss predictor
        ("disagreement-pw", RegionDisagreementModel()),  # surrogate: disagreement
    ],
)
def test_adversary_moves_into_the_high_loss_region(name: str, model) -> None:  # type: ignore[no-untyped-def]
    _, _, fractions = _play(name, model, rounds=6)
    assert fractions[0] < 0.35  # starts near uniform: tanh(N(0, e^-0.5)) puts ~25 % there
    assert fractions[-1] > 0.7, fractions  # far more than random's 25 %


def test_sf_rewards_are_the_model_loss_of_the_round() -> None:
    collector = Collector(TOY_SPEC)
    buf = ReplayBuffer(1, 1)
    model = RegionLossModel()
    strategy = make_strategy("adversarial-sf", TOY_SPEC, seed=1)
    data = strategy.collect(collector, buf, 150, seed=0, progress=False)
    batch = buf.batch(data.rows)
    diag = strategy.update(buf, model, data)
    np.testing.assert_allclose(strategy.last_rewards, model.loss(batch.obs, batch.act,
                                                                 batch.next_obs), rtol=1e-6)
    assert diag["n_transitions"] == 150 and diag["u_recorded"] == 1.0
    assert diag["reward_mean"] == pytest.approx(strategy.last_rewards.mean())


class _FreezeRecordingModel(RegionDisagreementModel):
    """Records, at every differentiable call, whether its parameter takes gradients."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[bool] = []

    def predict(self, obs, act):  # type: ignore[no-untyped-def]
        if isinstance(act, torch.Tensor) and act.requires_grad:
            self.seen.append(self.gain.requires_grad)
        return super().predict(obs, act)

    def disagreement(self, obs, act):  # type: ignore[no-untyped-def]
        if isinstance(act, torch.Tensor) and act.requires_grad:
            self.seen.append(self.gain.requires_grad)
        return super().disagreement(obs, act)


def test_pathwise_never_trains_the_model() -> None:
    """Gradients flow through the model, never into it: its parameters are frozen during the
    ascent (checked at every call), unfrozen afterwards, and unchanged."""
    model = _FreezeRecordingModel()
    _play("disagreement-pw", model, rounds=1)
    assert model.seen and not any(model.seen)
    assert model.gain.grad is None and model.gain.requires_grad
    assert float(model.gain.detach()) == 1.0


def test_pathwise_auto_surrogate_follows_the_model() -> None:
    strategy = make_strategy("disagreement-pw", TOY_SPEC)
    assert strategy.surrogate_kind(RegionDisagreementModel()) == "disagreement"
    assert strategy.surrogate_kind(RegionLossModel()) == "loss-predictor"
    forced = make_strategy("disagreement-pw", TOY_SPEC, {"surrogate": "loss-predictor"})
    assert forced.surrogate_kind(RegionDisagreementModel()) == "loss-predictor"


def test_loss_predictor_learns_the_loss_surface() -> None:
    strategy, buf, _ = _play("disagreement-pw", RegionLossModel(), rounds=1)
    obs = np.zeros((2, 1), np.float32)
    act = np.array([[-0.5], [0.9]], np.float32)
    with torch.no_grad():
        pred = strategy.predictor(torch.as_tensor(obs), torch.as_tensor(act)).numpy()
    assert pred[1] > pred[0] + 2.0  # predicts the high-loss region (log 10 - log 0.1 ~ 4.6)
    assert pred[0] == pytest.approx(np.log(0.1), abs=0.5)
    diag = strategy.update(buf, RegionLossModel(), RoundData(np.zeros(0, np.int64)))
    assert diag["predictor_corr"] > 0.95 and diag["surrogate_is_disagreement"] == 0.0


def test_entropy_floor_keeps_the_adversary_exploring() -> None:
    """The adversary narrows its policy as it homes in on the high-loss region; the log-std
    floor is what stops it: held at the floor while it pushes below, and its actions keep
    more spread than an unfloored run's."""
    floored, buf, _ = _play("adversarial-sf", RegionLossModel(), rounds=10,
                            config={"log_std_min": -0.55})
    free, free_buf, _ = _play("adversarial-sf", RegionLossModel(), rounds=10,
                              config={"log_std_min": -20.0})
    assert float(free.policy.log_std().detach().min()) < -0.6  # it narrows when allowed
    assert float(floored.policy.log_std_param.detach().min()) < -0.55  # it pushes...
    assert float(floored.policy.log_std().detach().min()) == pytest.approx(-0.55)  # ...held

    def spread(b: ReplayBuffer) -> float:
        return float(b.batch(np.arange(len(b) - ROUND, len(b))).act.std())

    assert spread(buf) > spread(free_buf)


def test_recorded_draws_line_up_with_several_envs() -> None:
    """With 3 envs and a round that is not a multiple of 3, the log-probs still use the exact
    pre-squash draws (the collector drops the surplus of the last batch)."""
    collector = Collector(TOY_SPEC, n_envs=3)
    buf = ReplayBuffer(1, 1)
    strategy = make_strategy("adversarial-sf", TOY_SPEC, seed=0)
    data = strategy.collect(collector, buf, 100, seed=0, progress=False)
    assert data.policy_draws is not None and data.policy_draws.shape == (100, 1)
    assert strategy.update(buf, RegionLossModel(), data)["u_recorded"] == 1.0


@pytest.mark.parametrize(
    "name", ["adversarial-sf", "adversarial-pw", "disagreement-pw", "disagreement"]
)
def test_with_the_real_models(name: str) -> None:
    """Integration with advex.models: refit, update, collect again, on a MuJoCo task."""
    from advex.envs import get_task
    from advex.models.factory import make_model
    from advex.models.training import TrainConfig

    task = "InvertedPendulum-v5"
    spec = get_task(task)
    collector = Collector(task)
    buf = ReplayBuffer(spec.obs_dim, spec.act_dim)
    collector.run(buf, 200, seed=0, progress=False)
    kinds = ["ensemble"] if name == "disagreement" else ["mlp", "ensemble"]
    for kind in kinds:
        model = make_model(kind, spec.obs_dim, spec.act_dim, {"hidden_sizes": (32, 32)})
        strategy = make_strategy(name, task, {"policy_steps": 4} if name.endswith("-pw")
                                 else None, seed=0)
        for r in range(2):
            data = strategy.collect(collector, buf, 200, seed=r + 1, progress=False)
            model.fit(buf, TrainConfig(max_epochs=3), seed=r, progress=False)
            diag = strategy.update(buf, model, data)
            assert diag and all(np.isfinite(v) for v in diag.values()), diag
        if name == "adversarial-sf":
            batch = buf.batch(np.arange(len(buf) - 200, len(buf)))
            np.testing.assert_allclose(strategy.last_rewards,
                                       model.loss(batch.obs, batch.act, batch.next_obs),
                                       rtol=1e-6)
        if name == "disagreement-pw":
            expected = "disagreement" if kind == "ensemble" else "loss-predictor"
            assert strategy.surrogate_kind(model) == expected
            assert diag["surrogate_is_disagreement"] == float(kind == "ensemble")


class _ShiftedLossModel(RegionLossModel):
    """The toy model after "a refit": its loss is the region loss plus 100."""

    def loss(self, obs, act, next_obs):  # type: ignore[no-untyped-def]
        return super().loss(obs, act, next_obs) + 100.0


@pytest.mark.parametrize("timing", ["before-refit", "after-refit"])
def test_sf_reward_timing_picks_the_model_before_or_after_the_refit(timing: str) -> None:
    collector, buf = Collector(TOY_SPEC), ReplayBuffer(1, 1)
    strategy = make_strategy("adversarial-sf", TOY_SPEC, {"reward_timing": timing}, seed=0)
    before, after = RegionLossModel(), _ShiftedLossModel()

    def play_round(seed: int) -> tuple[RoundData, dict[str, float]]:  # as the experiment does
        data = strategy.collect(collector, buf, 100, seed=seed, progress=False)
        observed = None
        if strategy.rewards_before_refit and data.follows_earlier_data:
            observed = strategy.observe_round(buf, before, data)
        return data, strategy.update(buf, after, data, observed)

    _, first = play_round(0)
    assert first["rewards_before_refit"] == 0.0  # round one: the model has seen nothing
    assert strategy.last_rewards.min() >= 100.0
    data, diag = play_round(1)
    batch = buf.batch(data.rows)
    expected = (before if timing == "before-refit" else after).loss(
        batch.obs, batch.act, batch.next_obs)
    np.testing.assert_allclose(strategy.last_rewards, expected, rtol=1e-6)
    assert diag["rewards_before_refit"] == float(timing == "before-refit")


def test_sf_before_refit_without_observe_round_is_an_error() -> None:
    collector, buf = Collector(TOY_SPEC), ReplayBuffer(1, 1)
    collector.run(buf, 50, seed=9, progress=False)
    strategy = make_strategy("adversarial-sf", TOY_SPEC, {"reward_timing": "before-refit"})
    data = strategy.collect(collector, buf, 100, seed=0, progress=False)
    with pytest.raises(ValueError, match="observe_round"):
        strategy.update(buf, RegionLossModel(), data)


def test_sf_rewards_in_the_yardstick_units_when_given_a_scale() -> None:
    """With an error scale the reward is the normalised squared error of the mean next state
    (the yardstick's per-transition error), not the model's own-normalised loss."""
    from slider import SLIDER_SPEC, RegionWrongModel

    collector, buf = Collector(SLIDER_SPEC), ReplayBuffer(2, 1)
    strategy = make_strategy("adversarial-sf", SLIDER_SPEC, seed=0)
    scale = np.array([0.1, 0.02])
    strategy.set_error_scale(scale)
    model = RegionWrongModel()
    data = strategy.collect(collector, buf, 80, seed=0, progress=False)
    strategy.update(buf, model, data)
    batch = buf.batch()
    mean, _ = model.predict(batch.obs, batch.act)
    np.testing.assert_allclose(strategy.last_rewards,
                               (((mean - batch.next_obs) / scale) ** 2).mean(1), rtol=1e-5)
    with pytest.raises(ValueError, match="error scale"):
        strategy.set_error_scale(np.array([1.0, 0.0]))
