"""Re-score finished runs with an evaluation model that sees angle observations as (sin, cos).

The evaluation fits are only the yardstick: no strategy's data depends on them. So a finished
comparison folder's final buffers can be scored again by a different evaluation model, and
each strategy's score compared with the one its run gave. This script does that for one change,
``angle_obs`` (:meth:`advex.models.base.TransitionModel.input_features`), on HalfCheetah-v5's
root pitch (``--angle-obs 1``; docs/benchmarks.md: its raw value makes the grid's whole-set
score a lottery over rare flips).

Per folder (one run seed) and job, at the last point:

* ``raw``: the run's kept final fit (``final_model.pt``, the point's first evaluation fit,
  for ``references`` the oracle's) scored on the seed's coverage set;
* ``angles``: fresh fits (``--fits F``, default 1) with the same data, the same fit seeds and
  the same settings (``config.json``'s evaluation), plus ``angle_obs``, scored the same way.

Fit 0 of each encoding uses the same seeds, data and settings; with no angle it reproduces
the kept fit exactly (tested). With an angle the first layer is one input wider per angle, so
the seeded initial weights differ too: a pair differs in the encoding *and* the fit's starting
point, and ``--fits`` measures how much the latter moves a score. It prints each fit's
``mse_1step`` (whole set, free, contact, median), each job's spread over its angle fits, and,
per task over the folders, each strategy's paired ratio to random from fit 0 (geometric mean
over seeds, bootstrap CI, as the grid's report). ``--jobs`` limits the jobs (``oracle`` for
the oracle reference); ``--out`` keeps the rows as CSV. Usage::

    python benchmarks/angle_rescore.py runs/grid-v2/HalfCheetah-v5_env_s{0,1,2} --angle-obs 1
    python benchmarks/angle_rescore.py --rows benchmarks/results/angle_rescore/HalfCheetah-v5.csv
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
from harness import pin_threads

from advex.analysis.statistics import paired_ratio
from advex.engine import run_files
from advex.engine.coverage_set import CoverageSet
from advex.engine.evaluation import fit_models, score_models
from advex.engine.experiment import ExperimentConfig
from advex.engine.metrics import SupportBox
from advex.engine.references import oracle_batch, run_oracle_rows
from advex.exploration.buffer import ReplayBuffer
from advex.types import TransitionBatch

METRICS = ("mse_1step", "mse_1step@free", "mse_1step@contact", "mse_1step_median")
ORACLE = "oracle"


def job_data(folder: Path, job: str, seed: int, oracle_budget: int
             ) -> ReplayBuffer | TransitionBatch | None:
    """The data a job's evaluation fits trained on at its last point, of the same type (a
    buffer's fit validates on its hashed split, a batch's on a seeded one): its final buffer,
    or for the oracle its rows of the oracle set (as the references job draws them)."""
    if job == ORACLE:
        path = folder / "coverage" / f"oracle_seed{seed}.npz"
        if not path.is_file():
            return None
        oracle = CoverageSet.load(path)
        return oracle_batch(oracle, run_oracle_rows(oracle, oracle_budget, seed))
    return run_files.final_buffer(folder, job, seed)


def folder_rows(folder: Path, angle_obs: list[int], fits: int = 1,
                jobs: list[str] | None = None) -> list[dict[str, object]]:
    """``raw`` (the kept fit) and ``angles`` (``fits`` fresh fits) rows of every job of
    ``folder`` (or of ``jobs``) with a kept final fit."""
    cfg = ExperimentConfig.from_dict(json.loads((folder / "config.json").read_text()))
    if len(cfg.seeds) != 1:
        raise SystemExit(f"{folder}: holds seeds {cfg.seeds}; give one folder per seed")
    seed = cfg.seeds[0]
    coverage = run_files.coverage_set(folder, seed)
    if coverage is None:
        raise SystemExit(f"{folder}: no coverage set for seed {seed}")
    evaluation = cfg.evaluation_config("cpu")
    angled = replace(evaluation, fit_seeds=fits,
                     model_config={**evaluation.model_config, "angle_obs": angle_obs})
    rows: list[dict[str, object]] = []
    for job in [j for j in [*cfg.strategies, ORACLE] if jobs is None or j in jobs]:
        kept = run_files.final_model(folder, run_files.REFERENCES_JOB if job == ORACLE else job,
                                      seed)
        data = job_data(folder, job, seed, cfg.steps)
        if kept is None or data is None:
            print(f"{folder.name}: {job} has no kept final fit or data, left out")
            continue
        batch = data.batch() if isinstance(data, ReplayBuffer) else data
        support = SupportBox.of(batch.obs, batch.act)
        report = fit_models(angled.model, coverage.obs_dim, coverage.act_dim,
                            angled.model_config, data, angled, seed)
        scored = [("raw", 0, kept)] + [("angles", f, m) for f, m in enumerate(report.models)]
        for encoding, fit, model in scored:
            scores = score_models([model], coverage, support)
            rows.append({"task": cfg.task, "folder": folder.name, "seed": seed,
                         "strategy": job, "encoding": encoding, "fit": fit,
                         **{m: scores[m].value for m in METRICS if m in scores}})
        angle_scores = ", ".join(f"{row['mse_1step']:.4f}" for row in rows[-fits:])
        print(f"{folder.name}: {job:16s} raw {rows[-len(scored)]['mse_1step']:8.4f}  angles "
              f"{angle_scores}", flush=True)
    return rows


def paired_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """Per task, encoding, strategy and metric, from each job's fit 0: the strategy's value
    over random's on the same seed, as the grid aggregates it
    (:func:`advex.analysis.statistics.paired_ratio`: geometric mean over seeds, percentile
    bootstrap 95 % CI). A (task, encoding, strategy, seed) given twice is refused."""
    first = table[table["fit"] == 0] if "fit" in table else table
    if "task" not in first:
        first = first.assign(task="")
    key = ["task", "encoding", "strategy", "seed"]
    if first.duplicated(key).any():
        twice = first[first.duplicated(key, keep=False)][key].drop_duplicates()
        raise SystemExit(f"rows given twice (one row per task, encoding, strategy, seed): "
                         f"{twice.to_dict('records')}")
    out = []
    for (task, encoding, strategy), rows in first.groupby(["task", "encoding", "strategy"]):
        random = first[(first.task == task) & (first.encoding == encoding)
                       & (first.strategy == "random")]
        for metric in (m for m in METRICS if m in first):
            estimate = paired_ratio(rows.set_index("seed")[metric],
                                    random.set_index("seed")[metric])
            out.append({"task": task, "encoding": encoding, "strategy": strategy,
                        "metric": metric, "seeds": int(estimate.per_seed.notna().sum()),
                        "ratio": estimate.value, "ci_low": estimate.ci_low,
                        "ci_high": estimate.ci_high})
    return pd.DataFrame(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="*", type=Path, help="comparison folders, one seed each")
    parser.add_argument("--angle-obs", type=int, nargs="+",
                        help="observation indices holding an angle (HalfCheetah-v5: 1)")
    parser.add_argument("--out", type=Path, help="CSV of every fit's scores")
    parser.add_argument("--fits", type=int, default=1,
                        help="angle fits per job (fit 0 is paired with the kept fit)")
    parser.add_argument("--jobs", nargs="+", help="only these jobs (strategies, oracle)")
    parser.add_argument("--rows", type=Path, nargs="+",
                        help="instead of fitting: summarise CSVs an earlier --out wrote")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1, as the grid's workers: more only spin on a "
                        "loaded machine)")
    args = parser.parse_args()
    if bool(args.rows) == bool(args.runs):
        raise SystemExit("give run folders (with --angle-obs) or --rows CSVs, not both")
    if args.runs and not args.angle_obs:
        raise SystemExit("--angle-obs is required with run folders")
    if args.fits < 1:
        raise SystemExit(f"--fits must be >= 1, got {args.fits}")
    for folder in args.runs:
        if not (folder / "config.json").is_file():
            raise SystemExit(f"{folder}: not a comparison folder (no config.json)")
    for path in args.rows or []:
        if not path.is_file():
            raise SystemExit(f"{path}: no such file")
    if args.rows:
        table = pd.concat([pd.read_csv(path) for path in args.rows], ignore_index=True)
    else:
        pin_threads(args.threads)
        table = pd.DataFrame([row for folder in args.runs
                              for row in folder_rows(folder, args.angle_obs, args.fits,
                                                     args.jobs)])
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(args.out, index=False)
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
        if "fit" in table and table["fit"].max() > 0:
            spread = table[table.encoding == "angles"].groupby(["folder", "strategy"])
            print("\nangle fits per job: mean, sd, min, max of mse_1step")
            print(spread["mse_1step"].agg(["count", "mean", "std", "min", "max"]).to_string(
                float_format=lambda x: f"{x:.4g}"))
        print("\npaired ratio to random, fit 0 (geometric mean over seeds [95 % bootstrap CI]):")
        ratios = paired_ratios(table)
        ratios["ratio"] = [f"{r:.3g} [{lo:.3g}, {hi:.3g}]" for r, lo, hi
                           in zip(ratios.ratio, ratios.ci_low, ratios.ci_high, strict=True)]
        print(ratios.pivot(index=["task", "encoding", "strategy"], columns="metric",
                           values="ratio")
              .to_string())


if __name__ == "__main__":
    main()
