"""``advex compare``: run every (strategy, seed) of an :class:`ExperimentConfig` and save results.

Jobs run in a local process pool by default (one torch thread each: small networks gain
nothing from intra-op threads and the cores are better spent on parallel runs); ``ray``
spreads them over a Ray cluster for multi-machine sweeps; ``serial`` runs in-process.

Output folder::

    <out>/config.json                 everything needed to rerun
    <out>/results.parquet, .csv       tidy rows (task, strategy, seed, env_steps, metric, ...)
    <out>/sample_efficiency.png       metric vs env steps, one line per strategy (mean, 95 % CI)
    <out>/summary.csv, report.md      the final table
    <out>/runs/<strategy>_seed<k>/    round checkpoints (resume)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from tqdm.auto import tqdm

from advex.analysis.coverage import CoverageSet, load_or_build_coverage
from advex.analysis.experiment import ExperimentConfig, run_single
from advex.analysis.results import save_results, validate_results
from advex.atomic_io import write_json_atomic

Backend = Literal["process", "ray", "serial"]


@dataclass(frozen=True)
class Job:
    strategy: str
    seed: int
    run_dir: str
    coverage_path: str


def _run_job(cfg_dict: dict[str, Any], job: Job, resume: bool, progress: bool) -> list[dict]:
    import torch

    torch.set_num_threads(1)
    cfg = ExperimentConfig.from_dict(cfg_dict)
    coverage = CoverageSet.load(job.coverage_path)
    return run_single(
        cfg, job.strategy, job.seed, Path(job.run_dir), coverage, resume=resume, progress=progress
    )


def _check_out_dir(out: Path, cfg: ExperimentConfig, resume: bool) -> None:
    config_path = out / "config.json"
    if not config_path.exists():
        return
    saved = json.loads(config_path.read_text())
    if resume and saved != cfg.to_dict():
        raise ValueError(f"{config_path} differs from this run's config; resume needs the same one")
    if not resume:
        raise FileExistsError(f"{out} already holds a comparison; pass --resume or a new --out")


def prepare_coverage(cfg: ExperimentConfig, out: Path, progress: bool) -> dict[int, Path]:
    """Build (or load from the cache) one coverage set per seed and copy it into ``out``."""
    paths = {}
    for seed in cfg.seeds:
        path = out / "coverage" / f"seed{seed}.npz"
        if not path.exists():
            coverage = load_or_build_coverage(
                cfg.task, seed, cfg.coverage_config(), progress=progress
            )
            coverage.save(path)
        paths[seed] = path
    return paths


def run_compare(
    cfg: ExperimentConfig,
    out: Path,
    *,
    resume: bool = False,
    backend: Backend = "process",
    workers: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> pd.DataFrame:
    """Run the comparison into ``out`` and return the tidy results frame."""
    if backend not in ("process", "ray", "serial"):
        raise ValueError(f"unknown backend {backend!r}; valid: process, ray, serial")
    out = Path(out)
    _check_out_dir(out, cfg, resume)
    out.mkdir(parents=True, exist_ok=True)
    cfg_dict = cfg.to_dict()
    write_json_atomic(out / "config.json", cfg_dict)
    coverage_paths = prepare_coverage(cfg, out, progress)
    jobs = [
        Job(strategy, seed, str(out / "runs" / f"{strategy}_seed{seed}"), str(coverage_paths[seed]))
        for seed in cfg.seeds
        for strategy in cfg.strategies
    ]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if backend == "serial" or (backend == "process" and workers == 1):
        rows = [r for job in jobs for r in _run_job(cfg_dict, job, resume, progress)]
    elif backend == "process":
        rows = []
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_run_job, cfg_dict, job, resume, False) for job in jobs]
            for job, future in tqdm(
                zip(jobs, futures, strict=True), total=len(jobs), desc="runs", disable=not progress
            ):
                rows.extend(future.result())
                log(f"done: {job.strategy} seed {job.seed}")
    else:
        rows = _run_ray(cfg_dict, jobs, resume)
    frame = validate_results(pd.DataFrame(rows))
    save_results(frame, out)
    return frame


def _run_ray(cfg_dict: dict[str, Any], jobs: list[Job], resume: bool) -> list[dict]:
    """Run jobs as Ray tasks (``ray.init`` joins ``RAY_ADDRESS`` if set, else starts locally)."""
    try:
        import ray
    except ImportError as e:
        raise RuntimeError("backend 'ray' needs Ray: pip install 'advex[ray]'") from e
    if not ray.is_initialized():
        ray.init(
            address=os.environ.get("RAY_ADDRESS"), include_dashboard=False, log_to_driver=False
        )
    remote = ray.remote(num_cpus=1)(_run_job)
    refs = [remote.remote(cfg_dict, job, resume, False) for job in jobs]
    return [r for rows in ray.get(refs) for r in rows]
