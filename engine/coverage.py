"""Building the held-out coverage set: a fixed yardstick of transitions that spans the
reachable state space (what a built set holds: :mod:`advex.engine.coverage_set`).

Why: model-based RL libraries score a transition model on a random split of the agent's own
replay buffer, which flatters whatever the agent happened to visit. An exploration strategy is
only better if its model is better *where the agent did not look*, so advex scores every model
on one fixed set per ``(task, seed)``, built once, saved to disk and never trained on.

How (see ``docs/coverage.md``): a pool of simulator states is gathered from four sources,

* ``random``    states visited by uniform-random-action episodes,
* ``sb3``       states visited by an SB3 policy (SAC or PPO) trained briefly on the task reward
                (reaches the task-relevant region random actions never find: running, balancing),
* ``bang_bang`` states visited under box-corner actions held for a few steps (high torque),
* ``perturbed`` states of the three pools above with Gaussian noise on ``qpos``/``qvel``,

``n_starts`` start states are drawn from the union, and from each one up to ``K = horizon``
steps are recorded open-loop with uniform-random actions (``set_state`` then the unwrapped
env's ``step``, no reset).

Episode rules (``CoverageConfig.episodes``, :mod:`advex.envs.episodes`) are those of the run
the set scores. ``"env"``: pool episodes end at the task's termination, states at which an
episode terminated are not starts, a start whose observation is terminal (a perturbed state,
say) is redrawn, and a rollout stops at its terminating transition (kept). Every transition
is then reachable by some policy under the env's own rules. ``"free"``: termination is
ignored throughout (pool episodes end at the time limit; rollouts always run ``K`` steps).

Shapes: ``S`` starts, ``K`` horizon, ``O`` obs dim, ``A`` act dim.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mujoco
import numpy as np
import torch
from tqdm.auto import tqdm

from advex.engine.coverage_set import (
    FORMAT_VERSION,
    SOURCE_NAMES,
    CoverageConfig,
    CoverageConfigError,
    CoverageFileError,
    CoverageSet,
)
from advex.envs import TaskSpec, get_state, get_task, make_env, set_state, state_size
from advex.envs.contacts import ContactMonitor
from advex.envs.state import reports_terminal
from advex.exploration.collect import uniform_actions
from advex.seeding import isolated_global_rngs

__all__ = [
    "CACHE_ENV_VAR",
    "FORMAT_VERSION",
    "SOURCE_NAMES",
    "CoverageConfig",
    "CoverageConfigError",
    "CoverageFileError",
    "CoverageSet",
    "build_coverage_set",
    "coverage_cache_path",
    "default_cache_dir",
    "load_or_build_coverage",
]
#: Environment variable that overrides the default cache folder ``~/.cache/advex/coverage``.
CACHE_ENV_VAR = "ADVEX_CACHE"
#: MuJoCo warnings that mean the simulator reset itself after a numerical blow-up.
_INSTABILITY_WARNINGS = (
    mujoco.mjtWarning.mjWARN_BADQACC,
    mujoco.mjtWarning.mjWARN_BADQPOS,
    mujoco.mjtWarning.mjWARN_BADQVEL,
)


# ---------------------------------------------------------------------- building
def _collect_states(
    env: Any, n_steps: int, choose_action: Any, desc: str, progress: bool
) -> np.ndarray:
    """Run ``n_steps`` env steps (resetting on episode end); the visited states that are
    not terminal, ``<= n_steps x state_size``.

    ``choose_action(obs, step_in_episode) -> action``. The env was reset with the build seed
    before the first pool, so later resets continue its seeded ``np_random``. The env carries
    the episode rules (``make_env(episodes=...)``): under ``"free"`` nothing terminates.
    """
    states = np.empty((n_steps, state_size(env)), dtype=np.float64)
    terminal = np.zeros(n_steps, dtype=np.bool_)
    obs, _ = env.reset()
    t = 0
    for i in tqdm(range(n_steps), desc=desc, disable=not progress, leave=False):
        obs, _, terminated, truncated, _ = env.step(choose_action(obs, t))
        states[i], terminal[i] = get_state(env), terminated
        t += 1
        if terminated or truncated:
            obs, _ = env.reset()
            t = 0
    return states[~terminal]


def _train_sb3_policy(env: Any, config: CoverageConfig, seed: int) -> Any:
    """An SB3 SAC/PPO model trained for ``n_sb3_steps`` on the task reward (seeded, CPU)."""
    from stable_baselines3 import PPO, SAC

    from advex.exploration.sb3_strategy import new_sb3_agent

    threads = torch.get_num_threads()
    agent: Any
    # One thread: small SAC nets on a busy CPU run several times faster, and bit-for-bit.
    torch.set_num_threads(1)
    try:
        with isolated_global_rngs():  # SB3's seed= reseeds the global generators
            if config.sb3_algo == "sac":
                agent = new_sb3_agent(
                    SAC, env, seed, learning_starts=min(100, config.n_sb3_steps // 2)
                )
            else:  # PPO collects n_steps per update; keep a tiny budget tiny (64 | n_steps)
                n_steps = int(min(2048, max(64, config.n_sb3_steps // 64 * 64)))
                agent = new_sb3_agent(PPO, env, seed, n_steps=n_steps, batch_size=64)
            agent.learn(total_timesteps=config.n_sb3_steps)
    finally:
        torch.set_num_threads(threads)
    return agent


def _perturb(
    pool: np.ndarray,
    n: int,
    nq: int,
    nv: int,
    qpos_start: int,
    noise_scale: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """``n`` pool states with Gaussian noise on the ``qpos``/``qvel`` slices only.

    The noise std per dimension is ``noise_scale`` times that dimension's std over the pool, so
    a joint that barely moves is barely perturbed and units never mix.
    """
    sl = slice(qpos_start, qpos_start + nq + nv)
    base = pool[rng.choice(len(pool), size=n, replace=len(pool) < n)].copy()
    std = pool[:, sl].std(axis=0)
    base[:, sl] += rng.normal(size=(n, nq + nv)) * (noise_scale * std)
    return base


def _draw_counts(n_starts: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split ``n_starts`` by ``fractions`` with the largest-remainder rule (exact total)."""
    raw = {name: n_starts * frac for name, frac in fractions.items()}
    counts = {name: int(np.floor(value)) for name, value in raw.items()}
    order = sorted(raw, key=lambda name: (-(raw[name] - counts[name]), SOURCE_NAMES.index(name)))
    for name in order[: n_starts - sum(counts.values())]:
        counts[name] += 1
    return counts


