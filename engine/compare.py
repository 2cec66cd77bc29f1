"""``advex compare``: run every (strategy, seed) of an :class:`ExperimentConfig` and save results.

Jobs run in a local process pool by default (one torch thread each: small networks gain
nothing from intra-op threads and the cores are better spent on parallel runs); ``ray``
spreads them over a Ray cluster for multi-machine sweeps; ``serial`` runs in-process.

Output folder::

    <out>/config.json                 the resolved config: every value (ExperimentConfig.resolved)
    <out>/results.parquet, .csv       tidy rows (task, strategy, seed, env_steps, metric, ...)
    <out>/sample_efficiency.png       metric vs env steps, one line per strategy (mean, 95 % CI)
    <out>/summary.csv, report.md      the final table
    <out>/runs/<strategy>_seed<k>/    round checkpoints (resume), rows.csv (the job's rows so
                                      far), tb/ (TensorBoard event files)
    <out>/runs/references_seed<k>/    reference rows done so far (resume), rows.csv, tb/
    <out>/coverage/seed<k>.npz        the yardstick of seed k (and oracle_seed<k>.npz: the
                                      oracle reference's training data, built with another
                                      seed and enough starts for the whole budget)
"""

from __future__ import annotations

import math
import os
import pickle
import sys
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from tqdm.auto import tqdm

from advex.atomic_io import read_json, write_json_atomic
from advex.device import resolve_device
from advex.engine.checkpoint import Checkpointer, already_holds
from advex.engine.coverage import CoverageSet, load_or_build_coverage
from advex.engine.experiment import ExperimentConfig, run_references, run_single
from advex.engine.references import oracle_starts
from advex.engine.results import save_results, validate_results
from advex.engine.run_files import REFERENCES_JOB
from advex.envs import TaskSpec, register_task, registered_tasks
from advex.exploration.strategy import (
    UntrustedRunFolderError,
    strategy_class,
    untrusted_resume_message,
)
from advex.run_lock import run_folder_lock
from advex.seeding import derive_seed
from advex.worker_lifetime import exit_with_parent

Backend = Literal["process", "ray", "serial"]


@dataclass(frozen=True)
class Job:
    strategy: str  # a strategy name, or REFERENCES_JOB
    seed: int
    run_dir: str
    coverage_path: str
    oracle_path: str | None = None
    device: str = "cpu"  # resolved (advex.device): where this job's models train
    tensorboard: bool = True  # write runs/<job>/tb event files (advex.engine.run_log)


def _run_job(
    cfg_dict: dict[str, Any],
    job: Job,
    resume: bool,
    progress: bool,
    trust: bool = False,
    stop_after_rounds: int | None = None,
    tasks: tuple[TaskSpec, ...] = (),
    import_paths: tuple[str, ...] = (),
) -> list[dict]:
    """One job, in whichever process runs it. ``tasks``: the specs the parent registered with
    :func:`~advex.envs.register_task`, registered here first (a spawned worker or a Ray
    worker starts with the built-in tasks only). ``import_paths``: the parent's ``sys.path``
    entries, added here so a Ray worker imports what the parent imports (a user's
    ``module:Id`` task; a spawned process-pool worker inherits them already)."""
    import torch

    torch.set_num_threads(1)
    sys.path.extend(p for p in import_paths if p not in sys.path)
    for spec in tasks:
        register_task(spec)
    cfg = ExperimentConfig.from_dict(cfg_dict)
    coverage = CoverageSet.load(job.coverage_path)
    if job.strategy == REFERENCES_JOB:
        oracle = CoverageSet.load(job.oracle_path) if job.oracle_path else None
        return run_references(
            cfg, job.seed, Path(job.run_dir), coverage, oracle, resume=resume, progress=progress,
            device=job.device, tensorboard=job.tensorboard,
        )
    return run_single(
        cfg, job.strategy, job.seed, Path(job.run_dir), coverage, resume=resume,
        progress=progress, trust_run_folder=trust, device=job.device,
        stop_after_rounds=stop_after_rounds, tensorboard=job.tensorboard,
    )


