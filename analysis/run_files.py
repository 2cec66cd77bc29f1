"""What a comparison folder holds besides its results: per (job, seed) the final buffer, the
final evaluation fit, and per seed the coverage set. The report's pictures read these; a
results-only folder (a committed grid, a copied ``results.parquet``) has none of them, and
every reader here says so by returning nothing instead of failing."""

from __future__ import annotations

from pathlib import Path

from advex.analysis.checkpoint import Checkpointer, CheckpointError
from advex.analysis.coverage_set import CoverageSet
from advex.exploration.buffer import BufferFileError, ReplayBuffer
from advex.models import TransitionModel

#: The evaluation fit each job keeps from its last point (written by the experiment loop).
FINAL_MODEL_FILE = "final_model.pt"


def job_dir(out: Path, job: str, seed: int) -> Path:
    """``out/runs/<job>_seed<seed>``: a strategy's run, or ``references``."""
    return Path(out) / "runs" / f"{job}_seed{seed}"


def seed_and_coverage(out: Path, seed: int | None) -> tuple[int, CoverageSet] | None:
    """``seed`` (default: the smallest run seed with a coverage set in ``out``) and its
    coverage set, or ``None`` when the folder holds none."""
    if seed is None:
        seeds = sorted(int(p.stem.removeprefix("seed")) for p in out.glob("coverage/seed*.npz"))
        if not seeds:
            return None
        seed = seeds[0]
    coverage = coverage_set(out, seed)
    return None if coverage is None else (seed, coverage)


def job_names(out: Path, seed: int) -> list[str]:
    """The job names (strategies and ``references``) with a folder for run seed ``seed``."""
    return sorted({p.name.rsplit("_seed", 1)[0] for p in Path(out).glob(f"runs/*_seed{seed}")})


def coverage_set(out: Path, seed: int) -> CoverageSet | None:
    path = Path(out) / "coverage" / f"seed{seed}.npz"
    return CoverageSet.load(path) if path.is_file() else None


def final_buffer(out: Path, strategy: str, seed: int) -> ReplayBuffer | None:
    """The buffer of the job's last checkpoint (all its data), if the folder has one that
    reads (a running job may move its checkpoint away between the pointer and the file)."""
    try:
        folder = Checkpointer(job_dir(out, strategy, seed)).latest_folder()
        path = None if folder is None else folder / "buffer.npz"
        return ReplayBuffer.load(path) if path is not None and path.is_file() else None
    except (CheckpointError, BufferFileError, OSError):
        return None


def final_model(out: Path, job: str, seed: int) -> TransitionModel | None:
    """The job's first evaluation fit at its last point, if it was kept (and reads)."""
    path = job_dir(out, job, seed) / FINAL_MODEL_FILE
    try:
        return TransitionModel.load(path) if path.is_file() else None
    except (ValueError, OSError):
        return None
