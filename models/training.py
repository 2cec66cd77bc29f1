"""The fit loop shared by every :class:`~advex.models.base.TransitionModel`.

Adam on minibatches, one minibatch per member (ensembles: each member's rows come from its own
bootstrap resample, all members in one batched step), early stopping on held-out validation MSE
with the best weights restored, and loud failure on NaN/inf. Warm start is the default: calling
``fit`` again continues from the current weights (the optimiser state starts fresh) after
refitting the normalisers on the new training data.

Determinism: shuffling and bootstrap draw from a ``torch.Generator`` seeded by ``seed``; weight
init is seeded by the model config. On CPU two runs with the same seeds and thread count give
bit-identical weights.

Groups: a model may stack ``G`` independent fits ("fit seeds") in one batched kernel
(:class:`~advex.models.stacked.StackedEnsemble`): ``model.group_sizes`` partitions its members,
``seed`` gives one training seed per group, and each group draws its own bootstrap rows and
minibatch order, stops early on its own validation score and gets its own best weights back.
Groups share nothing that changes their arithmetic (the loss is a sum over groups and Adam is
element-wise), so a group trains as it would alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from tqdm import tqdm

from advex.types import TransitionBatch, TransitionData

if TYPE_CHECKING:
    from advex.models.base import TransitionModel


@dataclass
class TrainConfig:
    """Optimisation settings for :func:`fit_model`.

    patience: epochs without a relative validation improvement of at least
    ``min_rel_improvement`` before stopping. val_fraction: share of rows held out (a
    ``ReplayBuffer`` splits with ``split(val_fraction, seed=split_seed)`` so a row's side never
    moves as the buffer grows). max_train_steps: optional cap on gradient steps per call.
    """

    lr: float = 1e-3
    weight_decay: float = 1e-5
    batch_size: int = 256
    max_epochs: int = 200
    patience: int = 10
    val_fraction: float = 0.1
    max_train_steps: int | None = None
    device: str = "cpu"
    split_seed: int = 0
    min_rel_improvement: float = 1e-4
    eval_chunk_size: int = 8192

    def __post_init__(self) -> None:
        checks = {
            "lr": self.lr > 0,
            "weight_decay": self.weight_decay >= 0,
            "batch_size": self.batch_size >= 1,
            "max_epochs": self.max_epochs >= 1,
            "patience": self.patience >= 1,
            "val_fraction": 0.0 <= self.val_fraction < 1.0,
            "max_train_steps": self.max_train_steps is None or self.max_train_steps >= 1,
            "min_rel_improvement": 0.0 <= self.min_rel_improvement < 1.0,
            "eval_chunk_size": self.eval_chunk_size >= 1,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ValueError(f"TrainConfig: invalid {values}")


@dataclass
class TrainHistory:
    """What one :func:`fit_model` call did.

    train_loss: per epoch, the mean training objective (MSE for the MLP; summed-over-members
    NLL + penalty for the ensemble). val_loss: per epoch, validation MSE of member means in
    normalised units, averaged over members (NaN when there was no validation data; then early
    stopping watches train_loss).
    best_epoch: 0-based index of the restored weights. For a model of ``G`` groups,
    ``group_best_epoch`` / ``group_epochs`` / ``group_stopped_early`` say the same per group
    (``best_epoch``/``epochs`` are then the latest over groups; ``stopped_early`` is True only
    if every group stopped on patience: a group that did not *reached the epoch cap*).
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    epochs: int = 0
    wall_s: float = 0.0
    steps: int = 0
    stopped_early: bool = False
    group_best_epoch: list[int] = field(default_factory=list)
    group_epochs: list[int] = field(default_factory=list)
    group_stopped_early: list[bool] = field(default_factory=list)


class TrainingDivergedError(RuntimeError):
    """A loss, gradient or parameter became NaN/inf during training.

    The model is restored to its state before the ``fit`` call. ``epoch`` is 0-based; ``term``
    is ``"loss"``, ``"gradient"``, ``"parameter"`` or ``"validation loss"``.
    """

    def __init__(self, epoch: int, term: str, detail: str = "") -> None:
        self.epoch = epoch
        self.term = term
        message = f"training diverged at epoch {epoch}: the {term} became non-finite (NaN/inf)"
        super().__init__(message + (f"; {detail}" if detail else ""))