def _check_out_dir(out: Path, cfg: ExperimentConfig, resume: bool) -> None:
    config_path = out / "config.json"
    if not config_path.exists():
        return
    saved = read_json(config_path)
    # A folder saved before configs were resolved holds overrides: resolve both to compare.
    if resume and ExperimentConfig.from_dict(saved).resolved() != cfg:
        raise ValueError(f"{config_path} differs from this run's config; resume needs the same one")
    if not resume:
        raise already_holds(out, "a comparison")


def prepare_coverage(
    cfg: ExperimentConfig, out: Path, progress: bool
) -> dict[int, tuple[Path, Path | None]]:
    """Build (or load from the cache) per seed the coverage set and, when the oracle reference
    is wanted, the oracle's set (the same config with another seed and enough starts for the
    whole budget); copy both into ``out/coverage``."""
    paths: dict[int, tuple[Path, Path | None]] = {}
    config = cfg.coverage_config()
    for seed in cfg.seeds:
        path = out / "coverage" / f"seed{seed}.npz"
        coverage = None
        if not path.exists():
            coverage = load_or_build_coverage(cfg.task, seed, config, progress=progress)
            coverage.save(path)
        oracle_path = None
        if "oracle" in cfg.references:
            oracle_path = out / "coverage" / f"oracle_seed{seed}.npz"
            if not oracle_path.exists():  # sized from the main set (read back on a resume)
                coverage = coverage or CoverageSet.load(path)
                _oracle_set(cfg, seed, coverage, progress).save(oracle_path)
        paths[seed] = (path, oracle_path)
    return paths


def _oracle_set(
    cfg: ExperimentConfig, seed: int, coverage: CoverageSet, progress: bool
) -> CoverageSet:
    """The oracle's coverage set of ``seed``: built like ``coverage`` with another seed and
    enough starts for ``cfg.steps`` transitions. Rollout lengths vary from start to start under
    ``"env"`` rules, so a set that falls short is rebuilt with half as many starts again."""
    n_starts = oracle_starts(coverage, cfg.steps)
    for _ in range(8):
        config = replace(cfg.coverage_config(), n_starts=n_starts)
        oracle = load_or_build_coverage(
            cfg.task, derive_seed(seed, "oracle-coverage"), config, progress=progress
        )
        if len(oracle) >= cfg.steps:
            return oracle
        n_starts = math.ceil(1.5 * n_starts)
    raise RuntimeError(
        f"oracle coverage set of seed {seed} holds {len(oracle)} transitions from {n_starts} "
        f"starts, fewer than the budget {cfg.steps}"
    )


def run_compare(
    cfg: ExperimentConfig,
    out: Path,
    *,
    resume: bool = False,
    backend: Backend = "process",
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
    trust_run_folder: bool = False,
    device: str = "auto",
    max_hours: float | None = None,
    tensorboard: bool = True,
) -> pd.DataFrame:
    """Run the comparison into ``out`` and return the tidy results frame.

    While it runs, every job keeps its rows so far in ``runs/<job>/rows.csv`` (``advex
    report`` merges them for a comparison that is running or was killed) and, with
    ``tensorboard``, TensorBoard event files in ``runs/<job>/tb`` (not part of the config:
    logging changes no result).

    ``max_hours``: time the first round of the first job, then stop with
    :class:`RuntimeTooLongError` if the whole grid would take longer (see :func:`_estimate`);
    the timed round is kept, so ``resume`` continues from it.

    ``device``: where the models train (``auto``: a CUDA GPU if torch sees one; see
    :mod:`advex.device`). It is not saved in ``config.json``: a run may resume elsewhere.

    ``trust_run_folder``: let a resume unpickle checkpoints of strategies that need it (SB3
    agents); without it such a resume is refused before any job starts.

    The run holds ``out``'s lock (:mod:`advex.run_lock`) from the first check to the last
    write: a second run on the same folder is refused with the holder's pid.
    """
    if backend not in ("process", "ray", "serial"):
        raise ValueError(f"unknown backend {backend!r}; valid: process, ray, serial")
    if max_hours is not None and not max_hours > 0:
        raise ValueError(f"max_hours must be > 0, got {max_hours}")
    resolved = resolve_device(device)  # a missing GPU is refused before the folder is touched
    tasks = _shipped_tasks(backend, workers)
    out = Path(out)
    with run_folder_lock(out):
        return _run_locked(
            cfg, out, resume, backend, workers, progress, log, trust_run_folder, resolved,
            max_hours, tasks, tensorboard,
        )


