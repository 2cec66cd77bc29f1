"""Sampling-based trajectory optimisers that see only an objective over action sequences.

The mbrl-lib ``planning/`` habit: an optimiser knows nothing about models or environments. It
gets ``objective(action_sequences N x H x A) -> N`` (**higher is better**, e.g. a predicted
return) and a warm start ``x0`` (``H x A``), and returns the best sequence it found (``H x A``).
Every optimiser keeps all candidates inside the action box ``[action_low, action_high]`` and
owns a seeded :class:`torch.Generator`, so the same seed gives the same plan.

- :class:`RandomShootingOptimizer`: best of ``population`` uniform sequences (plus ``x0``)
  (Nagabandi et al. 2018, "Neural Network Dynamics for Model-Based Deep RL").
- :class:`CEMOptimizer`: cross-entropy method with elite refits and ``alpha`` smoothing
  (Rubinstein 1999; Chua et al. 2018, PETS).
- :class:`MPPIOptimizer`: model predictive path integral, exponentiated-return weighting with
  temperature ``lambda`` and ``beta``-filtered noise (Williams et al. 2017; Nagabandi et al.
  2019, PDDM; mbrl-lib's ``MPPIOptimizer``).

Non-finite objective values (a diverging learned model) count as the worst possible value.
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
import torch

from advex.config import require

#: ``action_sequences N x H x A -> N`` values to maximise.
Objective = Callable[[torch.Tensor], torch.Tensor]


class UnknownOptimizerError(ValueError):
    """An optimiser name that is not in :data:`OPTIMIZERS`."""


class OptimizerShapeError(ValueError):
    """A warm start, bound or objective output with the wrong shape."""


@dataclass(frozen=True)
class RandomShootingConfig:
    """Random shooting: ``population`` uniform sequences per call."""

    population: int = 1000

    def __post_init__(self) -> None:
        require(type(self).__name__, {"population >= 1": self.population >= 1})


@dataclass(frozen=True)
class CEMConfig:
    """Cross-entropy method.

    ``alpha`` is the weight of the *old* mean/variance in each refit (mbrl-lib convention:
    ``mu = alpha * mu + (1 - alpha) * elite_mean``); ``init_std_fraction`` sets the initial
    standard deviation as a fraction of the action range. ``return_mean`` returns the final
    mean (smooth, robust to a noisy objective) instead of the best sequence seen.
    """

    population: int = 400
    elite_fraction: float = 0.1
    iterations: int = 5
    alpha: float = 0.1
    init_std_fraction: float = 0.25
    min_std: float = 1e-3
    return_mean: bool = True

    def __post_init__(self) -> None:
        require(type(self).__name__, {
            "population >= 2": self.population >= 2,
            "0 < elite_fraction <= 1": 0.0 < self.elite_fraction <= 1.0,
            "iterations >= 1": self.iterations >= 1,
            "0 <= alpha < 1": 0.0 <= self.alpha < 1.0,
            "finite init_std_fraction > 0": _finite_above(self.init_std_fraction, 0.0),
            "finite min_std >= 0": _finite_above(self.min_std, 0.0, strict=False),
        })

    @property
    def num_elites(self) -> int:
        """Sequences each refit keeps: ``elite_fraction`` of the population, at least one."""
        return max(1, int(round(self.elite_fraction * self.population)))


@dataclass(frozen=True)
class MPPIConfig:
    """Model predictive path integral.

    Weights are ``exp((value - max) / temperature)``; ``noise_std`` is sigma as a fraction of
    the action range; ``beta`` filters the noise along the horizon
    (``a_t = beta * (mean_t + eps_t) + (1 - beta) * a_{t-1}``; ``beta = 1`` means no filter).
    """

    population: int = 400
    iterations: int = 5
    temperature: float = 0.1
    noise_std: float = 0.15
    beta: float = 1.0

    def __post_init__(self) -> None:
        require(type(self).__name__, {
            "population >= 1": self.population >= 1,
            "iterations >= 1": self.iterations >= 1,
            "finite temperature > 0": _finite_above(self.temperature, 0.0),
            "finite noise_std > 0": _finite_above(self.noise_std, 0.0),
            "0 < beta <= 1": 0.0 < self.beta <= 1.0,
        })


OptimizerConfig = RandomShootingConfig | CEMConfig | MPPIConfig
ConfigT = TypeVar("ConfigT", RandomShootingConfig, CEMConfig, MPPIConfig)


def _finite_above(value: float, bound: float, *, strict: bool = True) -> bool:
    return bool(np.isfinite(value)) and (value > bound if strict else value >= bound)


class TrajectoryOptimizer(abc.ABC, Generic[ConfigT]):
    """Base class: the config (checked by its own dataclass), bounds, shapes and the seeded
    generator shared by every optimiser.

    ``action_low``/``action_high``: ``A`` (broadcast over the horizon) or ``H x A``.
    """

    def __init__(
        self,
        config: ConfigT,
        action_low: np.ndarray | torch.Tensor | float,
        action_high: np.ndarray | torch.Tensor | float,
        horizon: int,
        seed: int = 0,
    ) -> None:
        if int(horizon) != horizon or horizon < 1:
            raise ValueError(f"horizon must be a positive integer, got {horizon}")
        self.horizon = int(horizon)
        low = torch.as_tensor(np.asarray(action_low, dtype=np.float32)).reshape(-1)
        high = torch.as_tensor(np.asarray(action_high, dtype=np.float32)).reshape(-1)
        if low.shape != high.shape:
            raise OptimizerShapeError(
                f"action_low has {low.numel()} entries, action_high has {high.numel()}"
            )
        if not (torch.isfinite(low).all() and torch.isfinite(high).all()):
            raise ValueError("action bounds must be finite (sampling needs a bounded box)")
        if not (low < high).all():
            raise ValueError(f"action_low must be < action_high everywhere, got {low} / {high}")
        self.act_dim = int(low.numel())
        #: ``H x A`` bounds.
        self.low = low.expand(self.horizon, self.act_dim).clone()
        self.high = high.expand(self.horizon, self.act_dim).clone()
        self.config: ConfigT = config
        self.seed = int(seed)
        self.generator = torch.Generator().manual_seed(self.seed)

    @property
    def center(self) -> torch.Tensor:
        """``H x A`` middle of the action box (the neutral warm start)."""
        return (self.low + self.high) / 2

    @property
    def action_range(self) -> torch.Tensor:
        """``H x A`` width of the action box."""
        return self.high - self.low

    def _check_x0(self, x0: torch.Tensor | np.ndarray | None) -> torch.Tensor:
        if x0 is None:
            return self.center.clone()
        x0 = torch.as_tensor(x0, dtype=torch.float32)
        expected = (self.horizon, self.act_dim)
        if tuple(x0.shape) != expected:
            raise OptimizerShapeError(
                f"x0 must have shape H x A = {expected}, got {tuple(x0.shape)}"
            )
        return torch.clamp(x0, self.low, self.high)

    def _evaluate(self, objective: Objective, candidates: torch.Tensor) -> torch.Tensor:
        """``candidates N x H x A -> N`` values, non-finite values replaced by ``-inf``."""
        values = objective(candidates)
        values = torch.as_tensor(values)
        n = candidates.shape[0]
        if values.shape != (n,):
            raise OptimizerShapeError(
                f"objective must return one value per sequence, shape ({n},), "
                f"got {tuple(values.shape)}"
            )
        values = values.detach().to(torch.float32)
        return torch.where(torch.isfinite(values), values, torch.full_like(values, -np.inf))

    def _normal(self, n: int) -> torch.Tensor:
        """``n x H x A`` standard normal noise from this optimiser's generator."""
        return torch.randn(
            (n, self.horizon, self.act_dim), generator=self.generator, dtype=torch.float32
        )

    @abc.abstractmethod
    def optimize(
        self, objective: Objective, x0: torch.Tensor | np.ndarray | None = None
    ) -> torch.Tensor:
        """Maximise ``objective`` over ``H x A`` sequences in the box, starting from ``x0``.

        Returns the chosen ``H x A`` sequence (float32, inside the bounds).
        """


