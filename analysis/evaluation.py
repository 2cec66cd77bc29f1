"""Evaluation fits: how a strategy's data is scored, apart from the model the adversary plays.

Why: the online model is warm-started round after round and capped at a few epochs, so its
held-out error mixes the data's quality with how far its optimisation happened to get (a
refit of the same buffer moved ``mse_1step`` by as much as the gaps between strategies). At
each evaluation point the strategy's buffer is therefore fitted afresh, ``F`` times (fit
seeds), each to convergence, and the score is their mean with their spread beside it.

Convergence rule (:class:`EvaluationConfig`): Adam on the buffer's fixed training split,
early stopping on its fixed validation split (``ReplayBuffer.split``): a fit stops after
``patience`` epochs without a relative validation improvement of at least
``min_rel_improvement``, and its best epoch's weights are restored. ``max_epochs`` is a cap
that a converged protocol should rarely reach; every evaluation reports ``fit_capped_frac``,
the share of its fits that reached it.

Fit seeds depend only on ``(run seed, f)``: every strategy and every evaluation point of a run
seed uses the same ``F`` initialisations and training seeds (common random numbers), so the
differences between strategies and along a curve are not re-drawn fit noise. Ensembles train
their ``F`` fits together as one :class:`~advex.models.stacked.StackedEnsemble`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from advex.analysis.coverage_set import CoverageSet
from advex.analysis.metrics import SupportBox, evaluate_model
from advex.config import dataclass_from_dict
from advex.models import EnsembleConfig, TrainConfig, TransitionModel, make_model
from advex.models.factory import config_from_dict
from advex.models.stacked import StackedEnsemble
from advex.seeding import derive_seed

#: How the evaluation points are chosen.
POINT_RULES: tuple[str, ...] = ("every", "log")


@dataclass(frozen=True)
class EvaluationConfig:
    """How each evaluation point scores a buffer (see the module docstring).

    fit_seeds: ``F`` fresh fits per point. points: ``"every"`` round, or ``"log"``: after
    rounds 1, 2, 4, 8, ... and the last. max_epochs / patience / min_rel_improvement: the
    stopping rule. lr / batch_size / weight_decay / val_fraction: the optimiser and split (the
    online fit's defaults).
    """

    fit_seeds: int = 3
    points: str = "every"
    max_epochs: int = 1000
    patience: int = 20
    min_rel_improvement: float = 0.01
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 1e-5
    val_fraction: float = 0.1
    #: Where the fits train (:func:`advex.device.resolve_device`); the fitted models come back
    #: to the CPU for scoring. Comparisons set it from ``--device``, not from config.json.
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.points not in POINT_RULES:
            raise ValueError(
                f"unknown evaluation points {self.points!r}; valid: {', '.join(POINT_RULES)}"
            )
        if self.fit_seeds < 1:
            raise ValueError(f"evaluation fit_seeds must be >= 1, got {self.fit_seeds}")
        self.train_config()  # TrainConfig validates the rest, before any work

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EvaluationConfig:
        return dataclass_from_dict(cls, values, "evaluation")

    def train_config(self) -> TrainConfig:
        return TrainConfig(
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            val_fraction=self.val_fraction,
            min_rel_improvement=self.min_rel_improvement,
            device=self.device,
        )

    def rounds(self, n_rounds: int) -> list[int]:
        """0-based indices of the rounds after which to evaluate (always the last)."""
        if self.points == "every":
            return list(range(n_rounds))
        powers = {2**k - 1 for k in range(n_rounds.bit_length() + 1) if 2**k <= n_rounds}
        return sorted(powers | {n_rounds - 1})


@dataclass
class FitReport:
    """``F`` fitted models and how each fit ended (lists of length ``F``)."""

    models: list[Any]
    epochs: list[int]
    best_epochs: list[int]
    capped: list[bool]


def fit_seeds(run_seed: int, n: int) -> list[tuple[int, int]]:
    """``n`` pairs ``(init seed, training seed)`` of run seed ``run_seed``."""
    return [
        (derive_seed(run_seed, "eval-init", f), derive_seed(run_seed, "eval-train", f))
        for f in range(n)
    ]


def fit_models(
    kind: str,
    obs_dim: int,
    act_dim: int,
    model_config: Mapping[str, Any],
    data: Any,
    config: EvaluationConfig,
    run_seed: int,
) -> FitReport:
    """Fit ``config.fit_seeds`` fresh models of ``kind`` on ``data`` (a ``ReplayBuffer`` or a
    ``TransitionBatch``), each to convergence; ensembles as one stacked kernel."""
    seeds = fit_seeds(run_seed, config.fit_seeds)
    train = config.train_config()
    configs = [config_from_dict(kind, {**model_config, "seed": init}) for init, _ in seeds]
    models: list[TransitionModel]
    if kind == "ensemble":
        ensembles = [c for c in configs if isinstance(c, EnsembleConfig)]
        stack = StackedEnsemble(obs_dim, act_dim, ensembles)
        history = stack.fit(data, train, seed=[s for _, s in seeds], progress=False)
        models = list(stack.unstack())
        epochs, best = history.group_epochs, history.group_best_epoch
        stopped = history.group_stopped_early
    else:
        models, epochs, best, stopped = [], [], [], []
        for model_config_f, (_, train_seed) in zip(configs, seeds, strict=True):
            model = make_model(kind, obs_dim, act_dim, model_config_f)
            history = model.fit(data, train, seed=train_seed, progress=False)
            models.append(model)
            epochs.append(history.epochs)
            best.append(history.best_epoch)
            stopped.append(history.stopped_early)
    return FitReport(
        models=[model.to("cpu") for model in models],  # scored on the CPU, wherever trained
        epochs=list(epochs),
        best_epochs=list(best),
        capped=[not s for s in stopped],
    )


@dataclass(frozen=True)
class Score:
    """One metric over ``n_fits`` fits: their mean and sample std (NaN for one fit)."""

    value: float
    value_sd: float
    n_fits: int


def _aggregate(values: list[float]) -> Score:
    array = np.asarray(values, dtype=np.float64)
    if np.all(np.isfinite(array)):
        sd = float(array.std(ddof=1)) if len(array) > 1 else math.nan
        return Score(float(array.mean()), sd, len(array))
    return Score(math.inf, math.nan, len(array))  # a diverged fit makes the score inf


def score_models(
    models: list[Any], coverage: CoverageSet, support: SupportBox | None
) -> dict[str, Score]:
    """Every held-out metric of every model, aggregated over the models; a metric some fit
    lacks (a rollout metric the set cannot score) is left out."""
    per_fit = [evaluate_model(model, coverage, support=support) for model in models]
    names = [name for name in per_fit[0] if all(name in m for m in per_fit)]
    return {name: _aggregate([m[name] for m in per_fit]) for name in names}


def fit_diagnostics(report: FitReport) -> dict[str, Score]:
    """``fit_epochs``, ``fit_best_epoch`` (mean, sd over fits) and ``fit_capped_frac``."""
    n = len(report.models)
    return {
        "fit_epochs": _aggregate([float(e) for e in report.epochs]),
        "fit_best_epoch": _aggregate([float(e) for e in report.best_epochs]),
        "fit_capped_frac": Score(float(np.mean(report.capped)), math.nan, n),
    }


def evaluate_data(
    kind: str,
    model_config: Mapping[str, Any],
    data: Any,
    coverage: CoverageSet,
    config: EvaluationConfig,
    run_seed: int,
) -> dict[str, Score]:
    """Score ``data`` (a buffer or batch) the sound way: ``F`` converged fresh fits, each
    scored on ``coverage`` with the data's own support box; plus the fit diagnostics."""
    return evaluate_fits(kind, model_config, data, coverage, config, run_seed)[0]


def evaluate_fits(
    kind: str,
    model_config: Mapping[str, Any],
    data: Any,
    coverage: CoverageSet,
    config: EvaluationConfig,
    run_seed: int,
) -> tuple[dict[str, Score], FitReport]:
    """:func:`evaluate_data`, also returning the fits (a run keeps its last point's first fit
    for the report's rollout plots)."""
    batch = data.batch() if hasattr(data, "batch") else data
    report = fit_models(
        kind, coverage.obs_dim, coverage.act_dim, model_config, data, config, run_seed
    )
    support = SupportBox.of(batch.obs, batch.act)
    return {**score_models(report.models, coverage, support), **fit_diagnostics(report)}, report


def score_rows(scores: Mapping[str, Score]) -> list[dict[str, Any]]:
    """``metric, value, value_sd, n_fits`` dicts of ``scores`` (results rows lack the rest)."""
    return [{"metric": name, **asdict(score)} for name, score in scores.items()]
