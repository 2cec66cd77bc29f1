"""Collect environment transitions into a :class:`ReplayBuffer`.

Why a lean vector env of our own: Gymnasium's wrappers (passive checker, order enforcing,
time limit) and the per-step info merging of ``SyncVectorEnv`` cost ~40 % of a cheap MuJoCo
step. :class:`LeanVectorEnv` implements the ``gymnasium.vector.VectorEnv`` API over the
*unwrapped* envs with same-step autoreset, its own time limit and no info merging, so every
transition is recorded without the overhead. ``vectorization="async"`` uses Gymnasium's
``AsyncVectorEnv`` (subprocesses) instead, worth it only for expensive envs on several cores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, VectorEnv
from tqdm.auto import tqdm

from advex.envs import (
    EpisodeMode,
    TaskSpec,
    check_dims,
    check_episode_mode,
    get_state,
    get_task,
    make_env,
)
from advex.envs.contacts import ContactMonitor
from advex.envs.frames import FrameError, FrameSpec, render_frame
from advex.exploration.buffer import CONTACT_COLUMN, ReplayBuffer, check_fits_in_memory
from advex.exploration.round_data import RoundData
from advex.types import Policy

Vectorization = Literal["lean", "async"]


def uniform_actions(
    rng: np.random.Generator, low: np.ndarray, high: np.ndarray, n: int
) -> np.ndarray:
    """``n x A`` float32 actions uniform in the box ``[low, high]``, drawn from ``rng``."""
    low = np.asarray(low)
    return rng.uniform(low, high, size=(n, *low.shape)).astype(np.float32)


class RandomPolicy:
    """Uniform actions in the action box, from its own seeded generator.

    Draws are made ``block`` rows at a time: one generator call per step costs more than a
    cheap MuJoCo step.
    """

    def __init__(
        self, low: np.ndarray, high: np.ndarray, rng: np.random.Generator, block: int = 4096
    ) -> None:
        self.low = np.asarray(low, dtype=np.float32)
        self.high = np.asarray(high, dtype=np.float32)
        self.rng = rng
        self.block = block
        self._cache = np.zeros((0, len(self.low)), dtype=np.float32)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        n = len(obs)
        if len(self._cache) < n:
            self._cache = uniform_actions(self.rng, self.low, self.high, max(self.block, n))
        act, self._cache = self._cache[:n], self._cache[n:]
        return act


class LeanVectorEnv(VectorEnv):
    """``n`` unwrapped envs stepped in-process, same-step autoreset, time limit built in.

    ``step`` returns the *reset* observation for finished envs and puts the true final
    observation in ``info["final_obs"]`` (``N x O``, valid where ``info["_final_obs"]``), as
    Gymnasium's ``AutoresetMode.SAME_STEP`` does, but as one array instead of objects.
    ``ignore_termination=True`` applies ``"free"`` episode rules (:mod:`advex.envs.episodes`):
    the env's termination is reported as ``False`` and episodes end at the time limit only.
    ``frames`` (envs made to render, :meth:`FrameSpec.env_kwargs`): every reset and step also
    renders, ``info["frame"]`` (``N x H x W x C`` uint8) is the frame of the returned
    observation and ``step``'s ``info["next_frame"]`` the frame of the step's true outcome
    (rendered before an autoreset, like ``final_obs``). ``info["contact"]`` (``N`` bool) is
    each step's contact label (:class:`~advex.envs.contacts.ContactMonitor`).
    """

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(
        self,
        env_fns: list[Callable[[], gym.Env]],
        max_episode_steps: int,
        ignore_termination: bool = False,
        frames: FrameSpec | None = None,
    ) -> None:
        self.envs = [fn().unwrapped for fn in env_fns]
        self.monitors = [ContactMonitor.of(env) for env in self.envs]
        self.frames = frames
        self.ignore_termination = bool(ignore_termination)
        self.num_envs = len(self.envs)
        self.max_episode_steps = int(max_episode_steps)
        observation_space, action_space = self.envs[0].observation_space, self.envs[0].action_space
        if not isinstance(observation_space, gym.spaces.Box) or not isinstance(
            action_space, gym.spaces.Box
        ):
            raise TypeError(
                "LeanVectorEnv needs Box observation and action spaces, got "
                f"{type(observation_space).__name__} / {type(action_space).__name__}"
            )
        self.single_observation_space: gym.spaces.Box = observation_space
        self.single_action_space: gym.spaces.Box = action_space
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        obs_dim = int(np.prod(self.single_observation_space.shape))
        n = self.num_envs
        self._obs = np.zeros((n, obs_dim), dtype=np.float64)
        self._final_obs = np.zeros((n, obs_dim), dtype=np.float64)
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._rewards = np.zeros(n, dtype=np.float64)
        self._terminated = np.zeros(n, dtype=np.bool_)
        self._truncated = np.zeros(n, dtype=np.bool_)
        self._done = np.zeros(n, dtype=np.bool_)
        self._contact = np.zeros(n, dtype=np.bool_)
        shape = (n, *frames.shape) if frames is not None else (n, 0, 0, 0)
        self._frame = np.zeros(shape, dtype=np.uint8)
        self._next_frame = np.zeros(shape, dtype=np.uint8)

    def _render(self, env: gym.Env) -> np.ndarray:
        assert self.frames is not None
        return render_frame(env, self.frames)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        seeds = (
            seed
            if isinstance(seed, list)
            else [None if seed is None else seed + i for i in range(self.num_envs)]
        )
        for i, env in enumerate(self.envs):
            self._obs[i], _ = env.reset(seed=seeds[i], options=options)
            if self.frames is not None:
                self._frame[i] = self._render(env)
        self._elapsed[:] = 0
        return self._obs.copy(), ({"frame": self._frame.copy()} if self.frames else {})

    def step(
        self, actions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        # Preallocated outputs, overwritten each step: callers copy what they keep.
        rewards, terminated, truncated = self._rewards, self._terminated, self._truncated
        done, elapsed, contact = self._done, self._elapsed, self._contact
        done[:] = False
        for i, env in enumerate(self.envs):
            self.monitors[i].begin()
            obs, rewards[i], env_terminated, _, _ = env.step(actions[i])
            contact[i] = self.monitors[i].end()
            terminated[i] = env_terminated and not self.ignore_termination
            elapsed[i] += 1
            truncated[i] = elapsed[i] >= self.max_episode_steps and not terminated[i]
            if self.frames is not None:
                self._next_frame[i] = self._frame[i] = self._render(env)
            if terminated[i] or truncated[i]:
                self._final_obs[i], done[i] = obs, True
                obs, _ = env.reset()
                elapsed[i] = 0
                if self.frames is not None:
                    self._frame[i] = self._render(env)
            self._obs[i] = obs
        info: dict[str, Any] = {"final_obs": self._final_obs, "_final_obs": done,
                                "contact": contact}
        if self.frames is not None:
            info.update(frame=self._frame, next_frame=self._next_frame)
        return self._obs.copy(), rewards, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()


def make_vector_env(
    task: str | TaskSpec,
    n_envs: int = 1,
    vectorization: Vectorization = "lean",
    episodes: EpisodeMode = "env",
    frames: FrameSpec | None = None,
    **env_kwargs: Any,
) -> VectorEnv:
    """A vector env of ``n_envs`` copies of ``task`` with same-step autoreset, under the
    ``episodes`` rules (``"env"``: the task's termination; ``"free"``: time limit only);
    ``frames``: rendered beside each observation (lean vectorization only)."""
    spec = get_task(task)
    check_episode_mode(episodes)
    if n_envs < 1:
        raise ValueError(f"n_envs must be >= 1, got {n_envs}")
    if frames is not None:
        if vectorization != "lean":
            raise FrameError("frames need vectorization='lean' (the renderers live in-process)")
        env_kwargs = {**env_kwargs, **frames.env_kwargs()}

    def make() -> gym.Env:
        return make_env(spec, episodes=episodes, disable_env_checker=True, **env_kwargs)

    if vectorization == "lean":
        return LeanVectorEnv(
            [make] * n_envs, spec.max_episode_steps, ignore_termination=episodes == "free",
            frames=frames,
        )
    if vectorization == "async":
        return AsyncVectorEnv([make] * n_envs, autoreset_mode=AutoresetMode.SAME_STEP)
    raise ValueError(f"unknown vectorization {vectorization!r}; valid: 'lean', 'async'")


def _final_obs(info: dict[str, Any], i: int) -> np.ndarray:
    return np.asarray(info["final_obs"][i])


@dataclass
class Collector:
    """Steps a vector env with a policy and appends every transition to a buffer.

    Each :meth:`run` starts fresh episodes from ``reset(seed)``, so a run is a pure function
    of ``(seed, policy)``: the experiment loop can checkpoint between runs and resume exactly.
    ``episodes``: the episode rules (:mod:`advex.envs.episodes`). ``frames``: also render each
    row's ``frame`` and ``next_frame`` into the buffer (which must keep frames of that shape).
    """

    task: str | TaskSpec
    n_envs: int = 1
    vectorization: Vectorization = "lean"
    episodes: EpisodeMode = "env"
    frames: FrameSpec | None = None

    def __post_init__(self) -> None:
        self.spec = get_task(self.task)
        self.task = self.spec.name  # a name from here on: it goes into the buffer's JSON meta
        self.env = make_vector_env(
            self.spec, self.n_envs, self.vectorization, self.episodes, frames=self.frames
        )

    @property
    def action_space(self) -> gym.spaces.Box:
        """The single-env action box (every advex task has continuous actions)."""
        space = self.env.single_action_space
        if not isinstance(space, gym.spaces.Box):
            raise TypeError(f"{self.task}: expected a Box action space, got {type(space).__name__}")
        return space

    def random_policy(self, seed: int) -> RandomPolicy:
        space = self.action_space
        return RandomPolicy(space.low, space.high, np.random.default_rng(seed))

    def run(
        self,
        buffer: ReplayBuffer,
        n_steps: int,
        seed: int,
        policy: Policy | None = None,
        progress: bool = True,
        desc: str | None = None,
        record_states: bool = False,
    ) -> RoundData:
        """Append ``n_steps`` transitions (counted over all envs) to ``buffer``; returns the
        appended rows as a :class:`RoundData`.

        ``record_states``: also return each row's full simulator state before the step
        (:func:`advex.envs.get_state`) as ``RoundData.states``, ``n_steps x state_size``
        float64, rows in buffer order (lean vectorization only: the async env's simulators
        live in other processes).
        """
        if n_steps <= 0:
            raise ValueError(f"n_steps must be > 0, got {n_steps}")
        sims = self.env.envs if isinstance(self.env, LeanVectorEnv) else None
        if record_states and sims is None:
            raise ValueError("record_states needs vectorization='lean'")
        frame_bytes = 0 if self.frames is None else 2 * int(np.prod(self.frames.shape))
        check_fits_in_memory(n_steps, buffer.obs_dim, buffer.act_dim, f"collect {self.task}",
                             extra_row_bytes=frame_bytes)
        policy = policy if policy is not None else self.random_policy(seed)
        n, obs_dim, act_dim = self.n_envs, buffer.obs_dim, buffer.act_dim
        check_dims(self.spec, obs_dim, act_dim, "buffer")
        if buffer.meta.get("task", self.task) != self.task:
            raise ValueError(
                f"buffer holds {buffer.meta['task']} transitions; refusing to append {self.task}"
            )
        frame_shape = None if self.frames is None else self.frames.shape
        if buffer.frame_shape != frame_shape:
            raise FrameError(
                f"the buffer keeps frames of shape {buffer.frame_shape}, this collector renders "
                f"{frame_shape}; make the buffer with frame_shape={frame_shape}"
            )
        labels = buffer.labels_contacts
        if labels and sims is None:
            raise ValueError(
                "the buffer keeps contact labels, which need vectorization='lean' (the "
                "simulators must live in this process)"
            )
        rows = {
            "obs": np.zeros((n_steps, obs_dim), np.float32),
            "act": np.zeros((n_steps, act_dim), np.float32),
            "next_obs": np.zeros((n_steps, obs_dim), np.float32),
            "reward": np.zeros(n_steps, np.float32),
            "terminated": np.zeros(n_steps, np.bool_),
            "truncated": np.zeros(n_steps, np.bool_),
            "episode_id": np.zeros(n_steps, np.int64),
        }
        if labels:
            rows[CONTACT_COLUMN] = np.zeros(n_steps, np.int64)
        if frame_shape is not None:
            rows["frame"] = np.zeros((n_steps, *frame_shape), np.uint8)
            rows["next_frame"] = np.zeros((n_steps, *frame_shape), np.uint8)
        first_episode = int(buffer.episode_id.max()) + 1 if len(buffer) else 0
        episode = first_episode + np.arange(n)
        next_episode = first_episode + n
        obs, reset_info = self.env.reset(seed=seed)
        frame = reset_info.get("frame")
        low, high = self.action_space.low, self.action_space.high
        bar = tqdm(
            total=n_steps,
            desc=desc or f"collect {self.task}",
            disable=not progress,
            unit="step",
            mininterval=0.5,
        )
        filled = 0
        states: list[np.ndarray] = []
        while filled < n_steps:
            if record_states and sims is not None:
                states.append(np.stack([get_state(env) for env in sims]))
            act = np.asarray(policy(obs.astype(np.float32)), dtype=np.float32).reshape(n, act_dim)
            if not np.isfinite(act.sum()):
                raise ValueError(f"policy returned NaN/inf actions at step {filled}")
            act = np.clip(act, low, high)
            next_obs, reward, terminated, truncated, info = self.env.step(act)
            done = terminated | truncated
            any_done = done.any()
            true_next = next_obs
            if any_done:
                true_next = next_obs.copy()
                for i in np.flatnonzero(done):
                    true_next[i] = _final_obs(info, int(i))
            take = min(n, n_steps - filled)
            sl = slice(filled, filled + take)
            rows["obs"][sl] = obs[:take]
            rows["act"][sl] = act[:take]
            rows["next_obs"][sl] = true_next[:take]
            rows["reward"][sl] = reward[:take]
            rows["terminated"][sl] = terminated[:take]
            rows["truncated"][sl] = truncated[:take]
            rows["episode_id"][sl] = episode[:take]
            if labels:
                rows[CONTACT_COLUMN][sl] = info["contact"][:take]
            if frame is not None:
                rows["frame"][sl] = frame[:take]
                rows["next_frame"][sl] = info["next_frame"][:take]
                frame = info["frame"].copy()
            filled += take
            if any_done:
                for i in np.flatnonzero(done):
                    episode[i], next_episode = next_episode, next_episode + 1
            obs = next_obs
            if filled % 1024 < n or filled == n_steps:
                bar.update(filled - bar.n)
        bar.close()
        start = len(buffer)
        buffer.add(**rows)
        buffer.meta.setdefault("task", self.task)
        data = RoundData.appended(start, len(buffer), n_steps, f"collect {self.task}")
        if record_states:
            data = replace(data, states=np.concatenate(states)[:n_steps])
        return data

    def close(self) -> None:
        self.env.close()


def collect(
    task: str | TaskSpec | gym.Env,
    policy: Policy | None = None,
    n_steps: int = 10_000,
    seed: int = 0,
    n_envs: int = 1,
    *,
    buffer: ReplayBuffer | None = None,
    vectorization: Vectorization = "lean",
    episodes: EpisodeMode = "env",
    progress: bool = True,
    frames: FrameSpec | None = None,
) -> ReplayBuffer:
    """Fill a buffer with ``n_steps`` transitions of ``policy`` (uniform random by default);
    ``frames``: with each row's rendered frames (a new buffer keeps frames of that shape).

    A new buffer keeps contact labels (:data:`~advex.exploration.buffer.CONTACT_COLUMN`)
    with ``"lean"`` vectorization. The same ``(task, policy, n_steps, seed, n_envs,
    episodes)`` gives an identical buffer.
    """
    spec = get_task(task)
    if buffer is None:
        buffer = ReplayBuffer(spec.obs_dim, spec.act_dim,
                              frame_shape=None if frames is None else frames.shape,
                              extra_columns=(CONTACT_COLUMN,) if vectorization == "lean" else ())
    collector = Collector(spec, n_envs=n_envs, vectorization=vectorization, episodes=episodes,
                          frames=frames)
    try:
        collector.run(buffer, n_steps, seed, policy, progress=progress)
        return buffer
    finally:
        collector.close()