class RandomShootingOptimizer(TrajectoryOptimizer[RandomShootingConfig]):
    """Best of ``population`` uniform random sequences; ``x0`` is always a candidate, so a
    warm start is never thrown away for a worse random guess."""

    def optimize(
        self, objective: Objective, x0: torch.Tensor | np.ndarray | None = None
    ) -> torch.Tensor:
        x0 = self._check_x0(x0)
        uniform = torch.rand(
            (self.config.population, self.horizon, self.act_dim),
            generator=self.generator,
            dtype=torch.float32,
        )
        candidates = torch.cat([x0.unsqueeze(0), self.low + uniform * self.action_range])
        values = self._evaluate(objective, candidates)
        return candidates[int(torch.argmax(values))].clone()


class CEMOptimizer(TrajectoryOptimizer[CEMConfig]):
    """Cross-entropy method: sample ``N(mu, sigma^2)`` clipped to the box, refit ``mu``/``sigma``
    to the top ``elite_fraction``, smooth with ``alpha``, repeat ``iterations`` times."""

    def optimize(
        self, objective: Objective, x0: torch.Tensor | np.ndarray | None = None
    ) -> torch.Tensor:
        cfg = self.config
        mean = self._check_x0(x0)
        std = cfg.init_std_fraction * self.action_range
        best_value = -np.inf
        best = mean.clone()
        for _ in range(cfg.iterations):
            samples = mean + std * self._normal(cfg.population)
            samples = torch.clamp(samples, self.low, self.high)
            values = self._evaluate(objective, samples)
            elite_values, elite_idx = torch.topk(values, cfg.num_elites)
            elites = samples[elite_idx]
            if float(elite_values[0]) > best_value:
                best_value = float(elite_values[0])
                best = elites[0].clone()
            new_mean = elites.mean(dim=0)
            new_std = elites.std(dim=0, unbiased=False)
            mean = cfg.alpha * mean + (1 - cfg.alpha) * new_mean
            std = torch.clamp(cfg.alpha * std + (1 - cfg.alpha) * new_std, min=cfg.min_std)
        result = mean if cfg.return_mean else best
        return torch.clamp(result, self.low, self.high).clone()


