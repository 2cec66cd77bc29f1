"""stable-baselines3 PPO / SAC trained on the task's own reward: the baseline an RL
practitioner would run anyway, whose data then trains the same transition model.

How the data reaches the buffer: the agent learns on a real env wrapped, innermost (under
SB3's ``Monitor`` and ``DummyVecEnv``, outside Gymnasium's ``TimeLimit``), in a
:class:`TransitionRecorder` that stores every real transition ``(s, a, s', r, terminated,
truncated)`` with ``a`` the action actually applied (SB3's action, clipped to the box as
MuJoCo clamps controls) and ``s'`` the true next observation (before any auto-reset).
``collect`` runs ``agent.learn(n_steps, reset_num_timesteps=False)`` and appends exactly
``n_steps`` rows; episodes continue across rounds (as SB3 continues them), keeping their
episode id when the buffer's last row is theirs and taking a fresh id (continuing the
buffer's numbering) otherwise.

PPO learns in rollouts of ``n_steps`` env steps; when a round ends mid-rollout, a callback
stops ``learn`` right after the ``n_steps``-th step (that partial rollout is not trained on),
so choose PPO's ``n_steps`` to divide the round size (default 250 divides 1000).

Reproducibility: SB3 draws from the global ``random`` / ``numpy`` / ``torch`` generators, so
construction, ``learn`` and ``predict`` run inside :func:`isolated_global_rngs`, seeded from
the strategy's own generator and restored afterwards: other code's RNG use cannot change a
run, and these strategies do not disturb anyone else's. ``state_dict`` saves the agent with
SB3's ``save`` into bytes (plus SAC's replay buffer, a pickle) and the generator state; it is
**not** bit-identical on resume: the env's physics state and the ongoing episode are not
saved (a resumed agent starts a fresh episode), nor is the action space's sampler used during
SAC's ``learning_starts``. Loading the bytes unpickles them: only load checkpoints you wrote.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from advex.envs import EpisodeMode, TaskSpec, make_env
from advex.envs.contacts import ContactMonitor
from advex.exploration.buffer import CONTACT_COLUMN
from advex.exploration.round_data import RoundData
from advex.exploration.strategy import Strategy, StrategyConfig
from advex.seeding import isolated_global_rngs

_FIELDS = ("obs", "act", "next_obs", "reward", "terminated", "truncated", "episode_id",
           CONTACT_COLUMN)


def new_sb3_agent(algorithm: type[BaseAlgorithm], env: Any, seed: int,
                  **kwargs: Any) -> BaseAlgorithm:
    """How advex builds every SB3 agent (the coverage set's policy pool and the ``sb3-*``
    strategies): an MLP policy on the CPU, seeded, silent; ``kwargs`` are the algorithm's.
    Callers isolate the global RNGs around it (SB3's ``seed=`` reseeds them)."""
    return algorithm("MlpPolicy", env, seed=seed, device="cpu", verbose=0, **kwargs)


class TransitionRecorder(gym.Wrapper):
    """Records every real transition of the wrapped env while :attr:`recording`, with its
    contact label (:mod:`advex.envs.contacts`)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        space = env.action_space
        if not isinstance(space, gym.spaces.Box):
            raise ValueError(f"SB3 strategies need a Box action space, got {space}")
        self.low = np.asarray(space.low, np.float32)
        self.high = np.asarray(space.high, np.float32)
        self.recording = False
        self.rows: dict[str, list[Any]] = {k: [] for k in _FIELDS}
        self.episode_id = -1  # id of the ongoing episode
        self.next_episode_id = 0  # id the next reset takes
        self._obs: np.ndarray | None = None
        self.monitor = ContactMonitor.of(env)

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._obs = np.asarray(obs, np.float32)
        self.episode_id = self.next_episode_id
        self.next_episode_id += 1
        return obs, info

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        self.monitor.begin()
        obs, reward, terminated, truncated, info = self.env.step(action)
        contact = self.monitor.end()
        if self.recording:
            applied = np.clip(np.asarray(action, np.float32), self.low, self.high)
            for key, value in zip(_FIELDS, (self._obs, applied, obs, reward, terminated,
                                            truncated, self.episode_id, contact), strict=True):
                self.rows[key].append(value)
        self._obs = np.asarray(obs, np.float32)
        return obs, reward, terminated, truncated, info

    @property
    def in_episode(self) -> bool:
        return self._obs is not None

    def take_rows(self) -> dict[str, np.ndarray]:
        """The recorded rows as arrays (buffer dtypes), clearing the record."""
        dtypes = (np.float32, np.float32, np.float32, np.float32, np.bool_, np.bool_, np.int64,
                  np.int64)
        out: dict[str, np.ndarray] = {
            k: np.asarray(self.rows[k], dtype=d) for k, d in zip(_FIELDS, dtypes, strict=True)
        }
        self.rows = {k: [] for k in _FIELDS}
        return out


class _StopMidRollout(BaseCallback):
    """Stops PPO's ``learn`` after exactly ``target`` recorded steps when that falls inside a
    rollout (``learn`` would otherwise finish the rollout), keeping the agent's notion of
    the current observation in step with the env's."""

    def __init__(self, recorder: TransitionRecorder, target: int) -> None:
        super().__init__()
        self.recorder, self.target = recorder, target

    def _on_step(self) -> bool:
        done = len(self.recorder.rows["obs"]) >= self.target
        rollout_ends = self.locals["n_steps"] + 1 >= self.locals["n_rollout_steps"]
        if done and not rollout_ends:
            self.model._last_obs = self.locals["new_obs"]
            self.model._last_episode_starts = self.locals["dones"]
            return False
        return True


@dataclass
class SB3Config(StrategyConfig):
    """Shared SB3 settings. ``net_arch=None`` keeps SB3's default network for the algorithm."""

    learning_rate: float = 3e-4
    gamma: float = 0.99
    net_arch: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if self.net_arch is not None:
            self.net_arch = tuple(int(h) for h in self.net_arch)

    def agent_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"learning_rate": self.learning_rate, "gamma": self.gamma}
        if self.net_arch is not None:
            kwargs["policy_kwargs"] = {"net_arch": list(self.net_arch)}
        return kwargs


