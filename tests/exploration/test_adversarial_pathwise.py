"""The true-loss pathwise adversary: ascent on the model's real error through the simulator."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from slider import SLIDER_SPEC, WRONG_FROM, RegionWrongModel
from toy_problem import TOY_SPEC

from advex.envs import make_env, set_state
from advex.envs.jacobians import NotSettableError
from advex.exploration.adversarial_pathwise import episode_windows
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import Collector
from advex.exploration.strategy import make_strategy, strategy_class

ROUND = 300


def _rounds(model, rounds: int, config=None, seed: int = 0):  # type: ignore[no-untyped-def]
    """``rounds`` of collect + update on the slider; returns (strategy, buffer, the share of
    each round's actions in the region where the model is wrong, diagnostics)."""
    collector = Collector(SLIDER_SPEC)
    buf = ReplayBuffer(2, 1)
    strategy = make_strategy("adversarial-pw", SLIDER_SPEC, config, seed=seed)
    strategy.set_error_scale(np.array([0.05, 0.05]))
    shares, diags = [], []
    for r in range(rounds):
        data = strategy.collect(collector, buf, ROUND, seed=r, progress=False)
        shares.append(float(np.mean(buf.batch(data.rows).act[:, 0] > WRONG_FROM)))
        diags.append(strategy.update(buf, model, data))
    collector.close()
    return strategy, buf, shares, diags


def test_moves_its_actions_to_where_the_model_is_wrong() -> None:
    model = RegionWrongModel()
    strategy, _, shares, diags = _rounds(model, rounds=8, config={"lr": 3e-3})
    assert shares[0] < 0.35  # tanh(N(0, e^-0.5)): about a quarter above 0.5
    assert shares[-1] > 0.7, shares
    assert all(d["error_last"] >= d["error_first"] * 0.9 for d in diags)
    assert model.bump.requires_grad and float(model.bump.detach()) == 0.5  # frozen, untouched
    strategy.close()


def _linearised_round(model, seed: int = 7):  # type: ignore[no-untyped-def]
    strategy, buf, *_ = _rounds(model, rounds=1, config={"policy_steps": 0})
    collector = Collector(SLIDER_SPEC)
    data = strategy.collect(collector, buf, ROUND, seed=seed, progress=False)
    collector.close()
    return strategy, buf, data, strategy.linearised_round(buf, data)


def _real_objective(strategy, round_data, data, model) -> float:  # type: ignore[no-untyped-def]
    """The objective computed by replaying every window in the real simulator from its
    recorded start state with the policy's current parameters and the recorded noise."""
    env = make_env(SLIDER_SPEC)
    env.reset(seed=0)
    states = round_data.states
    total = 0.0
    with torch.no_grad():
        for window in data.windows.numpy():
            rows = window[window >= 0]
            obs = torch.as_tensor(set_state(env, states[rows[0]]), dtype=torch.float32)
            for r in rows:
                mu, log_std = strategy.policy(obs[None])
                act = strategy.policy.squash(mu + log_std.exp() * data.eps[r])
                next_obs = torch.as_tensor(env.step(act[0].numpy())[0], dtype=torch.float32)
                mean, _ = model.predict(obs[None], act)
                total += float((((mean[0] - next_obs) / 0.05) ** 2).mean())
                obs = next_obs
    env.close()
    return total / len(data.windows)


def test_each_step_is_ascent_on_the_true_error() -> None:
    """Sign test against the real simulator: the pathwise gradient (simulator Jacobians,
    horizon 3) matches central differences of the error measured by replaying the windows in
    the real env, and a small step along it raises that error."""
    model = RegionWrongModel(bump=0.0, action_gain=0.5)  # only the motor gain is wrong
    strategy, _, round_data, data = _linearised_round(model)
    windows = torch.arange(len(data.windows))
    bias = strategy.policy.mean_net[-1].bias
    linearised = data.objective(strategy.policy, model, windows, 1.0, strategy.error_scale)
    assert float(linearised.detach()) == pytest.approx(
        _real_objective(strategy, round_data, data, model), rel=1e-4)
    grad = torch.autograd.grad(linearised, bias)[0]
    h = 1e-3
    with torch.no_grad():
        bias += h
        up = _real_objective(strategy, round_data, data, model)
        bias -= 2 * h
        down = _real_objective(strategy, round_data, data, model)
        bias += h
    numeric = (up - down) / (2 * h)
    assert np.sign(float(grad[0])) == np.sign(numeric) != 0
    assert float(grad[0]) == pytest.approx(numeric, rel=0.02)
    before = _real_objective(strategy, round_data, data, model)
    with torch.no_grad():
        bias += 1e-2 * grad / grad.norm()
    assert _real_objective(strategy, round_data, data, model) > before


def test_objective_at_the_collecting_policy_is_the_recorded_error() -> None:
    """Before any step the linearised rollout reproduces the recorded rows, so the objective
    (horizon 1) is the yardstick's error of the model on the real transitions."""
    model = RegionWrongModel()
    strategy, buf, round_data, data = _linearised_round(model)
    windows = torch.arange(len(data.windows))
    got = float(data.objective(strategy.policy, model, windows, 1.0, strategy.error_scale).detach())
    batch = buf.batch(round_data.rows)
    mean, _ = model.predict(batch.obs, batch.act)
    errors = (((mean - batch.next_obs) / strategy.error_scale) ** 2).mean(1)
    # windows of 3 rows sum 3 errors: mean per window = sum of errors / number of windows
    assert got == pytest.approx(errors.sum() / len(data.windows), rel=1e-4)


def test_episode_windows_stay_inside_episodes() -> None:
    ids = np.array([0, 1, 0, 1, 0, 1, 0, 2])
    w = episode_windows(ids, 3)
    assert w.tolist() == [[0, 2, 4], [6, -1, -1], [1, 3, 5], [7, -1, -1]]
    for row in w:
        valid = row[row >= 0]
        assert len(set(ids[valid])) == 1


def test_needs_a_settable_simulator() -> None:
    with pytest.raises(NotSettableError, match=r"^adversarial-pw: .*not a Gymnasium MuJoCo env"):
        make_strategy("adversarial-pw", TOY_SPEC)
    with pytest.raises(NotSettableError, match="adversarial-pw"):
        strategy_class("adversarial-pw").check_task(TOY_SPEC)
    strategy_class("adversarial-sf").check_task(TOY_SPEC)  # needs no simulator


def test_before_refit_differentiates_the_model_before_its_refit() -> None:
    model = RegionWrongModel(bump=0.5)
    collector, buf = Collector(SLIDER_SPEC), ReplayBuffer(2, 1)
    strategy = make_strategy("adversarial-pw", SLIDER_SPEC,
                             {"reward_timing": "before-refit", "policy_steps": 1}, seed=0)
    strategy.set_error_scale(np.array([0.05, 0.05]))
    data = strategy.collect(collector, buf, 100, seed=0, progress=False)
    assert not data.follows_earlier_data  # round one: the loop observes nothing
    assert strategy.update(buf, model, data)["rewards_before_refit"] == 0.0
    data = strategy.collect(collector, buf, 100, seed=1, progress=False)
    assert data.follows_earlier_data and strategy.rewards_before_refit
    observed = strategy.observe_round(buf, model, data)
    with torch.no_grad():
        model.bump.fill_(0.0)  # "the refit" makes the model exact
    diag = strategy.update(buf, model, data, observed)
    assert diag["rewards_before_refit"] == 1.0
    assert diag["error_first"] > 1e-4  # the copy still has its bump; the refitted model has none
    data = strategy.collect(collector, buf, 100, seed=2, progress=False)
    with pytest.raises(ValueError, match="observe_round"):
        strategy.update(buf, model, data)
    collector.close()


def test_disagreement_pw_reproduces_the_earlier_adversarial_pw_rows() -> None:
    """``disagreement-pw`` is the imagined-disagreement learner that ``adversarial-pw`` was:
    same seed, same rows as recorded from it (tests/data/adversarial_pw_rows.npz)."""
    from advex.models import make_model
    from advex.models.training import TrainConfig

    torch.manual_seed(0)
    model = make_model("ensemble", 4, 1, {"seed": 3, "num_members": 3, "num_elites": 2,
                                          "hidden_sizes": [32, 32]})
    strategy = make_strategy("disagreement-pw", "InvertedPendulum-v5",
                             {"policy_steps": 4, "batch_size": 16, "horizon": 3}, seed=5)
    buf, collector = ReplayBuffer(4, 1), Collector("InvertedPendulum-v5")
    for r in range(3):
        data = strategy.collect(collector, buf, 60, seed=100 + r, progress=False)
        model.fit(buf, TrainConfig(max_epochs=3), seed=r, progress=False)
        strategy.update(buf, model, data)
    expected = np.load(Path(__file__).parents[1] / "data" / "adversarial_pw_rows.npz")
    batch = buf.batch()
    for key in ("obs", "act", "next_obs"):
        np.testing.assert_allclose(getattr(batch, key), expected[key], atol=1e-5, rtol=0)
    collector.close()


def test_state_dict_round_trip_resumes_bit_identically() -> None:
    model = RegionWrongModel()
    first, buf, *_ = _rounds(model, rounds=1, config={"policy_steps": 3})
    blob = io.BytesIO()
    torch.save(first.state_dict(), blob)
    blob.seek(0)
    second = make_strategy("adversarial-pw", SLIDER_SPEC, {"policy_steps": 3}, seed=99)
    second.load_state_dict(torch.load(blob, weights_only=True))
    second.set_error_scale(first.error_scale)
    buf2 = ReplayBuffer(2, 1)
    buf2.add_batch(buf.batch(), buf.episode_id.copy())
    collector = Collector(SLIDER_SPEC)
    diags = []
    for strategy, buffer in ((first, buf), (second, buf2)):
        data = strategy.collect(collector, buffer, 100, seed=5, progress=False)
        diags.append({k: v for k, v in strategy.update(buffer, model, data).items()
                      if not k.endswith("_s")})  # timings differ
    assert diags[0] == diags[1]
    np.testing.assert_array_equal(buf.batch().act, buf2.batch().act)
    collector.close()


def test_a_comparison_refuses_a_task_without_settable_state_before_any_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from advex.engine.compare import run_compare
    from advex.engine.experiment import ExperimentConfig
    from advex.envs import TASKS

    monkeypatch.setitem(TASKS, TOY_SPEC.name, TOY_SPEC)
    with pytest.raises(NotSettableError, match=r"^adversarial-pw: .*MuJoCo"):
        cfg = ExperimentConfig(task=TOY_SPEC.name, strategies=["random", "adversarial-pw"])
        run_compare(cfg, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    ExperimentConfig(task=TOY_SPEC.name, strategies=["random", "adversarial-sf"])  # fine


def test_never_trains_the_model() -> None:
    """The model's parameters are frozen at every differentiable call of the ascent and
    unfrozen afterwards."""
    seen: list[bool] = []

    class Recording(RegionWrongModel):
        def predict(self, obs, act):  # type: ignore[no-untyped-def]
            if isinstance(act, torch.Tensor) and act.requires_grad:
                seen.append(self.bump.requires_grad)
            return super().predict(obs, act)

    model = Recording()
    _rounds(model, rounds=1, config={"policy_steps": 2})
    assert seen and not any(seen)
    assert model.bump.requires_grad and model.bump.grad is None


def test_without_a_scale_the_error_is_the_models_own_loss() -> None:
    """No error scale: the objective (and its gradient) is the one measured in the model's own
    training normalisation, i.e. ``model.loss``, differentiable through the real next state."""
    from advex.models import make_model
    from advex.models.training import TrainConfig

    task = "InvertedPendulum-v5"
    model = make_model("ensemble", 4, 1, {"seed": 0, "num_members": 2, "num_elites": 1,
                                          "hidden_sizes": [16]})
    strategy = make_strategy("adversarial-pw", task, {"policy_steps": 0}, seed=0)
    buf, collector = ReplayBuffer(4, 1), Collector(task)
    collected = strategy.collect(collector, buf, 200, seed=0, progress=False)
    model.fit(buf, TrainConfig(max_epochs=3), progress=False)
    data = strategy.linearised_round(buf, collected)
    windows = torch.arange(len(data.windows))
    params = list(strategy.policy.parameters())
    own = data.objective(strategy.policy, model, windows, 1.0, None)
    scale = model.target_normalizer.std.numpy().astype(np.float64)
    scaled = data.objective(strategy.policy, model, windows, 1.0, scale)
    assert float(own.detach()) == pytest.approx(float(scaled.detach()), rel=1e-5)
    for a, b in zip(torch.autograd.grad(own, params), torch.autograd.grad(scaled, params),
                    strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)
    collector.close()
