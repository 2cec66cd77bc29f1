"""``advex plan``: receding-horizon MPC in the real env, on a learned model or the simulator.

:class:`PlanConfig` names the task, where the planning model comes from and the planner;
:func:`run_planning` plays ``episodes`` episodes and returns one row per episode (return,
length, planning milliseconds per action). The model is one of:

- ``"sim"``: the true simulator (:class:`~advex.agents.simulator_env.SimulatorEnv`), the upper
  bound;
- a model file (``advex fit --out``);
- a compare run folder with ``strategy`` (and ``run_seed``): the model that strategy's data
  produced (:func:`run_model`: the yardstick's converged fit of the run's final buffer), so
  control quality can be read next to model error.

Learned models plan with the task's closed-form reward and termination where it has them, and
otherwise with heads learned from a buffer (the run's own buffer, or ``buffer``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from advex.agents.model_env import PROPAGATIONS, ModelEnv
from advex.agents.mpc import MPCAgent, MPCConfig
from advex.agents.optimizers import CEMConfig, MPPIConfig, RandomShootingConfig
from advex.agents.simulator_env import SimulatorEnv
from advex.envs import check_dims, get_task, make_env

#: ``--planner`` names -> the optimiser names of :func:`advex.agents.make_optimizer`.
PLANNERS: dict[str, str] = {"rs": "random", "cem": "cem", "mppi": "mppi"}
SIMULATOR = "sim"


@dataclass
class PlanConfig:
    """What ``advex plan`` runs. ``horizon``: steps planned ahead; ``candidates``: sequences
    per optimiser iteration; ``iterations``: CEM/MPPI refinements (random shooting has one):
    ``None`` takes the task's measured defaults (:class:`~advex.envs.PlannerDefaults`);
    ``max_steps``: episode length cap (default: the task's time limit)."""

    task: str
    model: str = SIMULATOR
    strategy: str | None = None
    run_seed: int | None = None
    buffer: str | None = None
    planner: str = "cem"
    episodes: int = 3
    horizon: int | None = None
    candidates: int | None = None
    iterations: int | None = None
    particles: int = 1
    propagation: str = "mean"
    max_steps: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        defaults = get_task(self.task).planner  # an unknown task: one line, now
        for name in ("horizon", "candidates", "iterations"):
            if getattr(self, name) is None:
                setattr(self, name, getattr(defaults, name))
        if self.planner not in PLANNERS:
            raise ValueError(f"unknown planner {self.planner!r}; valid: {', '.join(PLANNERS)}")
        if self.propagation not in PROPAGATIONS:
            raise ValueError(
                f"unknown propagation {self.propagation!r}; valid: {', '.join(PROPAGATIONS)}"
            )
        for name in ("episodes", "horizon", "candidates", "iterations", "particles"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1, got {self.max_steps}")

    def mpc_config(self) -> MPCConfig:
        assert self.horizon and self.candidates and self.iterations  # resolved on creation
        optimizer_config: Any
        if self.planner == "rs":
            optimizer_config = RandomShootingConfig(population=self.candidates)
        elif self.planner == "cem":
            optimizer_config = CEMConfig(population=self.candidates, iterations=self.iterations)
        else:
            optimizer_config = MPPIConfig(population=self.candidates, iterations=self.iterations)
        return MPCConfig(horizon=self.horizon, particles=self.particles,
                         optimizer=PLANNERS[self.planner], optimizer_config=optimizer_config)


def run_model(folder: Path, strategy: str, seed: int | None) -> tuple[Any, Path, int]:
    """The model ``strategy``'s data produced in a compare folder: ``(model, buffer path,
    seed)``.

    A fresh model fitted to convergence on the buffer of the run's last checkpoint, exactly as
    the yardstick's first evaluation fit of that buffer (the run's evaluation model and
    architecture, its stopping rule and fit seeds), so control quality and model error describe
    the same model. (The checkpoint's own model is the online one: capped refits, and never fitted
    at all for strategies that do not use a model.) ``seed``: which seed's run (default: the
    run's first).
    """
    from dataclasses import replace

    from advex.atomic_io import read_json
    from advex.engine.checkpoint import Checkpointer
    from advex.engine.evaluation import fit_models
    from advex.engine.experiment import ExperimentConfig
    from advex.exploration.buffer import ReplayBuffer

    config_path = folder / "config.json"
    if not config_path.is_file():
        raise ValueError(f"{folder} is not a compare run folder (no config.json)")
    cfg = ExperimentConfig.from_dict(read_json(config_path))
    if strategy not in cfg.strategies:
        raise ValueError(
            f"{folder} ran no strategy {strategy!r}; it ran {', '.join(cfg.strategies)}"
        )
    seed = cfg.seeds[0] if seed is None else seed
    if seed not in cfg.seeds:
        raise ValueError(f"{folder} ran seeds {cfg.seeds}, not {seed}")
    latest = Checkpointer(folder / "runs" / f"{strategy}_seed{seed}").latest_folder()
    if latest is None or not (latest / "buffer.npz").is_file():
        raise ValueError(f"{folder}: {strategy} seed {seed} has no finished round")
    buffer = ReplayBuffer.load(latest / "buffer.npz")
    evaluation = replace(cfg.evaluation_config(), fit_seeds=1)
    report = fit_models(evaluation.model, buffer.obs_dim, buffer.act_dim,
                        evaluation.model_config, buffer, evaluation, seed)
    return report.models[0], latest / "buffer.npz", seed


def planning_model(config: PlanConfig) -> tuple[Any, str]:
    """The object MPC plans on (a :class:`ModelEnv` or :class:`SimulatorEnv`) and a label."""
    from advex.exploration.buffer import ReplayBuffer
    from advex.models import TransitionModel
    from advex.models.reward_head import task_functions

    if config.model == SIMULATOR:
        return SimulatorEnv(config.task), "simulator"
    path = Path(config.model)
    buffer_path = Path(config.buffer) if config.buffer else None
    if path.is_dir():
        if config.strategy is None:
            raise ValueError(f"{path} is a run folder: name the strategy whose model to plan with")
        model, run_buffer, seed = run_model(path, config.strategy, config.run_seed)
        buffer_path = buffer_path or run_buffer
        label = f"{config.strategy} seed {seed}"
    elif path.is_file():
        model, label = TransitionModel.load(path), path.name
    else:
        raise ValueError(f"--model {config.model}: no such file or run folder (or 'sim')")
    check_dims(config.task, model.obs_dim, model.act_dim, f"model {path}")
    model.eval()
    spec = get_task(config.task)
    buffer = None
    if not spec.closed_form:
        if buffer_path is None:
            raise ValueError(
                f"{spec.name} has no closed-form reward: give --buffer with its transitions"
            )
        buffer = ReplayBuffer.load(buffer_path)
    reward_fn, term_fn, _ = task_functions(spec, buffer)
    model_env = ModelEnv(
        model, reward_fn, term_fn, propagation=config.propagation,
        generator=torch.Generator().manual_seed(config.seed),
    )
    return model_env, label


def run_planning(config: PlanConfig, progress: bool = True) -> pd.DataFrame:
    """Play ``config.episodes`` MPC episodes; one row each: ``episode``, ``return``,
    ``steps``, ``terminated``, ``ms_per_action`` (planning time only)."""
    spec = get_task(config.task)
    planner_env, label = planning_model(config)
    env = make_env(spec)
    agent = MPCAgent(planner_env, env.action_space.low, env.action_space.high,
                     config.mpc_config(), seed=config.seed)
    max_steps = config.max_steps or spec.max_episode_steps
    rows = []
    bar = tqdm(total=config.episodes * max_steps, desc=f"plan {spec.name} ({label})",
               disable=not progress)
    try:
        for episode in range(config.episodes):
            obs, _ = env.reset(seed=config.seed + episode)
            agent.reset()
            total, steps, planning_s, terminated = 0.0, 0, 0.0, False
            while steps < max_steps:
                if isinstance(planner_env, SimulatorEnv):
                    planner_env.sync(env)
                started = time.perf_counter()
                action = agent.act(np.asarray(obs, dtype=np.float32))
                planning_s += time.perf_counter() - started
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                steps += 1
                bar.update(1)
                if terminated or truncated:
                    break
            rows.append({"episode": episode, "return": total, "steps": steps,
                         "terminated": bool(terminated),
                         "ms_per_action": 1000 * planning_s / steps})
    finally:
        bar.close()
        env.close()
        if isinstance(planner_env, SimulatorEnv):
            planner_env.close()
    frame = pd.DataFrame(rows)
    frame.insert(0, "task", spec.name)
    frame.insert(1, "model", label)
    return frame