@dataclass
class SB3PPOConfig(SB3Config):
    """PPO rollouts of ``n_steps`` (should divide the round size), minibatches, epochs."""

    n_steps: int = 250
    batch_size: int = 50
    n_epochs: int = 10

    def agent_kwargs(self) -> dict[str, Any]:
        return {**super().agent_kwargs(), "n_steps": self.n_steps,
                "batch_size": self.batch_size, "n_epochs": self.n_epochs}


@dataclass
class SB3SACConfig(SB3Config):
    """SAC replay capacity (SB3's 1e6 would preallocate hundreds of MB) and update rate."""

    buffer_size: int = 100_000
    learning_starts: int = 100
    batch_size: int = 256
    train_freq: int = 1
    gradient_steps: int = 1

    def agent_kwargs(self) -> dict[str, Any]:
        return {**super().agent_kwargs(), "buffer_size": self.buffer_size,
                "learning_starts": self.learning_starts, "batch_size": self.batch_size,
                "train_freq": self.train_freq, "gradient_steps": self.gradient_steps}


class SB3Strategy(Strategy):
    """An SB3 agent learning the task's reward while its transitions fill the buffer."""

    algorithm: ClassVar[type[BaseAlgorithm]]
    config: SB3Config
    uses_model = False  # the agent learns the task reward while collecting
    unpickles_checkpoints = True  # SB3's save format (cloudpickle), SAC's replay buffer (pickle)

    def __init__(
        self, spec: TaskSpec, config: SB3Config, seed: int, *, episodes: EpisodeMode = "env"
    ) -> None:
        super().__init__(spec, config, seed, episodes=episodes)
        # "free" episodes: IgnoreTermination sits inside the recorder, so SB3 never sees a
        # termination and the recorded rows say terminated=False, as every strategy's do.
        self.recorder = TransitionRecorder(
            make_env(spec, episodes=episodes, disable_env_checker=True)
        )
        self.vec_env = DummyVecEnv([lambda: Monitor(self.recorder)])
        with isolated_global_rngs(self.seed):
            self.agent = new_sb3_agent(self.algorithm, self.vec_env, self.seed,
                                       **config.agent_kwargs())
        self._rows_in_buffer = -1  # len(buffer) right after our last append

    def act(self, obs: np.ndarray) -> np.ndarray:
        obs = self._check_obs(obs)
        with isolated_global_rngs(int(self.rng.integers(2**31))):
            act, _ = self.agent.predict(obs, deterministic=False)
        return np.clip(np.asarray(act, np.float32).reshape(len(obs), -1), self.low, self.high)

    def collect(self, collector: Any, buffer: Any, n_steps: int, seed: int,
                progress: bool = True) -> RoundData:
        """``agent.learn(n_steps)`` on the recorded env; appends exactly ``n_steps`` rows.
        ``collector`` and ``seed`` are not used: SB3 steps its own env, seeded at
        construction, and continues its episodes across rounds."""
        if n_steps <= 0:
            raise ValueError(f"n_steps must be > 0, got {n_steps}")
        train_freq = getattr(self.config, "train_freq", 1)
        if n_steps % train_freq:
            raise ValueError(
                f"{self.name}: n_steps ({n_steps}) must be a multiple of train_freq ({train_freq})"
            )
        spec = getattr(collector, "spec", None)
        if spec is not None and spec.name != self.spec.name:
            raise ValueError(f"collector is for {spec.name}, strategy for {self.spec.name}")
        first_free = int(buffer.episode_id.max()) + 1 if len(buffer) else 0
        continues = (self.recorder.in_episode and self._rows_in_buffer == len(buffer)
                     and len(buffer) > 0
                     and int(buffer.episode_id[-1]) == self.recorder.episode_id)
        if not self.recorder.in_episode:  # learn() will reset: that episode takes first_free
            self.recorder.next_episode_id = first_free
        elif continues:
            self.recorder.next_episode_id = max(first_free, self.recorder.episode_id + 1)
        else:
            self.recorder.episode_id, self.recorder.next_episode_id = first_free, first_free + 1
        start = len(buffer)
        callback = _StopMidRollout(self.recorder, n_steps) if isinstance(self.agent,
                                                                            PPO) else None
        self.recorder.recording = True
        try:
            with isolated_global_rngs(int(self.rng.integers(2**31))):
                self.agent.learn(n_steps, callback=callback, reset_num_timesteps=False,
                                 progress_bar=False)
        finally:
            self.recorder.recording = False
            rows = self.recorder.take_rows()
        if len(rows["obs"]) != n_steps:
            raise RuntimeError(
                f"{self.name}: SB3 took {len(rows['obs'])} env steps, expected {n_steps}"
            )
        if not buffer.labels_contacts:
            del rows[CONTACT_COLUMN]
        buffer.add(**rows)
        self._rows_in_buffer = len(buffer)
        return RoundData.appended(start, len(buffer), n_steps, self.name)

    def update(
        self, buffer: Any, model: Any, data: RoundData, observed: Any = None
    ) -> dict[str, float]:
        """Nothing to learn from the model (the agent learns its reward while collecting);
        reports the mean return of recent finished episodes."""
        episodes = list(self.agent.ep_info_buffer or [])
        if not episodes:
            return {}
        return {"ep_rew_mean": float(np.mean([e["r"] for e in episodes])),
                "ep_len_mean": float(np.mean([e["l"] for e in episodes]))}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        agent_bytes = io.BytesIO()
        self.agent.save(agent_bytes)
        state["agent"] = agent_bytes.getvalue()
        if isinstance(self.agent, SAC):
            replay = io.BytesIO()
            self.agent.save_replay_buffer(replay)
            state["replay_buffer"] = replay.getvalue()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the agent (and SAC's replay buffer); the next ``collect`` starts a fresh
        episode (the env's physics state is not part of the checkpoint)."""
        super().load_state_dict(state)
        self.agent = self.algorithm.load(io.BytesIO(state["agent"]), env=self.vec_env,
                                         device="cpu")
        if "replay_buffer" in state and isinstance(self.agent, SAC):
            self.agent.load_replay_buffer(io.BytesIO(state["replay_buffer"]))
        self.agent._last_obs = None  # forces learn() to reset the env: a fresh episode
        self.recorder._obs = None
        self._rows_in_buffer = -1

    def close(self) -> None:
        """Close the agent's MuJoCo env (the strategy owns it); idempotent."""
        self.vec_env.close()


class SB3PPOStrategy(SB3Strategy):
    """``sb3-ppo``: on-policy PPO on the task reward."""

    name = "sb3-ppo"
    config_cls = SB3PPOConfig
    algorithm = PPO


class SB3SACStrategy(SB3Strategy):
    """``sb3-sac``: off-policy SAC on the task reward."""

    name = "sb3-sac"
    config_cls = SB3SACConfig
    algorithm = SAC
