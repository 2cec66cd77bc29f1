"""The exploration experiment: rounds of collect -> refit -> adversary step -> evaluate.

Every strategy gets the same model class and hyper-parameters, the same step budget, the same
episode rules and the same held-out coverage set, so the only thing that differs between runs
is *where the data came from*. The online model (warm-started, capped refits) is what the
adversary plays against; the score at each evaluation point comes from separate fresh fits of
the buffer to convergence (:mod:`advex.engine.evaluation`). Reference rows (no-change,
ridge, oracle: :mod:`advex.engine.references`) run as one more job per seed. Every job, a
strategy's or the references', runs through one loop (:func:`_run_rounds`: play a round,
score it at an evaluation point, checkpoint it with its rows), so every job checkpoints after
every round the same way and ``resume=True`` continues a killed one, producing the same rows as
an uninterrupted run (``wall_s`` aside).
"""

from __future__ import annotations

import abc
import json
import math
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from advex.config import dataclass_from_dict
from advex.engine.checkpoint import Checkpointer, RunState, already_holds
from advex.engine.coverage import CoverageConfig, CoverageSet
from advex.engine.evaluation import (
    EvaluationConfig,
    Score,
    evaluate_fits,
    online_uncertainty_scores,
    score_rows,
)
from advex.engine.references import (
    no_change_scores,
    oracle_batch,
    ridge_scores,
    run_oracle_rows,
)
from advex.engine.results import REFERENCE_NAMES, write_job_rows
from advex.engine.run_files import FINAL_MODEL_FILE, REFERENCES_JOB
from advex.engine.run_log import RunLog
from advex.envs import check_episode_mode, get_task
from advex.exploration.buffer import CONTACT_COLUMN, ReplayBuffer, check_fits_in_memory
from advex.exploration.collect import Collector, collect
from advex.exploration.strategy import (
    STRATEGIES,
    UntrustedRunFolderError,
    make_strategy,
    strategy_class,
    untrusted_resume_message,
)
from advex.exploration.strategy import config_from_dict as strategy_config_from_dict
from advex.models import TrainConfig, make_model
from advex.models.factory import config_from_dict
from advex.seeding import derive_seed


