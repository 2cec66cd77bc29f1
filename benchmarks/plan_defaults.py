"""Per-task planner defaults, chosen by measurement on the true simulator.

For every built-in task, ``advex plan --model sim`` (CEM) runs one episode (capped at
``MEASURED_STEPS`` steps where a full episode of simulator MPC would take many minutes) under
each candidate setting, and the table prints the env's return and the planning time per
action. The task's default (``TaskSpec.planner``) is the cheapest setting within 10 % of the
best return measured for that task (``advex.envs.PlannerDefaults``); the slow tests
(``tests/engine/test_plan_defaults.py``) check that the defaults keep reaching it.

    python benchmarks/plan_defaults.py [--tasks InvertedPendulum-v5,Reacher-v5]
"""

from __future__ import annotations

import argparse

from harness import pin_threads

from advex.engine.planning import PlanConfig, run_planning
from advex.envs import BUILT_IN_TASKS

#: Candidate (horizon, candidates, iterations) settings, cheapest first within a horizon.
SETTINGS: tuple[tuple[int, int, int], ...] = (
    (15, 200, 3), (10, 100, 3), (25, 60, 3), (30, 100, 3),
)
#: Steps per measured episode (None: the task's time limit). A 1 000-step episode of
#: HalfCheetah's or Hopper's simulator MPC takes about 14 minutes on this machine.
MEASURED_STEPS: dict[str, int | None] = {
    "InvertedPendulum-v5": None,
    "Reacher-v5": None,
    "HalfCheetah-v5": 200,
    "Hopper-v5": 200,
    "Pusher-v5": None,
    "advex/ArenaRobot-v0": None,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tasks", default=",".join(BUILT_IN_TASKS))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", default=None,
                        help="H/C/I,H/C/I,... instead of the built-in list, e.g. 25/60/3")
    args = parser.parse_args()
    settings = SETTINGS if args.settings is None else tuple(
        tuple(int(x) for x in item.split("/")) for item in args.settings.split(","))
    pin_threads()
    print("| task | steps | horizon | candidates | iterations | return | ms per action |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for task in args.tasks.split(","):
        for horizon, candidates, iterations in settings:
            config = PlanConfig(task=task, horizon=horizon, candidates=candidates,
                                iterations=iterations, episodes=1,
                                max_steps=MEASURED_STEPS.get(task), seed=args.seed)
            row = run_planning(config, progress=False).iloc[0]
            print(f"| {task} | {row['steps']} | {horizon} | {candidates} | {iterations} | "
                  f"{row['return']:.1f} | {row['ms_per_action']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
