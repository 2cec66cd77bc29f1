"""Score a transition model on a held-out :class:`~advex.engine.coverage.CoverageSet`.

Every result file of advex uses these metric names (``METRIC_NAMES``, plus ``CALIBRATION_NAMES``
for models that predict a variance):

* ``mse_1step``      one-step next-state squared error, **normalised**: the error of dimension
                     ``d`` is divided by the coverage set's scale of the one-step delta
                     (``CoverageSet.delta_scale()``, the std of ``s' - s``), so a fast joint
                     velocity and a slow position weigh the same and 1.0 means "as bad as
                     guessing the mean delta". Mean over the set's transitions and dims.
* ``mse_1step_median`` / ``mse_1step_trim10``  the median and the 10 % trimmed mean
                     (``scipy.stats.trim_mean(e, 0.1)``: 10 % cut from each tail) of the
                     per-transition errors ``e`` (each a mean over dims): robust to the few
                     transitions that dominate a mean.
* ``mse_1step@<pool>``  the mean over transitions whose start came from that pool
                     (``random``, ``sb3``, ``bang_bang``, ``perturbed``; pools with no rows are
                     left out). Weighted by their row counts they give ``mse_1step``.
* ``mse_1step@free`` / ``mse_1step@contact``  the mean over the transitions without / with a
                     contact or joint-limit hit (the coverage set's labels,
                     :mod:`advex.envs.contacts`): free motion and contact are separate
                     questions, and a mean over both is set by whichever carries the larger
                     errors (on InvertedPendulum-v5 the 1.6 % of rail-end transitions carried
                     84-99 % of ``mse_1step``). A stratum with no rows is left out.
                     ``coverage_contact_frac``: the set's share of contact transitions (a fact
                     about the set, the same for every model).
* ``mse_1step@in_support`` / ``mse_1step@out_of_support`` / ``out_of_support_frac``  only
                     when the inputs of the data the model was fitted on are given
                     (``support=``; the whole buffer, both splits): a coverage
                     transition is *in support* when every input coordinate (each obs and each
                     action dimension) lies within ``[min, max]`` of that coordinate over the
                     training inputs; out of support otherwise. The fraction is of transitions.
                     A per-coordinate box is coarse but cheap (O(N x D), where a nearest-
                     neighbour test costs seconds per evaluation in 23 dims and its distances
                     concentrate) and says exactly "some input is outside anything the data
                     saw". A side with no rows is left out.
* ``mse_1step_raw``  the same as ``mse_1step`` in raw observation units (mean over dims).
* ``rollout_mse_k5`` / ``rollout_mse_k20``  open-loop rollout from each start's first
                     observation with the recorded actions, feeding the model's mean back in;
                     normalised squared error at step ``k``, mean over dims and over the
                     starts whose rollout lasted ``k`` steps (rollouts that terminated earlier
                     under ``"env"`` episodes have no true state there; left out when none).
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
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from scipy import stats

from advex.engine.coverage_set import SOURCE_NAMES, CoverageSet
from advex.models.prediction_error import normalised_sq_error

#: Metrics every evaluation reports (rollout metrics need rollouts of >= k steps).
METRIC_NAMES: tuple[str, ...] = (
    "mse_1step", "mse_1step_median", "mse_1step_trim10", "mse_1step_raw",
    "rollout_mse_k5", "rollout_mse_k20", "nll_1step",
)
#: Share cut from *each* tail for ``mse_1step_trim10``.
TRIM_FRACTION = 0.1
#: Extra metrics for models whose predicted variance is not all zero.
CALIBRATION_NAMES: tuple[str, ...] = ("calib_ratio", "calib_corr")
#: Metrics that score a predicted variance (left out for a deterministic evaluation model;
#: the online ensemble's are reported as ``online_<name>``).
UNCERTAINTY_METRICS: tuple[str, ...] = ("nll_1step", *CALIBRATION_NAMES)
#: Metrics that describe the data or the coverage set, not the model (never made inf).
FACT_METRICS: tuple[str, ...] = ("out_of_support_frac", "coverage_contact_frac")
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


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation of two ``B`` vectors (``scipy.stats.spearmanr``); 0.0 if
    either is constant (scipy's NaN there would poison a results table)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return 0.0
    return float(stats.spearmanr(x, y).statistic)


@dataclass(frozen=True)
class SupportBox:
    """Per-coordinate ``[low, high]`` (each ``O + A``) of a model's training inputs
    ``[obs, act]``: the support test of ``mse_1step@in_support`` (module docstring)."""

    low: np.ndarray
    high: np.ndarray

    @classmethod
    def of(cls, obs: np.ndarray, act: np.ndarray) -> SupportBox:
        """The box of ``N x O`` training observations and ``N x A`` actions (``N >= 1``)."""
        inputs = np.concatenate([obs, act], axis=1).astype(np.float64)
        if len(inputs) == 0:
            raise ValueError("SupportBox.of: no training inputs")
        return cls(inputs.min(axis=0), inputs.max(axis=0))

    def contains(self, obs: np.ndarray, act: np.ndarray) -> np.ndarray:
        """``N`` bool: every coordinate of ``[obs, act]`` row lies within the box."""
        inputs = np.concatenate([obs, act], axis=1).astype(np.float64)
        if inputs.shape[1] != len(self.low):
            raise ValueError(
                f"SupportBox: inputs have {inputs.shape[1]} coordinates, the box "
                f"{len(self.low)}"
            )
        return np.all((inputs >= self.low) & (inputs <= self.high), axis=1)


def rollout_errors(
    model: PredictiveModel, coverage: CoverageSet, batch_size: int = 4096
) -> np.ndarray:
    """Normalised open-loop squared error at every step: ``K`` vector, entry ``k-1`` = step k.

    Each start's rollout begins at ``obs[:, 0]``, applies the recorded actions and feeds the
    model's mean back in; step k is averaged over the starts whose rollout lasted ``k`` steps
    (NaN when none did). A rollout whose prediction turns non-finite stops there (the model is
    never fed NaN) and counts as ``inf`` from that step on.
    """
    scale = coverage.delta_scale()
    lengths = coverage.lengths
    assert lengths is not None
    state = coverage.obs[:, 0].astype(np.float64)
    alive = np.ones(coverage.n_starts, dtype=bool)  # prediction still finite
    errors = np.full(coverage.horizon, np.nan, dtype=np.float64)
    for t in range(coverage.horizon):
        recorded = lengths > t  # starts with a true state at step t + 1
        if not recorded.any():
            break
        step = alive & recorded
        if step.any():
            mean, _ = predict_batched(model, state[step], coverage.act[step, t], batch_size)
            finite = np.all(np.isfinite(mean), axis=1)
            idx = np.flatnonzero(step)
            state[idx[finite]] = mean[finite]
            alive[idx[~finite]] = False
        with np.errstate(over="ignore", invalid="ignore"):
            sq = np.square((state - coverage.obs[:, t + 1]) / scale).mean(axis=1)
        sq[~alive | ~np.isfinite(sq)] = math.inf
        errors[t] = sq[recorded].mean()
    return errors


def evaluate_model(
    model: PredictiveModel,
    coverage: CoverageSet,
    batch_size: int = 4096,
    *,
    support: SupportBox | None = None,
    rollouts: bool = True,
) -> dict[str, float]:
    """Held-out metrics of ``model`` on ``coverage`` (names and units in the module docstring).

    ``support``: the box of the inputs the model was fitted on (its whole buffer), for the
    in/out-of-support split. ``rollouts=False`` leaves out the ``rollout_mse_k*`` metrics (the
    open-loop rollouts cost more than everything else here; a caller that keeps only the
    one-step or uncertainty metrics skips them).
    ``rollout_mse_k{k}`` is left out when no rollout of the set lasts k steps (a warning says
    so when k exceeds the set's horizon; under ``"env"`` episodes short rollouts are normal).
    """
    model_obs_dim = getattr(model, "obs_dim", coverage.obs_dim)
    model_act_dim = getattr(model, "act_dim", coverage.act_dim)
    if (model_obs_dim, model_act_dim) != (coverage.obs_dim, coverage.act_dim):
        raise ValueError(
            f"evaluate_model: model is {model_obs_dim}-obs/{model_act_dim}-act, the coverage "
            f"set {coverage.obs_dim}/{coverage.act_dim} (task {coverage.task})"
        )
    obs, act, next_obs = coverage.transitions()
    target = next_obs.astype(np.float64)
    scale = coverage.delta_scale()
    mean, var = predict_batched(model, obs, act, batch_size)
    mean_ok = bool(np.all(np.isfinite(mean)))
    var_ok = bool(np.all(np.isfinite(var))) and bool(np.all(var >= 0))

    metrics: dict[str, float] = {}
    norm_sq = np.zeros_like(mean)
    if mean_ok:
        with np.errstate(over="ignore"):
            raw_sq = np.square(mean - target)
            norm_sq = raw_sq / np.square(scale)
            per_row = normalised_sq_error(mean, target, scale)  # the adversaries' loss too
        metrics["mse_1step"] = float(per_row.mean())
        metrics["mse_1step_median"] = float(np.median(per_row))
        metrics["mse_1step_trim10"] = float(stats.trim_mean(per_row, TRIM_FRACTION))
        metrics.update(_stratified(per_row, coverage, obs, act, support))
        metrics["mse_1step_raw"] = float(raw_sq.mean())
    else:
        bad = int((~np.all(np.isfinite(mean), axis=1)).sum())
        reason = f"the predicted mean is non-finite for {bad} of {len(mean)} transitions"
        # Every error metric a finite model would have gets inf (the stratified ones too, so
        # a diverged fit never makes a metric vanish from one point of a curve).
        per_row = np.full(len(mean), math.inf)
        stratified = _stratified(per_row, coverage, obs, act, support)
        names = ["mse_1step", "mse_1step_median", "mse_1step_trim10", *stratified]
        for name in names:
            if name in FACT_METRICS:  # a fact about the data, not the model
                metrics[name] = stratified[name]
            else:
                metrics[name] = _warn_inf(name, reason)
        metrics["mse_1step_raw"] = _warn_inf("mse_1step_raw", reason)

    curve = rollout_errors(model, coverage, batch_size) if rollouts else np.zeros(0)
    for k in ROLLOUT_STEPS if rollouts else ():
        name = f"rollout_mse_k{k}"
        if k > coverage.horizon:
            warnings.warn(f"evaluate_model: {name} left out, the coverage set's horizon is "
                          f"{coverage.horizon}", stacklevel=2)
        elif math.isnan(curve[k - 1]):
            continue  # every rollout terminated before step k
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


def _stratified(
    per_row: np.ndarray,
    coverage: CoverageSet,
    obs: np.ndarray,
    act: np.ndarray,
    support: SupportBox | None,
) -> dict[str, float]:
    """``mse_1step@<pool>``, the free/contact strata and, given ``support``, the
    in/out-of-support split of the ``N`` per-transition errors ``per_row`` (sides or pools
    without rows are left out)."""
    out: dict[str, float] = {}
    pools = coverage.row_sources()
    for index, name in enumerate(SOURCE_NAMES):
        rows = pools == index
        if rows.any():
            out[f"mse_1step@{name}"] = float(per_row[rows].mean())
    contact = coverage.row_contacts()
    for stratum, rows in (("free", ~contact), ("contact", contact)):
        if rows.any():
            out[f"mse_1step@{stratum}"] = float(per_row[rows].mean())
    out["coverage_contact_frac"] = float(contact.mean())
    if support is not None:
        inside = support.contains(obs, act)
        out["out_of_support_frac"] = float(1.0 - inside.mean())
        for side, rows in (("in_support", inside), ("out_of_support", ~inside)):
            if rows.any():
                out[f"mse_1step@{side}"] = float(per_row[rows].mean())
    return out
