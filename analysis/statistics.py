"""Across-seed statistics for the comparison: IQM, percentile bootstrap CIs, paired ratios,
gap closed and sustained steps-to-reach.

Held-out errors are heavy-tailed across seeds (one run's model can extrapolate wildly off its
data), and a comparison has only a handful of seeds, so this follows rliable's habits
(Agarwal et al. 2021, "Deep RL at the edge of the statistical precipice"):

- the point estimate is the interquartile mean (IQM, the mean of the middle 50 % of seeds):
  robust to a wild seed once there are four or more (with three or fewer it trims nothing
  and is the plain mean), yet less noisy than the median;
- intervals are percentile bootstrap CIs over seeds (no normality assumption, which a t-table
  on five heavy-tailed values would make);
- comparisons with a reference (random exploration, the no-change model, the oracle) are
  paired by seed: the seed fixes the coverage set and the model initialisation, so per-seed
  ratios cancel what the seeds share.

Every function is pure (numpy/pandas in, numbers out) and seeded: the same inputs and ``seed``
give the same intervals.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeAlias, overload

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

# A statistic maps an array and an ``axis`` to that array reduced along the axis (vectorized,
# as scipy.stats.bootstrap wants it: one call evaluates all resamples at once).
Statistic = Callable[..., Any]

# scipy >= 1.15 seeds bootstrap through ``rng``; older releases through ``random_state``.
_RNG_KW = "rng" if "rng" in inspect.signature(stats.bootstrap).parameters else "random_state"

# Seed values paired by label (a Series indexed by seed) or by position (an array).
SeedValues: TypeAlias = pd.Series | ArrayLike


@dataclass(frozen=True)
class Estimate:
    """An across-seed aggregate with its percentile bootstrap CI.

    ``per_seed`` holds the per-seed quantity that was aggregated (indexed by seed where the
    inputs were Series, by position otherwise); NaN where a seed's value is undefined. Equality
    compares the aggregate and its CI only.
    """

    value: float
    ci_low: float
    ci_high: float
    per_seed: pd.Series = field(compare=False)


@dataclass(frozen=True)
class Reach:
    """Steps for a strategy's seed-aggregate curve to reach the reference's final aggregate.

    ``steps`` is NaN when not reached within the common steps; ``ratio = steps / budget`` with
    ``budget`` the reference's last env step on the common grid. The CI is on ``ratio``; its
    ends are ratios the bootstrap actually produced, ``inf`` where resamples did not reach.
    """

    steps: float
    ratio: float
    budget: float
    target: float
    ci_low: float
    ci_high: float


@overload
def iqm(x: ArrayLike) -> float: ...


@overload
def iqm(x: ArrayLike, axis: int) -> np.ndarray: ...


def iqm(x: ArrayLike, axis: int | None = None) -> float | np.ndarray:
    """Interquartile mean: ``scipy.stats.trim_mean(x, 0.25)``, the mean after cutting a quarter
    of the values from each end (rliable's IQM).

    Without ``axis``: ``x`` is flattened, NaNs (missing seeds) are dropped, and the result is a
    float (NaN for no values). With ``axis``: vectorized reduction along that axis (shape of
    ``x`` minus that axis), NaNs not dropped: the form :func:`bootstrap_ci` needs.
    """
    if axis is not None:
        return np.asarray(stats.trim_mean(np.asarray(x, dtype=np.float64), 0.25, axis=axis))
    values = np.asarray(x, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size == 0:
        return math.nan
    return float(stats.trim_mean(values, 0.25))


def mean(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Arithmetic mean along ``axis``, as :func:`bootstrap_ci` calls a statistic (of a
    geometric mean, on logs; of returns, as they are)."""
    return np.asarray(np.mean(x, axis=axis))


def bootstrap_ci(
    x: ArrayLike,
    statistic: Statistic = iqm,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of ``statistic`` over the values of ``x`` (one per seed).

    ``x`` is flattened and its NaNs dropped. ``statistic(values, axis=...)`` must reduce along
    ``axis`` (scipy evaluates all resamples in one vectorized call). Calls
    ``scipy.stats.bootstrap(method="percentile")`` with ``np.random.default_rng(seed)``, so a
    given seed always gives the same interval. Returns ``(low, high)``; ``(nan, nan)`` for fewer
    than two values (no spread to resample); ``(v, v)`` when all values equal ``v``, without
    calling scipy (every resample is the same, and scipy warns on degenerate data). That last
    rule assumes a location statistic (IQM, mean, median: the statistic of ``v, v, ...`` is
    ``v``), which is what this module bootstraps; it keeps the exact ``v`` (a float mean of
    copies of 0.7 is 0.6999...).
    """
    values = np.asarray(x, dtype=np.float64).ravel()
    values = values[~np.isnan(values)]
    if values.size < 2:
        return math.nan, math.nan
    if np.all(values == values[0]):
        v = float(values[0])
        return v, v
    result = stats.bootstrap(
        (values,),
        statistic,
        n_resamples=n_resamples,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        **{_RNG_KW: np.random.default_rng(seed)},
    )
    ci = result.confidence_interval
    return _infinite_end(float(ci.low), values), _infinite_end(float(ci.high), values)


def _infinite_end(end: float, values: np.ndarray) -> float:
    """A CI end that came out NaN because the percentile fell between two equal infinities (a
    diverged seed: an ``inf`` error, a ``-inf`` gap) is that infinity."""
    if not math.isnan(end):
        return end
    signs = set(np.sign(values[np.isinf(values)]).tolist())
    return math.copysign(math.inf, signs.pop()) if len(signs) == 1 else end


def _align(*columns: SeedValues) -> tuple[pd.Index, list[np.ndarray]]:
    """Pair per-seed values: Series on the seeds they all have (inner join on the index),
    anything else by position (equal lengths required). Returns the seeds and float arrays."""
    if all(isinstance(c, pd.Series) for c in columns):
        series = [c for c in columns if isinstance(c, pd.Series)]
        seeds = series[0].index
        for s in series[1:]:
            seeds = seeds.intersection(s.index, sort=False)
        seeds = seeds.sort_values()
        return seeds, [s.loc[seeds].to_numpy(dtype=np.float64) for s in series]
    arrays = [np.asarray(c, dtype=np.float64).ravel() for c in columns]
    if len({a.size for a in arrays}) > 1:
        raise ValueError(f"per-seed arrays differ in length: {[a.size for a in arrays]}")
    return pd.RangeIndex(arrays[0].size), arrays


def paired_ratio(
    values: SeedValues,
    reference: SeedValues,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Per-seed ratio ``values / reference`` on the seeds both have, aggregated as the geometric
    mean with a bootstrap CI.

    Errors compare multiplicatively (0.5x random is as good as 2x is bad), so the aggregate is
    ``exp(mean(log ratio))`` and the CI is the percentile bootstrap of the mean log ratio,
    exponentiated. A seed whose value diverged (``inf``) has ratio ``inf`` and makes the
    aggregate ``inf``: a diverged seed is a result, never silently dropped. Ratios that are
    undefined (a NaN, or a zero or negative value or reference) are NaN in ``per_seed`` and
    left out of the aggregate.
    """
    seeds, (v, r) = _align(values, reference)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = v / r
    ok = (ratios > 0) & ~np.isnan(ratios) & np.isfinite(r) & (r > 0)
    ratios = np.where(ok, ratios, np.nan)
    per_seed = pd.Series(ratios, index=seeds, name="ratio")
    logs = np.log(ratios[ok])
    if logs.size == 0:
        return Estimate(math.nan, math.nan, math.nan, per_seed)
    low, high = bootstrap_ci(logs, mean, confidence, n_resamples, seed)
    # np.exp of a +inf mean is inf; the upper end is inf whenever a seed diverged.
    high = math.inf if np.isinf(logs).any() else high
    return Estimate(float(np.exp(logs.mean())), math.exp(low), math.exp(high), per_seed)


def gap_closed(
    value: SeedValues,
    no_change: SeedValues,
    oracle: SeedValues,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Estimate:
    """Fraction of the no-change -> oracle gap a strategy's error closes, per seed:
    ``(no_change - value) / (no_change - oracle)``; then IQM with a bootstrap CI across seeds.

    0 = no better than predicting s' = s, 1 = as good as training on held-out-like data
    (can exceed 1 or go below 0). Seeds are paired (each seed has its own coverage set). A
    seed where the oracle is no better than no-change (``no_change - oracle <= 0``) has no gap
    to close and is NaN, left out of the aggregate (dividing by a negative gap would flip the
    sign). A diverged strategy value (``inf``) gives ``-inf``, which the IQM trims once there
    are four or more seeds and which otherwise shows.
    """
    seeds, (v, nc, orc) = _align(value, no_change, oracle)
    scale = nc - orc
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps = (nc - v) / scale
    gaps = np.where((scale > 0) & np.isfinite(scale) & ~np.isnan(gaps), gaps, np.nan)
    per_seed = pd.Series(gaps, index=seeds, name="gap_closed")
    low, high = bootstrap_ci(gaps, iqm, confidence, n_resamples, seed)
    return Estimate(iqm(gaps), low, high, per_seed)


def sustained_reach(steps: ArrayLike, curve: ArrayLike, target: float) -> float:
    """First step ``n`` with ``curve[m] <= target`` for every ``m >= n``; NaN if the last point
    is above ``target``.

    ``steps`` and ``curve`` are 1-D of equal length (sorted by step here). "Reached" means
    reached for good: a noisy dip below the target followed by a rise does not count, so the
    figure cannot be won by one lucky evaluation. NaN curve values count as above the target.
    """
    s = np.asarray(steps, dtype=np.float64).ravel()
    c = np.asarray(curve, dtype=np.float64).ravel()
    if s.size != c.size:
        raise ValueError(f"steps ({s.size}) and curve ({c.size}) differ in length")
    if s.size == 0:
        return math.nan
    order = np.argsort(s, kind="stable")
    index = _sustained_index((c[order] <= target)[None, :])[0]
    return math.nan if index < 0 else float(s[order][index])


def _sustained_index(ok: np.ndarray) -> np.ndarray:
    """Row-wise index of the first column from which ``ok`` (rows x steps, bool) stays True to
    the end; -1 for rows whose last column is False."""
    n_steps = ok.shape[1]
    bad = ~ok
    any_bad = bad.any(axis=1)
    last_bad = n_steps - 1 - np.argmax(bad[:, ::-1], axis=1)
    index = np.where(any_bad, last_bad + 1, 0)
    return np.where(index >= n_steps, -1, index)


def reach_vs_reference(
    steps: ArrayLike,
    curves: ArrayLike,
    reference_curves: ArrayLike,
    *,
    is_reference: bool = False,
    statistic: Statistic = iqm,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Reach:
    """Steps for a strategy's seed-aggregate curve to reach, for good, the reference's final
    seed-aggregate value; with a paired bootstrap CI over seeds.

    ``steps``: (T,) common evaluation steps, ascending. ``curves``, ``reference_curves``:
    (S, T) per-seed curves of the strategy and of the reference, row i = the same seed in both,
    no NaNs. Each is aggregated across seeds with ``statistic`` (IQM) at every step;
    target = the reference's aggregate at the last step, budget = the last step;
    steps = :func:`sustained_reach` of the strategy's aggregate; ratio = steps / budget.

    ``is_reference``: the row of the reference itself, which reports steps = budget and
    ratio = 1.0 with CI (1.0, 1.0) by construction. (Its aggregate curve may sit at or below
    its own final value earlier, yet "reaching random's final error" means doing with fewer
    steps what random did with its whole budget, which random cannot do against itself.)

    CI: not scipy.stats.bootstrap but one seeded, vectorized draw of ``n_resamples`` seed-index
    resamples (``np.random.default_rng(seed)``), the same indices for strategy and reference
    (paired); each resample recomputes both aggregates, the target and the reach ratio, with
    "not reached" as +inf. The percentile ends use non-interpolating quantiles (lower/higher):
    the ratio is discrete (grid steps) and can be inf, where interpolation would give NaN.
    """
    s = np.asarray(steps, dtype=np.float64).ravel()
    a = np.asarray(curves, dtype=np.float64)
    r = np.asarray(reference_curves, dtype=np.float64)
    if a.ndim != 2 or a.shape != r.shape or a.shape[1] != s.size:
        raise ValueError(
            f"curves {a.shape} and reference_curves {r.shape} must both be (seeds, {s.size})"
        )
    if np.isnan(a).any() or np.isnan(r).any():
        raise ValueError("curves hold NaN: pass only the seeds and steps both have")
    if s.size == 0 or a.shape[0] == 0:
        return Reach(math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    if np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly ascending")
    budget = float(s[-1])
    target = float(statistic(r, axis=0)[-1])
    if is_reference:
        return Reach(budget, 1.0, budget, target, 1.0, 1.0)
    reached = sustained_reach(s, statistic(a, axis=0), target)
    low = high = math.nan
    n_seeds = a.shape[0]
    if n_seeds >= 2:
        rng = np.random.default_rng(seed)
        idx = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))
        agg = statistic(a[idx], axis=1)  # (n_resamples, T)
        ref_target = statistic(r[idx], axis=1)[:, -1]  # (n_resamples,)
        index = _sustained_index(agg <= ref_target[:, None])
        ratios = np.where(index >= 0, s[np.maximum(index, 0)] / budget, np.inf)
        alpha = 1.0 - confidence
        low = float(np.quantile(ratios, alpha / 2, method="lower"))
        high = float(np.quantile(ratios, 1 - alpha / 2, method="higher"))
    return Reach(reached, reached / budget, budget, target, low, high)