def _run_locked(
    cfg: ExperimentConfig,
    out: Path,
    resume: bool,
    backend: Backend,
    workers: int | None,
    progress: bool,
    log: Callable[[str], None],
    trust: bool,
    device: str,
    max_hours: float | None,
    tasks: tuple[TaskSpec, ...],
    tensorboard: bool,
) -> pd.DataFrame:
    cfg = cfg.resolved()  # what config.json holds and every job runs
    _check_out_dir(out, cfg, resume)
    if resume and not trust:
        for name in cfg.strategies:
            for seed in cfg.seeds:
                run_dir = out / "runs" / f"{name}_seed{seed}"
                if strategy_class(name).unpickles_checkpoints and Checkpointer(run_dir).exists():
                    raise UntrustedRunFolderError(untrusted_resume_message(name, run_dir))
    cfg_dict = cfg.to_dict()
    write_json_atomic(out / "config.json", cfg_dict)
    coverage_paths = prepare_coverage(cfg, out, progress)
    jobs = []
    for seed in cfg.seeds:
        path, oracle_path = coverage_paths[seed]
        names = [*cfg.strategies, *([REFERENCES_JOB] if cfg.references else [])]
        jobs += [
            Job(name, seed, str(out / "runs" / f"{name}_seed{seed}"), str(path),
                str(oracle_path) if oracle_path else None, device, tensorboard)
            for name in names
        ]
    workers = 1 if backend == "serial" else workers or min(len(jobs), os.cpu_count() or 1)
    resumes = {job: resume for job in jobs}
    if max_hours is not None:
        probe = jobs[0]  # a strategy: the cfg has at least one, and they come first
        if not Checkpointer(Path(probe.run_dir)).exists():
            started = time.perf_counter()
            _run_job(cfg_dict, probe, False, False, trust, stop_after_rounds=1, tasks=tasks)
            hours = _check_estimate(cfg, time.perf_counter() - started, len(jobs), workers,
                                    max_hours, probe)
            log(f"estimate: at least {hours:.2g} h for {len(jobs)} jobs on {workers} worker(s) "
                f"(--max-hours {max_hours:g})")
            resumes[probe] = True  # the other jobs keep the caller's choice
    if backend == "serial" or (backend == "process" and workers == 1):
        rows = [
            r for job in jobs
            for r in _run_job(cfg_dict, job, resumes[job], progress, trust, tasks=tasks)
        ]
    elif backend == "process":
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                 initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
            futures = {
                pool.submit(_run_job, cfg_dict, job, resumes[job], False, trust, None, tasks): job
                for job in jobs
            }
            rows = _gather_with_progress(futures, cfg.n_rounds, progress, log)
    else:
        rows = _run_ray(cfg_dict, jobs, resumes, trust, tasks)
    frame = validate_results(pd.DataFrame(rows))
    save_results(frame, out)
    return frame


def _rounds_done(job: Job) -> int:
    """Rounds a job has finished, read off its checkpoint pointer (strategies and references
    alike); 0 when there is nothing to read yet."""
    try:
        return Checkpointer(Path(job.run_dir)).completed_rounds()
    except (OSError, ValueError, AttributeError):
        return 0  # not written yet, or being replaced right now: the next poll reads it