@dataclass
class ExperimentConfig:
    """Everything needed to rerun a comparison; saved as ``config.json`` beside the results.

    ``model_config``/``train``/``coverage``/``evaluation`` may hold overrides of the component
    dataclasses' defaults (empty dict = the documented defaults); ``strategy_config`` maps a
    strategy name to the overrides of its config. What a run saves is :meth:`resolved`: every
    nested config with all its values, so a default changed later never changes what a resume
    or a rerun of that folder does.
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
    #: Episode rules of collection and coverage set alike: "env" or "free" (advex.envs.episodes).
    episodes: str = "env"
    #: Overrides of EvaluationConfig: fit seeds, evaluation points, stopping rule. The
    #: no-argument run scores log-spaced points (rounds 1, 2, 4 and 6) with 2 fits each:
    #: converged fits are its whole cost (each about 7 000 gradient steps), and 3 fits made
    #: it take 347 s on 2 cores; ``{}`` scores every round with 3.
    evaluation: dict[str, Any] = field(
        default_factory=lambda: {"points": "log", "fit_seeds": 2}
    )
    #: Reference rows written beside the strategies (any of REFERENCE_NAMES).
    references: list[str] = field(default_factory=lambda: list(REFERENCE_NAMES))
    #: Ridge penalty of the ``ridge`` reference.
    ridge_alpha: float = 1e-3

    def __post_init__(self) -> None:
        check_episode_mode(self.episodes)
        spec = get_task(self.task)  # unknown task -> error listing the valid ones
        bad_refs = [r for r in self.references if r not in REFERENCE_NAMES]
        if bad_refs or len(set(self.references)) != len(self.references):
            raise ValueError(
                f"references must be distinct names from {', '.join(REFERENCE_NAMES)}; got "
                f"{self.references}"
            )
        if "episodes" in self.coverage and self.coverage["episodes"] != self.episodes:
            raise ValueError(
                f"coverage.episodes {self.coverage['episodes']!r} differs from the run's "
                f"episodes {self.episodes!r}: the yardstick must follow the run's rules"
            )
        # Every nested config is built now so a typo fails before any work is done.
        self.train_config()
        self.coverage_config()
        self.evaluation_config()
        config_from_dict(self.model, {"seed": 0, **self.model_config})
        for name, overrides in self.strategy_config.items():
            if name not in self.strategies:
                raise ValueError(f"strategy_config names {name!r}, which is not run")
            strategy_config_from_dict(name, overrides or {})
        for name in self.strategies:
            if name not in STRATEGIES:
                strategy_class(name)  # a "module:name", or one line listing the valid names
        if not self.strategies or not self.seeds:
            raise ValueError("need at least one strategy and one seed")
        if self.steps <= 0 or self.round_steps <= 0:
            raise ValueError(
                f"steps and round_steps must be > 0 ({self.steps}, {self.round_steps})"
            )
        # A round longer than the budget runs as one round of the budget: recorded as such,
        # so config.json says what ran.
        self.round_steps = min(self.round_steps, self.steps)
        if any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in self.seeds):
            raise ValueError(f"seeds must be integers >= 0, got {self.seeds}")
        if not (isinstance(self.ridge_alpha, int | float) and math.isfinite(self.ridge_alpha)
                and self.ridge_alpha > 0):
            raise ValueError(f"ridge_alpha must be a finite number > 0, got {self.ridge_alpha}")
        if len(set(self.seeds)) != len(self.seeds) or len(set(self.strategies)) != len(
            self.strategies
        ):
            raise ValueError("strategies and seeds must not repeat")
        for name in self.strategies:
            strategy_class(name).check_task(spec)
        check_fits_in_memory(self.steps, spec.obs_dim, spec.act_dim, "compare steps")

    def resolved(self) -> ExperimentConfig:
        """This config with every nested dict holding all the fields of its dataclass (the
        model's, the online fit's, the coverage set's, the evaluation's with its model's, and
        each strategy's), as plain JSON values. Two fields stay out: ``device`` (where a run
        trains is chosen per machine, ``--device``) and the models' ``seed`` (each run seed
        draws its own initial weights). Resolving twice gives the same config."""
        evaluation = _plain(self.evaluation_config(), drop=("device",))
        evaluation["model_config"] = _plain(
            config_from_dict(evaluation["model"], {**evaluation["model_config"], "seed": 0}),
            drop=("seed",),
        )
        return replace(
            self,
            model_config=_plain(
                config_from_dict(self.model, {"seed": 0, **self.model_config}), drop=("seed",)
            ),
            train=_plain(self.train_config(), drop=("device",)),
            coverage=_plain(self.coverage_config()),
            evaluation=evaluation,
            strategy_config={
                name: _plain(strategy_config_from_dict(name, self.strategy_config.get(name) or {}))
                for name in self.strategies
            },
        )

    @property
    def n_rounds(self) -> int:
        return math.ceil(self.steps / self.round_steps)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> ExperimentConfig:
        return dataclass_from_dict(cls, payload, "experiment")

    def train_config(self, device: str | None = None) -> TrainConfig:
        """The online refit's settings; ``device`` (a resolved name) overrides ``train``'s."""
        config = dataclass_from_dict(TrainConfig, self.train, "train")
        return config if device is None else replace(config, device=device)

    def coverage_config(self) -> CoverageConfig:
        return dataclass_from_dict(
            CoverageConfig, {**self.coverage, "episodes": self.episodes}, "coverage"
        )

    def evaluation_config(self, device: str | None = None) -> EvaluationConfig:
        """The evaluation's settings; ``device`` (a resolved name) overrides ``evaluation``'s."""
        config = EvaluationConfig.from_dict(self.evaluation)
        return config if device is None else replace(config, device=device)

    def eval_rounds(self) -> list[int]:
        """0-based rounds after which the buffer is scored."""
        return self.evaluation_config().rounds(self.n_rounds, self.round_steps)


def _plain(config: Any, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A config dataclass as the JSON values ``config.json`` holds (tuples become lists), less
    the fields ``drop``."""
    values = json.loads(json.dumps(asdict(config)))
    return {key: value for key, value in values.items() if key not in drop}


