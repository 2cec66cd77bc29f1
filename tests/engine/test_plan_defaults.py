"""``advex plan --model sim`` with every default works on every built-in task: the planner
defaults stored with each task (``TaskSpec.planner``) reach at least 90 % of the way from a
random policy's return to the best return measured for that task (docs/benchmarks.md,
"Planner defaults"). Slow: one simulator-MPC episode per task (minutes each)."""

from __future__ import annotations

import pytest

from advex.engine.planning import PlanConfig, run_planning

#: task -> (steps measured, a uniform random policy's return, the best return measured with
#: the simulator) over one episode of that many steps (None: the time limit), seed 0
#: (benchmarks/plan_defaults.py; docs/benchmarks.md, "Planner defaults").
MEASURED = {
    "InvertedPendulum-v5": (None, 4.0, 1000.0),
    "Reacher-v5": (None, -45.3, -4.1),
    "Pusher-v5": (None, -153.5, -52.5),
    "advex/ArenaRobot-v0": (None, -448.1, -102.8),
    "HalfCheetah-v5": (200, -63.3, 1252.8),
    "Hopper-v5": (200, 18.4, 367.9),
}


@pytest.mark.slow
@pytest.mark.parametrize("task", list(MEASURED))
def test_sim_planning_with_defaults_reaches_90_percent_of_the_best(task: str) -> None:
    steps, random_return, best = MEASURED[task]
    frame = run_planning(PlanConfig(task=task, episodes=1, max_steps=steps), progress=False)
    achieved = float(frame["return"].iloc[0])
    assert achieved >= random_return + 0.9 * (best - random_return), achieved
