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

``--per-seed`` makes each seed its own run (``..._s0``, ``..._s1``, ...), kept and committed as
it finishes, so a session's end costs at most the seed in progress. Started twice with the same
command, two processes share the work: a run folder the other process holds is skipped (its
lock, :mod:`advex.run_lock`), so each takes the next free seed. ``--stop-file F``: when ``F``
exists, stop before starting the next run (the one in progress finishes and is kept).

    python benchmarks/grid.py --name grid-v2 [--tasks InvertedPendulum-v5,Hopper-v5]
        [--seeds 0,1,2,3,4] [--steps 10000] [--device auto] [--max-hours 1] [--commit]
        [--per-seed] [--stop-file STOP]

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
from collections.abc import Callable
from pathlib import Path

from advex.analysis.grid_report import write_grid_report
from advex.engine.compare import run_compare
from advex.engine.experiment import ExperimentConfig
from advex.engine.results import RESULTS_FILE
from advex.run_lock import RunFolderBusyError

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
    parser.add_argument("--per-seed", action="store_true",
                        help="one run (and one commit) per seed; a second process shares the work")
    parser.add_argument("--stop-file", type=Path, default=None,
                        help="stop before the next run once this file exists")
    args = parser.parse_args()

    tasks = args.tasks.split(",") if args.tasks else None
    rules = args.episodes.split(",")
    try:
        planned = plan_runs(tasks, rules, [int(s) for s in args.seeds.split(",")],
                            args.per_seed, args.label)
    except ValueError as error:
        parser.error(str(error))
    runs = [
        (name, ExperimentConfig(  # every config is checked before any run starts
            task=task,
            episodes=episodes,
            strategies=args.strategies.split(","),
            seeds=seeds,
            steps=args.steps,
            round_steps=args.round,
            evaluation={"points": "log", "fit_seeds": args.fit_seeds,
                        "extra_points": [int(p) for p in args.extra_points.split(",") if p]},
        ))
        for task, episodes, seeds, name in planned
    ]
    kept_root = args.results or Path(__file__).parent / "results" / args.name

    def run(cfg: ExperimentConfig, out: Path) -> None:
        run_compare(cfg, out, resume=(out / "config.json").exists(), workers=args.workers,
                    device=args.device, max_hours=args.max_hours,
                    trust_run_folder=args.trust_run_folder, progress=False)

    def kept_hook(name: str, hours: float) -> None:
        if args.commit:
            commit(kept_root, f"benchmarks/results/{args.name}: {name} ({hours:.2f} h wall)")

    run_grid(runs, args.runs / args.name, kept_root, run, kept_hook, args.stop_file)


def plan_runs(
    tasks: list[str] | None, rules: list[str], seeds: list[int], per_seed: bool, label: str = ""
) -> list[tuple[str, str, list[int], str]]:
    """``(task, episodes, seeds, run name)`` of every run, in the grid's order: one run of all
    ``seeds`` per (task, rule), or with ``per_seed`` one run per seed. A task or rule the grid
    does not have is refused (a typo would otherwise run nothing and say nothing)."""
    known_tasks = {t for t, _ in GRID}
    known_rules = {e for _, e in GRID}
    for task in tasks or []:
        if task not in known_tasks:
            raise ValueError(f"--tasks: {task!r} is not in the grid; its tasks: "
                             f"{', '.join(sorted(known_tasks))}")
    for rule in rules:
        if rule not in known_rules:
            raise ValueError(f"--episodes: {rule!r} is not a rule of the grid; its rules: "
                             f"{', '.join(sorted(known_rules))}")
    parts = [[seed] for seed in seeds] if per_seed else [seeds]
    planned = [
        (task, episodes, part, run_name(task, episodes, part, label))
        for task, episodes in GRID
        if (tasks is None or task in tasks) and episodes in rules
        for part in parts
    ]
    if not planned:
        raise ValueError(f"no run of the grid has these tasks and rules ({tasks}, {rules})")
    return planned


def run_grid(
    runs: list[tuple[str, ExperimentConfig]],
    runs_root: Path,
    kept_root: Path,
    run: Callable[[ExperimentConfig, Path], None],
    kept_hook: Callable[[str, float], None],
    stop_file: Path | None = None,
) -> list[str]:
    """Run each ``(name, cfg)`` into ``runs_root/name`` with ``run`` and keep its small files
    in ``kept_root/name`` (the grid report rebuilt after each), then call ``kept_hook(name,
    hours)``. Skips a run kept before and one whose folder another process holds; stops
    before the next run once ``stop_file`` exists. Returns the names this call kept."""
    done = []
    for name, cfg in runs:
        kept = kept_root / name
        if (kept / RESULTS_FILE).is_file():
            print(f"{name}: done before, kept in {kept}", flush=True)
            continue
        if stop_file is not None and stop_file.exists():
            print(f"{stop_file} exists: stopping before {name}", flush=True)
            break
        out = runs_root / name
        print(f"{name}: running into {out}", flush=True)
        started = time.perf_counter()
        try:
            run(cfg, out)
        except RunFolderBusyError as busy:
            print(f"{name}: skipped, {busy}", flush=True)
            continue
        hours = (time.perf_counter() - started) / 3600
        kept.mkdir(parents=True, exist_ok=True)
        for file in KEPT:
            shutil.copy2(out / file, kept / file)
        print(write_grid_report([kept_root], kept_root), flush=True)
        print(f"{name}: {hours:.2f} h wall; kept in {kept}", flush=True)
        kept_hook(name, hours)
        done.append(name)
    return done


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