def round_seed(seed: int, round_index: int, purpose: str) -> int:
    """A stable 31-bit seed per (run seed, round, purpose): rounds never share random streams."""
    return derive_seed(seed, round_index, purpose)


def _fresh_state(cfg: ExperimentConfig, strategy_name: str, seed: int) -> tuple[RunState, Any]:
    spec = get_task(cfg.task)
    torch.manual_seed(seed)
    # Each run seed draws its own initial weights (unless the config pins one): otherwise the
    # across-seed intervals would leave out initialisation variance.
    model = make_model(cfg.model, spec.obs_dim, spec.act_dim, {"seed": seed, **cfg.model_config})
    strategy = make_strategy(
        strategy_name,
        spec,
        cfg.strategy_config.get(strategy_name) or None,
        seed,
        episodes=check_episode_mode(cfg.episodes),
    )
    buffer = ReplayBuffer(spec.obs_dim, spec.act_dim, extra_columns=(CONTACT_COLUMN,))
    buffer.meta.update(
        task=cfg.task, strategy=strategy_name, seed=str(seed), episodes=cfg.episodes
    )
    state = RunState(0, buffer, model, strategy.state_dict())
    return state, strategy


def save_final_model(run_dir: Path, model: Any, task: str) -> None:
    """Keep a job's first evaluation fit at its last point (the oracle's, for the references
    job): the model the report's predicted-vs-true rollout plots draw."""
    Path(run_dir).mkdir(parents=True, exist_ok=True)
    model.meta["task"] = task
    model.save(Path(run_dir) / FINAL_MODEL_FILE)


def _rows(
    cfg: ExperimentConfig,
    name: str,
    seed: int,
    env_steps: int,
    wall_s: float,
    scores: Mapping[str, Score],
) -> list[dict[str, Any]]:
    """Results rows of strategy or reference ``name`` at ``env_steps`` (none for no scores)."""
    return [
        {"task": cfg.task, "strategy": name, "seed": seed, "env_steps": env_steps, **row,
         "wall_s": wall_s}
        for row in score_rows(scores)
    ]


class _RoundJob(abc.ABC):
    """One job of a comparison, one run seed: a strategy with its online model, or the
    reference rows. Both run through :func:`_run_rounds`, round by round (collect, learn,
    score at the evaluation points) with one checkpoint after every round (a
    :class:`~advex.engine.checkpoint.Checkpointer` folder), so a killed job of either kind
    resumes the same way."""

    #: The strategy's name, or ``references``.
    name: str
    #: The progress bar's label.
    label: str
    #: Whether its model is checkpointed (the references job has no online model).
    has_model: bool = True
    #: Whether loading its checkpoint unpickles (SB3 agents): only from a trusted folder.
    unpickles_checkpoints: bool = False

    @abc.abstractmethod
    def fresh_state(self) -> RunState:
        """The state before round one."""

    def restore(self, state: RunState) -> None:
        """Take over a checkpoint's state (the strategy's own state)."""
        return None

    def start(self, state: RunState) -> None:
        """Before the first round played (fresh or resumed)."""
        return None

    @abc.abstractmethod
    def play_round(self, r: int, n_steps: int, state: RunState, log: RunLog) -> dict[str, float]:
        """Collect round ``r``'s ``n_steps`` into ``state.buffer`` and learn from them;
        returns diagnostics."""

    @abc.abstractmethod
    def score(self, r: int, state: RunState, final: bool) -> dict[str, dict[str, Score]]:
        """At an evaluation point: each row name's scores (``final``: the last round)."""

    def state_dict(self) -> dict[str, Any]:
        """What :meth:`restore` needs besides buffer, model and rows."""
        return {}

    def heldout_tag(self, name: str) -> str:
        """TensorBoard prefix of row ``name``'s held-out scores."""
        return f"heldout/{name}"

    def close(self) -> None:
        """Release envs and the like."""
        return None


