"""What a comparison folder holds besides its results: per (job, seed) the final buffer, the
final evaluation fit, and per seed the coverage set. The report's pictures read these; a
results-only folder (a committed grid, a copied ``results.parquet``) has none of them, and
every reader here says so by returning nothing instead of failing. A file that is there but
does not read is different: it is skipped too, and ``skipped`` (when given) gets one line
naming it and why, so the report can say what it left out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from advex.engine.checkpoint import Checkpointer, CheckpointError
from advex.engine.coverage_set import CoverageSet
from advex.exploration.buffer import BufferFileError, ReplayBuffer
from advex.models import TransitionModel

#: The evaluation fit each job keeps from its last point (written by the experiment loop).
FINAL_MODEL_FILE = "final_model.pt"
#: The job name of a seed's reference rows (not a strategy name).
REFERENCES_JOB = "references"


def job_dir(out: Path, job: str, seed: int) -> Path:
    """``out/runs/<job>_seed<seed>``: a strategy's run, or ``references``."""
    return Path(out) / "runs" / f"{job}_seed{seed}"


def seed_and_coverage(
    out: Path, seed: int | None, skipped: list[str] | None = None
) -> tuple[int, CoverageSet] | None:
    """``seed`` (default: the smallest run seed with a coverage set in ``out``) and its
    coverage set, or ``None`` when the folder holds none (or it does not read)."""
    if seed is None:
        seeds = coverage_seeds(out)
        if not seeds:
            return None
        seed = seeds[0]
    coverage = coverage_set(out, seed, skipped)
    return None if coverage is None else (seed, coverage)


def coverage_seeds(out: Path) -> list[int]:
    """The run seeds with a coverage set file in ``out``, ascending."""
    return sorted(int(p.stem.removeprefix("seed")) for p in Path(out).glob("coverage/seed*.npz"))


def job_names(out: Path, seed: int) -> list[str]:
    """The job names (strategies and ``references``) with a folder for run seed ``seed``."""
    return sorted({p.name.rsplit("_seed", 1)[0] for p in Path(out).glob(f"runs/*_seed{seed}")})


def _unreadable(skipped: list[str] | None, path: Path, error: Exception) -> None:
    if skipped is not None:
        skipped.append(f"{path}: unreadable, skipped ({type(error).__name__}: {error})")


def coverage_set(out: Path, seed: int, skipped: list[str] | None = None) -> CoverageSet | None:
    path = Path(out) / "coverage" / f"seed{seed}.npz"
    try:
        return CoverageSet.load(path) if path.is_file() else None
    except (ValueError, OSError) as error:
        _unreadable(skipped, path, error)
        return None


def final_buffer(
    out: Path, strategy: str, seed: int, skipped: list[str] | None = None
) -> ReplayBuffer | None:
    """The buffer of the job's last checkpoint (all its data), if the folder has one that
    reads (a running job may move its checkpoint away between the pointer and the file)."""
    path = job_dir(out, strategy, seed)
    try:
        folder = Checkpointer(path).latest_folder()
        if folder is None or not (folder / "buffer.npz").is_file():
            return None
        path = folder / "buffer.npz"
        return ReplayBuffer.load(path)
    except (CheckpointError, BufferFileError, OSError) as error:
        _unreadable(skipped, path, error)
        return None


def final_model(
    out: Path, job: str, seed: int, skipped: list[str] | None = None
) -> TransitionModel | None:
    """The job's first evaluation fit at its last point, if it was kept (and reads)."""
    path = job_dir(out, job, seed) / FINAL_MODEL_FILE
    try:
        return TransitionModel.load(path) if path.is_file() else None
    except (ValueError, OSError) as error:
        _unreadable(skipped, path, error)
        return None


def strategy_fits(out: Path, seed: int) -> Iterator[tuple[str, TransitionModel, ReplayBuffer]]:
    """``(job, final fit, final buffer)`` of run seed ``seed``'s strategy jobs that kept both,
    by job name, loaded one job at a time (a large task's buffers need not all be in memory).
    The ``references`` job is left out (its kept fit is the oracle's, not fitted on a buffer of
    its own), and so is a job still running (no final fit yet)."""
    for job in job_names(out, seed):
        if job == REFERENCES_JOB:
            continue
        model, buffer = final_model(out, job, seed), final_buffer(out, job, seed)
        if model is not None and buffer is not None:
            yield job, model, buffer
