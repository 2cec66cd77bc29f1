"""evaluate_model against hand-computed answers on a synthetic coverage set.

The set follows integrator dynamics ``s' = s + a B^T`` on a dyadic grid, so float32 storage is
exact and stand-in models with known bias give metrics that can be written down by hand.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from advex.engine.coverage import SOURCE_NAMES, CoverageConfig, CoverageSet
from advex.engine.metrics import (
    CALIBRATION_NAMES,
    METRIC_NAMES,
    NonFinitePredictionWarning,
    SupportBox,
    evaluate_model,
    rollout_errors,
    spearman,
)

S, K, O, A = 24, 20, 3, 2
#: The strata a set without contact transitions reports.
FREE_ONLY = {"mse_1step@free", "coverage_contact_frac"}
B_MATRIX = np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 2.0]])  # O x A


def make_synthetic_coverage(
    horizon: int = K, seed: int = 0, sources: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
) -> CoverageSet:
    rng = np.random.default_rng(seed)
    act = rng.integers(-4, 5, size=(S, horizon, A)) / 4.0  # multiples of 1/4: exact in float32
    obs = np.empty((S, horizon + 1, O))
    obs[:, 0] = rng.integers(-8, 9, size=(S, O)) / 2.0
    for t in range(horizon):
        obs[:, t + 1] = obs[:, t] + act[:, t] @ B_MATRIX.T
    return CoverageSet(
        task="synthetic", seed=seed, start_states=np.zeros((S, 5)),
        obs=obs.astype(np.float32), act=act.astype(np.float32),
        sources=np.zeros(S, dtype=np.int8) if sources is None else sources.astype(np.int8),
        config=CoverageConfig(horizon=horizon), lengths=lengths,
        terminated=None if lengths is None else (
            np.arange(horizon)[None, :] == (lengths[:, None] - 1)) & (lengths[:, None] < horizon),
    )


class ExactModel:
    """The true dynamics, plus an optional constant bias ``O`` and variance ``O``."""

    def __init__(self, bias: np.ndarray | None = None, var: np.ndarray | None = None) -> None:
        self.bias = np.zeros(O) if bias is None else np.asarray(bias, dtype=np.float64)
        self.var = np.zeros(O) if var is None else np.asarray(var, dtype=np.float64)
        self.calls = 0

    def predict(self, obs, act):
        assert not torch.is_grad_enabled(), "metrics must call predict under torch.no_grad"
        assert np.all(np.isfinite(obs)), "metrics fed a non-finite state to the model"
        self.calls += 1
        mean = obs.astype(np.float64) + act.astype(np.float64) @ B_MATRIX.T + self.bias
        return mean, np.broadcast_to(self.var, mean.shape).copy()


class IdentityModel:
    """Predicts ``s' = s`` with zero variance."""

    def predict(self, obs, act):
        return obs.copy(), np.zeros_like(obs)


class TorchExactModel(ExactModel):
    """Same as ExactModel but answers with torch tensors (as advex models do for torch in)."""

    def predict(self, obs, act):
        mean, var = super().predict(obs, act)
        return torch.from_numpy(mean), torch.from_numpy(var)


def deltas(coverage: CoverageSet) -> np.ndarray:
    return (coverage.obs[:, 1:] - coverage.obs[:, :-1]).reshape(-1, O).astype(np.float64)


def test_delta_scale_is_std_of_one_step_delta():
    coverage = make_synthetic_coverage()
    np.testing.assert_allclose(coverage.delta_scale(), deltas(coverage).std(axis=0))


def test_exact_dynamics_scores_zero_everywhere():
    metrics = evaluate_model(ExactModel(), make_synthetic_coverage())
    # zero variance -> no calibration metrics; one pool; no contact rows; no support given
    assert set(metrics) == set(METRIC_NAMES) | {"mse_1step@random"} | FREE_ONLY
    for name in ("mse_1step", "mse_1step_raw", "rollout_mse_k5", "rollout_mse_k20"):
        assert metrics[name] == 0.0, name


def test_identity_model_mse_is_mean_squared_normalised_delta():
    coverage = make_synthetic_coverage()
    d = deltas(coverage)
    metrics = evaluate_model(IdentityModel(), coverage)
    assert metrics["mse_1step"] == pytest.approx(np.mean((d / d.std(axis=0)) ** 2))
    assert metrics["mse_1step_raw"] == pytest.approx(np.mean(d**2))
    # Normalised by the delta std, each dim's mean square is var/std^2 + mean^2/std^2 >= 1.
    assert metrics["mse_1step"] >= 1.0


