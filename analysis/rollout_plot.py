"""Predicted vs true rollouts: each strategy's model, open loop, against the simulator.

For a few coverage-set starts with the longest rollouts (the whole horizon where the set has
enough; under ``"env"`` episodes a trajectory ends where its episode did), the true trajectory
(black) and, per strategy, the model's ``K``-step open-loop prediction under the same recorded
actions (each step's mean fed back in). One column per start, one row per state dimension
(the task's projection pair first, then the highest-variance others, at most
:data:`MAX_DIMS`). The model is the job's kept evaluation fit (``final_model.pt``); the
references job's is the oracle's, drawn dashed.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from advex.analysis.coverage_map import projection_for  # noqa: E402
from advex.analysis.summary import strategy_order  # noqa: E402
from advex.atomic_io import atomic_write  # noqa: E402
from advex.engine import run_files  # noqa: E402
from advex.engine.coverage_set import CoverageSet  # noqa: E402
from advex.engine.metrics import PredictiveModel, predict_batched  # noqa: E402

MAX_DIMS = 4
N_STARTS = 3


def open_loop(model: PredictiveModel, coverage: CoverageSet, starts: np.ndarray) -> np.ndarray:
    """``len(starts) x (K+1) x O`` float64: the model's open-loop trajectories from the
    starts' first observations under their recorded actions (NaN after a non-finite step)."""
    state = coverage.obs[starts, 0].astype(np.float64)
    path = np.full((len(starts), coverage.horizon + 1, coverage.obs_dim), np.nan)
    path[:, 0] = state
    alive = np.ones(len(starts), dtype=bool)  # the model is never fed a non-finite state
    for t in range(coverage.horizon):
        if not alive.any():
            break
        mean, _ = predict_batched(model, state[alive], coverage.act[starts[alive], t])
        rows = np.flatnonzero(alive)
        finite = np.isfinite(mean).all(axis=1)
        state[rows[finite]] = mean[finite]
        alive[rows[~finite]] = False
        path[rows[finite], t + 1] = mean[finite]
    return path


def pick_starts(coverage: CoverageSet, n: int, seed: int) -> np.ndarray:
    """``n`` starts (fewer if the set is smaller) with the longest rollouts, ties drawn with
    ``seed``: full-horizon ones where there are enough (under ``"env"`` episodes many
    rollouts end early, a fallen pole after a few steps)."""
    assert coverage.lengths is not None
    tie_break = np.random.default_rng(seed).random(coverage.n_starts)
    order = np.lexsort((tie_break, -coverage.lengths))
    return np.sort(order[:n])


def plot_rollouts(
    out: Path, path: Path, seed: int | None = None, skipped: list[str] | None = None
) -> Path | None:
    """Save the predicted-vs-true rollout grid of comparison folder ``out`` as one PNG;
    ``None`` when the folder holds no coverage set or no kept model (a results-only folder,
    or a comparison whose jobs have not reached their last point)."""
    out = Path(out)
    found = run_files.seed_and_coverage(out, seed, skipped)
    if found is None:
        return None
    seed, coverage = found
    jobs = run_files.job_names(out, seed)
    models = {
        ("oracle" if job == run_files.REFERENCES_JOB else job): model
        for job in [*strategy_order([j for j in jobs if j != run_files.REFERENCES_JOB]),
                    run_files.REFERENCES_JOB]
        if job in jobs and (model := run_files.final_model(out, job, seed, skipped)) is not None
    }
    if not models:
        return None
    starts = pick_starts(coverage, N_STARTS, seed)
    states = coverage.transitions()[0]
    projection = projection_for(coverage.task, states)
    first = list(projection.dims)
    labels = dict(zip(first, projection.labels, strict=True))
    others = [int(d) for d in np.argsort(-states.var(axis=0)) if int(d) not in first]
    dims = (first + others)[:MAX_DIMS]
    assert coverage.lengths is not None
    recorded = np.arange(coverage.horizon + 1)[None, :] <= coverage.lengths[starts, None]
    truth = np.where(recorded[..., None], coverage.obs[starts], np.nan)  # none past an end
    paths = {
        name: np.where(recorded[..., None], open_loop(model, coverage, starts), np.nan)
        for name, model in models.items()
    }
    steps = np.arange(coverage.horizon + 1)
    fig, axes = plt.subplots(len(dims), len(starts), figsize=(3.6 * len(starts), 2.2 * len(dims)),
                             squeeze=False, sharex=True)
    try:
        for col, start in enumerate(starts):
            for row, dim in enumerate(dims):
                ax = axes[row][col]
                ax.plot(steps, truth[col, :, dim], color="black", lw=2, label="true")
                for name, predicted in paths.items():
                    ax.plot(steps, predicted[col, :, dim], lw=1.2,
                            ls="--" if name == "oracle" else "-", label=name)
                if col == 0:
                    ax.set_ylabel(labels.get(dim, f"obs[{dim}]"), fontsize=8)
                if row == 0:
                    ax.set_title(f"start {start}", fontsize=10)
            axes[-1][col].set_xlabel("open-loop step")
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"{coverage.task}, seed {seed}: each strategy's model, open loop (up to "
                     f"{coverage.horizon} steps), vs the true trajectory", fontsize=10)
        fig.tight_layout()
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=90))
    finally:
        plt.close(fig)
    return Path(path)