def _instability_count(data: Any) -> int:
    return sum(int(data.warning[w].number) for w in _INSTABILITY_WARNINGS)


def build_coverage_set(
    task: str | TaskSpec,
    seed: int = 0,
    config: CoverageConfig | None = None,
    *,
    progress: bool = True,
) -> CoverageSet:
    """Build the coverage set of ``task`` from ``seed`` (bit-identical for the same inputs).

    Every random choice comes from ``np.random.default_rng(seed)`` or the env's seeded
    ``np_random``; SB3 is seeded with ``seed`` and the global RNGs it touches are restored.
    """
    config = config or CoverageConfig()
    spec = get_task(task)
    env = make_env(spec, episodes=config.episodes)
    try:
        return _build_with_env(env, spec, seed, config, progress)
    finally:
        env.close()  # also when a pool or a rollout raises: no leaked simulator


def _build_with_env(
    env: Any, spec: TaskSpec, seed: int, config: CoverageConfig, progress: bool
) -> CoverageSet:
    """The body of :func:`build_coverage_set` on an open env (the caller closes it)."""
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    inner = env.unwrapped
    space = env.action_space
    nq, nv = int(inner.model.nq), int(inner.model.nv)
    qpos_start = int(mujoco.mj_stateSize(inner.model, mujoco.mjtState.mjSTATE_TIME))
    fractions = config.source_fractions()

    pools: dict[str, np.ndarray] = {}
    pools["random"] = _collect_states(
        env,
        config.n_random_rollout_steps,
        lambda obs, t: uniform_actions(rng, space.low, space.high, 1)[0],
        "coverage: random pool",
        progress,
    )
    if fractions["sb3"] > 0:
        # SB3 wraps and resets its own env (same episode rules); ours stays untouched.
        sb3_env = make_env(spec, episodes=config.episodes)
        try:
            agent = _train_sb3_policy(sb3_env, config, seed)
        finally:
            sb3_env.close()
        half_range = (space.high - space.low) / 2.0

        def sb3_action(obs: np.ndarray, t: int) -> np.ndarray:
            action, _ = agent.predict(obs, deterministic=True)
            noise = rng.normal(size=space.shape) * config.sb3_action_noise * half_range
            return np.clip(action + noise, space.low, space.high).astype(np.float32)

        pools["sb3"] = _collect_states(
            env, config.n_sb3_rollout_steps, sb3_action, "coverage: sb3 pool", progress
        )
    corner = np.zeros(space.shape, dtype=np.float32)

    def bang_bang_action(obs: np.ndarray, t: int) -> np.ndarray:
        if t % config.bang_bang_hold == 0:
            corner[:] = np.where(rng.random(space.shape) < 0.5, space.low, space.high)
        return corner.copy()

    pools["bang_bang"] = _collect_states(
        env, config.n_bang_bang_steps, bang_bang_action, "coverage: bang-bang pool", progress
    )
    base_pool = np.concatenate(list(pools.values()), axis=0)

    counts = _draw_counts(config.n_starts, fractions)

    def draw_starts(name: str, n: int) -> np.ndarray:
        if name == "perturbed":
            return _perturb(base_pool, n, nq, nv, qpos_start, config.noise_scale, rng)
        pool = pools.get(name)
        if pool is None or len(pool) == 0:  # an empty pool's share falls back to the union
            pool = base_pool
        return pool[rng.choice(len(pool), size=n, replace=len(pool) < n)]

    starts = np.concatenate([draw_starts(name, counts[name]) for name in SOURCE_NAMES], axis=0)
    sources = np.repeat(
        np.arange(len(SOURCE_NAMES), dtype=np.int8), [counts[name] for name in SOURCE_NAMES]
    )

    s, k = config.n_starts, config.horizon
    obs = np.zeros((s, k + 1, spec.obs_dim), dtype=np.float32)
    act = np.zeros((s, k, *space.shape), dtype=np.float32)
    reward = np.zeros((s, k), dtype=np.float32)
    terminated = np.zeros((s, k), dtype=np.bool_)
    contact = np.zeros((s, k), dtype=np.bool_)
    lengths = np.zeros(s, dtype=np.int32)
    respect_termination = config.episodes == "env"
    for i in tqdm(range(s), desc=f"coverage: {spec.name} rollouts", disable=not progress):
        problem = ""
        for _ in range(config.max_redraws + 1):
            rollout = _Rollout(obs[i], act[i], reward[i], terminated[i], contact[i])
            problem = _record(env, spec, starts[i], rng, rollout, respect_termination)
            if not problem:
                lengths[i] = rollout.length
                break
            starts[i] = draw_starts(SOURCE_NAMES[sources[i]], 1)[0]
        else:
            raise RuntimeError(
                f"build_coverage_set: {config.max_redraws + 1} starts in a row from source "
                f"{SOURCE_NAMES[sources[i]]!r} {problem}; lower noise_scale"
            )
    return CoverageSet(
        task=spec.name,
        seed=seed,
        start_states=starts,
        obs=obs,
        act=act,
        sources=sources,
        config=config,
        lengths=lengths,
        reward=reward,
        terminated=terminated,
        contact=contact,
    )


