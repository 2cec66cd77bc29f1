"""Trajectory optimisers on quadratic objectives with a known (box-constrained) maximiser."""

import pytest
import torch

from advex.agents import (
    CEMConfig,
    CEMOptimizer,
    MPPIConfig,
    MPPIOptimizer,
    OptimizerShapeError,
    RandomShootingConfig,
    RandomShootingOptimizer,
    UnknownOptimizerError,
    list_optimizers,
    make_optimizer,
)

H, A = 6, 2
LOW, HIGH = -torch.ones(A), torch.ones(A)

#: Configs accurate enough to land close to the analytic optimum on a 12-dim quadratic.
PRECISE = {
    "cem": CEMConfig(population=400, iterations=10),
    "mppi": MPPIConfig(population=400, iterations=20, temperature=0.1, noise_std=0.1),
}


def _target(scale: float = 0.8) -> torch.Tensor:
    g = torch.Generator().manual_seed(123)
    return (torch.rand(H, A, generator=g) * 2 - 1) * scale


def _quadratic(target: torch.Tensor):
    def objective(x: torch.Tensor) -> torch.Tensor:
        return -((x - target) ** 2).sum(dim=(1, 2))

    return objective


def _random_guess_value(objective) -> float:
    """Expected value of one uniform random sequence (the baseline to beat)."""
    g = torch.Generator().manual_seed(7)
    guesses = LOW + torch.rand(2000, H, A, generator=g) * (HIGH - LOW)
    return float(objective(guesses).mean())


@pytest.mark.parametrize("name", ["cem", "mppi"])
def test_finds_interior_optimum(name):
    target = _target()
    objective = _quadratic(target)
    opt = make_optimizer(name, PRECISE[name], LOW, HIGH, H, seed=0)
    best = opt.optimize(objective)
    assert best.shape == (H, A)
    assert (best - target).abs().max() < 0.1
    assert float(objective(best[None])[0]) > 0.05 * _random_guess_value(objective)


def test_cem_finds_box_constrained_optimum():
    # Target outside the box: the constrained maximiser is the target clipped to the bounds.
    target = _target(scale=2.0)
    opt = make_optimizer("cem", CEMConfig(iterations=20), LOW, HIGH, H, seed=0)
    best = opt.optimize(_quadratic(target))
    assert (best - target.clamp(-1, 1)).abs().max() < 0.02
    assert (best >= LOW).all() and (best <= HIGH).all()


def test_random_shooting_beats_single_guess_and_keeps_warm_start():
    target = _target()
    objective = _quadratic(target)
    opt = RandomShootingOptimizer(RandomShootingConfig(population=2000), LOW, HIGH, H, seed=0)
    best = opt.optimize(objective)
    assert float(objective(best[None])[0]) > 0.5 * _random_guess_value(objective)
    # The warm start is a candidate: handing it the optimum returns the optimum.
    assert torch.equal(opt.optimize(objective, target), target)


@pytest.mark.parametrize("name", list_optimizers())
def test_samples_stay_inside_bounds(name):
    low, high = torch.tensor([-0.5, 0.0]), torch.tensor([0.5, 2.0])
    seen = []

    def objective(x):
        seen.append(x.clone())
        return x.sum(dim=(1, 2))  # pushes everything to the upper bound

    best = make_optimizer(name, None, low, high, H, seed=0).optimize(objective)
    everything = torch.cat(seen)
    assert (everything >= low).all() and (everything <= high).all()
    assert (best >= low).all() and (best <= high).all()


@pytest.mark.parametrize("name", list_optimizers())
def test_same_seed_same_plan(name):
    objective = _quadratic(_target())
    a = make_optimizer(name, None, LOW, HIGH, H, seed=3).optimize(objective)
    b = make_optimizer(name, None, LOW, HIGH, H, seed=3).optimize(objective)
    c = make_optimizer(name, None, LOW, HIGH, H, seed=4).optimize(objective)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    opt = make_optimizer(name, None, LOW, HIGH, H, seed=3)
    opt.optimize(objective)
    assert not torch.equal(opt.optimize(objective), a)  # its stream moved on


@pytest.mark.parametrize("name", list_optimizers())
def test_non_finite_values_are_worst(name):
    target = _target()

    def objective(x):
        values = -((x - target) ** 2).sum(dim=(1, 2))
        # Sequences whose first action is positive "diverge".
        return torch.where(x[:, 0, 0] > 0, torch.full_like(values, float("nan")), values)

    best = make_optimizer(name, None, LOW, HIGH, H, seed=0).optimize(objective)
    assert torch.isfinite(best).all()
    if name != "mppi":  # MPPI returns a weighted mean, not one of the evaluated samples
        assert best[0, 0] <= 0


def test_mppi_all_non_finite_keeps_warm_start():
    x0 = _target()
    opt = MPPIOptimizer(MPPIConfig(), LOW, HIGH, H, seed=0)
    best = opt.optimize(lambda x: torch.full((x.shape[0],), float("inf")), x0)
    assert torch.equal(best, x0)


def test_mppi_beta_smooths_sequences():
    seen = []

    def objective(x):
        seen.append(x)
        return torch.zeros(x.shape[0])

    for beta in (1.0, 0.3):
        opt = MPPIOptimizer(MPPIConfig(iterations=1, beta=beta), LOW, HIGH, H, seed=0)
        opt.optimize(objective)
    jumps = [float((s[:, 1:] - s[:, :-1]).abs().mean()) for s in seen]
    assert jumps[1] < 0.5 * jumps[0]


def test_unknown_name_lists_valid_names():
    with pytest.raises(UnknownOptimizerError, match="cem.*mppi.*random"):
        make_optimizer("adam", None, LOW, HIGH, H)


def test_config_of_wrong_optimizer_is_rejected():
    with pytest.raises(TypeError, match="CEMConfig"):
        make_optimizer("cem", MPPIConfig(), LOW, HIGH, H)


def test_bad_shapes_and_values_raise_clear_errors():
    opt = CEMOptimizer(CEMConfig(), LOW, HIGH, H)
    with pytest.raises(OptimizerShapeError, match="x0 must have shape"):
        opt.optimize(_quadratic(_target()), torch.zeros(H + 1, A))
    with pytest.raises(OptimizerShapeError, match="one value per sequence"):
        opt.optimize(lambda x: torch.zeros(x.shape[0], 2))
    with pytest.raises(OptimizerShapeError, match="action_low has 2 entries"):
        CEMOptimizer(CEMConfig(), LOW, torch.ones(3), H)
    with pytest.raises(ValueError, match="action_low must be < action_high"):
        CEMOptimizer(CEMConfig(), HIGH, LOW, H)
    with pytest.raises(ValueError, match="horizon"):
        CEMOptimizer(CEMConfig(), LOW, HIGH, 0)
    with pytest.raises(ValueError, match="CEMConfig: need 0 < elite_fraction <= 1"):
        CEMConfig(elite_fraction=0.0)
    with pytest.raises(ValueError, match="MPPIConfig: need finite temperature > 0"):
        MPPIConfig(temperature=0.0)
    with pytest.raises(ValueError, match="RandomShootingConfig: need population >= 1"):
        RandomShootingConfig(population=0)
    with pytest.raises(ValueError, match="CEMConfig: need finite min_std >= 0"):
        CEMConfig(min_std=float("nan"))
    with pytest.raises(ValueError, match="finite"):
        RandomShootingOptimizer(RandomShootingConfig(), LOW, torch.full((A,), float("inf")), H)
