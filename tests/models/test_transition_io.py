"""Transition-model plumbing: normaliser, factory, save/load, and fitting from a ReplayBuffer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advex.exploration.buffer import ReplayBuffer
from advex.models import (
    EnsembleConfig,
    EnsembleModel,
    MLPConfig,
    MLPModel,
    ModelFileError,
    Normalizer,
    TrainConfig,
    TransitionModel,
    UnknownModelKindError,
    make_model,
)
from advex.models.training import split_batch
from advex.types import TransitionBatch

OBS_DIM, ACT_DIM = 3, 2
KINDS = ["mlp", "ensemble"]


def make_batch(n: int, seed: int) -> TransitionBatch:
    rng = np.random.default_rng(seed)
    obs = rng.standard_normal((n, OBS_DIM)).astype(np.float32)
    act = rng.uniform(-1, 1, (n, ACT_DIM)).astype(np.float32)
    next_obs = (0.9 * obs + 0.2 * np.tanh(act).sum(1, keepdims=True)).astype(np.float32)
    return TransitionBatch(
        obs, act, next_obs, np.zeros(n, np.float32), np.zeros(n, bool), np.zeros(n, bool)
    )


def small_model(kind: str) -> TransitionModel:
    if kind == "mlp":
        return make_model(kind, OBS_DIM, ACT_DIM, {"hidden_sizes": (16, 16)})
    return make_model(
        kind, OBS_DIM, ACT_DIM, {"hidden_sizes": (16, 16), "num_members": 3, "num_elites": 2}
    )


def test_normalizer_round_trip_and_std_floor() -> None:
    norm = Normalizer(3, eps=1e-6)
    x = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, -2.0], [5.0, 5.0, 0.0]])
    norm.fit(x)
    torch.testing.assert_close(norm.mean, torch.tensor([3.0, 5.0, 0.0]))
    assert norm.std[1] == pytest.approx(1e-6)  # constant column floored, not zero
    z = norm.normalize(x)
    assert torch.isfinite(z).all()
    torch.testing.assert_close(norm.denormalize(z), x)
    assert set(norm.state_dict()) == {"mean", "std"}
    torch.testing.assert_close(norm.denormalize_var(torch.ones(3)), norm.std.square())
    with pytest.raises(ValueError, match="N x 3"):
        norm.fit(torch.zeros(4, 2))


def test_factory_defaults_and_errors() -> None:
    ensemble = make_model("ensemble", 5, 2)
    assert isinstance(ensemble, EnsembleModel)
    assert ensemble.config.num_members == 7 and ensemble.config.num_elites == 5
    assert ensemble.config.hidden_sizes == (200, 200, 200, 200)
    assert ensemble.output.weight.shape == (7, 200, 10)
    assert isinstance(make_model("mlp", 5, 2), MLPModel)
    with pytest.raises(UnknownModelKindError, match="valid kinds: cgan, ensemble, mlp"):
        make_model("transformer", 5, 2)
    with pytest.raises(TypeError, match="EnsembleConfig"):
        make_model("ensemble", 5, 2, MLPConfig())
    with pytest.raises(
        ValueError, match="unknown mlp config field.*num_layers; valid: .*hidden_sizes"
    ):
        make_model("mlp", 5, 2, {"num_layers": 3})
    with pytest.raises(ValueError, match="num_elites"):
        EnsembleConfig(num_members=3, num_elites=4)
    with pytest.raises(ValueError, match="activation"):
        MLPConfig(activation="swish2")
    with pytest.raises(ValueError, match="obs_dim"):
        make_model("mlp", 0, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_gives_identical_predictions(kind: str, tmp_path: Path) -> None:
    model = small_model(kind)
    data = make_batch(300, seed=0)
    model.fit(data, TrainConfig(max_epochs=3, batch_size=64), progress=False)
    path = tmp_path / "sub" / f"{kind}.pt"
    model.save(path)
    loaded = TransitionModel.load(path)
    assert type(loaded) is type(model) and loaded.config == model.config
    obs, act, _ = make_batch(20, seed=1).tensors()
    for a, b in zip(model.predict(obs, act), loaded.predict(obs, act), strict=True):
        assert torch.equal(a, b)
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    payload = torch.load(path, weights_only=True)
    assert payload["kind"] == kind and payload["format"] == "advex-transition-model"
    assert payload["format_version"] == 2
    assert {"config", "obs_dim", "act_dim", "state_dict"} <= set(payload)


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="missing.pt: no such model file"):
        TransitionModel.load(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a torch file")
    with pytest.raises(ModelFileError, match="corrupt.pt: not a readable model file"):
        TransitionModel.load(corrupt)
    path = tmp_path / "mlp.pt"
    small_model("mlp").save(path)
    with pytest.raises(ModelFileError, match="not a EnsembleModel"):
        EnsembleModel.load(path)
    assert isinstance(MLPModel.load(path), MLPModel)
    payload = torch.load(path, weights_only=True)
    for mutate, message in (
        (lambda p: p.pop("state_dict"), "missing key"),
        (lambda p: p.update(format_version=99), "model file format version 99 is not supported"),
        (lambda p: p.pop("format"), "it names no format"),
        (lambda p: p.update(kind="lstm"), "unknown model kind"),
        (lambda p: p.update(obs_dim=OBS_DIM + 1), "state_dict does not fit"),
    ):
        bad = dict(payload)
        mutate(bad)
        torch.save(bad, tmp_path / "bad.pt")
        with pytest.raises(ModelFileError, match=message):
            TransitionModel.load(tmp_path / "bad.pt")


@pytest.mark.parametrize("kind", KINDS)
def test_fit_from_replay_buffer_uses_its_split(kind: str) -> None:
    data = make_batch(400, seed=2)
    buffer = ReplayBuffer(OBS_DIM, ACT_DIM)
    buffer.add_batch(data, episode_id=0)
    model = small_model(kind)
    config = TrainConfig(max_epochs=4, batch_size=64, val_fraction=0.2)
    history = model.fit(buffer, config, progress=False)
    assert history.epochs == 4 and np.isfinite(history.val_loss).all()
    train_idx, _ = buffer.split(0.2, seed=config.split_seed)
    # Normalisers are fitted on the training side of the split only.
    expected_mean = np.concatenate([data.obs, data.act], 1)[train_idx].mean(0)
    np.testing.assert_allclose(model.input_normalizer.mean.numpy(), expected_mean, atol=1e-5)


def test_fit_without_validation_data_uses_training_loss() -> None:
    model = small_model("ensemble")
    history = model.fit(
        make_batch(200, seed=3), TrainConfig(max_epochs=3, val_fraction=0.0), progress=False
    )
    assert history.epochs == 3 and all(np.isnan(history.val_loss))
    assert 0 <= history.best_epoch < 3


def test_explicit_validation_batch_and_step_cap() -> None:
    model = small_model("mlp")
    history = model.fit(
        make_batch(500, seed=4),
        TrainConfig(max_epochs=50, batch_size=50, max_train_steps=15),
        val=make_batch(100, seed=5),
        progress=False,
    )
    assert history.steps == 15 and history.epochs == 2  # 10 steps per epoch


def test_split_batch_is_prefix_stable() -> None:
    small, large = make_batch(100, seed=6), make_batch(300, seed=6)
    _, val_small = split_batch(small, 0.3, seed=1)
    _, val_large = split_batch(large, 0.3, seed=1)
    assert val_small is not None and val_large is not None
    # Rows 0..99 are the same data in both batches (same rng stream prefix).
    np.testing.assert_array_equal(val_large.obs[: len(val_small)], val_small.obs)


def test_fit_rejects_wrong_data() -> None:
    model = small_model("mlp")
    with pytest.raises(TypeError, match="ReplayBuffer or a TransitionBatch"):
        model.fit(np.zeros((10, 5)), progress=False)
    wrong = make_batch(50, seed=7)
    wrong = TransitionBatch(
        wrong.obs,
        wrong.act[:, :1],
        wrong.next_obs,
        wrong.reward,
        wrong.terminated,
        wrong.truncated,
    )
    with pytest.raises(ValueError, match="act has shape"):
        model.fit(wrong, progress=False)
    with pytest.raises(ValueError, match="TrainConfig: invalid batch_size=0"):
        TrainConfig(batch_size=0)
