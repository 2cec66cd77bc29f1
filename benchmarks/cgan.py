"""The conditional GAN against the PETS ensemble (and an MLP) on a task's coverage set.

Same random data, same training rule (the evaluation protocol's stopping rule), each model
scored on the held-out coverage set: one-step MSE and NLL, overall and on the transitions
with contact (the arena's contact flag, observation 6, non-zero before or after the step),
where the dynamics fork. A coverage set without the SB3 pool keeps the run short (the
arena's policy would take minutes to train).

    MUJOCO_GL=egl python benchmarks/cgan.py [--task advex/ArenaRobot-v0] [--steps 5000]
        [--models mlp,ensemble,cgan] [--cgan-l2 0.1 0]
        [--fit-seeds 2] [--max-epochs 300]
"""

from __future__ import annotations

import argparse

import numpy as np
from harness import Stopwatch, pin_threads

from advex.engine.coverage import CoverageConfig, load_or_build_coverage
from advex.engine.metrics import evaluate_model, predict_batched
from advex.exploration.collect import collect
from advex.models import TrainConfig, make_model

MODELS = {
    "mlp": {"hidden_sizes": [200, 200, 200]},
    "ensemble": {"num_members": 5, "num_elites": 3, "hidden_sizes": [200, 200, 200]},
    "cgan": {"hidden_sizes": [200, 200, 200]},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="advex/ArenaRobot-v0")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--fit-seeds", type=int, default=2)
    parser.add_argument("--max-epochs", type=int, default=300)
    parser.add_argument("--patience", type=int, default=30)
    parser.add_argument("--models", default=",".join(MODELS), help="which of " + ",".join(MODELS))
    parser.add_argument("--cgan-l2", type=float, nargs="*", default=[],
                        help="extra cgan rows with these L2 weights (the default is 1.0)")
    args = parser.parse_args()
    models = {kind: MODELS[kind] for kind in args.models.split(",")}
    models.update({f"cgan-l2={w:g}": {**MODELS["cgan"], "l2_weight": w} for w in args.cgan_l2})
    pin_threads()
    data = collect(args.task, n_steps=args.steps, seed=0, progress=False)
    coverage = load_or_build_coverage(
        args.task, 0, CoverageConfig(n_sb3_steps=0, frac_sb3=0.0, frac_random=0.5),
        progress=False,
    )
    obs, act, next_obs = coverage.transitions()
    contact = (obs[:, 6] > 0) | (next_obs[:, 6] > 0) if args.task == "advex/ArenaRobot-v0" \
        else np.zeros(len(obs), bool)
    scale = coverage.delta_scale()
    print(f"{args.task}: {args.steps} random steps, coverage set of {len(obs)} transitions "
          f"({contact.mean():.1%} with contact), {args.fit_seeds} fit seeds")
    print(f"{'model':<14} {'mse_1step':>22} {'nll_1step':>22} {'mse on contact':>22} {'s':>6}")
    for name, config in models.items():
        kind = name.split("-l2=")[0]
        scores: dict[str, list[float]] = {"mse": [], "nll": [], "contact": []}
        clock = Stopwatch()
        for seed in range(args.fit_seeds):
            model = make_model(kind, data.obs_dim, data.act_dim, {**config, "seed": seed})
            model.fit(data, TrainConfig(max_epochs=args.max_epochs, patience=args.patience),
                      seed=seed, progress=False)
            metrics = evaluate_model(model, coverage)
            scores["mse"].append(metrics["mse_1step"])
            scores["nll"].append(metrics["nll_1step"])
            if contact.any():
                mean, _ = predict_batched(model, obs[contact], act[contact])
                err = np.square((mean - next_obs[contact]) / scale).mean()
                scores["contact"].append(float(err))
        cells = [f"{np.mean(v):.4g} +- {np.std(v):.2g}" if v else "-" for v in scores.values()]
        print(f"{name:<14} {cells[0]:>22} {cells[1]:>22} {cells[2]:>22} "
              f"{clock.seconds / args.fit_seeds:>6.0f}")


if __name__ == "__main__":
    main()
