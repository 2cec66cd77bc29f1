"""The exploration experiment: rounds of collect -> refit -> adversary step -> evaluate.

Every strategy gets the same model class and hyper-parameters, the same step budget and the
same held-out coverage set, so the only thing that differs between runs is *where the data
came from*. A run checkpoints after every round and ``resume=True`` continues a killed run,
producing the same rows as an uninterrupted one (``wall_s`` aside).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from advex.analysis.checkpoint import Checkpointer, RunState
from advex.analysis.coverage import CoverageConfig, CoverageSet
from advex.analysis.metrics import evaluate_model
from advex.envs import get_task
from advex.exploration.buffer import ReplayBuffer
from advex.exploration.collect import Collector
from advex.exploration.strategy import STRATEGIES, make_strategy
from advex.models import TrainConfig, make_model


@dataclass
class ExperimentConfig:
    """Everything needed to rerun a comparison; saved as ``config.json`` beside the results.

    ``model_config``/``train``/``coverage`` hold overrides of the component dataclasses'
    defaults (empty dict = the documented defaults); ``strategy_config`` maps a strategy name
    to the overrides of its config.
    """

    task: str = "InvertedPendulum-v5"
    strategies: list[str] = field(
        default_factory=lambda: ["random", "adversarial-sf", "adversarial-pw", "disagreement"]
    )
    seeds: list[int] = field(default_factory=lambda: [0])
    steps: int = 3000
    round_steps: int = 500
    model: str = "ensemble"
    # A compact ensemble and capped refits: the comparison refits after every round, and
    # what it measures is the data, not the architecture (``{}`` gives PETS' 7 x 4 x 200).
    model_config: dict[str, Any] = field(
        default_factory=lambda: {"num_members": 5, "num_elites": 3, "hidden_sizes": [128] * 3}
    )
    train: dict[str, Any] = field(default_factory=lambda: {"max_epochs": 30, "patience": 5})
    strategy_config: dict[str, dict[str, Any]] = field(default_factory=dict)
    # PPO (seconds) rather than SAC (tens of seconds) for the coverage set's trained policy.
    coverage: dict[str, Any] = field(default_factory=lambda: {"sb3_algo": "ppo"})
    n_envs: int = 1

    def __post_init__(self) -> None:
        get_task(self.task)  # unknown task -> error listing the valid ones
        unknown = [s for s in self.strategies if s not in STRATEGIES]
        if unknown:
            raise ValueError(
                f"unknown strategy {', '.join(unknown)}; valid: {', '.join(STRATEGIES)}"
            )
        if not self.strategies or not self.seeds:
            raise ValueError("need at least one strategy and one seed")
        if self.steps <= 0 or self.round_steps <= 0:
            raise ValueError(
                f"steps and round_steps must be > 0 ({self.steps}, {self.round_steps})"
            )
        if len(set(self.seeds)) != len(self.seeds) or len(set(self.strategies)) != len(
            self.strategies
        ):
            raise ValueError("strategies and seeds must not repeat")

    @property
    def n_rounds(self) -> int:
        return math.ceil(self.steps / self.round_steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ExperimentConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(payload) - known)
        if unknown:
            raise ValueError(f"config has unknown keys {unknown}; valid: {sorted(known)}")
        return cls(**payload)

    def train_config(self) -> TrainConfig:
        return TrainConfig(**self.train)

    def coverage_config(self) -> CoverageConfig:
        return CoverageConfig(**self.coverage)


def round_seed(seed: int, round_index: int, purpose: str) -> int:
    """A stable 31-bit seed per (run seed, round, purpose): rounds never share random streams."""
    digest = hashlib.sha256(f"{seed}/{round_index}/{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def _fresh_state(cfg: ExperimentConfig, strategy_name: str, seed: int) -> tuple[RunState, Any]:
    spec = get_task(cfg.task)
    torch.manual_seed(seed)
    # Each run seed draws its own initial weights (unless the config pins one): otherwise the
    # across-seed intervals would leave out initialisation variance.
    model = make_model(cfg.model, spec.obs_dim, spec.act_dim, {"seed": seed, **cfg.model_config})
    strategy = make_strategy(
        strategy_name, spec, cfg.strategy_config.get(strategy_name) or None, seed
    )
    buffer = ReplayBuffer(spec.obs_dim, spec.act_dim)
    buffer.meta.update(task=cfg.task, strategy=strategy_name, seed=str(seed))
    state = RunState(0, buffer, model, strategy.state_dict())
    return state, strategy


def run_single(
    cfg: ExperimentConfig,
    strategy_name: str,
    seed: int,
    run_dir: Path,
    coverage: CoverageSet,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after_rounds: int | None = None,
) -> list[dict[str, Any]]:
    """Run (or continue) one ``(strategy, seed)``; returns its tidy result rows.

    ``stop_after_rounds`` ends the run early as if killed after that many rounds (tests use it
    to check that ``resume`` reproduces an uninterrupted run).
    """
    checkpointer = Checkpointer(run_dir)
    state, strategy = _fresh_state(cfg, strategy_name, seed)
    if resume and checkpointer.exists():
        state = checkpointer.load()
        strategy.load_state_dict(state.strategy_state)
        if state.torch_rng_state is not None:
            torch.set_rng_state(state.torch_rng_state)
    elif checkpointer.exists():
        raise FileExistsError(
            f"{run_dir} already holds a run; pass resume=True (--resume) or use a new --out"
        )
    buffer, model = state.buffer, state.model
    collector = Collector(cfg.task, n_envs=cfg.n_envs)
    train_cfg = cfg.train_config()
    label = f"{strategy_name} seed {seed}"
    bar = tqdm(
        total=cfg.n_rounds,
        initial=state.completed_rounds,
        desc=label,
        unit="round",
        disable=not progress,
        leave=False,
    )
    try:
        for r in range(state.completed_rounds, cfg.n_rounds):
            start = time.perf_counter()
            n_new = min(cfg.round_steps, cfg.steps - r * cfg.round_steps)
            strategy.collect(collector, buffer, n_new, round_seed(seed, r, "collect"), False)
            model.fit(buffer, train_cfg, seed=round_seed(seed, r, "fit"), progress=False)
            diagnostics = strategy.update(buffer, model)
            metrics = evaluate_model(model, coverage)
            state.wall_s += time.perf_counter() - start
            state.rows.extend(
                {
                    "task": cfg.task,
                    "strategy": strategy_name,
                    "seed": seed,
                    "env_steps": len(buffer),
                    "metric": name,
                    "value": float(value),
                    "wall_s": state.wall_s,
                }
                for name, value in metrics.items()
            )
            state.completed_rounds = r + 1
            state.strategy_state = strategy.state_dict()
            checkpointer.save(state)
            bar.update(1)
            bar.set_postfix(
                mse_1step=f"{metrics['mse_1step']:.3g}",
                **{k: f"{v:.3g}" for k, v in list(diagnostics.items())[:2]},
            )
            if stop_after_rounds is not None and state.completed_rounds >= stop_after_rounds:
                break
    finally:
        bar.close()
        collector.close()
        strategy.close()
    return state.rows
