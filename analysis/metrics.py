"""Score a transition model on a held-out :class:`~advex.analysis.coverage.CoverageSet`.

Every result file of advex uses these metric names (``METRIC_NAMES``, plus ``CALIBRATION_NAMES``
for models that predict a variance):

* ``mse_1step``      one-step next-state squared error, **normalised**: the error of dimension
                     ``d`` is divided by the coverage set's scale of the one-step delta
                     (``CoverageSet.delta_scale()``, the std of ``s' - s``), so a fast joint
                     velocity and a slow position weigh the same and 1.0 means "as bad as
                     guessing the mean delta". Mean over the ``S*K`` one-step pairs and dims.
* ``mse_1step_raw``  the same in raw observation units (mean over dims).
* ``rollout_mse_k5`` / ``rollout_mse_k20``  open-loop rollout from each start's first
                     observation with the recorded actions, feeding the model's mean back in;
                     normalised squared error at step ``k`` (mean over starts and dims).
* ``nll_1step``      Gaussian NLL of the true next state under the predicted mean/variance, in
                     normalised units (variance divided by scale squared, floored at
                     ``VAR_FLOOR``), mean over dims, including ``0.5 log 2 pi``.
* ``calib_ratio``    mean predicted variance / mean squared error (normalised units; 1 is
                     calibrated, < 1 over-confident). Only when some variance is > 0.
* ``calib_corr``     Spearman rank correlation between per-transition predicted variance and
                     squared error (each a mean over dims); 0 when the variance is constant.

Non-finite predictions make the affected metric ``inf`` with a
:class:`NonFinitePredictionWarning` naming it; a metric is never a silent NaN.
The model only needs ``predict(obs B x O, act B x A) -> (mean B x O, var B x O)`` (numpy or
torch out); it runs under ``torch.no_grad`` in batches.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Protocol

import numpy as np
import torch

from .coverage import CoverageSet

#: Metrics every evaluation reports (rollout metrics need a coverage horizon >= k).
METRIC_NAMES: tuple[str, ...] = (
    "mse_1step", "mse_1step_raw", "rollout_mse_k5", "rollout_mse_k20", "nll_1step",
)
#: Extra metrics for models whose predicted variance is not all zero.
CALIBRATION_NAMES: tuple[str, ...] = ("calib_ratio", "calib_corr")
#: Rollout steps reported as ``rollout_mse_k{k}``.
ROLLOUT_STEPS: tuple[int, ...] = (5, 20)
#: Floor of the normalised variance in the NLL (a zero-variance model gets a finite NLL).
VAR_FLOOR = 1e-12


class NonFinitePredictionWarning(RuntimeWarning):
    """A model produced NaN/inf predictions; the named metric was set to ``inf``."""


class PredictiveModel(Protocol):
    """All :func:`evaluate_model` needs from a model."""

    def predict(self, obs: Any, act: Any) -> tuple[Any, Any]: ...


def _as_float64(x: Any, name: str, shape: tuple[int, int]) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    out = np.asarray(x, dtype=np.float64)
    if out.shape != shape:
        raise ValueError(f"evaluate_model: model.predict returned {name} of shape {out.shape}, "
                         f"expected {shape}")
    return out


def predict_batched(
    model: PredictiveModel, obs: np.ndarray, act: np.ndarray, batch_size: int = 4096
) -> tuple[np.ndarray, np.ndarray]:
    """``model.predict`` over ``B`` rows in batches under ``torch.no_grad``; float64 ``B x O``.

    A ``None`` variance (a purely deterministic model) is returned as zeros.
    """
    if batch_size < 1:
        raise ValueError(f"evaluate_model: batch_size must be >= 1, got {batch_size}")
    rows, obs_dim = obs.shape
    means, variances = [], []
    with torch.no_grad():
        for start in range(0, rows, batch_size):
            o = np.ascontiguousarray(obs[start:start + batch_size], dtype=np.float32)
            a = np.ascontiguousarray(act[start:start + batch_size], dtype=np.float32)
            mean, var = model.predict(o, a)
            means.append(_as_float64(mean, "mean", (len(o), obs_dim)))
            variances.append(np.zeros((len(o), obs_dim)) if var is None
                             else _as_float64(var, "var", (len(o), obs_dim)))
    if not means:
        return np.zeros((0, obs_dim)), np.zeros((0, obs_dim))
    return np.concatenate(means), np.concatenate(variances)


def _warn_inf(metric: str, reason: str) -> float:
    warnings.warn(f"evaluate_model: {metric} = inf because {reason}",
                  NonFinitePredictionWarning, stacklevel=3)
    return math.inf


def _rank(x: np.ndarray) -> np.ndarray:
    """Ranks ``0..n-1`` with ties sharing their average rank (for Spearman)."""
    order = np.argsort(x, kind="stable")
    sorted_x = x[order]
    ranks = np.empty(len(x), dtype=np.float64)
    # Boundaries of runs of equal values; each run gets the mean of its positions.
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends, strict=True):
        ranks[order[s:e]] = 0.5 * (s + e - 1)
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two ``B`` vectors; 0.0 if either is constant."""
    rx, ry = _rank(np.asarray(x, dtype=np.float64)), _rank(np.asarray(y, dtype=np.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denom = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry) / denom if denom > 0 else 0.0


def rollout_errors(
    model: PredictiveModel, coverage: CoverageSet, batch_size: int = 4096
) -> np.ndarray:
    """Normalised open-loop squared error at every step: ``K`` vector, entry ``k-1`` = step k.

    Each start's rollout begins at ``obs[:, 0]``, applies the recorded actions and feeds the
    model's mean back in. A rollout whose prediction turns non-finite stops there (the model
    is never fed NaN) and counts as ``inf`` from that step on.
    """
    scale = coverage.delta_scale()
    state = coverage.obs[:, 0].astype(np.float64)
    alive = np.ones(coverage.n_starts, dtype=bool)
    errors = np.empty(coverage.horizon, dtype=np.float64)
    for t in range(coverage.horizon):
        if alive.any():
            mean, _ = predict_batched(model, state[alive], coverage.act[alive, t], batch_size)
            finite = np.all(np.isfinite(mean), axis=1)
            idx = np.flatnonzero(alive)
            state[idx[finite]] = mean[finite]
            alive[idx[~finite]] = False
        with np.errstate(over="ignore", invalid="ignore"):
            sq = np.square((state - coverage.obs[:, t + 1]) / scale).mean(axis=1)
        sq[~alive | ~np.isfinite(sq)] = math.inf
        errors[t] = sq.mean()
    return errors


def evaluate_model(
    model: PredictiveModel, coverage: CoverageSet, batch_size: int = 4096
) -> dict[str, float]:
    """Held-out metrics of ``model`` on ``coverage`` (names and units in the module docstring).

    ``rollout_mse_k{k}`` is left out (with a warning) when the set's horizon is shorter than k.
    """
    model_obs_dim = getattr(model, "obs_dim", coverage.obs_dim)
    if model_obs_dim != coverage.obs_dim:
        raise ValueError(f"evaluate_model: model obs_dim {model_obs_dim} != coverage set obs_dim "
                         f"{coverage.obs_dim} (task {coverage.task})")
    obs, act, next_obs = coverage.transitions()
    target = next_obs.astype(np.float64)
    scale = coverage.delta_scale()
    mean, var = predict_batched(model, obs, act, batch_size)
    mean_ok = bool(np.all(np.isfinite(mean)))
    var_ok = bool(np.all(np.isfinite(var))) and bool(np.all(var >= 0))

    metrics: dict[str, float] = {}
    if mean_ok:
        with np.errstate(over="ignore"):
            raw_sq = np.square(mean - target)
            norm_sq = raw_sq / np.square(scale)
        metrics["mse_1step"] = float(norm_sq.mean())
        metrics["mse_1step_raw"] = float(raw_sq.mean())
    else:
        bad = int((~np.all(np.isfinite(mean), axis=1)).sum())
        reason = f"the predicted mean is non-finite for {bad} of {len(mean)} transitions"
        metrics["mse_1step"] = _warn_inf("mse_1step", reason)
        metrics["mse_1step_raw"] = _warn_inf("mse_1step_raw", reason)

    curve = rollout_errors(model, coverage, batch_size)
    for k in ROLLOUT_STEPS:
        name = f"rollout_mse_k{k}"
        if k > coverage.horizon:
            warnings.warn(f"evaluate_model: {name} left out, coverage horizon is "
                          f"{coverage.horizon}", stacklevel=2)
        elif math.isinf(curve[k - 1]):
            metrics[name] = _warn_inf(name, f"the {k}-step rollout diverged to non-finite states")
        else:
            metrics[name] = float(curve[k - 1])

    var_norm = np.maximum(var / np.square(scale), VAR_FLOOR) if var_ok else None
    if not mean_ok or var_norm is None:
        what = "mean" if not mean_ok else "variance (NaN, inf or negative)"
        metrics["nll_1step"] = _warn_inf("nll_1step", f"the predicted {what} is invalid")
    else:
        with np.errstate(over="ignore"):
            nll = 0.5 * (np.log(2.0 * math.pi * var_norm) + norm_sq / var_norm)
        metrics["nll_1step"] = (float(nll.mean()) if np.isfinite(nll).all()
                                else _warn_inf("nll_1step", "the NLL overflowed"))

    has_variance = not var_ok or bool(np.any(var > 0))
    if has_variance:
        if not (mean_ok and var_ok):
            reason = "the predicted mean or variance is invalid"
            metrics["calib_ratio"] = _warn_inf("calib_ratio", reason)
            metrics["calib_corr"] = _warn_inf("calib_corr", reason)
        else:
            err = float(norm_sq.mean())
            pred = float((var / np.square(scale)).mean())
            metrics["calib_ratio"] = pred / err if err > 0 else math.inf
            metrics["calib_corr"] = spearman(
                (var / np.square(scale)).mean(axis=1), norm_sq.mean(axis=1)
            )
    return metrics
