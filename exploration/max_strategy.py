"""``max``: Model-Based Active Exploration (Shyam, Jaśkowski and Gomez, ICML 2019), in advex.

MAX (the paper's Algorithm 1, section 3) keeps an ensemble of probabilistic forward models and
explores by acting in the real environment with a policy that was derived, in the *learned*
model, to maximise a novelty utility: the Jensen-Rényi divergence (order 2, section 3.2) of the
members' Gaussian predictions of the next state, which is large where the members disagree
beyond their own predicted noise. The exploration MDP (section 3.3) is the model itself: its
transitions are sampled from a member drawn at random each step, its reward is the utility,
and the policy is solved there by SAC, from scratch each time. What advex builds:

- the utility: the closed-form Jensen-Rényi divergence of an equal-weight mixture of the
  online ensemble's diagonal Gaussians (Wang et al. 2009), in the yardstick's units (the
  divergence is invariant to a per-dimension scale; the units only keep the numbers tame):
  :func:`jensen_renyi`;
- the exploration MDP: :class:`ImaginedVecEnv`, ``n_envs`` imagined rows stepped in one
  batched call, each step through a member drawn at random per row, episodes of ``horizon``
  steps started from states of the real buffer and, under ``env`` rules, ended by the task's
  termination function;
- the policy: SB3's SAC, trained from scratch on ``imagined_steps`` imagined transitions (one
  gradient step each), then acting (stochastically) in the real env for the round.

Where advex differs from the paper, and why:

- **How often the policy is re-derived.** MAX retrains the models and re-derives the policy
  every few real steps (25 in its continuous tasks). advex's experiment refits the online model
  once per round (1 000 steps in the grid) for every strategy, so MAX re-derives once per
  round; the policy then acts on a model that learns nothing from the round's own data until
  the next round.
- **Where imagined episodes start.** In the paper from the current real state; here from
  states drawn from the whole buffer, so one policy serves a round of many episodes.
- **Model and solver sizes.** The online ensemble is advex's (5 members of 128 x 3, not the
  paper's 32 members of 512 x 4), shared with every model-using strategy so the comparison is
  about the data; SAC uses 64 x 64 networks and a few thousand updates per round, which is what
  2 CPU cores allow per round.
- **The first round** acts uniformly at random, as the paper seeds its data with random steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.vec_env import VecEnv

from advex.config import require
from advex.envs import EpisodeMode, TaskSpec
from advex.exploration.collect import uniform_actions
from advex.exploration.model_access import require_method
from advex.exploration.round_data import RoundData
from advex.exploration.sb3_strategy import new_sb3_agent
from advex.exploration.strategy import Strategy, StrategyConfig
from advex.seeding import derive_seed, isolated_global_rngs
from advex.types import TermFn


def jensen_renyi(means: torch.Tensor, variances: torch.Tensor) -> torch.Tensor:
    """Jensen-Rényi divergence (order 2) of the equal-weight mixture of ``E`` diagonal
    Gaussians ``N(means[e], variances[e])`` (each ``E x B x O``), per row: ``B``.

    ``JRD = H2(mixture) - mean_e H2(N_e)`` with ``H2(p) = -log int p^2``: for Gaussians
    ``int N_i N_j = N(mu_i; mu_j, S_i + S_j)``, so everything is closed form (Wang et al.
    2009). Zero when the members agree exactly, positive otherwise."""
    e = means.shape[0]
    var_sum = variances.unsqueeze(0) + variances.unsqueeze(1)  # E x E x B x O
    diff = means.unsqueeze(0) - means.unsqueeze(1)
    log_overlap = -0.5 * (torch.log(2 * math.pi * var_sum) + diff.square() / var_sum).sum(-1)
    mixture_h2 = -(torch.logsumexp(log_overlap.reshape(e * e, -1), dim=0) - 2 * math.log(e))
    member_h2 = 0.5 * torch.log(4 * math.pi * variances).sum(-1).mean(0)
    return mixture_h2 - member_h2


class ImaginedVecEnv(VecEnv):
    """The exploration MDP as an SB3 ``VecEnv``: ``n_envs`` imagined rows of the learned
    model, stepped together. Reward: :func:`jensen_renyi` of the members at ``(s, a)``; next
    state: the mean of a member drawn at random per row and step; an episode lasts
    ``horizon`` steps (a time limit, so SAC bootstraps through it) unless ``term_fn`` ends it;
    a finished row restarts from a state drawn from ``starts``."""

    render_mode = None  # nothing to render (SB3 asks)

    def __init__(self, model: Any, starts: np.ndarray, low: np.ndarray, high: np.ndarray,
                 n_envs: int, horizon: int, term_fn: TermFn | None,
                 scale: np.ndarray | None, seed: int) -> None:
        obs_dim = starts.shape[1]
        observation_space = gym.spaces.Box(-np.inf, np.inf, (obs_dim,), np.float32)
        action_space = gym.spaces.Box(low, high, dtype=np.float32)
        super().__init__(n_envs, observation_space, action_space)
        self.model, self.starts, self.horizon, self.term_fn = model, starts, horizon, term_fn
        self.scale = torch.ones(obs_dim) if scale is None else torch.as_tensor(
            scale, dtype=torch.float32)
        self.rng = np.random.default_rng(seed)
        self.generator = torch.Generator().manual_seed(seed)
        self.state = np.zeros((n_envs, obs_dim), np.float32)
        self.steps = np.zeros(n_envs, np.int64)
        self._actions = np.zeros((n_envs, len(low)), np.float32)

    def _draw_starts(self, n: int) -> np.ndarray:
        return self.starts[self.rng.integers(len(self.starts), size=n)].astype(np.float32)

    def reset(self) -> np.ndarray:
        self.state = self._draw_starts(self.num_envs)
        self.steps[:] = 0
        return self.state.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, np.float32).reshape(self.num_envs, -1)

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        obs = torch.as_tensor(self.state)
        act = torch.as_tensor(self._actions)
        with torch.no_grad():
            means, variances = self.model.predict_members(obs, act)  # E x B x O, raw units
            reward = jensen_renyi(means / self.scale, variances / self.scale.square())
            members = torch.randint(means.shape[0], (self.num_envs,), generator=self.generator)
            next_obs = means[members, torch.arange(self.num_envs)]
            terminated = (self.term_fn(act, next_obs).numpy() if self.term_fn is not None
                          else np.zeros(self.num_envs, bool))
        next_np = next_obs.numpy().astype(np.float32)
        terminated |= ~np.isfinite(next_np).all(axis=1)  # a diverged member ends the row
        self.steps += 1
        truncated = (self.steps >= self.horizon) & ~terminated
        done = terminated | truncated
        infos: list[dict] = [{} for _ in range(self.num_envs)]
        rewards = np.nan_to_num(reward.numpy().astype(np.float32), nan=0.0, posinf=0.0)
        if done.any():
            for i in np.flatnonzero(done):
                infos[i] = {"terminal_observation": np.nan_to_num(next_np[i]),
                            "TimeLimit.truncated": bool(truncated[i])}
            next_np[done] = self._draw_starts(int(done.sum()))
            self.steps[done] = 0
        self.state = next_np
        return next_np.copy(), rewards, done, infos

    def close(self) -> None:
        return None

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self, attr_name)] * self.num_envs

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *args: Any, indices: Any = None,
                   **kwargs: Any) -> list[Any]:
        return []

    def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
        return [False] * self.num_envs

    def seed(self, seed: int | None = None) -> Sequence[None]:
        return [None] * self.num_envs


@dataclass
class MAXConfig(StrategyConfig):
    """``imagined_steps``: imagined transitions (and SAC updates) per round; ``n_envs``:
    imagined rows stepped together; ``horizon``: imagined episode length (the paper's 50);
    ``hidden``: width of SAC's two hidden layers; ``batch_size``, ``learning_starts``: SAC's."""

    imagined_steps: int = 3000
    n_envs: int = 8
    horizon: int = 50
    hidden: int = 64
    batch_size: int = 256
    learning_starts: int = 256

    def __post_init__(self) -> None:
        require("MAXConfig", {
            "imagined_steps >= n_envs": self.imagined_steps >= self.n_envs,
            "n_envs >= 1": self.n_envs >= 1,
            "horizon >= 1": self.horizon >= 1,
            "hidden >= 1": self.hidden >= 1,
            "batch_size >= 1": self.batch_size >= 1,
            "learning_starts >= 0": self.learning_starts >= 0,
        })


class MAXStrategy(Strategy):
    """MAX (module docstring): a SAC policy solved in the learned model for Jensen-Rényi
    novelty, re-derived from scratch every round, acting in the real env."""

    name = "max"
    config_cls = MAXConfig
    config: MAXConfig

    def __init__(self, spec: TaskSpec, config: MAXConfig, seed: int, *,
                 episodes: EpisodeMode = "env") -> None:
        super().__init__(spec, config, seed, episodes=episodes)
        self.model: Any = None
        self.agent: SAC | None = None
        self.last_utility = math.nan

    def bind_model(self, model: Any) -> None:
        require_method(model, "predict_members", self.name)
        self.model = model

    def _derive_policy(self, buffer: Any, seed: int) -> SAC:
        config = self.config
        env = ImaginedVecEnv(
            self.model, buffer.batch().obs, self.low, self.high, config.n_envs, config.horizon,
            self.spec.term_fn if self.episodes == "env" else None, self.error_scale, seed)
        with isolated_global_rngs(seed):
            agent = new_sb3_agent(
                SAC, env, seed, batch_size=config.batch_size,
                learning_starts=config.learning_starts, train_freq=1,
                gradient_steps=config.n_envs, buffer_size=config.imagined_steps,
                policy_kwargs={"net_arch": [config.hidden, config.hidden]})
            agent.learn(config.imagined_steps, progress_bar=False)
        replay = agent.replay_buffer
        assert replay is not None
        filled = replay.buffer_size if replay.full else replay.pos
        self.last_utility = float(replay.rewards[:filled].mean()) if filled else math.nan
        return agent

    def collect(self, collector: Any, buffer: Any, n_steps: int, seed: int,
                progress: bool = True) -> RoundData:
        """Re-derive the policy in the model refitted on every row so far (from the first
        round on: before it the model has seen nothing), then act with it."""
        self.agent = None
        if self.model is not None and len(buffer) > 0:
            self.agent = self._derive_policy(buffer, derive_seed(seed, "max"))
        return super().collect(collector, buffer, n_steps, seed, progress)

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = self._check_obs(obs)
        if self.agent is None:
            return uniform_actions(self.rng, self.low, self.high, len(obs))
        with isolated_global_rngs(int(self.rng.integers(2**31))):
            act, _ = self.agent.predict(obs, deterministic=False)
        return np.clip(np.asarray(act, np.float32).reshape(len(obs), -1), self.low, self.high)

    def update(
        self, buffer: Any, model: Any, data: RoundData, observed: Any = None
    ) -> dict[str, float]:
        self.bind_model(model)
        if math.isnan(self.last_utility):
            return {}
        return {"imagined_utility": self.last_utility}  # mean Jensen-Rényi per imagined step