class _StrategyJob(_RoundJob):
    """A strategy's run: its own buffer and online model, refitted after every round for
    strategies that use it; scored by fresh evaluation fits (:mod:`advex.engine.evaluation`)."""

    def __init__(self, cfg: ExperimentConfig, name: str, seed: int, run_dir: Path,
                 coverage: CoverageSet, device: str) -> None:
        self.cfg, self.name, self.seed = cfg, name, seed
        self.run_dir, self.coverage = run_dir, coverage
        self.label = f"{name} seed {seed}"
        self._fresh, self.strategy = _fresh_state(cfg, name, seed)
        self.unpickles_checkpoints = self.strategy.unpickles_checkpoints
        self.collector = Collector(cfg.task, n_envs=cfg.n_envs,
                                   episodes=check_episode_mode(cfg.episodes))
        self.train_cfg, self.eval_cfg = cfg.train_config(device), cfg.evaluation_config(device)

    def fresh_state(self) -> RunState:
        return self._fresh

    def restore(self, state: RunState) -> None:
        self.strategy.load_state_dict(state.strategy_state)

    def start(self, state: RunState) -> None:
        # The adversaries maximise the yardstick's own error: same per-dimension units.
        self.strategy.set_error_scale(self.coverage.delta_scale())
        if self.strategy.uses_model:
            self.strategy.bind_model(state.model)

    def play_round(self, r: int, n_steps: int, state: RunState, log: RunLog) -> dict[str, float]:
        strategy, buffer, model = self.strategy, state.buffer, state.model
        data = strategy.collect(self.collector, buffer, n_steps,
                                round_seed(self.seed, r, "collect"), False)
        observed = None
        if strategy.uses_model and strategy.rewards_before_refit and data.follows_earlier_data:
            observed = strategy.observe_round(buffer, model, data)  # model before the refit
        if strategy.uses_model:  # the online model: what the adversary plays against
            history = model.fit(
                buffer, self.train_cfg, seed=round_seed(self.seed, r, "fit"), progress=False
            )
            model.to("cpu")
            log.online_fit(r, history, self.train_cfg.max_epochs)
            log.scalars("online", {"epochs": history.epochs}, len(buffer))
        return strategy.update(buffer, model, data, observed)

    def score(self, r: int, state: RunState, final: bool) -> dict[str, dict[str, Score]]:
        scores, fits = evaluate_fits(state.buffer, self.coverage, self.eval_cfg, self.seed)
        if self.strategy.uses_model and not self.eval_cfg.scores_uncertainty():
            scores.update(online_uncertainty_scores(state.model, self.coverage))
        if final:
            save_final_model(self.run_dir, fits.models[0], self.cfg.task)
        return {self.name: scores}

    def state_dict(self) -> dict[str, Any]:
        return self.strategy.state_dict()

    def heldout_tag(self, name: str) -> str:
        return "heldout"

    def close(self) -> None:
        self.collector.close()
        self.strategy.close()


