"""Tidy results: one row per (task, strategy, seed, env_steps, metric) with its value.

Long form is what pandas/seaborn group on without reshaping; every later analysis reads these
files, never a live training loop. ``value`` is the mean over ``n_fits`` evaluation fits (fit
seeds) and ``value_sd`` their sample std (NaN for a single fit); reference rows (no-change,
ridge, oracle) sit beside the strategies under those names.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from advex.atomic_io import atomic_write, write_text_atomic

#: The results file of a run folder (``results.csv`` beside it is the same table as text).
RESULTS_FILE = "results.parquet"
#: Each job's rows so far, rewritten after every round under ``runs/<job>/``: what a
#: comparison that is still running, or was killed, has measured.
JOB_ROWS_FILE = "rows.csv"
#: Reference rows of a results frame, not exploration strategies, in the order they are listed:
#: the s' = s model, a linear model, and the same model class trained on data drawn like the
#: held-out set (:mod:`advex.engine.references` computes them).
REFERENCE_NAMES: tuple[str, ...] = ("no-change", "ridge", "oracle")

RESULT_COLUMNS = [
    "task", "strategy", "seed", "env_steps", "metric", "value", "value_sd", "n_fits", "wall_s",
]
_DTYPES = {
    "task": "string",
    "strategy": "string",
    "seed": "int64",
    "env_steps": "int64",
    "metric": "string",
    "value": "float64",
    "value_sd": "float64",
    "n_fits": "int64",
    "wall_s": "float64",
}


class ResultsError(ValueError):
    """A results table is missing columns or holds impossible values."""


def validate_results(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with the canonical columns and dtypes, or raise naming the problem."""
    missing = [c for c in RESULT_COLUMNS if c not in frame.columns]
    if missing:
        raise ResultsError(f"results lack columns {missing}; expected {RESULT_COLUMNS}")
    frame = frame[RESULT_COLUMNS].astype(_DTYPES)
    if (frame["env_steps"] <= 0).any():
        raise ResultsError("results hold env_steps <= 0")
    if (frame["n_fits"] < 1).any():
        raise ResultsError("results hold n_fits < 1")
    if frame["value"].isna().any():
        bad = frame.loc[frame["value"].isna(), ["strategy", "seed", "metric"]].iloc[0].tolist()
        raise ResultsError(f"results hold NaN values (first: {bad})")
    key = ["task", "strategy", "seed", "env_steps", "metric"]
    if frame.duplicated(key).any():
        raise ResultsError("results hold duplicate (task, strategy, seed, env_steps, metric) rows")
    return frame.sort_values(key, kind="stable").reset_index(drop=True)


def save_results(frame: pd.DataFrame, out: Path) -> tuple[Path, Path]:
    """Write ``results.parquet`` and ``results.csv`` into ``out``, each atomically (a run
    killed mid-write leaves the previous good files)."""
    parquet = atomic_write(out / RESULTS_FILE, lambda h: frame.to_parquet(h, index=False))
    csv = write_text_atomic(out / "results.csv", frame.to_csv(index=False))
    return parquet, csv


def write_job_rows(run_dir: Path, rows: list[dict]) -> Path:
    """Rewrite ``run_dir/rows.csv`` with all of a job's rows so far (atomically: a job killed
    mid-write leaves the previous round's file)."""
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    return write_text_atomic(Path(run_dir) / JOB_ROWS_FILE, frame.to_csv(index=False))


def job_rows_files(out: Path) -> list[Path]:
    """The per-job row files of comparison folder ``out`` (sorted)."""
    return sorted(Path(out).glob(f"runs/*/{JOB_ROWS_FILE}"))


def is_partial(out: Path) -> bool:
    """True when ``out`` holds job rows but no merged ``results.parquet`` (the comparison is
    running, or was stopped before its end)."""
    out = Path(out)
    return not (out / RESULTS_FILE).is_file() and bool(job_rows_files(out))


def load_results(path: Path) -> pd.DataFrame:
    """Read a run folder's ``results.parquet`` (or a given .parquet/.csv file) and validate it.
    A comparison folder without one (still running, or killed) gives the merged rows its jobs
    have written so far (:func:`is_partial` tells which)."""
    path = Path(path)
    if path.is_dir():
        if not (path / RESULTS_FILE).is_file() and job_rows_files(path):
            return _merged_job_rows(path)
        path = path / RESULTS_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no results file, nor rows of any job under runs/ (run `advex compare` "
            "first)"
        )
    frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    return validate_results(frame)


def _merged_job_rows(out: Path) -> pd.DataFrame:
    frames = []
    for path in job_rows_files(out):
        try:
            frames.append(validate_results(pd.read_csv(path)))
        except (ResultsError, ValueError) as error:
            raise ResultsError(f"{path}: {error}") from None
    frame = pd.concat(frames, ignore_index=True)
    if frame.empty:
        raise ResultsError(
            f"{out}: the comparison has started but no job has scored a round yet"
        )
    return validate_results(frame)


def curve(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """``strategy x seed x env_steps`` values of one metric, as a wide per-seed table."""
    sub = frame[frame["metric"] == metric]
    if sub.empty:
        raise ResultsError(
            f"no rows for metric {metric!r}; have {sorted(frame['metric'].unique())}"
        )
    return sub.pivot_table(
        index=["strategy", "env_steps"], columns="seed", values="value", aggfunc="first"
    )


def final_values(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per (strategy, seed): the metric at that run's last env step."""
    sub = frame[frame["metric"] == metric].sort_values("env_steps")
    return sub.groupby(["strategy", "seed"], as_index=False).last()[
        ["strategy", "seed", "env_steps", "value"]
    ]
