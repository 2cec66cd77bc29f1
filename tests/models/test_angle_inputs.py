"""Angle observations fed as (sin, cos) (``angle_obs``): periodic in the angle, so a state one
turn away from the data is inside it (HalfCheetah's unwrapped root pitch, docs/benchmarks.md)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from advex.models import TrainConfig, make_model
from advex.models.base import TransitionModel
from advex.models.mlp import MLPConfig
from advex.types import TransitionBatch

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def _pendulum(theta: np.ndarray, seed: int) -> TransitionBatch:
    """``s = [theta, omega]``, ``theta' = theta + 0.1 omega``, ``omega' = omega + 0.1 (a -
    2 sin theta)``: dynamics periodic in ``theta`` with period 2 pi."""
    rng = np.random.default_rng(seed)
    n = len(theta)
    omega = rng.uniform(-1, 1, n)
    act = rng.uniform(-1, 1, (n, 1))
    obs = np.stack([theta, omega], axis=1)
    next_obs = np.stack([theta + 0.1 * omega, omega + 0.1 * (act[:, 0] - 2 * np.sin(theta))], 1)
    zeros = np.zeros(n, np.float32)
    return TransitionBatch(obs.astype(np.float32), act.astype(np.float32),
                           next_obs.astype(np.float32), zeros, zeros.astype(bool),
                           zeros.astype(bool))


def test_input_features_replace_each_angle_by_its_sine_and_append_its_cosine() -> None:
    model = make_model("mlp", 3, 1, {"hidden_sizes": [8], "angle_obs": [2, 0]})
    assert model.angle_obs == (0, 2) and model.input_dim == 3 + 1 + 2
    obs = torch.tensor([[0.5, 7.0, -2.0]])
    act = torch.tensor([[0.25]])
    expected = [math.sin(0.5), 7.0, math.sin(-2.0), 0.25, math.cos(0.5), math.cos(-2.0)]
    np.testing.assert_allclose(model.input_features(obs, act)[0].numpy(), expected, rtol=1e-6)
    assert obs[0, 0] == 0.5  # the caller's tensor is not changed
    plain = make_model("mlp", 3, 1, {"hidden_sizes": [8]})
    assert plain.input_dim == 4
    assert torch.equal(plain.input_features(obs, act), torch.cat([obs, act], dim=-1))


@pytest.mark.parametrize("kind", ["mlp", "ensemble"])
def test_a_state_one_turn_away_gets_the_same_predicted_change(kind: str) -> None:
    config = {"hidden_sizes": [16], "angle_obs": [0], "seed": 0}
    if kind == "ensemble":
        config |= {"num_members": 3, "num_elites": 2}
    model = make_model(kind, 2, 1, config)
    model.fit(_pendulum(np.random.default_rng(1).uniform(-1, 3.5, 200), 0),
              TrainConfig(max_epochs=3), seed=0, progress=False)
    obs = np.array([[-2.8, 0.3]], np.float32)
    turned = obs + np.array([[2 * np.pi, 0.0]], np.float32)
    act = np.array([[0.5]], np.float32)
    (here, var_here), (there, var_there) = model.predict(obs, act), model.predict(turned, act)
    np.testing.assert_allclose(here - obs, there - turned, atol=1e-5)
    np.testing.assert_allclose(var_here, var_there, rtol=1e-5)


def test_angle_inputs_predict_a_backward_flip_the_raw_angle_extrapolates() -> None:
    """Trained on theta in [-1, 3.5] (never flipped backwards), scored on theta in [-3.1, -2.6]
    (the same physics one turn down): the (sin, cos) model is inside its data there."""
    train = _pendulum(np.random.default_rng(1).uniform(-1.0, 3.5, 2000), 0)
    flipped = _pendulum(np.random.default_rng(2).uniform(-3.1, -2.6, 500), 1)
    errors = {}
    for angle_obs in ((), (0,)):
        model = make_model("mlp", 2, 1, {"hidden_sizes": [64, 64], "angle_obs": angle_obs})
        model.fit(train, TrainConfig(max_epochs=200, patience=20), seed=0, progress=False)
        errors[angle_obs] = float(np.mean(model.loss(flipped.obs, flipped.act, flipped.next_obs)))
    assert errors[(0,)] < 0.2 * errors[()], errors


def test_the_file_keeps_the_angles_and_old_files_have_none(tmp_path: Path) -> None:
    model = make_model("mlp", 2, 1, {"hidden_sizes": [8], "angle_obs": [0]})
    model.fit(_pendulum(np.linspace(-1, 3.5, 100), 0), TrainConfig(max_epochs=2), seed=0,
              progress=False)
    model.save(tmp_path / "m.pt")
    loaded = TransitionModel.load(tmp_path / "m.pt")
    assert loaded.angle_obs == (0,)
    obs, act = np.array([[3.0, 0.1]], np.float32), np.array([[0.2]], np.float32)
    np.testing.assert_array_equal(loaded.predict(obs, act)[0], model.predict(obs, act)[0])
    assert make_model("mlp", 2, 1, {"hidden_sizes": [8]}).angle_obs == ()  # the default


def test_bad_angle_indices_are_one_line() -> None:
    with pytest.raises(ValueError, match="MLPConfig: angle_obs must be a list of distinct"):
        MLPConfig(angle_obs=(1, 1))
    with pytest.raises(ValueError, match="EnsembleConfig: angle_obs must be a list of distinct"):
        make_model("ensemble", 2, 1, {"angle_obs": [-1]})
    for bad in ([1.5], [True], 1):  # a float, a bool, a bare int
        with pytest.raises(ValueError, match=r"angle_obs must be a list of distinct ints >= 0"):
            MLPConfig(angle_obs=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"MLPModel: angle_obs \(2,\) must be below obs_dim=2"):
        make_model("mlp", 2, 1, {"angle_obs": [2]})


def test_stacked_evaluation_fits_keep_the_angles() -> None:
    """The evaluation's ensembles train as one stacked kernel and come back unstacked; each
    keeps the angle inputs (and is periodic in the angle)."""
    from advex.engine.evaluation import EvaluationConfig, fit_models

    config = EvaluationConfig(fit_seeds=2, max_epochs=2, patience=1, model="ensemble",
                              model_config={"num_members": 2, "num_elites": 1,
                                            "hidden_sizes": [8], "angle_obs": [0]})
    report = fit_models("ensemble", 2, 1, config.model_config,
                        _pendulum(np.linspace(-1, 3.5, 120), 0), config, run_seed=0)
    obs = np.array([[-2.8, 0.3]], np.float32)
    act = np.array([[0.5]], np.float32)
    for model in report.models:
        assert model.angle_obs == (0,)
        here, _ = model.predict(obs, act)
        there, _ = model.predict(obs + np.array([[2 * np.pi, 0.0]], np.float32), act)
        np.testing.assert_allclose(here[:, 1], there[:, 1], atol=1e-5)
    assert not np.allclose(report.models[0].predict(obs, act)[0],
                           report.models[1].predict(obs, act)[0])  # two fits, two seeds


def test_the_angle_input_passes_gradients_for_pathwise_players() -> None:
    """Planners and the pathwise adversary differentiate predictions w.r.t. the state: through
    sin and cos, the gradient w.r.t. the raw angle matches a central difference."""
    model = make_model("mlp", 2, 1, {"hidden_sizes": [8], "angle_obs": [0]})
    obs = torch.tensor([[0.3, 0.1]], requires_grad=True)
    act = torch.tensor([[0.2]])
    mean, _ = model.predict(obs, act)
    mean[0, 1].backward()  # the other coordinate: only the network carries the angle there
    step = torch.tensor([[1e-2, 0.0]])
    with torch.no_grad():
        numeric = (model.predict(obs + step, act)[0][0, 1]
                   - model.predict(obs - step, act)[0][0, 1]) / 2e-2
    assert obs.grad is not None and abs(float(obs.grad[0, 0])) > 1e-4
    assert float(obs.grad[0, 0]) == pytest.approx(float(numeric), rel=1e-3)