def split_batch(
    batch: TransitionBatch, val_fraction: float, seed: int
) -> tuple[TransitionBatch, TransitionBatch | None]:
    """Seeded train/validation split of a batch. Row ``i`` goes to validation iff the ``i``-th
    uniform draw of ``default_rng(seed)`` is below ``val_fraction``; the draws form a stream,
    so a row's side depends only on ``(seed, i)``, as with ``ReplayBuffer.split``."""
    draws = np.random.default_rng(seed).random(len(batch))
    val_mask = draws < val_fraction
    train = _rows(batch, np.flatnonzero(~val_mask))
    return train, (_rows(batch, np.flatnonzero(val_mask)) if val_mask.any() else None)


def _rows(batch: TransitionBatch, idx: np.ndarray) -> TransitionBatch:
    return TransitionBatch(
        obs=batch.obs[idx],
        act=batch.act[idx],
        next_obs=batch.next_obs[idx],
        reward=batch.reward[idx],
        terminated=batch.terminated[idx],
        truncated=batch.truncated[idx],
    )


def _resolve_data(
    data: TransitionData | TransitionBatch, val: TransitionBatch | None, config: TrainConfig
) -> tuple[TransitionBatch, TransitionBatch | None]:
    if isinstance(data, TransitionBatch):
        if val is not None:
            return data, val
        return split_batch(data, config.val_fraction, config.split_seed)
    if isinstance(data, TransitionData):  # a ReplayBuffer, or any store like one
        if val is not None:
            return data.batch(None), val
        train_idx, val_idx = data.split(config.val_fraction, seed=config.split_seed)
        return data.batch(train_idx), (data.batch(val_idx) if len(val_idx) else None)
    raise TypeError(
        f"fit: data must be a ReplayBuffer or a TransitionBatch, got {type(data).__name__}"
    )


