"""``adversarial-mpc``: a long-horizon adversary that plans where the model will be wrong.

The short-horizon adversaries credit an action with the model error of the next few steps
(``adversarial-pw``: 3-10 steps through the model; ``adversarial-sf``: returns over about 10
real steps). On InvertedPendulum-v5 that tips the pole early: the next steps' errors are
largest while the pole falls, and the episode's end forfeits every later state, the rail ends
included. This strategy plans instead. At every real step it runs receding-horizon MPC
(advex's own CEM, :mod:`advex.agents.mpc`) in the online ensemble, maximising the *summed*
predicted model error over ``horizon`` imagined steps, with the task's termination function
inside the imagined rollout: a plan that falls collects nothing after it falls (under ``env``
episode rules; under ``free`` rules nothing terminates, as in the real run).

The predicted model error is the ensemble's disagreement, its proxy for error where no data
is (Pathak et al. 2019; the utility MAX, Shyam et al. 2019, builds on): the variance across
members of their predicted next states, in the yardstick's units (``Strategy.error_scale``)
and averaged over dimensions. Imagined states follow the members' mean.

Before the online model has seen any data (the first round) the strategy acts uniformly at
random, as MAX and PETS seed their first data. Each round re-seeds the planner from the
round's collection seed and starts from fresh plans, so a round is a pure function of (model,
seed) and a resumed run repeats it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advex.agents.mpc import MPCAgent, MPCConfig
from advex.agents.optimizers import CEMConfig
from advex.config import require
from advex.envs import EpisodeMode, TaskSpec
from advex.exploration.collect import uniform_actions
from advex.exploration.model_access import require_method
from advex.exploration.round_data import RoundData
from advex.exploration.strategy import Strategy, StrategyConfig
from advex.seeding import derive_seed
from advex.types import TermFn


@dataclass
class AdversarialMPCConfig(StrategyConfig):
    """``horizon``: imagined steps per plan; ``candidates`` / ``iterations``: CEM's population
    and refinements per real step; ``elite_fraction``: CEM's share of elites."""

    horizon: int = 15
    candidates: int = 64
    iterations: int = 2
    elite_fraction: float = 0.125

    def __post_init__(self) -> None:
        require("AdversarialMPCConfig", {
            "horizon >= 1": self.horizon >= 1,
            "candidates >= 2": self.candidates >= 2,
            "iterations >= 1": self.iterations >= 1,
            "0 < elite_fraction <= 1": 0 < self.elite_fraction <= 1,
        })


class DisagreementRollouts:
    """What the planner maximises: ``rollout(obs0 B x O, actions B x H x A) -> B``, the sum
    over imagined steps of the members' disagreement at ``(s_t, a_t)``, zero after an
    imagined termination. ``model.predict_members(obs, act) -> (E x B x O means, vars)``."""

    def __init__(self, model: Any, scale: np.ndarray | None, term_fn: TermFn | None) -> None:
        self.model = model
        self.term_fn = term_fn
        self.inv_scale_sq = (None if scale is None
                             else torch.as_tensor(1.0 / np.square(scale), dtype=torch.float32))

    def rollout(self, obs0: torch.Tensor, actions: torch.Tensor,
                discount: float = 1.0) -> torch.Tensor:
        state = obs0.to(torch.float32)
        alive = torch.ones(len(state), dtype=torch.bool)
        total = torch.zeros(len(state), dtype=torch.float32)
        with torch.no_grad():
            for t in range(actions.shape[1]):
                action = actions[:, t]
                means, _ = self.model.predict_members(state, action)  # E x B x O
                spread = means.var(dim=0, correction=0)
                if self.inv_scale_sq is not None:
                    spread = spread * self.inv_scale_sq
                utility = spread.mean(dim=-1)
                total = total + (discount ** t) * torch.where(alive, utility, 0.0)
                state = torch.where(alive[:, None], means.mean(dim=0), state)
                if self.term_fn is not None:
                    alive = alive & ~self.term_fn(action, state)
        return torch.nan_to_num(total, nan=-torch.inf)


class AdversarialMPC(Strategy):
    """Plans each action with CEM on the online ensemble's summed disagreement (module
    docstring)."""

    name = "adversarial-mpc"
    config_cls = AdversarialMPCConfig
    config: AdversarialMPCConfig

    def __init__(
        self, spec: TaskSpec, config: AdversarialMPCConfig, seed: int, *,
        episodes: EpisodeMode = "env",
    ) -> None:
        super().__init__(spec, config, seed, episodes=episodes)
        self.model: Any = None
        self.agent: MPCAgent | None = None
        self.planned_rounds = 0

    def bind_model(self, model: Any) -> None:
        """The online model the planner imagines with (the loop hands it over once; refits
        change its weights in place)."""
        require_method(model, "predict_members", self.name)
        self.model = model

    def _planner(self, seed: int) -> MPCAgent:
        config = self.config
        rollouts = DisagreementRollouts(
            self.model, self.error_scale,
            self.spec.term_fn if self.episodes == "env" else None,
        )
        mpc = MPCConfig(horizon=config.horizon, optimizer="cem", optimizer_config=CEMConfig(
            population=config.candidates, iterations=config.iterations,
            elite_fraction=config.elite_fraction))
        return MPCAgent(rollouts, self.low, self.high, mpc, seed=seed)

    def collect(self, collector: Any, buffer: Any, n_steps: int, seed: int,
                progress: bool = True) -> RoundData:
        """Plan every step once the model has seen data (a non-empty buffer: the loop refits
        the online model after every round); uniform actions before."""
        self.agent = None
        if self.model is not None and len(buffer) > 0:
            self.agent = self._planner(derive_seed(seed, "adversarial-mpc"))
            self.planned_rounds += 1
        return super().collect(collector, buffer, n_steps, seed, progress)

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = self._check_obs(obs)
        if self.agent is None:
            return uniform_actions(self.rng, self.low, self.high, len(obs))
        return np.asarray(self.agent.act(obs), dtype=np.float32).reshape(len(obs), -1)

    def update(
        self, buffer: Any, model: Any, data: RoundData, observed: Any = None
    ) -> dict[str, float]:
        self.bind_model(model)
        return {"planned_rounds": float(self.planned_rounds)}

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "planned_rounds": self.planned_rounds}

    def load_state_dict(self, state: Any) -> None:
        super().load_state_dict(state)
        self.planned_rounds = int(state["planned_rounds"])
