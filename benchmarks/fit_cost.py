"""How much of a grid run's wall time its evaluation fits take, and what the fits cost at least.

A yardstick-v2 run scores every strategy's buffer at each evaluation point with ``F`` fresh
fits, each trained to convergence (``advex.engine.evaluation``). This script reads finished
run folders (``results.csv``: each point's mean ``fit_epochs`` and ``n_fits``, each job's
``wall_s``) and prints, per job:

* ``grad_steps``: the fits' gradient steps, ``sum over points of epochs x F x steps an epoch``
  (:meth:`EvaluationConfig.steps_per_epoch`, from the training split the fit itself uses);
* ``tflop``: their floating-point work, ``6 x MACs per row x train rows`` an epoch (forward 2,
  backward 4; the MLP's MACs per row from the task's dimensions and the hidden sizes);
* ``wall_s`` and ``gflop_s``: the job's wall time and the rate its fits would have run at had
  they taken all of it (a lower bound on the fits' real rate; the ``oracle`` job does nothing
  but fit, so its rate is the fits' own).

The last line is the floor the fits set: a seed's total fit work at the fastest job's rate on
the machine's cores. Usage::

    python benchmarks/fit_cost.py runs/grid-v2/Reacher-v5_env_s3 [more run folders]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from advex.engine.evaluation import EvaluationConfig
from advex.envs import get_task
from advex.models.factory import config_from_dict


def macs_per_row(obs_dim: int, act_dim: int, hidden: list[int], angles: int = 0) -> int:
    """Multiply-adds of one forward pass of an MLP ``[s, a] -> delta s`` for one row (each of
    ``angles`` angle observations is one input more: it enters as sin and cos)."""
    sizes = [obs_dim + act_dim + angles, *hidden, obs_dim]
    return sum(a * b for a, b in zip(sizes, sizes[1:], strict=False))


def fit_work(folder: Path) -> pd.DataFrame:
    """One row per job of a run folder: gradient steps, TFLOP and wall time of its fits."""
    config = json.loads((folder / "config.json").read_text())
    evaluation = EvaluationConfig.from_dict(config.get("evaluation", {}))
    if evaluation.model != "mlp":
        raise SystemExit(f"{folder}: the evaluation model is {evaluation.model!r}; this script "
                         "counts the work of the default 'mlp' only")
    task = get_task(config["task"])
    model = config_from_dict(evaluation.model, {**evaluation.model_config, "seed": 0})
    macs = macs_per_row(task.obs_dim, task.act_dim, list(model.hidden_sizes),
                        len(getattr(model, "angle_obs", ())))
    results = pd.read_csv(folder / "results.csv")
    rows = []
    for strategy, points in results[results.metric == "fit_epochs"].groupby("strategy"):
        steps = flops = 0.0
        for point in points.itertuples():
            steps += point.value * point.n_fits * evaluation.steps_per_epoch(point.env_steps)
            flops += point.value * point.n_fits * 6 * macs * evaluation.train_rows(point.env_steps)
        wall = float(results[results.strategy == strategy].wall_s.max())
        rows.append({"job": strategy, "grad_steps": int(steps), "tflop": flops / 1e12,
                     "wall_s": wall, "gflop_s": flops / 1e9 / wall})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="finished run folders")
    parser.add_argument("--cores", type=int, default=2, help="cores the floor may use")
    args = parser.parse_args()
    for folder in args.folders:
        if not (folder / "results.csv").is_file():
            raise SystemExit(f"{folder}: no results.csv (not a finished run folder)")
    for folder in args.folders:
        table = fit_work(folder)
        rate = table.gflop_s.max()
        floor_s = table.tflop.sum() * 1e3 / rate / args.cores
        print(f"{folder}")
        print(table.round(2).to_string(index=False))
        print(f"jobs' wall time {table.wall_s.sum():.0f} s; fits {table.tflop.sum():.1f} TFLOP, "
              f"{table.grad_steps.sum() / 1e6:.2f} M gradient steps; at the fastest job's "
              f"{rate:.0f} GFLOP/s on {args.cores} cores the fits alone take >= {floor_s:.0f} s "
              f"a seed ({5 * floor_s / 60:.0f} min for 5 seeds)\n")


if __name__ == "__main__":
    main()