@dataclass
class _Rollout:
    """Views into one start's slots of the set's arrays: ``obs`` K+1 x O, ``act`` K x A,
    ``reward`` K, ``terminated`` K, ``contact`` K; ``length`` is the number of recorded
    steps."""

    obs: np.ndarray
    act: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    contact: np.ndarray
    length: int = 0


def _record(
    env: Any,
    spec: TaskSpec,
    start: np.ndarray,
    rng: np.random.Generator,
    out: _Rollout,
    respect_termination: bool,
) -> str:
    """Roll up to ``K`` uniform actions open-loop from ``start`` into ``out``.

    With ``respect_termination`` (``"env"`` episodes) a start whose observation the task calls
    terminal is refused, and the rollout stops after the first terminating step (kept, its
    ``terminated`` flag set; later slots stay zero). Returns ``""`` on success, else why the
    start was refused ("is terminal", "made the simulator unstable": non-finite or auto-reset).
    """
    inner = env.unwrapped
    k = len(out.act)
    space = env.action_space
    actions = uniform_actions(rng, space.low, space.high, k)  # K draws always: a fixed stream
    warnings_before = _instability_count(inner.data)
    out.obs[:] = 0.0
    out.act[:] = 0.0
    out.reward[:] = 0.0
    out.terminated[:] = False
    out.contact[:] = False
    monitor = ContactMonitor.of(env)
    out.obs[0] = set_state(env, start)
    if respect_termination and _is_terminal(spec, out.obs[0], env):
        return "is terminal under the task's own episode rules"
    out.length = k
    for t, action in enumerate(actions):
        # The unwrapped env: no time limit, its own termination verdict in the 3rd slot.
        monitor.begin()
        next_obs, reward, env_terminated, _, _ = inner.step(action)
        out.contact[t] = monitor.end()
        out.obs[t + 1], out.act[t], out.reward[t] = next_obs, action, reward
        if respect_termination and env_terminated:
            out.terminated[t], out.length = True, t + 1
            break
    stable = _instability_count(inner.data) == warnings_before
    if not (stable and np.all(np.isfinite(out.obs)) and np.isfinite(out.reward).all()):
        return "made the simulator unstable"
    return ""


