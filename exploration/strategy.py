"""The one interface every exploration strategy implements, and the registry that builds them.

A strategy decides which actions the robot takes while collecting data for the transition
model. The experiment loop is the same for all of them::

    strategy = make_strategy("adversarial-sf", task, config, seed)
    strategy.set_error_scale(coverage.delta_scale())  # optional: the yardstick's error units
    for round in rounds:
        data = strategy.collect(collector, buffer, n_steps, seed=round_seed)  # real env steps
        observed = None
        if strategy.rewards_before_refit and data.follows_earlier_data:
            observed = strategy.observe_round(buffer, model, data)  # model before the refit
        model.fit(buffer)                                          # the model's min step
        diagnostics = strategy.update(buffer, model, data, observed)  # the strategy's max step
        checkpoint(strategy.state_dict())

The loop owns the round: ``collect`` returns a :class:`~advex.exploration.round_data.
RoundData` (the rows, the policy's draws, simulator states) and the loop passes it on, and it
owns reward timing (whether the model is consulted before it refits on the round).

Checkpoints: :meth:`Strategy.state_dict` holds only tensors, python scalars, strings, bytes,
lists and dicts (numpy generator states are dicts of ints), so ``torch.save`` / ``torch.load(
weights_only=True)`` round-trip it; loading it into a fresh strategy built with the same name,
task and config resumes bit-identically (SB3 strategies excepted, see ``sb3_strategy``).

The registry is lazy (``name -> "module:Class"``) so that building ``random`` never imports
stable-baselines3 and a strategy module can import this one without an import cycle.
"""

from __future__ import annotations

import abc
import functools
import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from advex.config import dataclass_from_dict
from advex.envs import EpisodeMode, TaskSpec, check_episode_mode, get_task, make_env

if TYPE_CHECKING:
    from advex.exploration.buffer import ReplayBuffer
    from advex.exploration.collect import Collector
    from advex.exploration.round_data import RoundData

#: Strategy name -> ``"module:Class"`` (imported on first use).
STRATEGIES: dict[str, str] = {
    "random": "advex.exploration.random_strategy:RandomStrategy",
    "adversarial-sf": "advex.exploration.adversarial:AdversarialScoreFunction",
    "adversarial-pw": "advex.exploration.adversarial_pathwise:AdversarialPathwise",
    "disagreement": "advex.exploration.disagreement:DisagreementStrategy",
    "disagreement-pw": "advex.exploration.disagreement_pathwise:DisagreementPathwise",
    "adversarial-frames": "advex.exploration.adversarial_frames:AdversarialFrames",
    "adversarial-mpc": "advex.exploration.adversarial_mpc:AdversarialMPC",
    "max": "advex.exploration.max_strategy:MAXStrategy",
    "sb3-ppo": "advex.exploration.sb3_strategy:SB3PPOStrategy",
    "sb3-sac": "advex.exploration.sb3_strategy:SB3SACStrategy",
}


class UnknownStrategyError(ValueError):
    """A strategy name that is not in :data:`STRATEGIES`."""


class StrategyModelError(ValueError):
    """The model handed to :meth:`Strategy.update` lacks what the strategy needs."""


class StrategyStateError(ValueError):
    """A ``state_dict`` that does not belong to this strategy (name, task or shape)."""


class UntrustedRunFolderError(ValueError):
    """Resuming would unpickle a checkpoint from a folder the user did not say they trust."""


def untrusted_resume_message(strategy: str, folder: object) -> str:
    """The one line that refuses to unpickle ``strategy``'s checkpoint in ``folder``."""
    return (
        f"resuming {strategy} would unpickle the SB3 agent saved in {folder} (pickle can run "
        "arbitrary code); pass --trust-run-folder (trust_run_folder=True) only for a folder you "
        "or someone you trust wrote"
    )


@dataclass
class StrategyConfig:
    """Base of every strategy's config dataclass (each strategy names its own subclass in
    ``Strategy.config_cls``; ``random`` needs no fields)."""