def test_constant_bias_hand_computed_one_step_rollout_and_nll():
    coverage = make_synthetic_coverage()
    scale = deltas(coverage).std(axis=0)
    bias = np.array([0.1, -0.2, 0.05])
    sigma2 = np.array([0.01, 0.04, 0.09])
    metrics = evaluate_model(ExactModel(bias, sigma2), coverage)
    per_step = np.mean((bias / scale) ** 2)
    assert metrics["mse_1step"] == pytest.approx(per_step)
    assert metrics["mse_1step_raw"] == pytest.approx(np.mean(bias**2))
    # Integrator dynamics: the rollout error after k steps is exactly k * bias.
    assert metrics["rollout_mse_k5"] == pytest.approx(25 * per_step)
    assert metrics["rollout_mse_k20"] == pytest.approx(400 * per_step)
    v = sigma2 / scale**2
    nll = np.mean(0.5 * (np.log(2 * math.pi * v) + (bias / scale) ** 2 / v))
    assert metrics["nll_1step"] == pytest.approx(nll)
    assert metrics["calib_ratio"] == pytest.approx(np.mean(v) / per_step)
    assert metrics["calib_corr"] == 0.0  # constant variance ranks nothing


def test_rollout_error_grows_with_k_for_biased_model():
    curve = rollout_errors(ExactModel(bias=[0.05, 0.05, -0.05]), make_synthetic_coverage())
    assert curve.shape == (K,)
    assert np.all(np.diff(curve) > 0)
    # (float32 model inputs round the bias slightly, hence rtol)
    np.testing.assert_allclose(curve / curve[0], np.arange(1, K + 1) ** 2, rtol=1e-5)


class HeteroscedasticModel:
    """Error proportional to the first action; variance = that error squared (calibrated)."""

    c = np.array([0.3, -0.1, 0.2])

    def predict(self, obs, act):
        a0 = act[:, :1].astype(np.float64) + 2.0  # never zero: errors all differ from 0
        mean = obs + act.astype(np.float64) @ B_MATRIX.T + a0 * self.c
        return mean, (a0 * self.c) ** 2


def test_calibrated_heteroscedastic_model_has_ratio_one_and_corr_one():
    metrics = evaluate_model(HeteroscedasticModel(), make_synthetic_coverage())
    assert metrics["calib_ratio"] == pytest.approx(1.0)
    # Per-transition variance and error agree up to float rounding, which can split ties.
    assert metrics["calib_corr"] > 0.99
    assert set(metrics) == (set(METRIC_NAMES) | set(CALIBRATION_NAMES) | {"mse_1step@random"}
                            | FREE_ONLY)


def test_torch_outputs_and_batch_size_do_not_change_results():
    coverage = make_synthetic_coverage()
    bias, var = np.array([0.1, 0.0, -0.3]), np.array([0.2, 0.1, 0.3])
    reference = evaluate_model(ExactModel(bias, var), coverage)
    small_batches = ExactModel(bias, var)
    assert evaluate_model(small_batches, coverage, batch_size=7) == pytest.approx(reference)
    assert small_batches.calls > K * 2  # really batched
    assert evaluate_model(TorchExactModel(bias, var), coverage) == pytest.approx(reference)


class NaNForLargeStateModel(ExactModel):
    """Exact, but NaN wherever the first state entry exceeds 2 (some starts, some steps)."""

    def predict(self, obs, act):
        mean, var = super().predict(obs, act)
        mean[obs[:, 0] > 2.0] = np.nan
        return mean, var


def test_non_finite_predictions_give_inf_and_name_the_metric():
    coverage = make_synthetic_coverage()
    assert (coverage.obs[:, :, 0] > 2.0).any()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = evaluate_model(NaNForLargeStateModel(var=[0.1, 0.1, 0.1]), coverage)
    assert not any(math.isnan(v) for v in metrics.values())
    for name in ("mse_1step", "mse_1step_raw", "nll_1step", "rollout_mse_k20", "calib_ratio"):
        assert metrics[name] == math.inf, name
    messages = " ".join(str(w.message) for w in caught
                        if issubclass(w.category, NonFinitePredictionWarning))
    for name in ("mse_1step", "nll_1step", "rollout_mse_k20"):
        assert name in messages
    # the same metric names as a finite model's, the stratified ones included
    obs, act, _ = coverage.transitions()
    box = SupportBox.of(obs[:50], act[:50])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        broken = evaluate_model(NaNForLargeStateModel(var=[0.1, 0.1, 0.1]), coverage, support=box)
        fine = evaluate_model(ExactModel(var=[0.1, 0.1, 0.1]), coverage, support=box)
    assert set(broken) == set(fine)
    assert broken["mse_1step@random"] == broken["mse_1step@in_support"] == math.inf
    assert broken["out_of_support_frac"] == fine["out_of_support_frac"] > 0


