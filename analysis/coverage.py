"""The held-out coverage set: a fixed yardstick of transitions that spans the state space.

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

``n_starts`` start states are drawn from the union, and from each one ``K = horizon`` steps are
recorded open-loop with uniform-random actions (``set_state`` then the unwrapped env's ``step``:
no termination, no reset, physics continues after e.g. Hopper falls).

Shapes: ``S`` starts, ``K`` horizon, ``O`` obs dim, ``A`` act dim.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import mujoco
import numpy as np
import torch
from tqdm.auto import tqdm

from advex.atomic_io import atomic_write
from advex.envs import TaskSpec, get_state, get_task, make_env, set_state, state_size

#: Start sources, in label order: ``CoverageSet.sources[i]`` indexes this tuple.
SOURCE_NAMES: tuple[str, ...] = ("random", "sb3", "bang_bang", "perturbed")
#: Version of the ``.npz`` layout; part of the cache key, so a new layout rebuilds caches.
FORMAT_VERSION = 1
#: Environment variable that overrides the default cache folder ``~/.cache/advex/coverage``.
CACHE_ENV_VAR = "ADVEX_CACHE"
#: MuJoCo warnings that mean the simulator reset itself after a numerical blow-up.
_INSTABILITY_WARNINGS = (
    mujoco.mjtWarning.mjWARN_BADQACC,
    mujoco.mjtWarning.mjWARN_BADQPOS,
    mujoco.mjtWarning.mjWARN_BADQVEL,
)


class CoverageConfigError(ValueError):
    """An invalid :class:`CoverageConfig`."""


class CoverageFileError(ValueError):
    """A coverage ``.npz`` file that is missing, corrupt or inconsistent."""


@dataclass(frozen=True)
class CoverageConfig:
    """How a coverage set is built. The defaults are the yardstick every result uses.

    ``frac_*`` are the shares of the ``n_starts`` start states taken from each source; they
    must sum to 1. With ``n_sb3_steps = 0`` the SB3 source is skipped (tests, quick looks) and
    its share is spread over the other sources in proportion to theirs.
    """

    n_starts: int = 2000  #: S, number of start states (each gives K transitions)
    horizon: int = 20  #: K, open-loop steps recorded from each start
    n_random_rollout_steps: int = 10_000  #: env steps of uniform-random episodes (pool a)
    n_sb3_steps: int = 3000  #: SB3 ``learn`` timesteps on the task reward; 0 skips pool b
    n_sb3_rollout_steps: int = 5000  #: env steps of the trained SB3 policy (pool b)
    sb3_algo: str = "sac"  #: "sac" (continuous control default) or "ppo"
    sb3_action_noise: float = 0.1  #: Gaussian noise on SB3 actions, fraction of half range
    n_bang_bang_steps: int = 5000  #: env steps under box-corner actions (pool c)
    bang_bang_hold: int = 5  #: steps each corner action is held
    noise_scale: float = 0.1  #: perturbation std, fraction of the pool's per-dim std (pool d)
    frac_random: float = 0.3
    frac_sb3: float = 0.2
    frac_bang_bang: float = 0.2
    frac_perturbed: float = 0.3
    max_redraws: int = 10  #: redraws of a start whose rollout blows up the simulator

    def __post_init__(self) -> None:
        positive = ("n_starts", "horizon", "bang_bang_hold", "max_redraws")
        non_negative = (
            "n_random_rollout_steps",
            "n_sb3_steps",
            "n_sb3_rollout_steps",
            "n_bang_bang_steps",
            "noise_scale",
            "sb3_action_noise",
            *self._fraction_names(),
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise CoverageConfigError(
                    f"CoverageConfig.{name} must be >= 1, got {getattr(self, name)}"
                )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise CoverageConfigError(
                    f"CoverageConfig.{name} must be >= 0, got {getattr(self, name)}"
                )
        if self.sb3_algo not in ("sac", "ppo"):
            raise CoverageConfigError(
                f"CoverageConfig.sb3_algo must be 'sac' or 'ppo', got {self.sb3_algo!r}"
            )
        total = sum(getattr(self, name) for name in self._fraction_names())
        if abs(total - 1.0) > 1e-6:
            raise CoverageConfigError(f"CoverageConfig fractions must sum to 1, got {total:.6g}")
        sb3_pool = self.n_sb3_steps > 0 and self.n_sb3_rollout_steps > 0 and self.frac_sb3 > 0
        if self.n_random_rollout_steps + self.n_bang_bang_steps == 0 and not sb3_pool:
            raise CoverageConfigError(
                "CoverageConfig: every state pool is empty (set "
                "n_random_rollout_steps or n_bang_bang_steps > 0)"
            )

    @staticmethod
    def _fraction_names() -> tuple[str, ...]:
        return tuple(f"frac_{name}" for name in SOURCE_NAMES)

    def source_fractions(self) -> dict[str, float]:
        """Effective share of each source (SB3's share redistributed when it is skipped)."""
        fractions = {name: float(getattr(self, f"frac_{name}")) for name in SOURCE_NAMES}
        if self.n_sb3_steps == 0 or self.n_sb3_rollout_steps == 0:
            rest = 1.0 - fractions["sb3"]
            fractions = {
                name: (0.0 if name == "sb3" else (value / rest if rest > 0 else 0.0))
                for name, value in fractions.items()
            }
            if rest <= 0:  # everything was SB3: fall back to random-rollout states
                fractions["random"] = 1.0
        return fractions

    def short_hash(self) -> str:
        """10 hex digits identifying this config (and the file format) for cache names."""
        text = json.dumps({"format": FORMAT_VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:10]


@dataclass
class CoverageSet:
    """A built coverage set (see module docstring).

    ``start_states`` ``S x state_size`` float64 (``advex.envs.get_state`` vectors), ``obs``
    ``S x (K+1) x O`` float32 (``obs[:, 0]`` is the start's observation), ``act`` ``S x K x A``
    float32, ``sources`` ``S`` int8 indices into :data:`SOURCE_NAMES`.
    """

    task: str
    seed: int
    start_states: np.ndarray
    obs: np.ndarray
    act: np.ndarray
    sources: np.ndarray
    config: CoverageConfig = field(default_factory=CoverageConfig)

    def __post_init__(self) -> None:
        problem = _shape_problem(self.start_states, self.obs, self.act, self.sources)
        if problem:
            raise ValueError(f"CoverageSet: {problem}")

    @property
    def n_starts(self) -> int:
        return int(self.obs.shape[0])

    @property
    def horizon(self) -> int:
        return int(self.act.shape[1])

    @property
    def obs_dim(self) -> int:
        return int(self.obs.shape[2])

    @property
    def act_dim(self) -> int:
        return int(self.act.shape[2])

    def __len__(self) -> int:
        """Number of one-step transitions, ``S * K``."""
        return self.n_starts * self.horizon

    def transitions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All one-step pairs ``(obs[:, t], act[:, t], obs[:, t+1])`` flattened to ``S*K`` rows."""
        return (
            self.obs[:, :-1].reshape(-1, self.obs_dim),
            self.act.reshape(-1, self.act_dim),
            self.obs[:, 1:].reshape(-1, self.obs_dim),
        )

    def delta_scale(self) -> np.ndarray:
        """Per-dimension ``O`` scale that normalises one-step errors (float64).

        The std of the one-step delta ``s' - s`` over the set, floored at ``1e-2`` times the
        dimension's obs std (and at ``1e-6``) so that dimensions that never change within a
        step (e.g. Reacher's target) do not blow tiny errors up to huge normalised ones.
        """
        obs, _, next_obs = self.transitions()
        delta_std = (next_obs.astype(np.float64) - obs).std(axis=0)
        obs_std = self.obs.reshape(-1, self.obs_dim).astype(np.float64).std(axis=0)
        return np.maximum(np.maximum(delta_std, 1e-2 * obs_std), 1e-6)

    def summary(self) -> dict[str, Any]:
        """Size, source counts and per-dimension obs ranges (for docs and logs)."""
        flat = self.obs.reshape(-1, self.obs_dim).astype(np.float64)
        counts = np.bincount(self.sources.astype(np.int64), minlength=len(SOURCE_NAMES))
        return {
            "task": self.task,
            "seed": self.seed,
            "n_starts": self.n_starts,
            "horizon": self.horizon,
            "n_transitions": len(self),
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "sources": {name: int(c) for name, c in zip(SOURCE_NAMES, counts, strict=True)},
            "obs_min": flat.min(axis=0).tolist(),
            "obs_max": flat.max(axis=0).tolist(),
            "obs_std": flat.std(axis=0).tolist(),
            "delta_scale": self.delta_scale().tolist(),
        }

    # ------------------------------------------------------------------ disk
    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` atomically (temp file + rename); no pickled objects."""
        arrays = {
            "format_version": np.int64(FORMAT_VERSION),
            "task": np.str_(self.task),
            "seed": np.int64(self.seed),
            "config_json": np.str_(json.dumps(dataclasses.asdict(self.config))),
            "source_names": np.array(SOURCE_NAMES),
            "start_states": self.start_states,
            "obs": self.obs,
            "act": self.act,
            "sources": self.sources,
        }

        def write(handle: BinaryIO) -> None:
            # numpy's stub lets **kwds collide with ``allow_pickle: bool``; they are all arrays.
            np.savez(handle, **arrays)  # type: ignore[arg-type]

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CoverageSet:
        """Read and validate a file written by :meth:`save`; raises :class:`CoverageFileError`."""
        path = Path(path)

        def fail(problem: str) -> CoverageFileError:
            return CoverageFileError(f"coverage file {path}: {problem}")

        if not path.is_file():
            raise fail("does not exist")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except Exception as exc:  # zipfile/format errors come in many types
            raise fail(f"not a readable .npz ({type(exc).__name__}: {exc})") from None
        required = (
            "format_version",
            "task",
            "seed",
            "config_json",
            "source_names",
            "start_states",
            "obs",
            "act",
            "sources",
        )
        missing = [key for key in required if key not in arrays]
        if missing:
            raise fail(f"missing array(s) {', '.join(missing)}")
        if int(arrays["format_version"]) != FORMAT_VERSION:
            raise fail(
                f"format version {int(arrays['format_version'])}, expected "
                f"{FORMAT_VERSION} (rebuild it)"
            )
        if tuple(arrays["source_names"].tolist()) != SOURCE_NAMES:
            raise fail(f"source names {arrays['source_names'].tolist()} != {list(SOURCE_NAMES)}")
        expected_dtypes = {
            "start_states": np.float64,
            "obs": np.float32,
            "act": np.float32,
            "sources": np.int8,
        }
        for key, dtype in expected_dtypes.items():
            if arrays[key].dtype != dtype:
                raise fail(f"{key} has dtype {arrays[key].dtype}, expected {np.dtype(dtype)}")
        problem = _shape_problem(
            arrays["start_states"], arrays["obs"], arrays["act"], arrays["sources"]
        )
        if problem:
            raise fail(problem)
        try:
            config = CoverageConfig(**json.loads(str(arrays["config_json"])))
        except (TypeError, ValueError) as exc:
            raise fail(f"bad config ({exc})") from None
        if config.horizon != arrays["act"].shape[1]:
            raise fail(f"config horizon {config.horizon} != recorded {arrays['act'].shape[1]}")
        return cls(
            task=str(arrays["task"]),
            seed=int(arrays["seed"]),
            start_states=arrays["start_states"],
            obs=arrays["obs"],
            act=arrays["act"],
            sources=arrays["sources"],
            config=config,
        )


def _shape_problem(
    start_states: np.ndarray, obs: np.ndarray, act: np.ndarray, sources: np.ndarray
) -> str | None:
    """One line describing the first inconsistency of the arrays, or ``None``."""
    if start_states.ndim != 2 or obs.ndim != 3 or act.ndim != 3 or sources.ndim != 1:
        return (
            f"bad ranks: start_states {start_states.shape}, obs {obs.shape}, act "
            f"{act.shape}, sources {sources.shape} (expected 2, 3, 3, 1 dims)"
        )
    s = obs.shape[0]
    if not (start_states.shape[0] == act.shape[0] == sources.shape[0] == s) or s == 0:
        return (
            f"start counts disagree or are zero: start_states {start_states.shape[0]}, obs "
            f"{s}, act {act.shape[0]}, sources {sources.shape[0]}"
        )
    if obs.shape[1] != act.shape[1] + 1:
        return f"obs has {obs.shape[1]} steps per start, expected horizon+1 = {act.shape[1] + 1}"
    if sources.size and (sources.min() < 0 or sources.max() >= len(SOURCE_NAMES)):
        return f"source labels outside 0..{len(SOURCE_NAMES) - 1}"
    for name, array in (("start_states", start_states), ("obs", obs), ("act", act)):
        if not np.all(np.isfinite(array)):
            return f"{name} contains NaN or inf"
    return None


# ---------------------------------------------------------------------- building
@contextlib.contextmanager
def _preserved_global_rngs() -> Iterator[None]:
    """SB3's ``seed=`` reseeds the global python/numpy/torch RNGs; put them back afterwards."""
    py_state, torch_state = random.getstate(), torch.get_rng_state()
    np_state = np.random.get_state()  # noqa: NPY002  (saving the legacy global RNG, not using it)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
        torch.set_rng_state(torch_state)


def _uniform_actions(space: Any, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n x A`` float32 actions uniform in the Box ``space`` (our RNG, not the space's)."""
    return rng.uniform(space.low, space.high, size=(n, *space.shape)).astype(np.float32)


def _collect_states(
    env: Any, n_steps: int, choose_action: Any, desc: str, progress: bool
) -> np.ndarray:
    """Run ``n_steps`` env steps (resetting on episode end); ``n_steps x state_size`` states.

    ``choose_action(obs, step_in_episode) -> action``. The env was reset with the build seed
    before the first pool, so later resets continue its seeded ``np_random``.
    """
    states = np.empty((n_steps, state_size(env)), dtype=np.float64)
    obs, _ = env.reset()
    t = 0
    for i in tqdm(range(n_steps), desc=desc, disable=not progress, leave=False):
        obs, _, terminated, truncated, _ = env.step(choose_action(obs, t))
        states[i] = get_state(env)
        t += 1
        if terminated or truncated:
            obs, _ = env.reset()
            t = 0
    return states


def _train_sb3_policy(env: Any, config: CoverageConfig, seed: int) -> Any:
    """An SB3 SAC/PPO model trained for ``n_sb3_steps`` on the task reward (seeded, CPU)."""
    from stable_baselines3 import PPO, SAC

    threads = torch.get_num_threads()
    agent: Any
    # One thread: small SAC nets on a busy CPU run several times faster, and bit-for-bit.
    torch.set_num_threads(1)
    try:
        with _preserved_global_rngs():
            if config.sb3_algo == "sac":
                agent = SAC(
                    "MlpPolicy",
                    env,
                    seed=seed,
                    device="cpu",
                    verbose=0,
                    learning_starts=min(100, config.n_sb3_steps // 2),
                )
            else:  # PPO collects n_steps per update; keep a tiny budget tiny (64 | n_steps)
                n_steps = int(min(2048, max(64, config.n_sb3_steps // 64 * 64)))
                agent = PPO(
                    "MlpPolicy",
                    env,
                    seed=seed,
                    device="cpu",
                    verbose=0,
                    n_steps=n_steps,
                    batch_size=64,
                )
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
    env = make_env(spec)
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
        lambda obs, t: _uniform_actions(space, rng, 1)[0],
        "coverage: random pool",
        progress,
    )
    if fractions["sb3"] > 0:
        sb3_env = make_env(spec)  # SB3 wraps and resets its own env; ours stays untouched
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
    obs = np.empty((s, k + 1, spec.obs_dim), dtype=np.float32)
    act = np.empty((s, k, *space.shape), dtype=np.float32)
    for i in tqdm(range(s), desc=f"coverage: {spec.name} rollouts", disable=not progress):
        for _ in range(config.max_redraws + 1):
            if _record(env, starts[i], rng, obs[i], act[i]):
                break
            starts[i] = draw_starts(SOURCE_NAMES[sources[i]], 1)[0]
        else:
            raise RuntimeError(
                f"build_coverage_set: {config.max_redraws + 1} starts in a row from source "
                f"{SOURCE_NAMES[sources[i]]!r} made the simulator unstable; lower noise_scale"
            )
    return CoverageSet(
        task=spec.name,
        seed=seed,
        start_states=starts,
        obs=obs,
        act=act,
        sources=sources,
        config=config,
    )


def _record(
    env: Any,
    start: np.ndarray,
    rng: np.random.Generator,
    obs_out: np.ndarray,
    act_out: np.ndarray,
) -> bool:
    """Roll ``K`` uniform actions open-loop from ``start`` into ``obs_out`` (K+1 x O) and
    ``act_out`` (K x A); False if the simulator went unstable (non-finite or auto-reset)."""
    inner = env.unwrapped
    act_out[:] = _uniform_actions(env.action_space, rng, len(act_out))
    warnings_before = _instability_count(inner.data)
    obs_out[0] = set_state(env, start)
    for t, action in enumerate(act_out):
        obs_out[t + 1] = inner.step(action)[0]  # unwrapped: no time limit, no termination
    return bool(np.all(np.isfinite(obs_out))) and _instability_count(inner.data) == warnings_before


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
