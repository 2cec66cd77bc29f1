"""``adversarial-sf``: a policy pi_rho that seeks transitions the model predicts badly, learned
with the score-function estimator.

The minimax game of seed 000 ("Adversarial Exploration Policies for Robust Model Learning"):
the model ``f_tau`` minimises its loss on all data collected so far (the experiment loop's
refit), the adversary ``rho`` ascends the model's loss on the transitions it produces, then
collects the next round. Both adversaries maximise the same per-transition error the
yardstick scores (:mod:`advex.models.prediction_error`): the normalised squared error of the
model's mean next state. The score-function estimator (seed 001, REINFORCE) needs no gradient
of the loss, so it rewards each *real* transition with it and works with any model; its
learner and guards against collapse are in :mod:`advex.exploration.policy_gradient`. The
pathwise adversary is :mod:`advex.exploration.adversarial_pathwise`.

Reward timing (``reward_timing``):

- ``"before-refit"``: the error of the model *before* it trains on the round's rows
  (computed in :meth:`~advex.exploration.strategy.Strategy.observe_round`, which the
  experiment calls between collecting and refitting): the model's held-out surprise. In the
  first round the model has seen no data, so that round uses the after-refit error
  (diagnostic ``rewards_before_refit`` says which was used).
- ``"after-refit"``: the refitted model's error on the round's rows, of which ~90 % are in its
  training split: what the model *still* cannot fit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from advex.config import require_choice
from advex.exploration.model_access import require_method
from advex.exploration.policy_gradient import ScoreFunctionConfig, ScoreFunctionStrategy
from advex.models.prediction_error import model_error
from advex.types import TransitionBatch

RewardTiming = Literal["before-refit", "after-refit"]
REWARD_TIMINGS: tuple[str, ...] = ("before-refit", "after-refit")


@dataclass
class AdversarialScoreFunctionConfig(ScoreFunctionConfig):
    """The score-function learner plus when the reward is computed (module docstring)."""

    reward_timing: RewardTiming = "after-refit"

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice("reward_timing", self.reward_timing, REWARD_TIMINGS)


class AdversarialScoreFunction(ScoreFunctionStrategy):
    """Score-function adversary: reward = the model's error on each real transition."""

    name = "adversarial-sf"
    config_cls = AdversarialScoreFunctionConfig
    config: AdversarialScoreFunctionConfig

    @property
    def rewards_before_refit(self) -> bool:
        return self.config.reward_timing == "before-refit"

    def check_model(self, model: Any) -> None:
        require_method(model, "predict" if self.error_scale is not None else "loss", self.name)

    def transition_rewards(self, batch: TransitionBatch, model: Any) -> np.ndarray:
        def error(obs: np.ndarray, act: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
            return np.asarray(model_error(model, obs, act, next_obs, self.error_scale))

        return self._model_chunks(error, batch.obs, batch.act, batch.next_obs)


__all__ = ["AdversarialScoreFunction", "AdversarialScoreFunctionConfig", "REWARD_TIMINGS"]
