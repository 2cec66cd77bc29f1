"""Reference rows: where a strategy's score sits between "learned nothing" and "best possible".

Every comparison writes three references to its results like strategies, so that a number can
be read as *how much of the possible gap was closed*:

* ``no-change``: the model ``s' = s``. Needs no data; its score is the floor any learned model
  must beat (about 1 in normalised units: it misses every delta).
* ``ridge``: a linear model of the delta, ``s' - s = W [s, a, 1]`` (closed-form ridge on
  standardised inputs), fitted on uniform-random data of the same budget under the run's
  episode rules: what a linear fit of the cheapest data already explains.
* ``oracle``: the run's model class, fitted exactly as every strategy's data is (the same
  fit seeds and stopping rule, :mod:`advex.engine.evaluation`), on transitions drawn from the
  coverage set's own generating process with another seed, same budget. The test set's own
  distribution is the best data a strategy could have collected, so this is the ceiling.

The summary's **gap closed** is ``(no-change - strategy) / (no-change - oracle)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from advex.engine.coverage_set import CoverageSet
from advex.engine.evaluation import Score, score_models
from advex.engine.metrics import SupportBox
from advex.models.normalizer import clip_standardised
from advex.seeding import derive_seed
from advex.types import TransitionBatch


class NoChangeModel:
    """Predicts ``s' = s`` with zero variance (``B x O`` numpy in, numpy out)."""

    def __init__(self, obs_dim: int, act_dim: int) -> None:
        self.obs_dim, self.act_dim = obs_dim, act_dim

    def predict(self, obs: np.ndarray, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        obs = np.asarray(obs, dtype=np.float64)
        return obs.copy(), np.zeros_like(obs)


@dataclass
class RidgeModel:
    """Linear delta model fitted in closed form: inputs ``[s, a]`` standardised by the training
    data and clipped to ``+-INPUT_CLIP`` stds (as the networks' inputs are), a free bias,
    weights ``W`` (``(O+A) x O``) minimising ``|Y - X W - b|^2 + alpha * N * |W|^2`` (the
    penalty scales with the rows so ``alpha`` means the same at every budget). ``var`` is the
    per-dim residual variance on the training data, so the NLL metrics are defined."""

    obs_dim: int
    act_dim: int
    alpha: float = 1e-3
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    var: np.ndarray | None = None

    def fit(self, batch: TransitionBatch) -> RidgeModel:
        inputs = np.concatenate([batch.obs, batch.act], axis=1).astype(np.float64)
        target = (batch.next_obs - batch.obs).astype(np.float64)
        if len(inputs) == 0:
            raise ValueError("RidgeModel.fit: no rows")
        self.mean, self.std = inputs.mean(axis=0), np.maximum(inputs.std(axis=0), 1e-8)
        x = clip_standardised((inputs - self.mean) / self.std)
        y_mean = target.mean(axis=0)
        gram = x.T @ x + self.alpha * len(x) * np.eye(x.shape[1])
        self.weight = np.linalg.solve(gram, x.T @ (target - y_mean))
        self.bias = y_mean  # x is centred, so the bias is the mean delta
        residual = target - (x @ self.weight + self.bias)
        self.var = residual.var(axis=0)
        return self

    def predict(self, obs: np.ndarray, act: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self.weight is None or self.var is None:
            raise RuntimeError("RidgeModel.predict before fit")
        obs = np.asarray(obs, dtype=np.float64)
        x = (np.concatenate([obs, np.asarray(act, dtype=np.float64)], axis=1) - self.mean)
        delta = clip_standardised(x / self.std) @ self.weight + self.bias
        return obs + delta, np.broadcast_to(self.var, obs.shape).copy()


def no_change_scores(coverage: CoverageSet) -> dict[str, Score]:
    """The ``no-change`` row's metrics (it has no data, hence no support split)."""
    return score_models([NoChangeModel(coverage.obs_dim, coverage.act_dim)], coverage, None)


def ridge_scores(batch: TransitionBatch, coverage: CoverageSet, alpha: float) -> dict[str, Score]:
    """The ``ridge`` row's metrics for random data ``batch`` (one closed-form fit)."""
    model = RidgeModel(coverage.obs_dim, coverage.act_dim, alpha).fit(batch)
    return score_models([model], coverage, SupportBox.of(batch.obs, batch.act))


def oracle_rows(oracle: CoverageSet, n: int, seed: int) -> np.ndarray:
    """Indices of ``n`` transitions of the oracle set (in :meth:`CoverageSet.transitions`
    order), a seeded uniform draw without replacement (nested: a larger ``n`` extends a
    smaller one's rows). Raises if the set holds fewer than ``n``."""
    if n > len(oracle):
        raise ValueError(
            f"oracle coverage set holds {len(oracle)} transitions, the budget needs {n}"
        )
    return np.random.default_rng(seed).permutation(len(oracle))[:n]


def run_oracle_rows(oracle: CoverageSet, n: int, run_seed: int) -> np.ndarray:
    """The :func:`oracle_rows` a comparison's run seed ``run_seed`` draws for an ``n``-step
    budget: the seed derivation lives here, so scripts that refit the oracle get its rows."""
    return oracle_rows(oracle, n, derive_seed(run_seed, "oracle"))


def oracle_batch(oracle: CoverageSet, rows: np.ndarray) -> TransitionBatch:
    """The oracle set's transitions at ``rows`` (from :func:`oracle_rows`)."""
    return oracle.to_buffer().batch(rows)


def oracle_starts(coverage: CoverageSet, budget: int, margin: float = 1.2) -> int:
    """Starts an oracle set built like ``coverage`` needs to hold ``budget`` transitions (its
    transitions per start are estimated from ``coverage``; ``margin`` for the draw's luck)."""
    per_start = len(coverage) / coverage.n_starts
    return max(coverage.n_starts, math.ceil(margin * budget / per_start))

