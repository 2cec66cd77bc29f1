"""Uniform random exploration: the baseline every other strategy must beat.

Actions are drawn uniformly from the task's action box with the strategy's own seeded
generator; nothing is learned between rounds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from advex.exploration.collect import uniform_actions
from advex.exploration.strategy import Strategy, StrategyConfig


@dataclass
class RandomConfig(StrategyConfig):
    """Uniform random actions need no settings."""


class RandomStrategy(Strategy):
    """``a ~ U[low, high]`` independently per row and dimension."""

    name = "random"
    config_cls = RandomConfig
    uses_model = False

    def act(self, obs: np.ndarray) -> np.ndarray:
        return uniform_actions(self.rng, self.low, self.high, len(self._check_obs(obs)))