def test_negative_variance_makes_nll_inf_not_nan():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics = evaluate_model(ExactModel(var=[-1.0, 0.1, 0.1]), make_synthetic_coverage())
    named = {name for name in metrics for w in caught if f"{name} = inf" in str(w.message)}
    assert named == {"nll_1step", "calib_ratio", "calib_corr"}
    assert all(metrics[name] == math.inf for name in named)
    assert metrics["mse_1step"] == 0.0


def test_short_horizon_leaves_out_k20_with_warning():
    coverage = make_synthetic_coverage(horizon=6)
    with pytest.warns(UserWarning, match="rollout_mse_k20 left out"):
        metrics = evaluate_model(ExactModel(bias=[0.1, 0.1, 0.1]), coverage)
    assert "rollout_mse_k20" not in metrics and "rollout_mse_k5" in metrics


def test_wrong_obs_dim_and_wrong_prediction_shape_are_clear_errors():
    coverage = make_synthetic_coverage()
    model = ExactModel()
    model.obs_dim = O + 1
    with pytest.raises(ValueError, match="4-obs"):
        evaluate_model(model, coverage)

    class BadShape:
        def predict(self, obs, act):
            return obs[:, :1], obs[:, :1]

    with pytest.raises(ValueError, match="mean of shape"):
        evaluate_model(BadShape(), coverage)


def test_spearman_handles_ties_and_constants():
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 30, 40])) == pytest.approx(1)
    assert spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1)
    assert spearman(np.array([1.0, 1, 2, 2]), np.array([5.0, 5, 7, 7])) == pytest.approx(1)
    assert spearman(np.ones(5), np.arange(5.0)) == 0.0


def test_real_advex_model_on_real_coverage_set():
    """End to end: an advex ensemble fitted on random data, scored on a small real set."""
    models = pytest.importorskip("advex.models")
    from advex.engine.coverage import build_coverage_set
    from advex.exploration.buffer import ReplayBuffer

    config = CoverageConfig(n_starts=30, horizon=20, n_random_rollout_steps=200,
                            n_bang_bang_steps=100, n_sb3_steps=0, episodes="free")
    coverage = build_coverage_set("InvertedPendulum-v5", 0, config, progress=False)
    obs, act, next_obs = coverage.transitions()
    buffer = ReplayBuffer(coverage.obs_dim, coverage.act_dim)
    n = len(obs)
    buffer.add(obs, act, next_obs, np.zeros(n, np.float32), np.zeros(n, bool),
               np.zeros(n, bool), 0)
    model = models.make_model("ensemble", coverage.obs_dim, coverage.act_dim, None)
    model.fit(buffer, models.TrainConfig(max_epochs=2), seed=0, progress=False)
    metrics = evaluate_model(model, coverage, support=SupportBox.of(obs[:100], act[:100]))
    pools = {f"mse_1step@{name}" for name in ("random", "bang_bang", "perturbed")}
    support = {"out_of_support_frac", "mse_1step@in_support", "mse_1step@out_of_support"}
    strata = {"mse_1step@free", "mse_1step@contact", "coverage_contact_frac"}
    assert set(metrics) == set(METRIC_NAMES) | set(CALIBRATION_NAMES) | pools | support | strata
    assert 0 < metrics["coverage_contact_frac"] < 1  # free rules: the rail ends are reached
    assert all(math.isfinite(v) for v in metrics.values())
    assert metrics["mse_1step"] < evaluate_model(IdentityModel(), coverage)["mse_1step"] * 10


def test_free_and_contact_strata_split_the_mean():
    """``mse_1step@free`` and ``@contact`` are the means over the set's unlabelled and
    labelled transitions; weighted by their counts they give ``mse_1step``."""
    coverage = make_synthetic_coverage()
    contact = np.zeros((S, K), dtype=bool)
    contact[::3, 5:9] = True  # some transitions of every third start
    coverage.contact = contact
    metrics = evaluate_model(IdentityModel(), coverage)
    obs, _, next_obs = coverage.transitions()
    per_row = np.mean(((next_obs - obs) / coverage.delta_scale()) ** 2, axis=1)
    labels = contact.reshape(-1)
    assert metrics["mse_1step@contact"] == pytest.approx(per_row[labels].mean())
    assert metrics["mse_1step@free"] == pytest.approx(per_row[~labels].mean())
    assert metrics["coverage_contact_frac"] == pytest.approx(labels.mean())
    weighted = (metrics["mse_1step@contact"] * labels.sum()
                + metrics["mse_1step@free"] * (~labels).sum()) / labels.size
    assert weighted == pytest.approx(metrics["mse_1step"])


