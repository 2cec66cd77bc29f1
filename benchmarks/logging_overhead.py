"""What seeing the experiment costs: ``advex compare`` with and without its logging.

Two readings of the same runs (serial backend, so everything happens in this process):

* **instrumented share**: the seconds spent inside the logging calls (TensorBoard scalars,
  each job's ``rows.csv``, the kept final fit) over the run's wall time, with logging on;
* **A/B wall ratio**: TensorBoard on vs ``--no-tensorboard``, ``--repeats`` pairs in ABBA
  order, median of the paired ratios (noisy on a shared machine: other work on the cores
  during one side of a pair moves it; the share above is the precise one).

Target (issue "See the experiment"): logging adds at most 5 % to ``advex compare``'s wall time.

    python benchmarks/logging_overhead.py [--steps 1000 --round 250 --repeats 2]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness import Stopwatch, median_ratio

from advex.engine import experiment, run_log
from advex.engine.compare import run_compare
from advex.engine.experiment import ExperimentConfig

LOGGING_CALLS = (
    (run_log.RunLog, "online_fit"),
    (run_log.RunLog, "scalars"),
    (run_log.RunLog, "flush"),
    (run_log.RunLog, "close"),
    (run_log.RunLog, "__init__"),
    (experiment, "write_job_rows"),
    (experiment, "save_final_model"),
)


def instrument(spent: list[float]) -> None:
    """Wrap every logging call so its seconds add up in ``spent[0]``."""
    for owner, name in LOGGING_CALLS:
        original = getattr(owner, name)

        def timed(*args: Any, _original: Callable[..., Any] = original, **kw: Any) -> Any:
            start = time.perf_counter()
            try:
                return _original(*args, **kw)
            finally:
                spent[0] += time.perf_counter() - start

        setattr(owner, name, timed)


def one_run(cfg: ExperimentConfig, tensorboard: bool) -> float:
    with tempfile.TemporaryDirectory() as folder:
        with Stopwatch() as clock:
            run_compare(cfg, Path(folder) / "cmp", backend="serial", progress=False,
                        tensorboard=tensorboard, device="cpu")
        return clock.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="InvertedPendulum-v5")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--round", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    cfg = ExperimentConfig(task=args.task, steps=args.steps, round_steps=args.round)
    one_run(cfg, False)  # warm-up: the coverage set is built and cached here
    spent = [0.0]
    instrument(spent)
    ratios, on_times, off_times, shares = [], [], [], []
    for repeat in range(args.repeats):
        if repeat % 2:  # ABBA: a machine that slows or speeds up over time favours neither
            off = one_run(cfg, False)
        spent[0] = 0.0
        on = one_run(cfg, True)
        shares.append(spent[0] / on)
        if not repeat % 2:
            off = one_run(cfg, False)
        on_times.append(on)
        off_times.append(off)
        ratios.append(on / off)
        print(f"on {on:.1f} s (logging calls {spent[0]:.2f} s), off {off:.1f} s, "
              f"ratio {on / off:.3f}", flush=True)
    print(f"\n{args.task}, {args.steps} steps in rounds of {args.round}, default strategies, "
          f"serial, {args.repeats} pairs")
    print(f"instrumented share of wall time in logging calls: median "
          f"{100 * statistics.median(shares):.2f} % (max {100 * max(shares):.2f} %)")
    print(f"A/B wall ratio tensorboard on/off: median {median_ratio(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}); target <= 1.05")


if __name__ == "__main__":
    main()