class MPPIOptimizer(TrajectoryOptimizer[MPPIConfig]):
    """MPPI: perturb the current mean with (optionally filtered) Gaussian noise and replace it
    by the ``softmax(values / temperature)``-weighted average of the perturbed sequences."""

    def _perturb(self, mean: torch.Tensor) -> torch.Tensor:
        """``population x H x A`` filtered perturbations of ``mean``, clipped to the box."""
        cfg = self.config
        noisy = mean + cfg.noise_std * self.action_range * self._normal(cfg.population)
        if cfg.beta < 1.0:
            # Low-pass filter along time (PDDM): the first step is anchored to the mean's own
            # first action, later steps to the previous filtered action.
            filtered = torch.empty_like(noisy)
            previous = mean[0].expand(cfg.population, self.act_dim)
            for t in range(self.horizon):
                filtered[:, t] = cfg.beta * noisy[:, t] + (1 - cfg.beta) * previous
                previous = filtered[:, t]
            noisy = filtered
        return torch.clamp(noisy, self.low, self.high)

    def optimize(
        self, objective: Objective, x0: torch.Tensor | np.ndarray | None = None
    ) -> torch.Tensor:
        cfg = self.config
        mean = self._check_x0(x0)
        for _ in range(cfg.iterations):
            samples = self._perturb(mean)
            values = self._evaluate(objective, samples)
            top = torch.max(values)
            if not torch.isfinite(top):
                continue  # every rollout diverged: keep the current mean rather than NaNs
            weights = torch.softmax((values - top) / cfg.temperature, dim=0)
            mean = torch.einsum("n,nha->ha", weights, samples)
        return torch.clamp(mean, self.low, self.high).clone()


#: Optimiser name -> (class, config class).
OPTIMIZERS: dict[str, tuple[type[TrajectoryOptimizer[Any]], type]] = {
    "random": (RandomShootingOptimizer, RandomShootingConfig),
    "cem": (CEMOptimizer, CEMConfig),
    "mppi": (MPPIOptimizer, MPPIConfig),
}


def list_optimizers() -> list[str]:
    """Names accepted by :func:`make_optimizer`."""
    return sorted(OPTIMIZERS)


def _lookup(name: str) -> tuple[type[TrajectoryOptimizer[Any]], type]:
    if name not in OPTIMIZERS:
        raise UnknownOptimizerError(
            f"unknown optimizer {name!r}; valid names: {', '.join(list_optimizers())}"
        )
    return OPTIMIZERS[name]


def make_optimizer(
    name: str,
    config: OptimizerConfig | None,
    action_low: np.ndarray | torch.Tensor | float,
    action_high: np.ndarray | torch.Tensor | float,
    horizon: int,
    seed: int = 0,
) -> TrajectoryOptimizer:
    """Build optimiser ``name`` ("random" | "cem" | "mppi"); ``config=None`` uses its defaults.

    Raises :class:`UnknownOptimizerError` listing the valid names, or ``TypeError`` when the
    config dataclass belongs to another optimiser.
    """
    cls, config_cls = _lookup(name)
    if config is None:
        config = config_cls()
    if not isinstance(config, config_cls):
        raise TypeError(
            f"optimizer {name!r} needs a {config_cls.__name__}, got {type(config).__name__}"
        )
    return cls(config, action_low, action_high, horizon, seed)
