"""The sample-efficiency grid, task by task, with each task's results kept in the repository.

For every (task, episode rule) of the grid this runs one ``advex compare`` of the given seeds
into ``<runs>/<name>/<run>/`` (checkpoints and coverage sets stay there, out of the repository)
and, as soon as that run is done, copies its small files (``results.parquet``, ``results.csv``,
``config.json``) into ``benchmarks/results/<name>/<run>/`` and rebuilds the grid report there,
so a task's results can be committed while the next one runs. ``<run>`` is
``<task>_<episodes>_s<seeds>``: the seeds can be run in parts (``--seeds 0``, then
``--seeds 1,2``, ...; on different machines too), and the report merges the parts of one task.
A killed grid continues with the same command (finished runs are skipped, an unfinished one
resumes from its last round).

    python benchmarks/grid.py --name grid-v2 [--tasks InvertedPendulum-v5,Hopper-v5]
        [--seeds 0,1,2,3,4] [--steps 10000] [--device auto] [--max-hours 1] [--commit]

``--commit`` commits each run's kept files (and the rebuilt grid report) as soon as the run is
done, so a finished task-seed never rides on the session that started it. Evaluation points
are log-spaced (1 000, 2 000, 4 000, 8 000, 10 000 steps) plus ``--extra-points`` (6 000, so
steps-to-random is not quantised to 0.4 / 0.8).

``advex report benchmarks/results/<name>`` rebuilds every table and plot from the kept files.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from pathlib import Path

from advex.analysis.grid_report import write_grid_report
from advex.engine.compare import run_compare
from advex.engine.experiment import ExperimentConfig
from advex.engine.results import RESULTS_FILE

#: The grid of the issue: every task under the task's own episode rules, and the two tasks
#: whose falls only show under ``free`` rules.
GRID: tuple[tuple[str, str], ...] = (
    ("InvertedPendulum-v5", "env"),
    ("Reacher-v5", "env"),
    ("HalfCheetah-v5", "env"),
    ("Hopper-v5", "env"),
    ("advex/ArenaRobot-v0", "env"),
    ("InvertedPendulum-v5", "free"),
    ("Hopper-v5", "free"),
)
STRATEGIES = (
    "random,adversarial-sf,adversarial-pw,disagreement,disagreement-pw,sb3-ppo,sb3-sac"
)
#: What the repository keeps of a run (no checkpoints, no coverage sets).
KEPT = (RESULTS_FILE, "results.csv", "config.json")


def run_name(task: str, episodes: str, seeds: list[int], label: str = "") -> str:
    """``<task>_<episodes>[_<label>]_s<seeds>``: a label keeps another strategy set's runs of
    the same task apart (they are another experiment in the report)."""
    middle = f"{episodes}_{label}" if label else episodes
    return f"{task.replace('/', '_')}_{middle}_s{'-'.join(str(s) for s in seeds)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="grid10k")
    parser.add_argument("--tasks", default=None, help="comma-separated subset of the grid's tasks")
    parser.add_argument("--episodes", default="env,free", help="episode rules to include")
    parser.add_argument("--strategies", default=STRATEGIES)
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--round", type=int, default=1000)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--max-hours", type=float, default=None, help="per task, see compare")
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--trust-run-folder", action="store_true")
    parser.add_argument("--extra-points", default="6000", help="env steps also evaluated")
    parser.add_argument("--fit-seeds", type=int, default=3)
    parser.add_argument("--commit", action="store_true", help="git-commit each finished run")
    parser.add_argument("--label", default="",
                        help="name part that keeps another strategy set's runs apart")
    parser.add_argument(
        "--results", type=Path, default=None,
        help="where the kept files go (default: benchmarks/results/<name> of this checkout). "
        "A long grid runs from a second worktree pinned at one commit, so every seed of a "
        "task runs the same code while work goes on in the first, and keeps its files there",
    )
    args = parser.parse_args()

    tasks = args.tasks.split(",") if args.tasks else None
    rules = args.episodes.split(",")
    grid = [(t, e) for t, e in GRID if (tasks is None or t in tasks) and e in rules]
    configs = {
        (task, episodes): ExperimentConfig(  # every config is checked before any run starts
            task=task,
            episodes=episodes,
            strategies=args.strategies.split(","),
            seeds=[int(s) for s in args.seeds.split(",")],
            steps=args.steps,
            round_steps=args.round,
            evaluation={"points": "log", "fit_seeds": args.fit_seeds,
                        "extra_points": [int(p) for p in args.extra_points.split(",") if p]},
        )
        for task, episodes in grid
    }
    kept_root = args.results or Path(__file__).parent / "results" / args.name
    for (task, episodes), cfg in configs.items():
        name = run_name(task, episodes, cfg.seeds, args.label)
        kept = kept_root / name
        if (kept / RESULTS_FILE).is_file():
            print(f"{name}: done before, kept in {kept}")
            continue
        out = args.runs / args.name / name
        print(f"{name}: running into {out}", flush=True)
        started = time.perf_counter()
        run_compare(cfg, out, resume=(out / "config.json").exists(), workers=args.workers,
                    device=args.device, max_hours=args.max_hours,
                    trust_run_folder=args.trust_run_folder, progress=False)
        hours = (time.perf_counter() - started) / 3600
        kept.mkdir(parents=True, exist_ok=True)
        for file in KEPT:
            shutil.copy2(out / file, kept / file)
        print(write_grid_report([kept_root], kept_root), flush=True)
        print(f"{name}: {hours:.2f} h wall; kept in {kept}", flush=True)
        if args.commit:
            commit(kept_root, f"benchmarks/results/{args.name}: {name} ({hours:.2f} h wall)")


def commit(folder: Path, message: str, tries: int = 30) -> None:
    """``git add`` + ``git commit`` of ``folder`` only, in the repository that holds it (other
    changes in that work tree stay as they are); retried while another git command holds the
    index lock."""
    git = ["git", "-C", str(folder.resolve().parent)]
    for _ in range(tries):
        added = subprocess.run([*git, "add", str(folder.resolve())], capture_output=True,
                               text=True)
        done = added.returncode == 0 and subprocess.run(
            [*git, "commit", "-q", "-m", message, "--", str(folder.resolve())],
            capture_output=True, text=True).returncode == 0
        if done:
            print(f"committed: {message}", flush=True)
            return
        time.sleep(10)
    print(f"could not commit {folder}; commit it by hand", flush=True)


if __name__ == "__main__":
    main()