def test_stratified_scores_weighted_by_counts_give_the_mean():
    """Per-pool means weighted by their row counts equal the overall mean; median and trimmed
    mean are those of the per-transition errors."""
    sources = np.arange(S) % 4  # all four pools
    lengths = np.random.default_rng(3).integers(1, K + 1, size=S).astype(np.int32)
    coverage = make_synthetic_coverage(sources=sources, lengths=lengths)
    metrics = evaluate_model(IdentityModel(), coverage)
    obs, _, next_obs = coverage.transitions()
    per_row = np.mean(((next_obs - obs) / coverage.delta_scale()) ** 2, axis=1)
    pools = coverage.row_sources()
    weighted = sum(
        metrics[f"mse_1step@{name}"] * np.sum(pools == i) for i, name in enumerate(SOURCE_NAMES)
    ) / len(pools)
    assert weighted == pytest.approx(metrics["mse_1step"])
    assert metrics["mse_1step"] == pytest.approx(per_row.mean())
    assert metrics["mse_1step_median"] == pytest.approx(np.median(per_row))
    cut = int(0.1 * len(per_row))
    assert metrics["mse_1step_trim10"] == pytest.approx(np.sort(per_row)[cut:-cut].mean())
    assert len(set(metrics[f"mse_1step@{n}"] for n in SOURCE_NAMES)) == 4  # pools differ


def test_support_split_uses_the_training_inputs_box():
    coverage = make_synthetic_coverage()
    obs, act, next_obs = coverage.transitions()
    # a "training set" that saw only obs[:, 0] >= 0
    seen = obs[:, 0] >= 0
    box = SupportBox.of(obs[seen], act[seen])
    bias = np.array([0.1, 0.0, 0.0])
    metrics = evaluate_model(ExactModel(bias), coverage, support=box)
    assert metrics["out_of_support_frac"] == pytest.approx(1 - seen.mean())
    inside = box.contains(obs, act)
    np.testing.assert_array_equal(inside, seen)  # the box of the seen rows holds exactly them
    # constant bias: same error on both sides; both equal the mean
    assert metrics["mse_1step@in_support"] == pytest.approx(metrics["mse_1step"])
    assert metrics["mse_1step@out_of_support"] == pytest.approx(metrics["mse_1step"])
    everything = SupportBox.of(obs, act)
    all_in = evaluate_model(ExactModel(bias), coverage, support=everything)
    assert all_in["out_of_support_frac"] == 0.0 and "mse_1step@out_of_support" not in all_in


def test_rollouts_average_only_starts_that_lasted_k_steps():
    lengths = np.full(S, K, dtype=np.int32)
    lengths[: S // 2] = 3  # half the rollouts terminated after 3 steps
    coverage = make_synthetic_coverage(lengths=lengths)
    bias = np.array([0.05, 0.05, -0.05])
    curve = rollout_errors(ExactModel(bias), coverage)
    per_step = np.mean((bias / coverage.delta_scale()) ** 2)
    # integrator dynamics: k * bias at every surviving start, whoever survives
    np.testing.assert_allclose(curve, per_step * np.arange(1, K + 1) ** 2, rtol=1e-5)
    short = make_synthetic_coverage(lengths=np.full(S, 3, dtype=np.int32))
    metrics = evaluate_model(ExactModel(bias), short)
    assert "rollout_mse_k5" not in metrics and "mse_1step" in metrics


def test_model_with_other_dims_is_refused_before_predicting():
    model = ExactModel()
    model.obs_dim, model.act_dim = O, A + 1  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="3-obs/3-act, the coverage set 3/2"):
        evaluate_model(model, make_synthetic_coverage())
    assert model.calls == 0


def test_without_rollouts_only_the_rollout_metrics_are_left_out() -> None:
    """The online model's uncertainty rows skip the open-loop rollouts; every other metric is
    the same."""
    coverage = make_synthetic_coverage()
    model = ExactModel(np.full(coverage.obs_dim, 0.1), np.full(coverage.obs_dim, 0.2))
    full = evaluate_model(model, coverage)
    one_step = evaluate_model(model, coverage, rollouts=False)
    rollout_names = {name for name in full if name.startswith("rollout_mse_k")}
    assert rollout_names and not rollout_names & set(one_step)
    assert one_step == {k: v for k, v in full.items() if k not in rollout_names}
