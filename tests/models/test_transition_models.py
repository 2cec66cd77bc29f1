"""Behaviour of the learned transition models (MLP and probabilistic ensemble) on data from a
known linear system ``s' = A s + B a``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advex.models import (
    EnsembleConfig,
    EnsembleModel,
    MLPConfig,
    ModelInputError,
    TrainConfig,
    TrainingDivergedError,
    TransitionModel,
    make_model,
)
from advex.types import TransitionBatch

OBS_DIM, ACT_DIM = 4, 2
KINDS = ["mlp", "ensemble"]


def linear_system(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = 0.9 * np.eye(OBS_DIM) + 0.05 * rng.standard_normal((OBS_DIM, OBS_DIM))
    b = 0.3 * rng.standard_normal((OBS_DIM, ACT_DIM))
    return a, b


def make_batch(n: int, seed: int, scale: float = 1.0, noise: float = 0.0) -> TransitionBatch:
    a, b = linear_system()
    rng = np.random.default_rng(seed)
    obs = (scale * rng.standard_normal((n, OBS_DIM))).astype(np.float32)
    act = rng.uniform(-1, 1, (n, ACT_DIM)).astype(np.float32)
    next_obs = obs @ a.T + act @ b.T + noise * rng.standard_normal((n, OBS_DIM))
    return TransitionBatch(
        obs=obs,
        act=act,
        next_obs=next_obs.astype(np.float32),
        reward=np.zeros(n, np.float32),
        terminated=np.zeros(n, bool),
        truncated=np.zeros(n, bool),
    )


def small_model(kind: str, seed: int = 0, members: int = 3) -> TransitionModel:
    if kind == "mlp":
        return make_model("mlp", OBS_DIM, ACT_DIM, MLPConfig(hidden_sizes=(32, 32), seed=seed))
    config = EnsembleConfig(num_members=members, num_elites=2, hidden_sizes=(32, 32), seed=seed)
    return make_model("ensemble", OBS_DIM, ACT_DIM, config)


FAST = TrainConfig(max_epochs=8, batch_size=64, lr=3e-3)


@pytest.fixture(scope="module")
def trained() -> dict[str, TransitionModel]:
    """One model of each kind fitted well on the linear system (shared by read-only tests)."""
    data = make_batch(1500, seed=1)
    models = {}
    for kind in KINDS:
        model = small_model(kind)
        model.fit(data, TrainConfig(max_epochs=40, batch_size=64, lr=3e-3), progress=False)
        models[kind] = model
    return models


@pytest.mark.parametrize("kind", KINDS)
def test_training_loss_decreases(kind: str) -> None:
    data = make_batch(400, seed=2)
    model = small_model(kind)
    model.fit_normalizers(*data.tensors())  # compare losses in the same normalised units
    before = float(model.loss(data.obs, data.act, data.next_obs).mean())
    history = model.fit(data, FAST, progress=False)
    after = float(model.loss(data.obs, data.act, data.next_obs).mean())
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_loss[history.best_epoch] < history.val_loss[0]
    assert after < 0.5 * before
    assert history.epochs == len(history.train_loss) == len(history.val_loss)
    assert history.wall_s > 0 and history.steps > 0


@pytest.mark.parametrize("kind", KINDS)
def test_recovers_linear_system(kind: str, trained: dict[str, TransitionModel]) -> None:
    model = trained[kind]
    test = make_batch(500, seed=99)
    normalised_mse = float(model.loss(test.obs, test.act, test.next_obs).mean())
    assert normalised_mse < 1e-2
    mean, var = model.predict(test.obs, test.act)
    raw_mse = float(np.mean((mean - test.next_obs) ** 2))
    delta_var = float(np.var(test.next_obs - test.obs))
    assert raw_mse < 1e-2 * delta_var
    assert mean.shape == var.shape == (500, OBS_DIM) and (var > 0).all()


@pytest.mark.parametrize("kind", KINDS)
def test_predicts_delta_in_raw_units(kind: str) -> None:
    """With a zero output layer the network predicts normalised delta 0, i.e. raw delta equal
    to the training mean delta: predict must return ``obs + mean_delta``."""
    data = make_batch(300, seed=3)
    model = small_model(kind)
    obs, act, next_obs = data.tensors()
    model.fit_normalizers(obs, act, next_obs)
    out_layer = model.net[-1] if kind == "mlp" else model.output
    with torch.no_grad():
        out_layer.weight.zero_()
        out_layer.bias.zero_()
    mean, _ = model.predict(obs, act)
    mean_delta = (next_obs - obs).mean(dim=0)
    torch.testing.assert_close(mean, obs + mean_delta, rtol=1e-5, atol=1e-5)
    # Targets are the normalised delta: zero mean, unit std on the fitting data.
    target = model.normalized_targets(obs, next_obs)
    torch.testing.assert_close(target.mean(0), torch.zeros(OBS_DIM), atol=1e-5, rtol=0)
    torch.testing.assert_close(target.std(0, correction=0), torch.ones(OBS_DIM), atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_numpy_in_numpy_out_torch_in_torch_out(kind: str, trained: dict) -> None:
    model = trained[kind]
    data = make_batch(5, seed=4)
    mean_np, var_np = model.predict(data.obs, data.act)
    assert isinstance(mean_np, np.ndarray) and mean_np.dtype == np.float32
    obs, act, _ = data.tensors()
    mean_t, var_t = model.predict(obs, act)
    assert isinstance(mean_t, torch.Tensor)
    np.testing.assert_allclose(mean_t.detach().numpy(), mean_np, rtol=1e-6)
    loss_np = model.loss(data.obs, data.act, data.next_obs)
    assert isinstance(loss_np, np.ndarray) and loss_np.shape == (5,)
    nll = model.nll(data.obs, data.act, data.next_obs)
    assert nll.shape == (5,) and np.isfinite(nll).all()


@pytest.mark.parametrize("kind", KINDS)
def test_predict_and_loss_are_differentiable_wrt_action(kind: str, trained: dict) -> None:
    model = trained[kind]
    data = make_batch(6, seed=5)
    obs, _, next_obs = data.tensors()
    act = torch.as_tensor(data.act).requires_grad_(True)
    mean, var = model.predict(obs, act)
    (mean.sum() + var.sum()).backward()
    assert act.grad is not None and torch.isfinite(act.grad).all()
    assert act.grad.abs().sum() > 0
    act.grad = None
    model.loss(obs, act, next_obs).sum().backward()
    assert act.grad is not None and act.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_refused_naming_the_argument(kind: str) -> None:
    model = small_model(kind)
    data = make_batch(4, seed=6)
    bad_obs = data.obs.copy()
    bad_obs[1, 2] = np.nan
    with pytest.raises(ModelInputError, match="obs.*NaN"):
        model.predict(bad_obs, data.act)
    bad_act = data.act.copy()
    bad_act[0, 0] = np.inf
    with pytest.raises(ValueError, match="act.*NaN/inf"):
        model.predict(torch.as_tensor(data.obs), torch.as_tensor(bad_act))
    with pytest.raises(ModelInputError, match=r"act: expected shape B x 2"):
        model.predict(data.obs, data.act[:, :1])
    with pytest.raises(ModelInputError, match="next_obs: has 3 rows"):
        model.loss(data.obs, data.act, data.next_obs[:3])
    with pytest.raises(ModelInputError, match="obs: expected shape"):
        model.predict(data.obs[0], data.act[0])


@pytest.mark.parametrize("kind", KINDS)
def test_nan_in_training_data_raises_naming_epoch_and_restores(kind: str) -> None:
    data = make_batch(200, seed=7)
    next_obs = data.next_obs.copy()
    next_obs[10, 1] = np.nan
    poisoned = TransitionBatch(
        data.obs, data.act, next_obs, data.reward, data.terminated, data.truncated
    )
    model = small_model(kind)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(TrainingDivergedError, match=r"epoch 0.*loss.*next_obs") as info:
        model.fit(poisoned, FAST, progress=False)
    assert info.value.epoch == 0 and info.value.term == "loss"
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_exploding_learning_rate_raises_diverged() -> None:
    data = make_batch(200, seed=8)
    model = small_model("mlp")
    with pytest.raises(TrainingDivergedError, match="epoch") as info:
        model.fit(data, TrainConfig(max_epochs=20, lr=1e30, batch_size=32), progress=False)
    assert info.value.term in ("loss", "gradient", "parameter", "validation loss")


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_gives_identical_weights(kind: str) -> None:
    data = make_batch(300, seed=9)
    states = []
    for _ in range(2):
        model = small_model(kind)
        model.fit(data, TrainConfig(max_epochs=3, batch_size=64), seed=11, progress=False)
        states.append(model.state_dict())
    for key in states[0]:
        assert torch.equal(states[0][key], states[1][key]), key
    other = small_model(kind)
    other.fit(data, TrainConfig(max_epochs=3, batch_size=64), seed=12, progress=False)
    differs = [not torch.equal(other.state_dict()[k], states[0][k]) for k in states[0]]
    assert any(differs)


def test_init_seed_changes_weights_without_global_rng() -> None:
    state = torch.random.get_rng_state()
    a, b, c = (
        small_model("ensemble", seed=0),
        small_model("ensemble", seed=0),
        small_model("ensemble", seed=1),
    )
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a.output.weight, b.output.weight)
    assert not torch.equal(a.output.weight, c.output.weight)


@pytest.mark.parametrize("kind", KINDS)
def test_warm_start_continues_from_current_weights(kind: str) -> None:
    data = make_batch(600, seed=10)
    model = small_model(kind)
    model.fit(data, FAST, progress=False)
    trained_loss = float(model.loss(data.obs, data.act, data.next_obs).mean())
    more = make_batch(600, seed=13)
    combined = TransitionBatch(
        *(
            np.concatenate([getattr(data, f), getattr(more, f)])
            for f in ("obs", "act", "next_obs", "reward", "terminated", "truncated")
        )
    )
    history = model.fit(
        combined, TrainConfig(max_epochs=1, max_train_steps=1, lr=1e-6), progress=False
    )
    assert history.steps == 1 and history.epochs == 1
    assert float(model.loss(data.obs, data.act, data.next_obs).mean()) < 2 * trained_loss + 1e-3
    fresh = small_model(kind)
    fresh.fit_normalizers(*combined.tensors())
    assert float(fresh.loss(data.obs, data.act, data.next_obs).mean()) > 10 * trained_loss


def test_early_stopping_restores_best_epoch() -> None:
    data = make_batch(300, seed=14)
    model = small_model("mlp")
    history = model.fit(
        data,
        TrainConfig(max_epochs=200, patience=2, batch_size=64, min_rel_improvement=0.5),
        progress=False,
    )
    assert history.stopped_early and history.epochs < 200
    assert history.epochs == history.best_epoch + 1 + 2
    val = make_batch(50, seed=15)
    assert np.isfinite(model.loss(val.obs, val.act, val.next_obs)).all()


def test_ensemble_variance_grows_away_from_data(trained: dict) -> None:
    model: EnsembleModel = trained["ensemble"]  # type: ignore[assignment]
    near = make_batch(200, seed=16)
    far = make_batch(200, seed=16, scale=8.0)
    _, var_near = model.predict(near.obs, near.act)
    _, var_far = model.predict(far.obs, far.act)
    assert var_far.mean() > 5 * var_near.mean()
    assert (
        model.disagreement(far.obs, far.act).mean()
        > 5 * model.disagreement(near.obs, near.act).mean()
    )


def test_ensemble_prediction_is_elite_mixture(trained: dict) -> None:
    model: EnsembleModel = trained["ensemble"]  # type: ignore[assignment]
    data = make_batch(7, seed=17)
    member_mean, member_var = model.predict_members(data.obs, data.act)
    assert member_mean.shape == member_var.shape == (3, 7, OBS_DIM)
    elites = model.elite_idx.numpy()
    assert len(elites) == 2 and len(set(elites.tolist())) == 2
    mean, var = model.predict(data.obs, data.act)
    elite_mean = member_mean[elites]
    np.testing.assert_allclose(mean, elite_mean.mean(0), rtol=1e-5, atol=1e-5)
    expected_var = member_var[elites].mean(0) + elite_mean.var(0)
    np.testing.assert_allclose(var, expected_var, rtol=1e-3, atol=1e-8)
    assert model.disagreement(data.obs, data.act).shape == (7,)


def test_ensemble_logvar_stays_within_soft_bounds() -> None:
    model = small_model("ensemble")
    x = torch.randn(50, OBS_DIM + ACT_DIM) * 100.0
    _, logvar = model.forward_logvar(x)
    # Soft bounds (PETS): the second softplus may overshoot max_logvar by ~exp(min - max).
    assert (logvar <= model.max_logvar + 1e-3).all()
    assert (logvar >= model.min_logvar - 1e-3).all()