def _tensors(
    model: TransitionModel, batch: TransitionBatch, what: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shape- and scale-check a batch against the model (non-finite values are left to
    divergence detection, which names them)."""
    for name, dim in (("obs", model.obs_dim), ("act", model.act_dim), ("next_obs", model.obs_dim)):
        arr = getattr(batch, name)
        if arr.ndim != 2 or arr.shape[1] != dim:
            raise ValueError(f"fit: {what} {name} has shape {arr.shape}, expected N x {dim}")
        finite = np.abs(arr[np.isfinite(arr)], dtype=np.float64)
        if finite.size and finite.max() > MAX_ABS_VALUE:
            col = int(np.argmax(np.where(np.isfinite(arr), np.abs(arr), 0).max(axis=0)))
            raise ValueError(
                f"fit: {what} {name} holds values up to {finite.max():.3g} (column {col}); "
                f"beyond {MAX_ABS_VALUE:.0e} float32 statistics overflow and training is "
                "meaningless: rescale the data"
            )
    return batch.tensors(device)


#: Largest magnitude fit accepts in the data: squares of larger values overflow float32
#: (max 3.4e38) when the normalisers compute variances.
MAX_ABS_VALUE = 1e15


def _non_finite_note(batch: TransitionBatch, what: str) -> str:
    counts = {
        name: int((~np.isfinite(getattr(batch, name))).sum()) for name in ("obs", "act", "next_obs")
    }
    bad = ", ".join(f"{n} in {name}" for name, n in counts.items() if n)
    return f"the {what} holds non-finite values ({bad})" if bad else ""


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    if not tensors:
        return True
    return bool(torch.isfinite(torch.nn.utils.get_total_norm(tensors)))


def _clone_state(model: TransitionModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fused_adam(params: Iterable[torch.nn.Parameter], lr: float, weight_decay: float = 0.0
               ) -> torch.optim.Adam:
    """Adam with torch's fused kernel where it has one for these tensors (float parameters on
    the CPU or a CUDA GPU), else the default implementation.

    Same update rule; the fused kernel makes one pass over each parameter instead of about
    ten elementwise ops. On the 7-member 4 x 200 ensemble's 0.9 M parameters it takes 1.4 ms
    a step on a CPU core against 8 ms (`benchmarks/models.py`), about a tenth of a training
    step.
    """
    params = list(params)  # a generator would be used up by the check below
    fused = bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.dtype in (torch.float32, torch.float64)
        for p in params
    )
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


def fit_model(
    model: TransitionModel,
    data: TransitionData | TransitionBatch,
    config: TrainConfig | None = None,
    *,
    seed: int | Sequence[int] = 0,
    progress: bool = True,
    val: TransitionBatch | None = None,
) -> TrainHistory:
    """Train ``model`` in place on ``data`` (``ReplayBuffer`` or ``TransitionBatch``).

    Validation data: ``val`` if given, else the buffer's ``split`` / a seeded split of the
    batch. ``seed``: the training seed, or one per group for a model of several groups.
    Raises ``TrainingDivergedError`` (model restored to its pre-call state) on NaN/inf.
    """
    group_sizes = tuple(model.group_sizes)
    seeds = [int(seed)] if isinstance(seed, int | np.integer) else [int(s) for s in seed]
    if len(seeds) != len(group_sizes):
        raise ValueError(
            f"fit: {len(seeds)} training seed(s) for a model of {len(group_sizes)} group(s)"
        )
    config = config if config is not None else TrainConfig()
    started = time.perf_counter()
    train_batch, val_batch = _resolve_data(data, val, config)
    if len(train_batch) == 0:
        raise ValueError("fit: no training rows (empty data, or every row went to validation)")
    if val_batch is None and len(group_sizes) > 1:
        # Without held-out rows the only score is the summed training loss of all groups,
        # which would stop them together: not independent fits.
        raise ValueError(
            f"fit: a model of {len(group_sizes)} groups needs validation rows to stop each "
            "group on its own score (val_fraction > 0 and enough rows)"
        )
    device = torch.device(config.device)
    model.to(device)
    train = _tensors(model, train_batch, "training data", device)
    held_out = _tensors(model, val_batch, "validation data", device) if val_batch else None

    before = _clone_state(model)
    try:
        history = _train(model, train, held_out, config, seeds, progress, train_batch, val_batch)
    except TrainingDivergedError:
        model.load_state_dict(before)
        raise
    history.wall_s = time.perf_counter() - started
    return history


@dataclass
class _GroupProgress:
    """Early-stopping state of one group: best score, its weights, epochs since."""

    best_score: float = math.inf
    best_state: dict[str, torch.Tensor] | None = None
    best_epoch: int = -1
    since_best: int = 0
    epochs: int = 0
    stopped: bool = False

    def observe(self, epoch: int, score: float, config: TrainConfig, model: Any) -> None:
        """Record this epoch's score; keep the weights when it improves enough."""
        self.epochs = epoch + 1
        # Relative to |best| so a negative score (ensemble NLL without validation) works too.
        threshold = self.best_score - config.min_rel_improvement * abs(self.best_score)
        if self.best_score == math.inf or score < threshold:
            self.best_score, self.best_state = score, _clone_state(model)
            self.best_epoch, self.since_best = epoch, 0
        else:
            self.since_best += 1
            self.stopped = self.since_best >= config.patience


