"""A comparison small enough for the default suite (seconds): tiny models, a tiny coverage
set, 300 steps in rounds of 100. Shared by the engine's and the reports' tests."""

from __future__ import annotations

from advex.engine.experiment import ExperimentConfig

TINY = {
    "model_config": {"num_members": 3, "num_elites": 2, "hidden_sizes": [32, 32]},
    "train": {"max_epochs": 5, "patience": 2},
    "evaluation": {"fit_seeds": 2, "max_epochs": 6, "patience": 2},
    "coverage": {
        "n_starts": 60,
        "n_sb3_steps": 0,
        "frac_sb3": 0.0,
        "frac_random": 0.5,
        "n_random_rollout_steps": 400,
        "n_bang_bang_steps": 200,
    },
}
STRATEGIES = ["random", "adversarial-sf", "adversarial-pw", "disagreement"]


def tiny_config(**kw: object) -> ExperimentConfig:
    base = dict(
        task="InvertedPendulum-v5",
        strategies=STRATEGIES,
        seeds=[0],
        steps=300,
        round_steps=100,
        **TINY,
    )
    base.update(kw)
    return ExperimentConfig(**base)  # type: ignore[arg-type]