class _ReferencesJob(_RoundJob):
    """The reference rows of one run seed (module docstring of
    :mod:`advex.engine.references`): random data collected round by round under the run's
    episode rules (the ridge reference's data, and the budget of every point), scored at the
    same evaluation points as the strategies. It has no online model."""

    has_model = False

    def __init__(self, cfg: ExperimentConfig, seed: int, run_dir: Path, coverage: CoverageSet,
                 oracle: CoverageSet | None, device: str) -> None:
        if "oracle" in cfg.references and oracle is None:
            raise ValueError("run_references: the oracle reference needs an oracle coverage set")
        self.cfg, self.seed, self.run_dir = cfg, seed, run_dir
        self.coverage, self.oracle = coverage, oracle
        self.name, self.label = REFERENCES_JOB, f"{REFERENCES_JOB} seed {seed}"
        self.eval_cfg = cfg.evaluation_config(device)
        self.no_change: dict[str, Score] = {}

    def fresh_state(self) -> RunState:
        spec = get_task(self.cfg.task)
        buffer = ReplayBuffer(spec.obs_dim, spec.act_dim, extra_columns=(CONTACT_COLUMN,))
        return RunState(0, buffer, None, {})

    def start(self, state: RunState) -> None:
        if "no-change" in self.cfg.references:  # the same at every point: scored once
            self.no_change = no_change_scores(self.coverage)

    def play_round(self, r: int, n_steps: int, state: RunState, log: RunLog) -> dict[str, float]:
        cfg = self.cfg
        collect(cfg.task, n_steps=n_steps, seed=round_seed(self.seed, r, "reference-random"),
                n_envs=cfg.n_envs, episodes=check_episode_mode(cfg.episodes),
                buffer=state.buffer, progress=False)
        return {}

    def score(self, r: int, state: RunState, final: bool) -> dict[str, dict[str, Score]]:
        references, random_data = self.cfg.references, state.buffer
        scores: dict[str, dict[str, Score]] = {}
        if "no-change" in references:
            scores["no-change"] = self.no_change
        if "ridge" in references:
            scores["ridge"] = ridge_scores(random_data.batch(), self.coverage, self.cfg.ridge_alpha)
            ridge_contacts = random_data.contact_frac()
            if ridge_contacts is not None:  # the share of its random data in contact
                scores["ridge"]["contact_frac"] = Score(ridge_contacts, math.nan, 1)
        if "oracle" in references:
            assert self.oracle is not None
            # Nested draws: each budget's rows extend the previous budget's.
            rows = run_oracle_rows(self.oracle, len(random_data), self.seed)
            scores["oracle"], fits = evaluate_fits(
                oracle_batch(self.oracle, rows), self.coverage, self.eval_cfg, self.seed,
                contact_frac=float(self.oracle.row_contacts()[rows].mean()),
            )
            if final:
                save_final_model(self.run_dir, fits.models[0], self.cfg.task)
        return scores


def _run_rounds(
    cfg: ExperimentConfig,
    job: _RoundJob,
    seed: int,
    run_dir: Path,
    *,
    resume: bool,
    progress: bool,
    trust_run_folder: bool,
    stop_after_rounds: int | None,
    tensorboard: bool,
) -> list[dict[str, Any]]:
    """The one loop every job runs (module docstring): rounds from the last checkpoint on,
    each checkpointed with its rows; returns the job's tidy rows."""
    try:
        state = _start_or_resume(job, Checkpointer(run_dir), resume, trust_run_folder)
        eval_rounds = cfg.eval_rounds()
        log = RunLog(run_dir, tensorboard)
        bar = tqdm(total=cfg.n_rounds, initial=state.completed_rounds, desc=job.label,
                   unit="round", disable=not progress, leave=False)
        try:
            for r in range(state.completed_rounds, cfg.n_rounds):
                _play(cfg, job, seed, run_dir, state, r, r in eval_rounds, log, bar)
                if stop_after_rounds is not None and state.completed_rounds >= stop_after_rounds:
                    break
        finally:
            bar.close()
            log.close()
    finally:
        job.close()
    return state.rows


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
    trust_run_folder: bool = False,
    device: str = "cpu",
    tensorboard: bool = True,
) -> list[dict[str, Any]]:
    """Run (or continue) one ``(strategy, seed)``; returns its tidy result rows.

    After every round the rows so far are in ``run_dir/rows.csv`` (what ``advex report``
    shows of a comparison that is running or was killed) and, with ``tensorboard``, the
    round's scalars in ``run_dir/tb`` (:mod:`advex.engine.run_log`).

    ``device``: where the online refits and the evaluation fits train (a resolved name, see
    :mod:`advex.device`); the model lives on the CPU between fits, for the strategy and the
    scoring.

    ``trust_run_folder``: a resume may unpickle the strategy's checkpoint (SB3 agents); without
    it such a resume is refused (:class:`UntrustedRunFolderError`) before anything is loaded.

    ``stop_after_rounds`` ends the run early as if killed after that many rounds (tests use it
    to check that ``resume`` reproduces an uninterrupted run).
    """
    run_dir = Path(run_dir)
    job = _StrategyJob(cfg, strategy_name, seed, run_dir, coverage, device)
    return _run_rounds(cfg, job, seed, run_dir, resume=resume, progress=progress,
                       trust_run_folder=trust_run_folder, stop_after_rounds=stop_after_rounds,
                       tensorboard=tensorboard)


