"""Ensemble-disagreement exploration (Pathak et al. 2019; Plan2Explore, Sekar et al. 2020).

Intrinsic reward of a real transition = the ensemble's ``disagreement(s, a)``: the variance
of the members' predicted (normalised) next-state deltas, high where the data has not yet
pinned the dynamics down (epistemic uncertainty). It is learned by exactly the same
score-function learner as ``adversarial-sf``, so comparing the two isolates the reward:
*the model's error on what happened* vs *the members' disagreement about what would happen*.
Disagreement needs no next state, but is only defined for an ensemble.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from advex.exploration.policy_gradient import ScoreFunctionStrategy
from advex.exploration.strategy import StrategyModelError
from advex.types import TransitionBatch


class DisagreementStrategy(ScoreFunctionStrategy):
    """Score-function policy rewarded by ``model.disagreement(s, a)`` (ensembles only)."""

    name = "disagreement"

    def check_model(self, model: Any) -> None:
        if not callable(getattr(model, "disagreement", None)):
            raise StrategyModelError(
                f"the disagreement strategy needs an ensemble model with a disagreement() "
                f"method (make_model('ensemble', ...)); got {type(model).__name__}"
            )

    def transition_rewards(self, batch: TransitionBatch, model: Any) -> np.ndarray:
        return self._model_chunks(model.disagreement, batch.obs, batch.act)
