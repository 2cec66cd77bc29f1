"""``disagreement-pw``: a pathwise learner that ascends the ensemble's disagreement through
imagined rollouts (advex's ``adversarial-pw`` before the true-loss adversary; kept under its
own name so earlier results stay comparable).

From start states sampled from the buffer, roll ``H`` steps through the model's mean
prediction with ``a_t = rsample(pi_rho(s_t))`` and back-propagate ``sum_t gamma^t
surrogate(s_t, a_t) + ent_coef * entropy`` into ``rho`` only (model frozen). Imagination has no
real next state, so the objective is not the model's loss: it is ``log disagreement(s, a)`` of
an ensemble, or a learned ``L_phi(s, a) ~ log loss`` (:mod:`advex.exploration.loss_predictor`)
for other models. Both are in log units: scale-free as losses shrink round to round, and they
damp the pull towards imagined states where the ensemble diverges wildly. Imagined states are
clamped to the buffer's observed range widened by ``state_margin`` ranges per side, so a
diverging model cannot lead the learner off to unreachable states. The true-loss pathwise
adversary is :mod:`advex.exploration.adversarial_pathwise`.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch

from advex.config import require, require_choice
from advex.envs import EpisodeMode, TaskSpec
from advex.exploration.loss_predictor import LossPredictor, LossPredictorConfig
from advex.exploration.model_access import frozen, require_method
from advex.exploration.policy_strategy import (
    GaussianPolicyStrategy,
    PathwiseAscentConfig,
    ascent_step,
    clone_tensors,
)
from advex.exploration.round_data import RoundData

Surrogate = Literal["auto", "disagreement", "loss-predictor"]
_SURROGATES = ("auto", "disagreement", "loss-predictor")


@dataclass
class DisagreementPathwiseConfig(PathwiseAscentConfig, LossPredictorConfig):
    """Policy and ascent over imagined rollouts and (if used) the loss predictor."""

    horizon: int = 5
    policy_steps: int = 24
    surrogate: Surrogate = "auto"
    #: imagined states are clamped to [min - m * range, max + m * range] of buffer obs.
    state_margin: float = 0.5
    disagreement_eps: float = 1e-8

    def __post_init__(self) -> None:
        super().__post_init__()
        # a JSON/CLI list becomes the declared tuple
        hidden = self.predictor_hidden_sizes  # type: ignore[has-type]
        self.predictor_hidden_sizes = tuple(int(h) for h in hidden)
        require_choice("surrogate", self.surrogate, _SURROGATES)
        require("DisagreementPathwiseConfig", {
            "state_margin >= 0": self.state_margin >= 0,
            "disagreement_eps > 0": self.disagreement_eps > 0,
            "predictor_steps >= 0": self.predictor_steps >= 0,
            "predictor_samples >= 1": self.predictor_samples >= 1,
        })


class DisagreementPathwise(GaussianPolicyStrategy):
    """Pathwise learner: ascend ``sum_t surrogate(s_t, a_t)`` through imagined rollouts."""

    name = "disagreement-pw"
    config_cls = DisagreementPathwiseConfig
    config: DisagreementPathwiseConfig

    def __init__(
        self,
        spec: TaskSpec,
        config: DisagreementPathwiseConfig,
        seed: int,
        *,
        episodes: EpisodeMode = "env",
    ) -> None:
        super().__init__(spec, config, seed, episodes=episodes)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)
        self.predictor = LossPredictor(spec.obs_dim, spec.act_dim, config, self.generator)

    def surrogate_kind(self, model: Any) -> str:
        """``"disagreement"`` or ``"loss-predictor"`` for this model (``"auto"``: the former
        when the model has a ``disagreement`` method)."""
        kind = self.config.surrogate
        if kind == "auto":
            has = callable(getattr(model, "disagreement", None))
            return "disagreement" if has else "loss-predictor"
        if kind == "disagreement":
            require_method(model, "disagreement", f"{self.name} with surrogate='disagreement'")
        else:
            require_method(model, "loss", f"{self.name} with surrogate='loss-predictor'")
        return kind

    # ------------------------------------------------------------------ learning
    def _fit_predictor(self, obs: np.ndarray, act: np.ndarray, next_obs: np.ndarray,
                       model: Any) -> dict[str, float]:
        n = min(self.config.predictor_samples, len(obs))
        idx = self.rng.choice(len(obs), size=n, replace=False)
        loss = np.asarray(model.loss(obs[idx], act[idx], next_obs[idx]), dtype=np.float64)
        if not np.all(np.isfinite(loss)):
            raise ValueError(f"{self.name}: model.loss returned non-finite values")
        return self.predictor.fit(obs[idx], act[idx], loss, self.generator)

    def _surrogate(self, kind: str, model: Any, obs: torch.Tensor,
                   act: torch.Tensor) -> torch.Tensor:
        if kind == "disagreement":
            return torch.log(model.disagreement(obs, act) + self.config.disagreement_eps)
        return self.predictor(obs, act)

    def update(
        self, buffer: Any, model: Any, data: RoundData, observed: Any = None
    ) -> dict[str, float]:
        """Refit the loss predictor if it is the surrogate, then ``policy_steps`` ascent steps
        on the imagined objective; then merge new rows into the policy's obs normaliser."""
        cfg = self.config
        kind = self.surrogate_kind(model)
        require_method(model, "predict", self.name)
        if len(buffer) == 0:
            raise ValueError(f"{self.name}.update: the buffer is empty (no start states)")
        every = buffer.batch()
        diagnostics: dict[str, float] = {"surrogate_is_disagreement": float(kind ==
                                                                            "disagreement")}
        if kind == "loss-predictor":
            diagnostics.update(self._fit_predictor(every.obs, every.act, every.next_obs, model))
        lo, hi = every.obs.min(0), every.obs.max(0)
        pad = cfg.state_margin * (hi - lo)
        lo_t = torch.as_tensor(lo - pad, dtype=torch.float32)
        hi_t = torch.as_tensor(hi + pad, dtype=torch.float32)
        params = list(self.policy.parameters())
        objectives, surrogates = [], []
        with frozen(model, self.predictor):
            for _ in range(cfg.policy_steps):
                start = self.rng.integers(len(every), size=cfg.batch_size)
                s = torch.as_tensor(every.obs[start])
                total = torch.zeros(cfg.batch_size)
                for t in range(cfg.horizon):
                    a, _ = self.policy.rsample(s, self.generator)
                    total = total + cfg.gamma**t * self._surrogate(kind, model, s, a)
                    if t + 1 < cfg.horizon:
                        s = torch.clamp(model.predict(s, a)[0], lo_t, hi_t)
                objective = total.mean() + cfg.ent_coef * self.policy.entropy()
                ascent_step(objective, params, self.optimizer, cfg.max_grad_norm)
                objectives.append(float(objective.detach()))
                surrogates.append(float(total.detach().mean()) / cfg.horizon)
        if objectives:
            diagnostics.update(
                objective_first=objectives[0],
                objective_last=objectives[-1],
                surrogate_mean=float(np.mean(surrogates)),
            )
        diagnostics.update(entropy=float(self.policy.entropy().detach()),
                           log_std_mean=float(self.policy.log_std().detach().mean()))
        self._end_update(buffer)
        return diagnostics

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(
            optimizer=copy.deepcopy(self.optimizer.state_dict()),
            predictor=clone_tensors(self.predictor.state_dict()),
            predictor_optimizer=copy.deepcopy(self.predictor.optimizer.state_dict()),
        )
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))
        self.predictor.load_state_dict(clone_tensors(state["predictor"]))
        self.predictor.optimizer.load_state_dict(copy.deepcopy(state["predictor_optimizer"]))


__all__ = ["DisagreementPathwise", "DisagreementPathwiseConfig"]
