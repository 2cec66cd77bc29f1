"""The held-out coverage set as data: its config, its arrays, its file, its view as a buffer.

How a set is built lives in :mod:`advex.engine.coverage`; this module is what a built set
*is*. Shapes: ``S`` starts, ``K`` horizon, ``O`` obs dim, ``A`` act dim. Rollouts may end early
(``"env"`` episodes stop at the task's termination), so every start has a length
``1 <= L_i <= K`` and only steps ``t < L_i`` are transitions; later slots are zero padding that
no metric reads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from advex.atomic_io import load_failure
from advex.envs import EPISODE_MODES
from advex.exploration.buffer import CONTACT_COLUMN, ReplayBuffer
from advex.file_format import FileFormat

#: Start sources, in label order: ``CoverageSet.sources[i]`` indexes this tuple.
SOURCE_NAMES: tuple[str, ...] = ("random", "sb3", "bang_bang", "perturbed")
#: Extra per-row columns of :meth:`CoverageSet.to_buffer`.
BUFFER_COLUMNS: tuple[str, ...] = ("start_pool", "rollout_step", CONTACT_COLUMN)


class CoverageConfigError(ValueError):
    """An invalid :class:`CoverageConfig`."""


class CoverageFileError(ValueError):
    """A coverage ``.npz`` file that is missing, corrupt or inconsistent."""


#: The file :meth:`CoverageSet.save` writes; its version is part of the cache key, so a new
#: layout rebuilds caches. 2: episode rules, per-start lengths, rewards and terminations.
#: 3: the shared advex file header (:mod:`advex.file_format`). 4: per-transition contact
#: labels (:mod:`advex.envs.contacts`); older files are refused and caches rebuilt.
COVERAGE_FILE = FileFormat("advex-coverage-set", 4, "coverage set", CoverageFileError)
FORMAT_VERSION = COVERAGE_FILE.version
#: The arrays of a coverage set, in the order :func:`_shape_problem` takes them.
_ARRAY_DTYPES: dict[str, type] = {
    "start_states": np.float64,
    "obs": np.float32,
    "act": np.float32,
    "sources": np.int8,
    "lengths": np.int32,
    "reward": np.float32,
    "terminated": np.bool_,
    "contact": np.bool_,
}


@dataclass(frozen=True)
class CoverageConfig:
    """How a coverage set is built. The defaults are the yardstick every result uses.

    ``episodes`` is the run's episode rule (:mod:`advex.envs.episodes`): ``"env"`` pools and
    rollouts obey the task's termination, ``"free"`` ignores it. ``frac_*`` are the shares of
    the ``n_starts`` start states taken from each source; they must sum to 1. With
    ``n_sb3_steps = 0`` the SB3 source is skipped (tests, quick looks) and its share is spread
    over the other sources in proportion to theirs.
    """

    n_starts: int = 2000  #: S, number of start states (each gives up to K transitions)
    horizon: int = 20  #: K, open-loop steps recorded from each start
    episodes: str = "env"  #: "env" (the task's termination) or "free" (time limit only)
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
    max_redraws: int = 10  #: redraws of a start that is terminated or blows up the simulator

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
        if self.episodes not in EPISODE_MODES:
            raise CoverageConfigError(
                f"unknown episodes mode {self.episodes!r}; valid: {', '.join(EPISODE_MODES)}"
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
    """A built coverage set (see :mod:`advex.engine.coverage` for how).

    ``start_states`` ``S x state_size`` float64 (``advex.envs.get_state`` vectors), ``obs``
    ``S x (K+1) x O`` float32 (``obs[:, 0]`` is the start's observation), ``act`` ``S x K x A``
    float32, ``sources`` ``S`` int8 indices into :data:`SOURCE_NAMES`, ``lengths`` ``S`` int32
    (steps recorded from each start, ``K`` unless its rollout terminated), ``reward`` ``S x K``
    float32 and ``terminated`` ``S x K`` bool (True only at a terminating rollout's last step),
    ``contact`` ``S x K`` bool (a contact or a joint limit acted in that transition:
    :mod:`advex.envs.contacts`). Left out, ``lengths`` means full rollouts, ``reward`` zeros
    and ``terminated`` and ``contact`` all False.
    """

    task: str
    seed: int
    start_states: np.ndarray
    obs: np.ndarray
    act: np.ndarray
    sources: np.ndarray
    config: CoverageConfig = field(default_factory=CoverageConfig)
    lengths: np.ndarray | None = None
    reward: np.ndarray | None = None
    terminated: np.ndarray | None = None
    contact: np.ndarray | None = None

    def __post_init__(self) -> None:
        s, k = self.obs.shape[0], self.act.shape[1] if self.act.ndim == 3 else 0
        if self.lengths is None:
            self.lengths = np.full(s, k, dtype=np.int32)
        if self.reward is None:
            self.reward = np.zeros((s, k), dtype=np.float32)
        if self.terminated is None:
            self.terminated = np.zeros((s, k), dtype=np.bool_)
        if self.contact is None:
            self.contact = np.zeros((s, k), dtype=np.bool_)
        problem = _shape_problem(
            self.start_states,
            self.obs,
            self.act,
            self.sources,
            self.lengths,
            self.reward,
            self.terminated,
            self.contact,
        )
        if problem:
            raise ValueError(f"CoverageSet: {problem}")

    # ------------------------------------------------------------------ sizes and rows
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

    @property
    def valid(self) -> np.ndarray:
        """``S x K`` bool: step ``t`` of start ``i`` is a recorded transition (``t < L_i``)."""
        assert self.lengths is not None
        return np.arange(self.horizon)[None, :] < self.lengths[:, None]

    def __len__(self) -> int:
        """Number of one-step transitions, ``sum_i L_i`` (``S * K`` without terminations)."""
        assert self.lengths is not None
        return int(self.lengths.sum())

    def transitions(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All one-step pairs ``(obs[i, t], act[i, t], obs[i, t+1])`` with ``t < L_i``, as
        ``N x O``, ``N x A``, ``N x O`` rows in (start, step) order."""
        valid = self.valid
        return self.obs[:, :-1][valid], self.act[valid], self.obs[:, 1:][valid]

    def _per_row(self, grid: np.ndarray) -> np.ndarray:
        """A label broadcast over the ``S x K`` slots, ``N`` int64 in :meth:`transitions`
        order."""
        valid = self.valid
        return np.broadcast_to(grid, valid.shape)[valid].astype(np.int64)

    def row_sources(self) -> np.ndarray:
        """``N`` int: the start pool (index into :data:`SOURCE_NAMES`) of each transition."""
        return self._per_row(self.sources[:, None])

    def row_contacts(self) -> np.ndarray:
        """``N`` bool: the contact label of each transition (:mod:`advex.envs.contacts`)."""
        assert self.contact is not None
        return self.contact[self.valid]

    def contact_frac(self) -> float:
        """Share of the set's transitions labelled contact."""
        return float(self.row_contacts().mean())

    def row_steps(self) -> np.ndarray:
        """``N`` int: the rollout step ``t`` (0-based) of each transition."""
        return self._per_row(np.arange(self.horizon)[None, :])

    def row_starts(self) -> np.ndarray:
        """``N`` int: the start index ``i`` of each transition."""
        return self._per_row(np.arange(self.n_starts)[:, None])

    def delta_scale(self) -> np.ndarray:
        """Per-dimension ``O`` scale that normalises one-step errors (float64).

        The std of the one-step delta ``s' - s`` over the set's transitions, floored at
        ``1e-2`` times the dimension's obs std (so that dimensions that never change within a
        step, e.g. Reacher's target, do not blow tiny errors up to huge normalised ones) and at
        ``1e-3`` times the median over dimensions (a dimension that barely moves must not
        dominate the mean). A dimension that never changes anywhere in the set (std 0: on
        Humanoid-v5, 13 of 348, the world body's and fixed bodies' entries) is weighted like a
        typical one: its scale is the median of the others. None of these floors binds on
        InvertedPendulum, Reacher, HalfCheetah, Hopper or the arena. The set follows the run's
        episode rules, so this is the delta scale *in that mode*.
        """
        obs, _, next_obs = self.transitions()
        delta_std = (next_obs.astype(np.float64) - obs).std(axis=0)
        states = np.concatenate([self.obs[:, 0], next_obs]).astype(np.float64)
        obs_std = states.std(axis=0)
        scale = np.maximum(np.maximum(delta_std, 1e-2 * obs_std), 1e-6)
        constant = (delta_std == 0) & (obs_std == 0)
        if constant.all():
            return np.ones_like(scale)
        typical = float(np.median(scale[~constant]))
        scale = np.maximum(scale, 1e-3 * typical)
        scale[constant] = typical
        return scale

    def summary(self) -> dict[str, Any]:
        """Size, source counts and per-dimension obs ranges (for docs and logs)."""
        _, _, next_obs = self.transitions()
        flat = np.concatenate([self.obs[:, 0], next_obs]).astype(np.float64)
        counts = np.bincount(self.sources.astype(np.int64), minlength=len(SOURCE_NAMES))
        assert self.terminated is not None
        return {
            "task": self.task,
            "seed": self.seed,
            "episodes": self.config.episodes,
            "n_starts": self.n_starts,
            "horizon": self.horizon,
            "n_transitions": len(self),
            "n_terminated_rollouts": int(self.terminated.any(axis=1).sum()),
            "contact_frac": self.contact_frac(),
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "sources": {name: int(c) for name, c in zip(SOURCE_NAMES, counts, strict=True)},
            "obs_min": flat.min(axis=0).tolist(),
            "obs_max": flat.max(axis=0).tolist(),
            "obs_std": flat.std(axis=0).tolist(),
            "delta_scale": self.delta_scale().tolist(),
        }

    def to_buffer(self) -> ReplayBuffer:
        """The transitions as an ordinary :class:`ReplayBuffer`, one episode per start.

        Extra columns ``start_pool`` (index into :data:`SOURCE_NAMES`), ``rollout_step`` and
        ``contact`` (0/1);
        ``truncated`` marks the last step of a rollout that did not terminate (the horizon
        cut it). ``meta`` records task, seed, episodes and the pool names.
        """
        assert self.reward is not None and self.terminated is not None
        valid = self.valid
        obs, act, next_obs = self.transitions()
        last = np.zeros_like(valid)
        assert self.lengths is not None
        last[np.arange(self.n_starts), self.lengths - 1] = True
        terminated = self.terminated[valid]
        buffer = ReplayBuffer(
            self.obs_dim, self.act_dim, initial_size=max(1, len(self)),
            extra_columns=BUFFER_COLUMNS,
        )
        buffer.add(
            obs,
            act,
            next_obs,
            self.reward[valid],
            terminated,
            last[valid] & ~terminated,
            self.row_starts(),
            start_pool=self.row_sources(),
            rollout_step=self.row_steps(),
            **{CONTACT_COLUMN: self.row_contacts()},
        )
        buffer.meta.update(
            task=self.task,
            seed=str(self.seed),
            episodes=self.config.episodes,
            kind="coverage",
            start_pools=",".join(SOURCE_NAMES),
        )
        return buffer

    # ------------------------------------------------------------------ disk
    def save(self, path: str | os.PathLike) -> None:
        """Write an ``.npz`` atomically as a :data:`COVERAGE_FILE`; no pickled objects."""
        header = {
            "task": self.task,
            "seed": self.seed,
            "config": dataclasses.asdict(self.config),
            "source_names": list(SOURCE_NAMES),
        }
        COVERAGE_FILE.save_arrays(path, {key: getattr(self, key) for key in _ARRAY_DTYPES}, header)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CoverageSet:
        """Read and validate a file written by :meth:`save`; raises :class:`CoverageFileError`."""
        path = Path(path)
        header, npz = COVERAGE_FILE.load_arrays(path)
        arrays = {
            key: COVERAGE_FILE.check_array(path, npz, key, dtype)
            for key, dtype in _ARRAY_DTYPES.items()
        }
        if header.get("source_names") != list(SOURCE_NAMES):
            raise COVERAGE_FILE.fail(
                path, f"source names {header.get('source_names')} != {list(SOURCE_NAMES)}"
            )
        problem = _shape_problem(*arrays.values())
        if problem:
            raise COVERAGE_FILE.fail(path, problem)
        try:
            task, seed = str(header["task"]), int(header["seed"])
            config = CoverageConfig(**header["config"])
        except (KeyError, TypeError, ValueError) as exc:
            raise COVERAGE_FILE.fail(path, f"damaged header ({load_failure(exc)})") from None
        if config.horizon != arrays["act"].shape[1]:
            raise COVERAGE_FILE.fail(
                path, f"config horizon {config.horizon} != recorded {arrays['act'].shape[1]}"
            )
        return cls(task=task, seed=seed, config=config, **arrays)


def _shape_problem(
    start_states: np.ndarray,
    obs: np.ndarray,
    act: np.ndarray,
    sources: np.ndarray,
    lengths: np.ndarray,
    reward: np.ndarray,
    terminated: np.ndarray,
    contact: np.ndarray,
) -> str | None:
    """One line describing the first inconsistency of the arrays, or ``None``."""
    if start_states.ndim != 2 or obs.ndim != 3 or act.ndim != 3 or sources.ndim != 1:
        return (
            f"bad ranks: start_states {start_states.shape}, obs {obs.shape}, act "
            f"{act.shape}, sources {sources.shape} (expected 2, 3, 3, 1 dims)"
        )
    s, k = obs.shape[0], act.shape[1]
    if not (start_states.shape[0] == act.shape[0] == sources.shape[0] == s) or s == 0:
        return (
            f"start counts disagree or are zero: start_states {start_states.shape[0]}, obs "
            f"{s}, act {act.shape[0]}, sources {sources.shape[0]}"
        )
    if obs.shape[1] != k + 1:
        return f"obs has {obs.shape[1]} steps per start, expected horizon+1 = {k + 1}"
    if (lengths.shape != (s,) or reward.shape != (s, k) or terminated.shape != (s, k)
            or contact.shape != (s, k)):
        return (
            f"lengths {lengths.shape}, reward {reward.shape}, terminated {terminated.shape}, "
            f"contact {contact.shape} do not match S={s}, K={k}"
        )
    if sources.size and (sources.min() < 0 or sources.max() >= len(SOURCE_NAMES)):
        return f"source labels outside 0..{len(SOURCE_NAMES) - 1}"
    if lengths.min() < 1 or lengths.max() > k:
        return f"rollout lengths outside 1..{k}"
    steps = np.arange(k)[None, :]
    if np.any(terminated & (steps != lengths[:, None] - 1)):
        return "a termination that is not its rollout's last step"
    if np.any(~terminated[np.arange(s), lengths - 1] & (lengths < k)):
        return "a rollout that ends before the horizon without terminating"
    for name, array in (("start_states", start_states), ("obs", obs), ("act", act)):
        if not np.all(np.isfinite(array)):
            return f"{name} contains NaN or inf"
    return None
