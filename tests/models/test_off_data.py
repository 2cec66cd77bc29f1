"""Models degrade gracefully off their data: a dimension constant in the training buffer is
dropped, a nearly constant one cannot blow an unseen value up into a huge input, and the
yardstick weighs a dimension that never moves like a typical one (Humanoid-v5 scored 25-10 000x
worse than no change before)."""

from __future__ import annotations

import numpy as np
import torch

from advex.engine.coverage_set import CoverageConfig, CoverageSet
from advex.models import TrainConfig, make_model
from advex.models.normalizer import INPUT_CLIP, Normalizer
from advex.types import TransitionBatch


def _buffer(n: int = 400, seed: int = 0) -> TransitionBatch:
    """``s = [x, c, e]``: ``x`` moves with the action, ``c`` is 0 in every row (a contact force
    that never fired), ``e`` barely varies (1e-5); ``s' = s + [0.1 a, 0, 0]``."""
    rng = np.random.default_rng(seed)
    obs = np.zeros((n, 3), np.float32)
    obs[:, 0] = rng.uniform(-1, 1, n)
    obs[:, 2] = 1e-5 * rng.standard_normal(n)
    act = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    next_obs = obs.copy()
    next_obs[:, 0] += 0.1 * act[:, 0]
    zeros = np.zeros(n, np.float32)
    return TransitionBatch(obs, act, next_obs, zeros, zeros.astype(bool), zeros.astype(bool))


def test_constant_inputs_are_dropped_and_far_inputs_clipped() -> None:
    norm = Normalizer(3, inputs=True)
    data = torch.as_tensor(_buffer().obs)
    norm.fit(data)
    assert norm.dropped.tolist() == [False, True, False]
    far = torch.tensor([[0.0, 5.0, 1.0]])  # the force fires; e sits 1e5 stds out
    z = norm.normalize(far)
    assert z[0, 1] == 0.0 and z[0, 2] == INPUT_CLIP
    plain = Normalizer(3)  # targets keep the plain floor (no drop, no clip)
    plain.fit(data)
    assert not plain.dropped.any() and plain.normalize(far)[0, 1] > 1e6


def test_a_model_off_its_data_stays_near_its_prediction_on_it() -> None:
    """Unseen values of the constant and nearly constant dims change the prediction little
    (before: inputs of 5e6 and 1e5 stds, predictions off by orders of magnitude)."""
    data = _buffer()
    model = make_model("mlp", 3, 1, {"hidden_sizes": [32, 32], "seed": 0})
    model.fit(data, TrainConfig(max_epochs=40), seed=0, progress=False)
    seen = np.array([[0.2, 0.0, 0.0]], np.float32)
    unseen = np.array([[0.2, 5.0, 1.0]], np.float32)
    act = np.array([[0.5]], np.float32)
    on_data, _ = model.predict(seen, act)
    off_data, _ = model.predict(unseen, act)
    assert abs(on_data[0, 0] - 0.25) < 0.05  # it learned x' = x + 0.1 a
    assert np.all(np.isfinite(off_data))
    # x' moves by at most a few of x's own deltas; c and e are predicted not to move much
    assert abs(off_data[0, 0] - on_data[0, 0]) < 1.0
    assert np.all(np.abs(off_data[0, 1:] - unseen[0, 1:]) < 1.0)


def test_a_dimension_that_never_moves_is_weighted_like_a_typical_one() -> None:
    rng = np.random.default_rng(0)
    s, k = 30, 5
    obs = np.zeros((s, k + 1, 3), np.float32)
    obs[:, 0, 0] = rng.normal(size=s)
    obs[:, 0, 1] = rng.normal(size=s)
    act = rng.uniform(-1, 1, (s, k, 1)).astype(np.float32)
    for t in range(k):
        obs[:, t + 1, 0] = obs[:, t, 0] + 0.1 * act[:, t, 0]
        obs[:, t + 1, 1] = obs[:, t, 1] + 0.3 * act[:, t, 0]
    # obs[:, :, 2] stays 0: a dimension that never moves anywhere in the set
    coverage = CoverageSet(task="synthetic", seed=0, start_states=np.zeros((s, 2)), obs=obs,
                           act=act, sources=np.zeros(s, np.int8),
                           config=CoverageConfig(horizon=k))
    scale = coverage.delta_scale()
    moving = np.median(scale[:2])
    assert scale[2] == moving  # the median of the others, not the 1e-6 floor
    deltas = (obs[:, 1:] - obs[:, :-1]).reshape(-1, 3).astype(np.float64)
    np.testing.assert_allclose(scale[:2], deltas[:, :2].std(axis=0))  # the others as before
