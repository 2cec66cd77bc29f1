"""An example exploration strategy, written against advex's public interface (docs/design.md,
"Writing a strategy"); the test suite runs it through ``advex compare`` as
``--strategies pick_disagreement:pick-disagreement``.

``pick-disagreement`` draws ``candidates`` uniform actions per step and takes the one the
online ensemble disagrees about most: one-step novelty search, no learned policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from advex.config import require
from advex.exploration.collect import uniform_actions
from advex.exploration.round_data import RoundData
from advex.exploration.strategy import Strategy, StrategyConfig, register_strategy


@dataclass
class PickDisagreementConfig(StrategyConfig):
    """``candidates``: uniform actions scored per step."""

    candidates: int = 16

    def __post_init__(self) -> None:
        require("PickDisagreementConfig", {"candidates >= 1": self.candidates >= 1})


@register_strategy
class PickDisagreement(Strategy):
    """The most disputed of ``candidates`` random actions; uniform before the model has
    seen data."""

    name = "pick-disagreement"
    config_cls = PickDisagreementConfig
    config: PickDisagreementConfig
    model: Any = None
    has_data = False

    def bind_model(self, model: Any) -> None:
        self.model = model  # the loop refits it in place after every round

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = self._check_obs(obs)
        k = self.config.candidates
        actions = uniform_actions(self.rng, self.low, self.high, len(obs) * k)
        if self.model is None or not self.has_data:
            return actions[: len(obs)]
        scores = self.model.disagreement(np.repeat(obs, k, axis=0), actions)
        best = np.asarray(scores).reshape(len(obs), k).argmax(axis=1)
        return actions.reshape(len(obs), k, -1)[np.arange(len(obs)), best]

    def collect(self, collector: Any, buffer: Any, n_steps: int, seed: int,
                progress: bool = True) -> RoundData:
        self.has_data = len(buffer) > 0  # the model has been fitted on it
        return super().collect(collector, buffer, n_steps, seed, progress)
