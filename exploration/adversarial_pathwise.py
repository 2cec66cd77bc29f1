"""``adversarial-pw``: the pathwise (reparameterised) adversary on the model's *true* loss.

The adversary maximises the same per-transition error the yardstick scores
(:mod:`advex.models.prediction_error`), ``l(s, a) = mean_d ((f_hat(s, a) - f(s, a))_d /
scale_d)^2``, where ``f`` is the real simulator. With the reparameterised action
``a = squash(mu_rho(s) + sigma_rho * eps)``, ``grad_rho l`` needs ``d f / d a`` of the real
dynamics, which :class:`~advex.envs.jacobians.SimulatorJacobians` provides (``mjd_transitionFD``
or differences through ``mj_setState``).

Where the gradient is taken: along the *real* trajectories the policy just collected (the
round's rows), never at states or actions the robot did not visit, so the adversary learns
nothing from simulator queries beyond derivatives at its own data. For each row the collector
records the simulator state and the policy's noise ``eps`` is recovered from the recorded
pre-squash action, so the rollout is reproduced exactly at the current parameters. Over
windows of ``horizon`` consecutive rows of one episode the objective ``sum_t gamma^t l_t`` is
differentiated through the chain ``x_{t+1} = f(x_t, a_t)`` using the simulator's state and
action Jacobians (the env step linearised at the recorded rows: values are the recorded ones;
after the first ascent step they are first-order in the parameter change, which is why the
defaults take few, small steps). The model is frozen; gradients flow through it into ``rho``.

Cost per round: one Jacobian per collected row (``mjd``: ``frame_skip`` calls of
``mjd_transitionFD`` plus ``S`` forward passes for the observation map; ``differences``:
``S + A + 1`` env steps) plus ``policy_steps`` backward passes over ``batch_size`` windows.
Measured against the refit in ``benchmarks/adversary_update.py``.

Reward timing as for ``adversarial-sf`` (:mod:`advex.exploration.adversarial`):
``"before-refit"`` differentiates the model as it was before it trained on the round (a copy
taken in :meth:`observe_round`), ``"after-refit"`` the refitted one.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from advex.config import require, require_choice
from advex.envs import EpisodeMode, TaskSpec
from advex.envs.jacobians import (
    JACOBIAN_SOURCES,
    JacobianSource,
    NotSettableError,
    SimulatorJacobians,
    StepJacobians,
    check_settable,
)
from advex.exploration.adversarial import REWARD_TIMINGS, RewardTiming
from advex.exploration.gaussian_policy import GaussianPolicy
from advex.exploration.model_access import frozen, require_method
from advex.exploration.policy_strategy import (
    GaussianPolicyStrategy,
    PathwiseAscentConfig,
    ascent_step,
)
from advex.exploration.round_data import RoundData
from advex.models.prediction_error import model_error


@dataclass
class AdversarialPathwiseConfig(PathwiseAscentConfig):
    """Policy and ascent (``horizon``: consecutive real steps differentiated through, 1 = the
    action's own error only; ``batch_size``: windows per step), reward timing and the
    Jacobian source."""

    reward_timing: RewardTiming = "after-refit"
    jacobian_source: JacobianSource = "auto"
    jacobian_eps: float = 1e-6

    def __post_init__(self) -> None:
        super().__post_init__()
        require_choice("reward_timing", self.reward_timing, REWARD_TIMINGS)
        require_choice("jacobian_source", self.jacobian_source, JACOBIAN_SOURCES)
        require("AdversarialPathwiseConfig", {"jacobian_eps > 0": self.jacobian_eps > 0})


def episode_windows(episode_ids: np.ndarray, horizon: int) -> np.ndarray:
    """Split rows into windows of up to ``horizon`` consecutive rows of one episode.

    ``episode_ids`` ``N`` (rows of one episode in time order, possibly interleaved with other
    episodes') -> ``W x horizon`` int64 row indices, ``-1`` where an episode's last window is
    short. Consecutive entries of a window are consecutive steps of one episode.
    """
    windows: list[np.ndarray] = []
    for ep in np.unique(episode_ids):
        rows = np.flatnonzero(episode_ids == ep)
        for start in range(0, len(rows), horizon):
            chunk = rows[start:start + horizon]
            windows.append(np.pad(chunk, (0, horizon - len(chunk)), constant_values=-1))
    if not windows:
        return np.zeros((0, horizon), dtype=np.int64)
    return np.stack(windows).astype(np.int64)


@dataclass(frozen=True)
class LinearisedRound:
    """A round's real rows and the simulator's Jacobians there, as float32 tensors.

    ``obs``/``next_obs`` ``N x O``, ``act`` ``N x A``, ``eps`` ``N x A`` (the policy noise that
    reproduces each action), Jacobians as in :class:`StepJacobians` (``S`` tangent dims) and
    ``windows`` ``W x H`` (:func:`episode_windows`).
    """

    obs: torch.Tensor
    act: torch.Tensor
    next_obs: torch.Tensor
    eps: torch.Tensor
    obs_state: torch.Tensor
    obs_act: torch.Tensor
    state_state: torch.Tensor
    state_act: torch.Tensor
    windows: torch.Tensor

    @classmethod
    def build(cls, obs: np.ndarray, act: np.ndarray, next_obs: np.ndarray, eps: np.ndarray,
              jac: StepJacobians, windows: np.ndarray) -> LinearisedRound:
        def t(x: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.asarray(x), dtype=torch.float32)

        return cls(t(obs), t(act), t(next_obs), t(eps), t(jac.obs_state), t(jac.obs_act),
                   t(jac.state_state), t(jac.state_act), torch.as_tensor(windows))

    def objective(self, policy: GaussianPolicy, model: Any, window_idx: torch.Tensor,
                  gamma: float, scale: np.ndarray | None) -> torch.Tensor:
        """Mean over the chosen windows of each window's ``sum_t gamma^t l_t`` (padding rows
        add nothing), differentiable w.r.t. the policy: the policy acts at the (linearised)
        states, the model predicts, the real next state follows the env step linearised at the
        recorded rows."""
        rows = self.windows[window_idx]  # B x H
        n, horizon = rows.shape
        dx = torch.zeros(n, self.state_state.shape[1])
        obs_t = self.obs[rows[:, 0]]
        total = torch.zeros(n)
        for t in range(horizon):
            valid = rows[:, t] >= 0
            if not bool(valid.any()):
                break
            r = rows[:, t].clamp_min(0)
            mu, log_std = policy(obs_t)
            act = policy.squash(mu + log_std.exp() * self.eps[r])
            d_act = act - self.act[r]
            next_obs = (self.next_obs[r] + (self.obs_state[r] @ dx.unsqueeze(-1)).squeeze(-1)
                        + (self.obs_act[r] @ d_act.unsqueeze(-1)).squeeze(-1))
            error = model_error(model, obs_t, act, next_obs, scale)
            total = total + gamma**t * torch.where(valid, error, torch.zeros_like(error))
            dx = ((self.state_state[r] @ dx.unsqueeze(-1)).squeeze(-1)
                  + (self.state_act[r] @ d_act.unsqueeze(-1)).squeeze(-1))
            # a finished window keeps feeding zeros; its later rows are masked out
            obs_t = torch.where(valid.unsqueeze(-1), next_obs, obs_t)
        return total.mean()


class AdversarialPathwise(GaussianPolicyStrategy):
    """Pathwise adversary: ascend the model's true error through the simulator's Jacobians."""

    name = "adversarial-pw"
    config_cls = AdversarialPathwiseConfig
    config: AdversarialPathwiseConfig

    @classmethod
    def check_task(cls, spec: TaskSpec) -> None:
        try:
            check_settable(spec)
        except NotSettableError as e:
            raise NotSettableError(f"{cls.name}: {e}") from None

    def __init__(
        self,
        spec: TaskSpec,
        config: AdversarialPathwiseConfig,
        seed: int,
        *,
        episodes: EpisodeMode = "env",
    ) -> None:
        try:
            self.jacobians = SimulatorJacobians(
                spec, config.jacobian_source, eps=config.jacobian_eps
            )
        except NotSettableError as e:
            raise NotSettableError(f"{self.name}: {e}") from None
        super().__init__(spec, config, seed, episodes=episodes)
        self.optimizer = torch.optim.Adam(self.policy.parameters(), lr=config.lr)

    @property
    def rewards_before_refit(self) -> bool:
        return self.config.reward_timing == "before-refit"

    #: each row's simulator state, where the Jacobians are taken
    records_states = True

    def observe_round(self, buffer: Any, model: Any, data: RoundData) -> Any:
        """A copy of the model before its refit (before-refit timing): the ascent's target."""
        return copy.deepcopy(model)

    def _noise(self, obs: np.ndarray, u: np.ndarray) -> np.ndarray:
        """The standard-normal draws ``eps`` that gave pre-squash actions ``u`` at ``obs``."""
        with torch.no_grad():
            mu, log_std = self.policy(torch.as_tensor(obs))
            return ((torch.as_tensor(u) - mu) / log_std.exp()).numpy()

    def linearised_round(self, buffer: Any, data: RoundData) -> LinearisedRound:
        """Round ``data``'s rows, noise, windows and simulator Jacobians."""
        if data.states is None or data.policy_draws is None:
            raise RuntimeError(
                f"{self.name}: the round's rows were not collected by this strategy's "
                "collect() (no recorded simulator states or policy draws)"
            )
        batch = buffer.batch(data.rows)
        jac = self.jacobians.linearize(data.states, batch.act)
        windows = episode_windows(buffer.episode_id[data.rows], self.config.horizon)
        return LinearisedRound.build(batch.obs, batch.act, batch.next_obs,
                                     self._noise(batch.obs, data.policy_draws), jac, windows)

    def update(
        self, buffer: Any, model: Any, data: RoundData, observed: Any = None
    ) -> dict[str, float]:
        """Linearise the simulator at the round's rows, then ``policy_steps`` ascent steps on
        the windows' true error of ``observed`` (the model before its refit, before-refit
        timing) or of the refitted ``model``; then merge new rows into the policy's obs
        normaliser."""
        target = observed if observed is not None else model
        require_method(target, "predict" if self.error_scale is not None else "loss", self.name)
        idx = data.rows
        if self._scores_before_refit(data) and observed is None:
            raise self._unobserved_round()
        diagnostics: dict[str, float] = {"n_transitions": float(len(idx)),
                                         "rewards_before_refit": float(target is not model)}
        if len(idx):
            start = time.perf_counter()
            linearised = self.linearised_round(buffer, data)
            diagnostics["jacobian_s"] = time.perf_counter() - start
            diagnostics.update(self._ascend(linearised, target))
        diagnostics.update(entropy=float(self.policy.entropy().detach()),
                           log_std_mean=float(self.policy.log_std().detach().mean()))
        self._end_update(buffer)
        return diagnostics

    def _ascend(self, data: LinearisedRound, model: Any) -> dict[str, float]:
        cfg = self.config
        params = list(self.policy.parameters())
        n_windows = len(data.windows)
        objectives: list[float] = []
        start = time.perf_counter()
        with frozen(model):
            for _ in range(cfg.policy_steps):
                pick = torch.randint(n_windows, (min(cfg.batch_size, n_windows),),
                                     generator=self.generator)
                error = data.objective(self.policy, model, pick, cfg.gamma, self.error_scale)
                objective = error + cfg.ent_coef * self.policy.entropy()
                ascent_step(objective, params, self.optimizer, cfg.max_grad_norm)
                objectives.append(float(error.detach()))
        out = {"ascent_s": time.perf_counter() - start, "n_windows": float(n_windows)}
        if objectives:
            out.update(error_first=objectives[0], error_last=objectives[-1])
        return out

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(optimizer=copy.deepcopy(self.optimizer.state_dict()))
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))

    def close(self) -> None:
        self.jacobians.close()


__all__ = ["AdversarialPathwise", "AdversarialPathwiseConfig", "LinearisedRound",
           "episode_windows"]