def _gather_with_progress(
    futures: dict[Future, Job], n_rounds: int, progress: bool, log: Callable[[str], None]
) -> list[dict]:
    """The jobs' rows (in job order) once all are done, with one bar over every job's rounds
    (the workers write a checkpoint per round, which this polls): a long job shows its rounds
    as they finish, not 0/N jobs for minutes."""
    jobs = list(futures.values())
    results: dict[Job, list[dict]] = {}
    shown = {job: 0 for job in jobs}
    bar = tqdm(total=len(jobs) * n_rounds, desc="rounds", unit="round", disable=not progress)
    pending = set(futures)
    try:
        while pending:
            finished, pending = wait(pending, timeout=2.0, return_when=FIRST_COMPLETED)
            for future in finished:
                job = futures[future]
                results[job] = future.result()
                log(f"done: {job.strategy} seed {job.seed}")
            for job in jobs:
                now = n_rounds if job in results else _rounds_done(job)
                if now != shown[job]:
                    shown[job] = now
                    bar.set_postfix_str(f"{job.strategy} seed {job.seed}: round {now}/{n_rounds}")
            bar.n = sum(shown.values())
            bar.refresh()
    finally:
        bar.close()
    return [row for job in jobs for row in results[job]]


def _shipped_tasks(backend: Backend, workers: int | None) -> tuple[TaskSpec, ...]:
    """The tasks registered in this process, to register again in the workers. With the
    process pool they travel by pickle, so a spec whose functions do not pickle (a lambda, a
    local function) is refused here in one line, before any work."""
    tasks = tuple(registered_tasks().values())
    if backend == "process" and workers != 1:
        for spec in tasks:
            try:
                pickle.dumps(spec)
            except Exception as error:
                raise ValueError(
                    f"registered task {spec.name!r} cannot be sent to worker processes "
                    f"({type(error).__name__}: {error}); define its reward/termination "
                    "functions at module level, or use --backend serial or ray"
                ) from None
    return tasks


class RuntimeTooLongError(RuntimeError):
    """The grid's estimated runtime is over the ``max_hours`` the user allowed."""


def _estimate(first_round_s: float, n_rounds: int, n_jobs: int, workers: int) -> float:
    """Hours the grid takes at least: every round of every job as slow as the timed first
    one, the jobs spread evenly over the workers. A lower bound: later rounds refit and score
    more data, so they are slower."""
    waves = math.ceil(n_jobs / max(1, min(workers, n_jobs)))
    return first_round_s * n_rounds * waves / 3600


def _check_estimate(
    cfg: ExperimentConfig, first_round_s: float, n_jobs: int, workers: int, max_hours: float,
    probe: Job,
) -> float:
    """The estimate in hours; raises :class:`RuntimeTooLongError` above ``max_hours``."""
    hours = _estimate(first_round_s, cfg.n_rounds, n_jobs, workers)
    if hours > max_hours:
        raise RuntimeTooLongError(
            f"this grid would take at least {hours:.3g} h (the first round of {probe.strategy} "
            f"seed {probe.seed} took {first_round_s:.1f} s; {cfg.n_rounds} rounds x {n_jobs} "
            f"jobs on {workers} worker(s)), over --max-hours {max_hours:g}; stopped before the "
            "other jobs (the timed round is kept for --resume)"
        )
    return hours


def _run_ray(
    cfg_dict: dict[str, Any],
    jobs: list[Job],
    resumes: dict[Job, bool],
    trust: bool,
    tasks: tuple[TaskSpec, ...],
) -> list[dict]:
    """Run jobs as Ray tasks (``ray.init`` joins ``RAY_ADDRESS`` if set, else starts a local
    instance, which is shut down again when the jobs are done)."""
    try:
        import ray
    except ImportError as e:
        raise RuntimeError("backend 'ray' needs Ray: pip install 'advex[ray]'") from e
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False
        )
    try:
        remote = ray.remote(num_cpus=1)(_run_job)
        paths = tuple(sys.path)
        refs = [
            remote.remote(cfg_dict, job, resumes[job], False, trust, None, tasks, paths)
            for job in jobs
        ]
        return [r for rows in ray.get(refs) for r in rows]
    finally:
        if started_here:  # a local instance advex started ends with the run
            ray.shutdown()