def register_strategy(cls: type[Strategy]) -> type[Strategy]:
    """Add a :class:`Strategy` subclass under its ``name`` so every advex entry point accepts
    it (``--strategies``, configs, compare's workers, ``--resume``); usable as a decorator.

    Registering the same class again is a no-op (a module may be imported twice); another
    class under a taken name is refused. Workers import the class by its module path, so it
    must live at module level in an importable module (not in ``__main__``). A user module
    that registers at import is picked up as ``--strategies my_pkg.explore:curious``: the
    module is imported, then ``curious`` is looked up (mirroring ``register_task``)."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError(f"register_strategy expects a Strategy subclass, got {cls!r}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(f"register_strategy: {cls.__qualname__} needs a name without ':'")
    target = f"{cls.__module__}:{cls.__qualname__}"
    if STRATEGIES.get(name, target) != target:
        raise ValueError(f"register_strategy: {name!r} is taken by {STRATEGIES[name]}")
    STRATEGIES[name] = target
    return cls


def strategy_class(name: str) -> type[Strategy]:
    """The class registered as ``name``, or for ``"module:name"`` the strategy ``name`` that
    importing ``module`` registered; :class:`UnknownStrategyError` lists valid names."""
    if isinstance(name, str) and name not in STRATEGIES and ":" in name:
        module_name, _, short = name.rpartition(":")
        try:
            importlib.import_module(module_name)
        except ImportError as error:
            raise UnknownStrategyError(
                f"strategy {name!r}: module {module_name!r} does not import ({error})"
            ) from None
        if short in STRATEGIES:
            return strategy_class(short)
        raise UnknownStrategyError(
            f"strategy {name!r}: module {module_name!r} registered no strategy {short!r} "
            "(call advex.exploration.strategy.register_strategy in it)"
        )
    if not isinstance(name, str) or name not in STRATEGIES:
        raise UnknownStrategyError(
            f"unknown strategy {name!r}; valid strategies: {', '.join(STRATEGIES)}"
        )
    module_name, class_name = STRATEGIES[name].split(":")
    target: Any = importlib.import_module(module_name)
    for part in class_name.split("."):
        target = getattr(target, part)
    return target


def config_from_dict(name: str, values: Mapping[str, Any]) -> StrategyConfig:
    """Build ``name``'s config from a plain dict (CLI, JSON); unknown keys are an error that
    lists the valid ones."""
    return dataclass_from_dict(strategy_class(name).config_cls, values, name)


def make_strategy(
    name: str,
    spec: TaskSpec | str,
    config: StrategyConfig | Mapping[str, Any] | None = None,
    seed: int = 0,
    *,
    episodes: EpisodeMode = "env",
) -> Strategy:
    """Build strategy ``name`` for task ``spec`` (a :class:`TaskSpec` or a task name).

    ``config``: ``None`` (defaults), the strategy's config dataclass, or a dict of overrides.
    ``episodes``: the run's episode rules (``"env"`` or ``"free"``).
    """
    cls = strategy_class(name)
    spec = get_task(spec)
    if config is None:
        config = cls.config_cls()
    elif isinstance(config, Mapping):
        config = config_from_dict(name, config)
    elif not isinstance(config, cls.config_cls):
        raise ValueError(
            f"strategy {name!r} takes a {cls.config_cls.__name__}, got {type(config).__name__}"
        )
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    return cls(spec, config, int(seed), episodes=episodes)  # the constructor checks it


@functools.cache
def _bounds_of(spec: TaskSpec) -> tuple[tuple[float, ...], tuple[float, ...]]:
    env = make_env(spec, disable_env_checker=True)
    try:
        space = env.action_space
        return tuple(map(float, space.low)), tuple(map(float, space.high))
    finally:
        env.close()


def action_bounds(spec: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
    """``(low, high)`` float32 ``A`` of the task's action box (built once per task, cached)."""
    low, high = _bounds_of(spec)
    low_a, high_a = np.asarray(low, np.float32), np.asarray(high, np.float32)
    if low_a.shape != (spec.act_dim,) or not np.all(np.isfinite(low_a) & np.isfinite(high_a)):
        raise ValueError(
            f"{spec.name}: action space must be a finite box of dim {spec.act_dim}, "
            f"got low={low_a}, high={high_a}"
        )
    return low_a, high_a


