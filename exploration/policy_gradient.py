"""Score-function (REINFORCE) learning of an exploration policy from per-transition rewards.

Shared by ``adversarial-sf`` (reward = the refitted model's loss on the transition) and
``disagreement`` (reward = ensemble disagreement): they differ only in
:meth:`ScoreFunctionStrategy.transition_rewards`.

Estimator (Williams 1992; the score-function estimator of the lecture notes, seed 001):
``grad_rho E[R] = E[grad_rho log pi_rho(a|s) * A]`` on the on-policy batch of the round just
collected, with a few epochs of PPO's clipped surrogate (Schulman et al. 2017) so each batch
is used more than once without stepping too far. Choices, and why:

- **Return-to-go** ``G_t = sum_k gamma^k r_{t+k}`` within an episode (``gamma`` default 0.9):
  where the robot is depends on earlier actions, so an action is credited with the loss it
  leads to a few steps later. Episodes cut by the round's end are treated as ended (no value
  bootstrap: rewards move every round as the model refits, so a value net would be stale).
- **Reward normalisation**: rewards are z-scored per batch before the returns (loss scales
  shrink as the model improves; subtracting the batch mean also removes the bias towards
  long episodes that positive rewards would create). ``log_rewards`` optionally compresses
  heavy tails first.
- **Baseline**: the batch mean of the returns, then advantages are z-scored (the constant
  baseline of REINFORCE; stable when the reward function changes every round).
- **Against minimax collapse** (the model fits whatever the adversary found, the adversary
  must keep moving): entropy bonus ``ent_coef``, a log-std floor in the policy, gradient-norm
  clipping ``max_grad_norm``, PPO's ratio clip and a KL early stop ``target_kl``.

Log-probabilities use the pre-squash ``u`` recorded while collecting (exact); the tanh
Jacobian cancels in the PPO ratio. If the recorded ``u`` does not match the buffer's actions
(e.g. the round was collected by someone else), ``u = atanh(a)`` is used instead.
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from advex.config import require
from advex.envs import EpisodeMode, TaskSpec
from advex.exploration.gaussian_policy import GaussianPolicy
from advex.exploration.policy_strategy import GaussianPolicyStrategy, PolicyLearnerConfig
from advex.exploration.round_data import RoundData
from advex.types import TransitionBatch


@dataclass
class ScoreFunctionConfig(PolicyLearnerConfig):
    """Policy network (see :class:`GaussianPolicyConfig`) plus the PPO-style learner (its
    return-to-go discounted by ``gamma`` = 0.9)."""

    gamma: float = 0.9
    epochs: int = 8
    minibatch_size: int = 128
    clip_range: float = 0.2
    #: stop the epochs early once the approximate KL exceeds 1.5 x this (``None``: never).
    target_kl: float | None = 0.05
    normalize_rewards: bool = True
    log_rewards: bool = False
    #: rows per model call when computing rewards (bounds memory on big rounds).
    reward_chunk: int = 8192

    def __post_init__(self) -> None:
        super().__post_init__()
        checks = {
            "epochs >= 1": self.epochs >= 1,
            "minibatch_size >= 1": self.minibatch_size >= 1,
            "clip_range > 0": self.clip_range > 0,
            "target_kl > 0 or None": self.target_kl is None or self.target_kl > 0,
            "reward_chunk >= 1": self.reward_chunk >= 1,
        }
        require(type(self).__name__, checks)


def discounted_returns(rewards: np.ndarray, episode_ids: np.ndarray, gamma: float) -> np.ndarray:
    """Return-to-go ``B`` within each episode.

    Rows of one episode appear in time order but may interleave with other episodes' rows
    (several envs), so the running sum is kept per episode id, walking backwards.
    """
    out = np.empty(len(rewards), dtype=np.float64)
    running: dict[int, float] = {}
    for i in range(len(rewards) - 1, -1, -1):
        ep = int(episode_ids[i])
        g = float(rewards[i]) + gamma * running.get(ep, 0.0)
        running[ep] = g
        out[i] = g
    return out


def _zscore(x: np.ndarray) -> np.ndarray:
    std = float(x.std())
    return (x - x.mean()) / std if std > 1e-12 else x - x.mean()


class ScoreFunctionLearner:
    """PPO-clip updates of a :class:`GaussianPolicy` from on-policy ``(s, u, r)`` batches."""

    def __init__(
        self, policy: GaussianPolicy, config: ScoreFunctionConfig, generator: torch.Generator
    ) -> None:
        self.policy = policy
        self.config = config
        self.generator = generator
        self.optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)

    def advantages(self, rewards: np.ndarray, episode_ids: np.ndarray) -> np.ndarray:
        """Per-transition rewards ``B`` -> normalised advantages ``B`` (see module docstring)."""
        r = np.asarray(rewards, dtype=np.float64)
        if self.config.log_rewards:
            r = np.log(np.maximum(r, 0.0) + 1e-8)
        if self.config.normalize_rewards:
            r = _zscore(r)
        return _zscore(discounted_returns(r, episode_ids, self.config.gamma))

    def update(
        self, obs: np.ndarray, u: np.ndarray, rewards: np.ndarray, episode_ids: np.ndarray
    ) -> dict[str, float]:
        """A few epochs of clipped-surrogate steps on one batch (``obs B x O``, ``u B x A``,
        ``rewards B``, ``episode_ids B``); returns diagnostics."""
        cfg = self.config
        obs_t = torch.as_tensor(obs, dtype=torch.float32)
        u_t = torch.as_tensor(u, dtype=torch.float32)
        adv_t = torch.as_tensor(self.advantages(rewards, episode_ids), dtype=torch.float32)
        with torch.no_grad():
            old_logp = self.policy.gaussian_log_prob(obs_t, u_t)
        n = len(obs_t)
        stats: dict[str, list[float]] = {"loss": [], "kl": [], "clip": []}
        epochs_run = 0
        for _ in range(cfg.epochs):
            perm = torch.randperm(n, generator=self.generator)
            epoch_kl = []
            for start in range(0, n, cfg.minibatch_size):
                idx = perm[start:start + cfg.minibatch_size]
                log_ratio = self.policy.gaussian_log_prob(obs_t[idx], u_t[idx]) - old_logp[idx]
                ratio = log_ratio.exp()
                adv = adv_t[idx]
                surrogate = torch.minimum(
                    ratio * adv, ratio.clamp(1 - cfg.clip_range, 1 + cfg.clip_range) * adv
                )
                loss = -surrogate.mean() - cfg.ent_coef * self.policy.entropy()
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(self.policy.parameters(), cfg.max_grad_norm)
                self.optimizer.step()
                with torch.no_grad():
                    kl = float(((ratio - 1) - log_ratio).mean())
                    stats["clip"].append(
                        float(((ratio - 1).abs() > cfg.clip_range).float().mean())
                    )
                stats["loss"].append(float(loss.detach()))
                epoch_kl.append(kl)
            stats["kl"].extend(epoch_kl)
            epochs_run += 1
            if cfg.target_kl is not None and np.mean(epoch_kl) > 1.5 * cfg.target_kl:
                break
        return {
            "policy_loss": float(np.mean(stats["loss"])),
            "approx_kl": float(np.mean(stats["kl"])),
            "clip_fraction": float(np.mean(stats["clip"])),
            "epochs": float(epochs_run),
            "entropy": float(self.policy.entropy().detach()),
            "log_std_mean": float(self.policy.log_std().detach().mean()),
        }

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": copy.deepcopy(self.optimizer.state_dict())}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.optimizer.load_state_dict(copy.deepcopy(state["optimizer"]))


class ScoreFunctionStrategy(GaussianPolicyStrategy):
    """A Gaussian policy trained by :class:`ScoreFunctionLearner` on
    :meth:`transition_rewards` of the round it collected (abstract: subclasses give the
    reward)."""

    config_cls = ScoreFunctionConfig
    config: ScoreFunctionConfig

    def __init__(
        self,
        spec: TaskSpec,
        config: ScoreFunctionConfig,
        seed: int,
        *,
        episodes: EpisodeMode = "env",
    ) -> None:
        super().__init__(spec, config, seed, episodes=episodes)
        self.learner = ScoreFunctionLearner(self.policy, config, self.generator)
        self.last_rewards = np.zeros(0, dtype=np.float64)

    @abc.abstractmethod
    def transition_rewards(self, batch: TransitionBatch, model: Any) -> np.ndarray:
        """Reward ``B`` (float64) of each transition of the latest round under ``model``."""

    def check_model(self, model: Any) -> None:
        """Raise :class:`StrategyModelError` if ``model`` cannot give this strategy's reward."""

    def _pre_squash(self, act: np.ndarray, u: np.ndarray | None) -> tuple[np.ndarray, bool]:
        """``u`` for the round's actions: the recorded draw ``u`` if it reproduces them, else
        ``atanh``. Returns ``(u, recorded)``."""
        if u is not None and u.shape == act.shape:
            center, half = self.policy.act_center.numpy(), self.policy.act_half.numpy()
            if np.allclose(center + half * np.tanh(u), act, atol=1e-5, rtol=0):
                return u, True
        with torch.no_grad():
            return self.policy.unsquash(torch.as_tensor(act)).numpy(), False

    # ------------------------------------------------------------------ learning
    def _checked_rewards(self, buffer: Any, idx: np.ndarray, model: Any) -> np.ndarray:
        rewards = np.asarray(self.transition_rewards(buffer.batch(idx), model), np.float64)
        if rewards.shape != (len(idx),) or not np.all(np.isfinite(rewards)):
            raise ValueError(
                f"{self.name}: rewards must be {len(idx)} finite values, got shape "
                f"{rewards.shape} with {int((~np.isfinite(rewards)).sum())} non-finite"
            )
        return rewards

    def observe_round(self, buffer: Any, model: Any, data: RoundData) -> np.ndarray:
        """The round's rewards under the model that has not trained on it yet (before-refit
        timing: the loop calls this from the second round on)."""
        self.check_model(model)
        return self._checked_rewards(buffer, data.rows, model)

    def update(
        self, buffer: Any, model: Any, data: RoundData, observed: Any = None
    ) -> dict[str, float]:
        """Reward the round's transitions (``observed``: their rewards under the model before
        its refit, else computed now under the refitted one; see :attr:`rewards_before_refit`)
        and take the policy's ascent steps; then merge the new rows into the obs normaliser."""
        self.check_model(model)
        idx = data.rows
        diagnostics: dict[str, float] = {"n_transitions": float(len(idx))}
        if len(idx):
            batch = buffer.batch(idx)
            if self._scores_before_refit(data) and observed is None:
                raise self._unobserved_round()
            rewards = (np.asarray(observed, np.float64) if observed is not None
                       else self._checked_rewards(buffer, idx, model))
            diagnostics["rewards_before_refit"] = float(observed is not None)
            self.last_rewards = rewards
            u, recorded = self._pre_squash(batch.act, data.policy_draws)
            diagnostics.update(
                self.learner.update(batch.obs, u, rewards, buffer.episode_id[idx])
            )
            diagnostics.update(
                reward_mean=float(rewards.mean()),
                reward_max=float(rewards.max()),
                reward_std=float(rewards.std()),
                u_recorded=float(recorded),
            )
        self._end_update(buffer)
        return diagnostics

    def _model_chunks(self, fn: Any, *arrays: np.ndarray) -> np.ndarray:
        """``fn`` (numpy in, ``B`` out) applied in chunks of ``reward_chunk`` rows."""
        step = self.config.reward_chunk
        parts = [np.asarray(fn(*(a[i:i + step] for a in arrays)), dtype=np.float64)
                 for i in range(0, len(arrays[0]), step)]
        return np.concatenate(parts) if parts else np.zeros(0)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state.update(learner=self.learner.state_dict())
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.learner.load_state_dict(state["learner"])
