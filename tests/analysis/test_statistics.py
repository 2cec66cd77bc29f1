"""Across-seed statistics on known samples: IQM by hand, CIs equal to scipy's, paired ratios,
gap closed, sustained steps-to-reach, and the reference's own row fixed at its budget."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from advex.analysis import statistics
from advex.analysis.statistics import (
    bootstrap_ci,
    gap_closed,
    iqm,
    paired_ratio,
    reach_vs_reference,
    sustained_reach,
)

SAMPLE = np.array([9.0, 1.0, 100.0, 3.0, 5.0, 2.0, 10.0, 4.0])


def test_iqm_is_the_mean_of_the_middle_half() -> None:
    # sorted: 1 2 | 3 4 5 9 | 10 100 -> mean of the middle four = 21 / 4
    assert iqm(SAMPLE) == pytest.approx(5.25)
    assert iqm(SAMPLE) != pytest.approx(np.median(SAMPLE))  # 4.5: not the median
    assert iqm([*SAMPLE, np.nan]) == pytest.approx(5.25)  # a missing seed is left out
    assert math.isnan(iqm([]))
    matrix = np.stack([SAMPLE, 2 * SAMPLE], axis=1)  # (8 seeds, 2 steps)
    np.testing.assert_allclose(iqm(matrix, axis=0), [5.25, 10.5])


def _scipy_iqm(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(stats.trim_mean(x, 0.25, axis=axis))


@pytest.mark.parametrize(("confidence", "seed"), [(0.95, 0), (0.9, 7)])
def test_bootstrap_ci_is_scipys_percentile_bootstrap(confidence: float, seed: int) -> None:
    direct = stats.bootstrap(
        (SAMPLE,),
        _scipy_iqm,
        n_resamples=2000,
        confidence_level=confidence,
        method="percentile",
        rng=np.random.default_rng(seed),
    ).confidence_interval
    low, high = bootstrap_ci(SAMPLE, confidence=confidence, seed=seed)
    assert (low, high) == pytest.approx((direct.low, direct.high), rel=1e-12)
    assert low < iqm(SAMPLE) < high


def test_bootstrap_ci_edge_cases_and_determinism(monkeypatch: pytest.MonkeyPatch) -> None:
    assert bootstrap_ci(SAMPLE, seed=3) == bootstrap_ci(SAMPLE, seed=3)
    assert bootstrap_ci(SAMPLE, seed=3) != bootstrap_ci(SAMPLE, seed=4)
    assert all(math.isnan(v) for v in bootstrap_ci([2.0]))
    assert all(math.isnan(v) for v in bootstrap_ci([2.0, np.nan]))

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("scipy.stats.bootstrap called on constant data")

    monkeypatch.setattr(statistics.stats, "bootstrap", boom)
    assert bootstrap_ci([0.7, 0.7, 0.7]) == (0.7, 0.7)


def test_paired_ratio_is_exact_for_a_constant_factor() -> None:
    rnd = pd.Series([0.3, 0.7, 1.9, 0.11, 4.2], index=[0, 1, 2, 3, 4])
    half = paired_ratio(0.5 * rnd, rnd)
    assert half.value == pytest.approx(0.5)
    assert (half.ci_low, half.ci_high) == pytest.approx((0.5, 0.5))
    # pairing is by seed label, not position: seeds 5 and 0 have no partner
    shifted = pd.Series([0.5 * rnd[s] for s in (1, 2, 3, 4)] + [9.0], index=[1, 2, 3, 4, 5])
    paired = paired_ratio(shifted, rnd)
    assert list(paired.per_seed.index) == [1, 2, 3, 4]
    assert paired.value == pytest.approx(0.5)


def test_paired_ratio_is_a_geometric_mean_with_a_log_bootstrap() -> None:
    values, reference = np.array([1.0, 4.0, 2.0, 8.0]), np.array([2.0, 2.0, 4.0, 2.0])
    ratio = paired_ratio(values, reference, seed=5)  # ratios 0.5, 2, 0.5, 4
    assert ratio.value == pytest.approx((0.5 * 2 * 0.5 * 4) ** 0.25)
    low, high = bootstrap_ci(np.log([0.5, 2.0, 0.5, 4.0]), statistics.mean, seed=5)
    assert (ratio.ci_low, ratio.ci_high) == pytest.approx((math.exp(low), math.exp(high)))
    assert paired_ratio(values, reference, seed=5) == ratio  # deterministic


def test_gap_closed_is_one_at_the_oracle_and_zero_at_no_change() -> None:
    no_change = pd.Series([5.0, 6.0, 4.0, 5.5], index=[0, 1, 2, 3])
    oracle = pd.Series([0.2, 0.3, 0.25, 0.1], index=[0, 1, 2, 3])
    at_oracle = gap_closed(oracle, no_change, oracle)
    assert at_oracle.value == 1.0 and (at_oracle.ci_low, at_oracle.ci_high) == (1.0, 1.0)
    at_no_change = gap_closed(no_change, no_change, oracle)
    assert at_no_change.value == 0.0 and (at_no_change.ci_low, at_no_change.ci_high) == (0, 0)
    halfway = gap_closed((no_change + oracle) / 2, no_change, oracle)
    assert halfway.value == pytest.approx(0.5)
    mixed = (no_change + oracle) / 2 + pd.Series([0.3, -0.2, 0.1, 0.0], index=[0, 1, 2, 3])
    assert gap_closed(mixed, no_change, oracle, seed=2) == gap_closed(
        mixed, no_change, oracle, seed=2
    )


def test_sustained_reach_ignores_a_dip() -> None:
    steps = [100, 200, 300, 400, 500]
    # dips to 0.4 at 200, rises to 0.9, comes back for good at 400
    assert sustained_reach(steps, [1.0, 0.4, 0.9, 0.5, 0.45], 0.5) == 400
    assert sustained_reach(steps, [1.0, 0.4, 0.4, 0.4, 0.6], 0.5) != sustained_reach(
        steps, [1.0, 0.4, 0.4, 0.4, 0.4], 0.5
    )
    assert math.isnan(sustained_reach(steps, [1.0, 0.4, 0.4, 0.4, 0.6], 0.5))
    assert sustained_reach(steps, [0.1, 0.2, 0.3, 0.4, 0.5], 0.5) == 100  # equal counts
    assert sustained_reach(steps[::-1], [0.45, 0.5, 0.9, 0.4, 1.0], 0.5) == 400  # unsorted


STEPS = np.array([100.0, 200.0, 300.0, 400.0])
# random's seed-IQM curve dips to 0.325 at 200 steps, below its own final 0.55
RANDOM = np.array([[1.0, 0.3, 0.45, 0.5], [1.0, 0.35, 0.5, 0.6]])


def test_reference_own_row_is_its_budget_even_after_a_dip() -> None:
    own = reach_vs_reference(STEPS, RANDOM, RANDOM, is_reference=True)
    assert (own.steps, own.ratio, own.budget) == (400.0, 1.0, 400.0)
    assert (own.ci_low, own.ci_high) == (1.0, 1.0)
    assert own.target == pytest.approx(0.55)
    # the same curves as a strategy "reach" early: the construction is what pins the row
    twin = reach_vs_reference(STEPS, RANDOM, RANDOM)
    assert twin.steps == 200.0


def test_reach_on_the_seed_aggregate_with_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(0)
    random = np.exp(rng.normal(0, 0.1, (6, 4))) * [1.0, 0.8, 0.6, 0.5]
    fast = random * [0.6, 0.55, 0.5, 0.5]  # at or below random's final from 200 steps on
    reach = reach_vs_reference(STEPS, fast, random, seed=1)
    target = iqm(random[:, -1])
    assert reach.target == pytest.approx(target)
    assert reach.steps == sustained_reach(STEPS, iqm(fast, axis=0), target) == 200.0
    assert reach.ratio == 0.5
    assert reach.ci_low <= 0.5 <= reach.ci_high <= 1.0
    assert reach_vs_reference(STEPS, fast, random, seed=1) == reach  # deterministic

    slow = random * [1.0, 1.0, 1.0, 1.02]  # ends just above random: usually not reached
    never = reach_vs_reference(STEPS, slow, random, seed=1)
    assert math.isnan(never.steps) and math.isnan(never.ratio)
    assert never.ci_high == math.inf

    one_seed = reach_vs_reference(STEPS, fast[:1], random[:1])
    assert one_seed.steps == 200.0 and math.isnan(one_seed.ci_low)
    with pytest.raises(ValueError, match="NaN"):
        reach_vs_reference(STEPS, np.full((2, 4), np.nan), RANDOM)


def test_reach_bootstrap_resamples_seeds_paired() -> None:
    # seeds differ 10x in level; the strategy is 0.9x random's final error on each seed, so
    # every paired resample reaches at the first step, while unpaired resamples often would not
    spread = np.exp(np.random.default_rng(3).normal(0, 1.5, (6, 1)))
    random = spread * [2.0, 1.5, 1.2, 1.0]
    strategy = 0.9 * random[:, -1:] * np.ones(4)
    reach = reach_vs_reference(STEPS, strategy, random, seed=0)
    assert (reach.steps, reach.ratio) == (100.0, 0.25)
    assert (reach.ci_low, reach.ci_high) == (0.25, 0.25)


def test_diverged_seed_is_never_silently_dropped() -> None:
    """A strategy whose fits diverged on one seed (value inf) must not be summarised from its
    good seeds only."""
    from advex.analysis.statistics import gap_closed, paired_ratio

    ratio = paired_ratio(np.array([0.5, 0.5, 0.5, np.inf]), np.array([0.6] * 4))
    assert ratio.value == np.inf and ratio.ci_high == np.inf
    gap = gap_closed(np.array([0.5, 0.5, np.inf]), np.array([1.0] * 3), np.array([0.2] * 3))
    assert gap.value == -np.inf  # 3 seeds: the IQM trims nothing, the divergence shows
    four = gap_closed(np.array([0.5] * 3 + [np.inf]), np.array([1.0] * 4), np.array([0.2] * 4))
    assert math.isfinite(four.value) and four.ci_low == -np.inf  # trimmed, but in the CI


def test_gap_closed_undefined_when_the_oracle_is_no_better_than_no_change() -> None:
    from advex.analysis.statistics import gap_closed

    gap = gap_closed(np.array([1.5, 0.5]), np.array([1.0, 1.0]), np.array([1.1, 0.5]))
    assert math.isnan(gap.per_seed.iloc[0]) and gap.per_seed.iloc[1] == 1.0