def _is_terminal(spec: TaskSpec, obs: np.ndarray, env: Any) -> bool:
    """Whether the task's batched termination function calls ``obs`` terminal (for a task
    without one, whether the env at this state reports it: :func:`reports_terminal`)."""
    if spec.term_fn is None:
        return reports_terminal(env)
    obs_t = torch.as_tensor(obs, dtype=torch.float32)[None]
    act_t = torch.zeros(1, spec.act_dim)
    return bool(spec.term_fn(act_t, obs_t)[0])


def default_cache_dir() -> Path:
    """``$ADVEX_CACHE/coverage`` if ``ADVEX_CACHE`` is set, else ``~/.cache/advex/coverage``."""
    root = os.environ.get(CACHE_ENV_VAR)
    return Path(root) / "coverage" if root else Path.home() / ".cache" / "advex" / "coverage"


def coverage_cache_path(
    task: str | TaskSpec, seed: int, config: CoverageConfig, cache_dir: str | os.PathLike
) -> Path:
    """``cache_dir/<task with / -> _>_seed<seed>_<config hash>.npz``."""
    name = get_task(task).name.replace("/", "_")
    return Path(cache_dir) / f"{name}_seed{seed}_{config.short_hash()}.npz"


def load_or_build_coverage(
    task: str | TaskSpec,
    seed: int = 0,
    config: CoverageConfig | None = None,
    cache_dir: str | os.PathLike | None = None,
    *,
    progress: bool = True,
) -> CoverageSet:
    """The cached coverage set for ``(task, seed, config)``, building and saving it if absent.

    A cached file that fails validation or belongs to other inputs is an error (delete it to
    rebuild): silently rebuilding would change the yardstick under existing results.
    """
    config = config or CoverageConfig()
    path = coverage_cache_path(task, seed, config, cache_dir or default_cache_dir())
    if path.exists():
        coverage = CoverageSet.load(path)
        expected = (get_task(task).name, seed, config)
        if (coverage.task, coverage.seed, coverage.config) != expected:
            raise CoverageFileError(
                f"coverage file {path}: holds task {coverage.task!r} seed {coverage.seed} with "
                f"another config, not {expected[0]!r} seed {seed}; delete it to rebuild"
            )
        return coverage
    coverage = build_coverage_set(task, seed, config, progress=progress)
    coverage.save(path)
    return coverage
