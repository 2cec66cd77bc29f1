"""Evaluation fits: how a strategy's data is scored, apart from the model the adversary plays.

Why: the online model is warm-started round after round and capped at a few epochs, so its
held-out error mixes the data's quality with how far its optimisation happened to get (a
refit of the same buffer moved ``mse_1step`` by as much as the gaps between strategies). At
each evaluation point the strategy's buffer is therefore fitted afresh, ``F`` times (fit
seeds), each to convergence, and the score is their mean with their spread beside it.

The evaluation model is not the online model (``EvaluationConfig.model``, default a
deterministic ``mlp`` of 128 x 3 trained with the MSE of the normalised delta, the loss the
yardstick scores). The online ensemble is what the adversary plays against; its NLL loss
makes a fit slow to converge (on Reacher-v5 every 5-member NLL fit reached a 1000-epoch cap,
while the MLP converged in 172-302 epochs, 18-21x cheaper, with less fit noise), and a score
from an unconverged fit measures how far the optimiser got, not the data.

Convergence rule (:class:`EvaluationConfig`): Adam on the buffer's fixed training split,
early stopping on its fixed validation split (``ReplayBuffer.split``): a fit stops after
``patience_steps`` gradient steps (at least ``patience`` epochs) without a relative validation
improvement of at least ``min_rel_improvement``, and its best epoch's weights are restored.
``max_steps`` and ``max_epochs`` are caps that a converged protocol should rarely reach; every
evaluation reports ``fit_capped_frac``, the share of its fits that reached one.

Fit seeds depend only on ``(run seed, f)``: every strategy and every evaluation point of a run
seed uses the same ``F`` initialisations and training seeds (common random numbers), so the
differences between strategies and along a curve are not re-drawn fit noise. Ensembles train
their ``F`` fits together as one :class:`~advex.models.stacked.StackedEnsemble`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from advex.config import dataclass_from_dict
from advex.engine.coverage_set import CoverageSet
from advex.engine.metrics import UNCERTAINTY_METRICS, SupportBox, evaluate_model
from advex.models import EnsembleConfig, TrainConfig, TransitionModel, make_model
from advex.models.factory import config_from_dict
from advex.models.stacked import StackedEnsemble
from advex.seeding import derive_seed

#: How the evaluation points are chosen.
POINT_RULES: tuple[str, ...] = ("every", "log")
#: Hidden layers of the default evaluation MLP.
EVALUATION_MLP_SIZES: tuple[int, ...] = (128, 128, 128)


@dataclass(frozen=True)
class EvaluationConfig:
    """How each evaluation point scores a buffer (see the module docstring).

    fit_seeds: ``F`` fresh fits per point. points: ``"every"`` round, or ``"log"``: after
    rounds 1, 2, 4, 8, ... and the last; ``extra_points``: env-step counts scored as well (the
    round that reaches each). model / model_config: the evaluation model's kind and
    architecture (:func:`advex.models.make_model`; independent of the online model); an
    ``"mlp"`` model_config without ``hidden_sizes`` gets :data:`EVALUATION_MLP_SIZES`.

    The stopping rule (measured: ``benchmarks/stopping_rule.py``, docs/benchmarks.md): a fit
    stops after ``patience_steps`` gradient steps (at least ``patience`` epochs) without a
    relative validation improvement of ``min_rel_improvement``, and is capped at
    ``max_steps`` gradient steps or ``max_epochs`` epochs. Patience counts gradient steps, not
    epochs, so a 1 000-row buffer (4 steps an epoch) is not stopped 9x sooner in optimisation
    than a 10 000-row one. lr / batch_size / weight_decay / val_fraction: the optimiser and
    split (the online fit's defaults).
    """

    fit_seeds: int = 3
    points: str = "every"
    model: str = "mlp"
    model_config: dict[str, Any] = field(
        default_factory=lambda: {"hidden_sizes": list(EVALUATION_MLP_SIZES)}
    )
    extra_points: list[int] = field(default_factory=list)
    max_epochs: int = 10_000
    max_steps: int | None = 40_000
    patience: int = 20
    patience_steps: int = 1500
    min_rel_improvement: float = 1e-3
    lr: float = 1e-3
    batch_size: int = 256
    weight_decay: float = 1e-5
    val_fraction: float = 0.1
    #: Where the fits train (:func:`advex.device.resolve_device`); the fitted models come back
    #: to the CPU for scoring. Comparisons set it from ``--device``, not from config.json.
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.model == "mlp" and "hidden_sizes" not in self.model_config:
            # An MLP model_config naming other fields only ({"angle_obs": [1]}) keeps the
            # evaluation's hidden sizes, instead of silently falling back to the model
            # class's own (a 200 x 4 MLP, another yardstick).
            object.__setattr__(self, "model_config", {
                "hidden_sizes": list(EVALUATION_MLP_SIZES), **self.model_config})
        if self.points not in POINT_RULES:
            raise ValueError(
                f"unknown evaluation points {self.points!r}; valid: {', '.join(POINT_RULES)}"
            )
        if self.fit_seeds < 1:
            raise ValueError(f"evaluation fit_seeds must be >= 1, got {self.fit_seeds}")
        if self.patience_steps < 0:
            raise ValueError(f"evaluation patience_steps must be >= 0, got {self.patience_steps}")
        if any(not isinstance(p, int) or p < 1 for p in self.extra_points):
            raise ValueError(
                f"evaluation extra_points must be env-step counts >= 1, got {self.extra_points}"
            )
        config_from_dict(self.model, {**self.model_config, "seed": 0})  # kind and fields
        self.train_config()  # TrainConfig validates the rest, before any work

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> EvaluationConfig:
        return dataclass_from_dict(cls, values, "evaluation")

    def train_config(self, n_rows: int = 0) -> TrainConfig:
        """The fit's settings for a buffer of ``n_rows`` rows: ``patience_steps`` becomes
        epochs of that buffer's training split (at least ``patience``)."""
        patience = max(self.patience, math.ceil(self.patience_steps / self.steps_per_epoch(n_rows)))
        return TrainConfig(
            lr=self.lr,
            weight_decay=self.weight_decay,
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            max_train_steps=self.max_steps,
            patience=patience,
            val_fraction=self.val_fraction,
            min_rel_improvement=self.min_rel_improvement,
            device=self.device,
        )

    def train_rows(self, n_rows: int) -> int:
        """Rows of an ``n_rows`` buffer a fit trains on: all but the ``val_fraction`` split
        (the hashed split keeps that share on average)."""
        return math.ceil(n_rows * (1.0 - self.val_fraction))

    def steps_per_epoch(self, n_rows: int) -> int:
        """Gradient steps of one epoch over an ``n_rows`` buffer's training split (>= 1)."""
        return max(1, math.ceil(self.train_rows(n_rows) / self.batch_size))

    def scores_uncertainty(self) -> bool:
        """Whether the evaluation model predicts a variance worth scoring (NLL,
        calibration): not the deterministic MLP, whose variance is one residual per dim."""
        return self.model != "mlp"

    def rounds(self, n_rounds: int, round_steps: int | None = None) -> list[int]:
        """0-based indices of the rounds after which to evaluate (always the last; with
        ``round_steps``, also the round that reaches each of ``extra_points``)."""
        if self.points == "every":
            return list(range(n_rounds))
        powers = {2**k - 1 for k in range(n_rounds.bit_length() + 1) if 2**k <= n_rounds}
        extra = set()
        if round_steps is not None:
            extra = {min(n_rounds, math.ceil(p / round_steps)) - 1 for p in self.extra_points}
        return sorted(powers | extra | {n_rounds - 1})


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
    train = config.train_config(len(data))
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
    data: Any,
    coverage: CoverageSet,
    config: EvaluationConfig,
    run_seed: int,
    *,
    contact_frac: float | None = None,
) -> dict[str, Score]:
    """Score ``data`` (a buffer or batch) the sound way: ``F`` converged fresh fits of
    ``config.model``, each scored on ``coverage`` with the data's own support box; plus the
    fit diagnostics and ``contact_frac``, the share of the data's rows labelled contact (a
    labelled buffer's own, or the one given)."""
    return evaluate_fits(data, coverage, config, run_seed, contact_frac=contact_frac)[0]