def _train(
    model: TransitionModel,
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    held_out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    config: TrainConfig,
    seeds: list[int],
    progress: bool,
    train_batch: TransitionBatch,
    val_batch: TransitionBatch | None,
) -> TrainHistory:
    obs, act, next_obs = train
    device = obs.device
    model.fit_normalizers(obs, act, next_obs)
    # The normalisers are fixed for the fit: normalise every row once, not every minibatch.
    with torch.no_grad():
        inputs = model.normalized_inputs(obs, act)  # N x I
        targets = model.normalized_targets(obs, next_obs)  # N x O

    def diverged(epoch: int, term: str) -> TrainingDivergedError:
        notes = [_non_finite_note(train_batch, "training data")]
        if val_batch is not None:
            notes.append(_non_finite_note(val_batch, "validation data"))
        return TrainingDivergedError(epoch, term, "; ".join(n for n in notes if n))

    sizes = list(model.group_sizes)
    bounds = np.cumsum([0, *sizes])
    generators = [torch.Generator().manual_seed(s) for s in seeds]
    n = obs.shape[0]
    if model.bootstrap:
        member_rows = torch.cat(
            [torch.randint(n, (m, n), generator=g) for m, g in zip(sizes, generators, strict=True)]
        )
    else:
        member_rows = torch.arange(n).expand(model.num_members, n)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = fused_adam(params, lr=config.lr, weight_decay=config.weight_decay)

    history = TrainHistory()
    groups = [_GroupProgress() for _ in sizes]
    bar = tqdm(
        range(config.max_epochs), desc=f"fit {model.kind}", disable=not progress, leave=False
    )
    for epoch in bar:
        model.train()
        # Each member visits its own rows in its own random order: M x N indices.
        perm = torch.cat(
            [
                torch.argsort(torch.rand(m, n, generator=g), dim=1)
                for m, g in zip(sizes, generators, strict=True)
            ]
        )
        order = torch.gather(member_rows, 1, perm).to(device)
        # Kept on the device and read once per epoch: a host read per step would stall a GPU
        # (on the CPU it costs nothing either way). The loss sum is float64, as a Python float
        # sum would be, so the history is the same on every device.
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        grad_sum = torch.zeros((), device=device)
        rows_seen, capped = 0, False
        for start in range(0, n, config.batch_size):
            idx = order[:, start : start + config.batch_size]  # M x b
            loss = model.train_loss(inputs[idx], targets[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # One reduction over all gradients (a NaN/inf anywhere makes the sum non-finite,
            # and it stays so for the epoch): per-tensor isfinite checks cost more than a small
            # model's whole step.
            grad_sum += torch.stack([p.grad.sum() for p in params if p.grad is not None]).sum()
            optimizer.step()
            loss_sum += loss.detach().double() * idx.shape[1]
            rows_seen += idx.shape[1]
            history.steps += 1
            if config.max_train_steps is not None and history.steps >= config.max_train_steps:
                capped = True
                break
        # A non-finite step is found here, at the end of its epoch; ``fit_model`` then puts
        # the weights from before the fit back, so nothing it did survives.
        if not math.isfinite(float(loss_sum)):
            raise diverged(epoch, "loss")
        if not math.isfinite(float(grad_sum)):
            raise diverged(epoch, "gradient")
        if not _all_finite([p.detach() for p in params]):
            raise diverged(epoch, "parameter")
        model.eval()
        train_loss = float(loss_sum) / rows_seen
        val_loss = math.nan
        member_scores = None
        if held_out is not None:
            member_scores = model.validation_scores(*held_out, config.eval_chunk_size).mean(
                dim=-1
            )
            val_loss = float(member_scores.mean())
            if not math.isfinite(val_loss):
                raise diverged(epoch, "validation loss")
        history.train_loss.append(train_loss)
        history.val_loss.append(val_loss)
        history.epochs = epoch + 1
        for g, group in enumerate(groups):
            if group.stopped:
                continue  # trained on with the others (one kernel), but its best is kept
            if member_scores is not None:
                score = float(member_scores[bounds[g] : bounds[g + 1]].mean())
            else:
                score = train_loss
            group.observe(epoch, score, config, model)
        latest = max(groups, key=lambda group: group.best_epoch)
        bar.set_postfix(train=f"{train_loss:.4g}", val=f"{val_loss:.4g}", best=latest.best_epoch)
        if all(group.stopped for group in groups) or capped:
            break
    bar.close()

    history.group_best_epoch = [group.best_epoch for group in groups]
    history.group_epochs = [group.epochs for group in groups]
    history.group_stopped_early = [group.stopped for group in groups]
    history.best_epoch = max(history.group_best_epoch)
    history.stopped_early = all(history.group_stopped_early)
    states = [group.best_state for group in groups]
    model.load_state_dict(model.merge_group_states([s for s in states if s is not None]))
    score_data = held_out if held_out is not None else train
    model.after_fit(model.member_dim_mse(*score_data, config.eval_chunk_size))
    return history
