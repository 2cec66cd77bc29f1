"""The conditional-GAN transition model behind the common interface, and what it is for:
transitions that fork."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advex.cli import main
from advex.engine.coverage import CoverageConfig, build_coverage_set
from advex.engine.metrics import evaluate_model
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import collect
from advex.models import CGANConfig, TrainConfig, TransitionModel, make_model
from advex.types import TransitionBatch

SMALL = {"hidden_sizes": [64, 64], "discriminator_hidden": [64], "noise_samples": 16}
QUICK = TrainConfig(max_epochs=8, patience=8)


@pytest.fixture(scope="module")
def pendulum() -> ReplayBuffer:
    return collect("InvertedPendulum-v5", n_steps=1500, seed=0, progress=False)


def test_behind_the_common_interface(pendulum: ReplayBuffer, tmp_path: Path) -> None:
    model = make_model("cgan", 4, 1, SMALL)
    model.fit(pendulum, QUICK, seed=0, progress=False)
    batch = pendulum.batch(np.arange(50))
    mean, var = model.predict(batch.obs, batch.act)
    assert mean.shape == var.shape == (50, 4) and np.all(var > 0)
    again, _ = model.predict(batch.obs, batch.act)
    np.testing.assert_array_equal(mean, again)  # a fixed noise bank: deterministic
    model.save(tmp_path / "g.pt")
    loaded = TransitionModel.load(tmp_path / "g.pt")
    assert loaded.kind == "cgan"
    np.testing.assert_allclose(loaded.predict(batch.obs, batch.act)[0], mean, rtol=1e-6)


def test_same_seed_same_fit(pendulum: ReplayBuffer) -> None:
    fits = []
    for _ in range(2):
        model = make_model("cgan", 4, 1, SMALL)
        model.fit(pendulum, TrainConfig(max_epochs=3, patience=3), seed=4, progress=False)
        fits.append(model.state_dict())
    for key in fits[0]:
        torch.testing.assert_close(fits[0][key], fits[1][key], rtol=0, atol=0)


def test_learns_the_dynamics_far_better_than_no_change(pendulum: ReplayBuffer) -> None:
    model = make_model("cgan", 4, 1, SMALL)
    model.fit(pendulum, TrainConfig(max_epochs=40, patience=40), seed=0, progress=False)
    held = collect("InvertedPendulum-v5", n_steps=300, seed=9, progress=False).batch()
    mean, _ = model.predict(held.obs, held.act)
    model_mse = np.mean((mean - held.next_obs) ** 2)
    still_mse = np.mean((held.obs - held.next_obs) ** 2)
    assert model_mse < 0.05 * still_mse, (model_mse, still_mse)


def _forking(n: int, seed: int) -> TransitionBatch:
    """1-D state, 1-D action; the next state is s + a + 1 or s + a - 1, a fair coin each:
    a Gaussian model's mean sits at s + a, where no transition ever lands."""
    rng = np.random.default_rng(seed)
    obs = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    fork = np.where(rng.random((n, 1)) < 0.5, 1.0, -1.0).astype(np.float32)
    zeros = np.zeros(n, np.float32)
    return TransitionBatch(obs, act, obs + act + fork, zeros, zeros.astype(bool),
                           zeros.astype(bool))


def test_samples_keep_both_branches_of_a_fork() -> None:
    train = _forking(3000, 0)
    config = CGANConfig(hidden_sizes=(64, 64), discriminator_hidden=(64, 64), noise_dim=2,
                        noise_samples=64, l2_weight=0.0)
    model = make_model("cgan", 1, 1, config)
    model.fit(train, TrainConfig(max_epochs=150, patience=150), seed=0, progress=False)
    probe = _forking(200, 1)
    x = model.normalized_inputs(torch.as_tensor(probe.obs), torch.as_tensor(probe.act))
    with torch.no_grad():
        draws = model.target_normalizer.denormalize(model.samples(x, model.noise_bank))
    fork = draws[..., 0].numpy() - probe.act[:, 0]  # K x 200 samples of the fork: +-1
    upper, lower = ((fork > 0.5) & (fork < 1.5)).mean(), ((fork < -0.5) & (fork > -1.5)).mean()
    assert upper > 0.3 and lower > 0.3, (upper, lower)
    # between the branches, where a Gaussian of the same spread puts 24 % of its mass
    assert (np.abs(fork) < 0.3).mean() < 0.08
    mean, _ = model.predict(probe.obs, probe.act)  # the mean still sits between them
    assert np.abs(mean[:, 0] - probe.obs[:, 0] - probe.act[:, 0]).mean() < 0.5


TINY_COVERAGE = CoverageConfig(n_starts=40, n_sb3_steps=0, frac_sb3=0.0, frac_random=0.5,
                               n_random_rollout_steps=400, n_bang_bang_steps=200)


def test_scored_on_a_coverage_set_and_through_the_cli(
    pendulum: ReplayBuffer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from advex import cli

    coverage = build_coverage_set("InvertedPendulum-v5", 0, TINY_COVERAGE, progress=False)
    monkeypatch.setattr(cli, "_coverage_for", lambda *args: coverage)
    model = make_model("cgan", 4, 1, SMALL)
    model.fit(pendulum, QUICK, seed=0, progress=False)
    metrics = evaluate_model(model, coverage)
    assert np.isfinite(metrics["mse_1step"]) and np.isfinite(metrics["nll_1step"])
    pendulum.save(tmp_path / "b.npz")
    assert main(["fit", "--buffer", str(tmp_path / "b.npz"), "--model", "cgan", "--out",
                 str(tmp_path / "m.pt"), "--epochs", "3", "--quiet"]) == 0
    assert TransitionModel.load(tmp_path / "m.pt").kind == "cgan"
    assert "mse_1step" in capsys.readouterr().out
    assert main(["eval", "--model", str(tmp_path / "m.pt"), "--task", "InvertedPendulum-v5",
                 "--quiet"]) == 0


def test_compare_model_flag_keeps_only_the_fields_the_kind_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from advex.engine import compare

    seen = {}

    class Captured(Exception):
        pass

    def capture(cfg: object, *args: object, **kwargs: object) -> None:
        seen["cfg"] = cfg
        raise Captured

    monkeypatch.setattr(compare, "run_compare", capture)
    with pytest.raises(Captured):
        main(["compare", "--model", "cgan", "--out", str(tmp_path / "c"), "--quiet"])
    cfg = seen["cfg"]
    assert cfg.model == "cgan" and cfg.model_config == {"hidden_sizes": [128, 128, 128]}


def test_crps_from_sorted_draws_equals_the_pairwise_definition(pendulum: ReplayBuffer) -> None:
    model = make_model("cgan", 4, 1, SMALL)
    model.fit(pendulum, TrainConfig(max_epochs=1, patience=1), seed=0, progress=False)
    batch = pendulum.batch(np.arange(40))
    obs, act, nxt = (torch.as_tensor(x) for x in (batch.obs, batch.act, batch.next_obs))
    draws = model.samples(model.normalized_inputs(obs, act), model.noise_bank).detach()
    target = model.normalized_targets(obs, nxt)
    pairwise = (draws[:, None] - draws[None, :]).abs().mean(dim=(0, 1))
    naive = ((draws - target).abs().mean(dim=0) - pairwise / 2).mean(dim=0)
    torch.testing.assert_close(model.validation_scores(obs, act, nxt, chunk_size=7)[0], naive,
                               rtol=1e-5, atol=1e-6)