def evaluate_fits(
    data: Any,
    coverage: CoverageSet,
    config: EvaluationConfig,
    run_seed: int,
    *,
    contact_frac: float | None = None,
) -> tuple[dict[str, Score], FitReport]:
    """:func:`evaluate_data`, also returning the fits (a run keeps its last point's first fit
    for the report's rollout plots)."""
    batch = data.batch() if hasattr(data, "batch") else data
    report = fit_models(
        config.model, coverage.obs_dim, coverage.act_dim, config.model_config, data, config,
        run_seed,
    )
    support = SupportBox.of(batch.obs, batch.act)
    scores = {**score_models(report.models, coverage, support), **fit_diagnostics(report)}
    if not config.scores_uncertainty():  # a deterministic model's variance is no forecast
        scores = {k: v for k, v in scores.items() if k not in UNCERTAINTY_METRICS}
    if contact_frac is None and hasattr(data, "contact_frac"):
        contact_frac = data.contact_frac()
    if contact_frac is not None:
        scores["contact_frac"] = Score(contact_frac, math.nan, 1)
    return scores, report


def score_rows(scores: Mapping[str, Score]) -> list[dict[str, Any]]:
    """``metric, value, value_sd, n_fits`` dicts of ``scores`` (results rows lack the rest)."""
    return [{"metric": name, **asdict(score)} for name, score in scores.items()]


#: Prefix of the online model's metrics in results (``online_nll_1step``, ...).
ONLINE_PREFIX = "online_"


def online_uncertainty_scores(model: Any, coverage: CoverageSet) -> dict[str, Score]:
    """The online model's NLL and calibration on ``coverage``, named ``online_<metric>``.

    A deterministic evaluation model has no forecast variance to score, so a strategy that
    trains an online ensemble (the one the adversary plays against) reports that model's
    instead, labelled as what it is: a warm-started model with capped refits, not a
    converged fit. Strategies without an online model have no such rows."""
    metrics = evaluate_model(model, coverage, rollouts=False)  # only the uncertainty is kept
    return {
        f"{ONLINE_PREFIX}{name}": Score(metrics[name], math.nan, 1)
        for name in UNCERTAINTY_METRICS
        if name in metrics
    }