def run_references(
    cfg: ExperimentConfig,
    seed: int,
    run_dir: Path,
    coverage: CoverageSet,
    oracle: CoverageSet | None,
    *,
    resume: bool = False,
    progress: bool = True,
    stop_after_rounds: int | None = None,
    device: str = "cpu",
    tensorboard: bool = True,
) -> list[dict[str, Any]]:
    """The reference rows of one run seed at every evaluation point (module docstring of
    :mod:`advex.engine.references`). ``oracle`` (a coverage set built with another seed and
    enough starts) is needed when ``"oracle"`` is among ``cfg.references``; ``device`` trains
    its fits.

    The same loop and checkpoints as :func:`run_single` (a job with random data and no online
    model): rows so far in ``run_dir/rows.csv``, TensorBoard in ``run_dir/tb``, a checkpoint
    after every round that ``resume`` continues from.
    """
    run_dir = Path(run_dir)
    job = _ReferencesJob(cfg, seed, run_dir, coverage, oracle, device)
    return _run_rounds(cfg, job, seed, run_dir, resume=resume, progress=progress,
                       trust_run_folder=False, stop_after_rounds=stop_after_rounds,
                       tensorboard=tensorboard)


def _start_or_resume(job: _RoundJob, checkpointer: Checkpointer, resume: bool,
                     trust_run_folder: bool) -> RunState:
    """The job's state before its next round: fresh, or its last checkpoint's (``resume``);
    a folder that holds a run is never started over."""
    state = job.fresh_state()
    if resume and checkpointer.exists():
        if job.unpickles_checkpoints and not trust_run_folder:
            raise UntrustedRunFolderError(untrusted_resume_message(job.name, checkpointer.run_dir))
        state = checkpointer.load(with_model=job.has_model)
        write_job_rows(checkpointer.run_dir, state.rows)  # a kill between checkpoint and rows
        job.restore(state)
        if state.torch_rng_state is not None:
            torch.set_rng_state(state.torch_rng_state)
    elif checkpointer.exists():
        raise already_holds(checkpointer.run_dir, "a run")
    job.start(state)
    return state


def _play(cfg: ExperimentConfig, job: _RoundJob, seed: int, run_dir: Path, state: RunState,
          r: int, evaluate: bool, log: RunLog, bar: Any) -> None:
    """Round ``r``: play it, score it at an evaluation point, checkpoint it with its rows,
    log it."""
    start = time.perf_counter()
    n_new = min(cfg.round_steps, cfg.steps - r * cfg.round_steps)
    diagnostics = job.play_round(r, n_new, state, log)
    scores = job.score(r, state, r == cfg.n_rounds - 1) if evaluate else {}
    env_steps = len(state.buffer)
    state.wall_s += time.perf_counter() - start
    for name, named_scores in scores.items():
        state.rows.extend(_rows(cfg, name, seed, env_steps, state.wall_s, named_scores))
    state.completed_rounds = r + 1
    state.strategy_state = job.state_dict()
    Checkpointer(run_dir).save(state)
    write_job_rows(run_dir, state.rows)
    for name, named_scores in scores.items():
        log.scalars(job.heldout_tag(name), {k: v.value for k, v in named_scores.items()},
                    env_steps)
    log.scalars("strategy", diagnostics, env_steps)
    log.flush()
    bar.update(1)
    first = next(iter(scores.values()), {})
    shown = {"mse_1step": first["mse_1step"].value} if "mse_1step" in first else {}
    shown.update(list(diagnostics.items())[:2])
    if shown:
        bar.set_postfix(**{k: f"{v:.3g}" for k, v in shown.items()})