class Strategy(abc.ABC):
    """An exploration strategy: a behaviour policy plus how it learns between rounds.

    Attributes: ``name`` (registry name), ``spec`` (the task), ``config``, ``seed``,
    ``low``/``high`` (``A`` action bounds), ``rng`` (its own ``np.random.Generator``).
    """

    name: ClassVar[str]
    config_cls: ClassVar[type[StrategyConfig]] = StrategyConfig
    #: Whether :meth:`update` learns from the online model. The experiment refits that model
    #: only for strategies that use it (random and SB3 agents do not).
    uses_model: ClassVar[bool] = True
    #: Whether :meth:`load_state_dict` unpickles (SB3 agents: SB3's own save format). Such a
    #: checkpoint can run code when loaded, so a resume loads it only from a trusted folder.
    unpickles_checkpoints: ClassVar[bool] = False

    def __init__(
        self, spec: TaskSpec, config: StrategyConfig, seed: int, *, episodes: EpisodeMode = "env"
    ) -> None:
        self.spec = spec
        #: Episode rules of the run (:mod:`advex.envs.episodes`); strategies that step their
        #: own env (SB3) apply them, the others collect through a ``Collector`` that does.
        self.episodes: EpisodeMode = check_episode_mode(episodes)
        self.config = config
        self.seed = int(seed)
        self.low, self.high = action_bounds(spec)
        self.rng = np.random.default_rng(self.seed)
        #: Per-dimension ``O`` scale of the error the true-loss adversaries maximise (the
        #: yardstick's delta scale when the experiment sets it; ``None``: the model's own).
        self.error_scale: np.ndarray | None = None

    def set_error_scale(self, scale: np.ndarray | None) -> None:
        """Measure model errors in units of ``scale`` (``O``, > 0), e.g. the coverage set's
        ``delta_scale()``, so the adversary maximises exactly what the yardstick scores."""
        if scale is not None:
            scale = np.asarray(scale, dtype=np.float64)
            if scale.shape != (self.spec.obs_dim,) or not np.all(np.isfinite(scale) & (scale > 0)):
                raise ValueError(
                    f"{self.name}: error scale must be {self.spec.obs_dim} finite values > 0, "
                    f"got shape {scale.shape}"
                )
        self.error_scale = scale

    @classmethod
    def check_task(cls, spec: TaskSpec) -> None:
        """Raise a one-line ``ValueError`` naming the strategy if it cannot run on ``spec``
        (called before any work; the default accepts every task)."""
        return None

    # ------------------------------------------------------------------ acting
    @abc.abstractmethod
    def act(self, obs: np.ndarray) -> np.ndarray:
        """Batched observations ``N x O`` -> actions ``N x A`` float32 within ``[low, high]``,
        sampled with the strategy's own seeded generator."""

    def _check_obs(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float32)
        if obs.ndim != 2 or obs.shape[1] != self.spec.obs_dim:
            raise ValueError(
                f"{self.name}.act: expected obs of shape N x {self.spec.obs_dim}, got {obs.shape}"
            )
        return obs

    # ------------------------------------------------------------------ collecting
    def collect(
        self,
        collector: Collector,
        buffer: ReplayBuffer,
        n_steps: int,
        seed: int,
        progress: bool = True,
    ) -> RoundData:
        """Append ``n_steps`` real transitions from this strategy's policy to ``buffer``;
        returns the round (the loop hands it to :meth:`observe_round` and :meth:`update`)."""
        return collector.run(
            buffer,
            n_steps,
            seed,
            policy=self.act,
            progress=progress,
            desc=f"{self.name} {self.spec.name}",
        )

    # ------------------------------------------------------------------ learning
    def bind_model(self, model: Any) -> None:
        """Meet the online model before the first round (and again after a resume): a
        strategy that acts *through* the model (planning in it) keeps the reference; the
        loop refits the model in place. A no-op here."""
        return None

    @property
    def rewards_before_refit(self) -> bool:
        """Whether this strategy scores a round under the model *before* it refits on it
        (held-out errors). The loop then calls :meth:`observe_round` between :meth:`collect`
        and the refit, from the second round on (:attr:`RoundData.follows_earlier_data`), and
        passes what it returned to :meth:`update`. False here."""
        return False

    def observe_round(self, buffer: ReplayBuffer, model: Any, data: RoundData) -> Any:
        """What this strategy keeps of the round under the model before its refit (rewards, a
        copy of the model); see :attr:`rewards_before_refit`. Nothing here."""
        return None

    def update(
        self, buffer: ReplayBuffer, model: Any, data: RoundData, observed: Any = None
    ) -> dict[str, float]:
        """Learn from round ``data`` and the refitted ``model`` once per round (``observed``:
        what :meth:`observe_round` returned before the refit, if the loop called it); returns
        diagnostics."""
        return {}

    def _unobserved_round(self) -> ValueError:
        """The error of an update that needed :meth:`observe_round` before the refit."""
        return ValueError(
            f"{self.name} scores rounds before the refit: pass update() what "
            "observe_round(buffer, model, data) returned after collect and before the model "
            "refits on the round"
        )

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume (subclasses extend it)."""
        return {
            "name": self.name,
            "task": self.spec.name,
            "seed": self.seed,
            "rng": self.rng.bit_generator.state,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` output of a strategy of the same name and task."""
        for key, mine in (("name", self.name), ("task", self.spec.name)):
            if state.get(key) != mine:
                raise StrategyStateError(
                    f"state_dict is for {key} {state.get(key)!r}, this strategy has {mine!r}"
                )
        self.seed = int(state["seed"])
        self.rng.bit_generator.state = state["rng"]
        # (checkpoints written before rounds were data also hold "round": nothing to restore,
        # a checkpoint is taken after the round's update)

    # ------------------------------------------------------------------ resources
    def close(self) -> None:
        """Release what the strategy holds beyond plain memory (SB3 strategies own an env);
        a no-op here. Safe to call more than once."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(task={self.spec.name!r}, seed={self.seed})"
