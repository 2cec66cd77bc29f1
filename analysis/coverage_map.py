"""Coverage maps: where each strategy's data went, drawn over the yardstick's coverage set.

One panel per strategy, a 2-D projection of the state: a task-meaningful pair where advex
knows one (cart position x pole angle, torso height x pitch, the arena's x x y with its walls
and obstacles drawn from the MJCF), else the coverage set's two highest-variance dimensions.
Grey: the coverage set (what the yardstick scores); colour: the strategy's final buffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from advex.analysis.summary import strategy_order  # noqa: E402
from advex.atomic_io import atomic_write  # noqa: E402
from advex.engine import run_files  # noqa: E402

#: Points drawn per panel at most (a 30 000-step buffer as a scatter is one blot and slow).
MAX_POINTS = 4000


@dataclass(frozen=True)
class Projection:
    """Two observation dimensions and their axis labels; ``arena``: draw the arena's walls."""

    dims: tuple[int, int]
    labels: tuple[str, str]
    arena: bool = False


TASK_PROJECTIONS: dict[str, Projection] = {
    "InvertedPendulum-v5": Projection((0, 1), ("cart position (m)", "pole angle (rad)")),
    "Hopper-v5": Projection((1, 0), ("torso pitch (rad)", "torso height (m)")),
    "HalfCheetah-v5": Projection((1, 0), ("torso pitch (rad)", "torso height (m)")),
    "advex/ArenaRobot-v0": Projection((0, 1), ("x (m)", "y (m)"), arena=True),
}


def projection_for(task: str, coverage_obs: np.ndarray) -> Projection:
    """The task's named pair, else the two highest-variance dimensions of ``coverage_obs``
    (``N x O``)."""
    if task in TASK_PROJECTIONS:
        return TASK_PROJECTIONS[task]
    first, second = (int(i) for i in np.argsort(-coverage_obs.var(axis=0))[:2])
    return Projection((first, second), (f"obs[{first}]", f"obs[{second}]"))


def _subsample(points: np.ndarray, seed: int) -> np.ndarray:
    if len(points) <= MAX_POINTS:
        return points
    rows = np.random.default_rng(seed).choice(len(points), MAX_POINTS, replace=False)
    return points[np.sort(rows)]


def draw_arena(ax: Any) -> None:
    """The arena's walls and obstacles (boxes and cylinders, top view) from its MJCF."""
    import mujoco
    from matplotlib.patches import Circle, Rectangle

    from advex.envs.arena_robot import ARENA_GOAL, ARENA_ROBOT_XML

    model = mujoco.MjModel.from_xml_path(ARENA_ROBOT_XML)
    for g in range(model.ngeom):
        name = mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_GEOM, g) or ""
        if not name.startswith(("wall", "pillar", "block")):
            continue
        x, y = model.geom_pos[g][:2]
        size = model.geom_size[g]
        if model.geom_type[g] == mujoco.mjtGeom.mjGEOM_CYLINDER:
            ax.add_patch(Circle((x, y), size[0], color="dimgray", zorder=3))
        else:  # boxes: half-extents, turned about z by the geom's yaw
            w, _, _, z = model.geom_quat[g]
            yaw = np.degrees(2 * np.arctan2(z, w))
            ax.add_patch(Rectangle((x - size[0], y - size[1]), 2 * size[0], 2 * size[1],
                                   angle=yaw, rotation_point="center", color="dimgray",
                                   zorder=3))
    ax.plot(*ARENA_GOAL, marker="*", color="green", ms=12, zorder=4)
    ax.set_aspect("equal")


def plot_coverage_maps(
    out: Path, path: Path, seed: int | None = None, skipped: list[str] | None = None
) -> Path | None:
    """Save the coverage maps of comparison folder ``out`` (run seed ``seed``, default: the
    smallest with a coverage set) as one PNG; ``None`` when the folder holds no coverage set
    or no strategy's buffer (a results-only folder)."""
    out = Path(out)
    found = run_files.seed_and_coverage(out, seed, skipped)
    if found is None:
        return None
    seed, coverage = found
    # the references job's buffer is its ridge reference's random data, not a strategy's
    strategies = [s for s in run_files.job_names(out, seed) if s != run_files.REFERENCES_JOB]
    buffers = {
        s: b for s in strategy_order(strategies)
        if (b := run_files.final_buffer(out, s, seed, skipped)) is not None
    }
    if not buffers:
        return None
    reference = coverage.transitions()[0]  # N x O: the states the yardstick scores from
    projection = projection_for(coverage.task, reference)
    i, j = projection.dims
    grey = _subsample(reference, seed)
    columns = min(4, len(buffers))
    rows = -(-len(buffers) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3.6 * rows), squeeze=False,
                             sharex=True, sharey=True)
    try:
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for k, (ax, (strategy, buffer)) in enumerate(zip(axes.flat, buffers.items(),
                                                         strict=False)):
            mine = _subsample(buffer.batch().obs, seed)
            ax.scatter(grey[:, i], grey[:, j], s=3, color="lightgray", label="coverage set")
            ax.scatter(mine[:, i], mine[:, j], s=3, alpha=0.5, color=colours[k % len(colours)],
                       label=f"{strategy} data")
            if projection.arena:
                draw_arena(ax)
            ax.set_title(f"{strategy} ({len(buffer)} steps)", fontsize=10)
            ax.set_xlabel(projection.labels[0])
            ax.set_ylabel(projection.labels[1])
        for ax in list(axes.flat)[len(buffers):]:
            ax.axis("off")
        fig.suptitle(f"{coverage.task}, seed {seed}: where each strategy's data went\n"
                     "(grey: the held-out coverage set)", fontsize=10)
        fig.tight_layout()
        atomic_write(path, lambda handle: fig.savefig(handle, format="png", dpi=90))
    finally:
        plt.close(fig)
    return Path(path)
