"""Learned rewards and terminations for tasks without closed forms.

Planners score imagined transitions with the task's batched ``reward_fn(act, next_obs)`` and
``term_fn(act, next_obs)`` (:mod:`advex.envs.rewards`). A task derived from its env
(``Walker2d-v5``, a user's ``module:Id``) has none, so advex learns them from the rewards and
termination flags the buffer recorded, behind the same interface:

- :class:`RewardHead`: an MLP regressing ``r`` on ``[act, next_obs]`` (standardised inputs and
  target), mean-squared error;
- :class:`TerminationHead`: an MLP classifying ``terminated`` from ``[act, next_obs]``,
  binary cross-entropy with the positives up-weighted by ``negatives / positives`` (falls are
  rare in a buffer), thresholded at probability 0.5. A buffer with no termination gives a
  head that never terminates.

Both fit with Adam on minibatches and keep the weights of the best held-out epoch (a
hash split of the buffer's rows, :meth:`ReplayBuffer.split`). :func:`task_functions` returns
the closed forms where a task has them and learned heads otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from advex.envs import TaskSpec, check_dims, get_task
from advex.models.mlp_builder import build_mlp, uniform_init
from advex.models.normalizer import Normalizer
from advex.types import RewardFn, TermFn, TransitionData


@dataclass
class HeadConfig:
    """Size and training budget of a reward or termination head."""

    hidden_sizes: tuple[int, ...] = (128, 128)
    lr: float = 1e-3
    batch_size: int = 256
    epochs: int = 60
    #: stop after this many epochs without a better held-out loss
    patience: int = 8
    val_fraction: float = 0.2
    seed: int = 0

    def __post_init__(self) -> None:
        if not (self.hidden_sizes and all(h >= 1 for h in self.hidden_sizes)):
            raise ValueError(f"hidden_sizes must be positive ints, got {self.hidden_sizes}")
        if not (self.lr > 0 and self.batch_size >= 1 and self.epochs >= 1 and self.patience >= 1):
            raise ValueError("lr must be > 0; batch_size, epochs and patience >= 1")
        if not 0 < self.val_fraction < 1:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")


class _Head(nn.Module):
    """``[act, next_obs]`` (standardised) -> one number per row."""

    def __init__(self, obs_dim: int, act_dim: int, config: HeadConfig) -> None:
        super().__init__()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.input_normalizer = Normalizer(obs_dim + act_dim)
        generator = torch.Generator().manual_seed(config.seed)
        self.net = build_mlp(
            [obs_dim + act_dim, *config.hidden_sizes, 1], "silu", uniform_init(generator)
        )

    def raw(self, act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """``(act B x A, next_obs B x O) -> B`` output before the head's link function."""
        if act.shape[-1] != self.act_dim or next_obs.shape[-1] != self.obs_dim:
            raise ValueError(
                f"{type(self).__name__}: expected act ... x {self.act_dim} and next_obs ... x "
                f"{self.obs_dim}, got {tuple(act.shape)} and {tuple(next_obs.shape)}"
            )
        x = torch.cat([act, next_obs], dim=-1).to(self.input_normalizer.mean.dtype)
        return self.net(self.input_normalizer.normalize(x)).squeeze(-1)


class RewardHead(_Head):
    """A learned ``reward_fn``: ``(act B x A, next_obs B x O) -> B`` rewards."""

    target_mean: torch.Tensor
    target_std: torch.Tensor

    def __init__(self, obs_dim: int, act_dim: int, config: HeadConfig) -> None:
        super().__init__(obs_dim, act_dim, config)
        self.register_buffer("target_mean", torch.zeros(()))
        self.register_buffer("target_std", torch.ones(()))

    @torch.no_grad()
    def forward(self, act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return self.raw(act, next_obs) * self.target_std + self.target_mean


class TerminationHead(_Head):
    """A learned ``term_fn``: ``(act B x A, next_obs B x O) -> B`` bool (probability > 0.5)."""

    never: torch.Tensor

    def __init__(self, obs_dim: int, act_dim: int, config: HeadConfig) -> None:
        super().__init__(obs_dim, act_dim, config)
        #: set when the buffer held no termination: the head then never terminates
        self.register_buffer("never", torch.zeros((), dtype=torch.bool))

    @torch.no_grad()
    def probability(self, act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        if bool(self.never):
            return torch.zeros(next_obs.shape[:-1])
        return torch.sigmoid(self.raw(act, next_obs))

    def forward(self, act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        return self.probability(act, next_obs) > 0.5


def _tensors(buffer: TransitionData, rows: np.ndarray) -> tuple[torch.Tensor, ...]:
    batch = buffer.batch(rows)
    return (
        torch.as_tensor(batch.act),
        torch.as_tensor(batch.next_obs),
        torch.as_tensor(batch.reward),
        torch.as_tensor(batch.terminated, dtype=torch.float32),
    )


def _fit(
    head: _Head,
    inputs: tuple[torch.Tensor, torch.Tensor],
    target: torch.Tensor,
    val_inputs: tuple[torch.Tensor, torch.Tensor],
    val_target: torch.Tensor,
    loss_fn: nn.Module,
    config: HeadConfig,
) -> float:
    """Minibatch Adam on ``loss_fn(head.raw(*inputs), target)``; restores the best held-out
    epoch's weights and returns its held-out loss."""
    optimizer = torch.optim.Adam(head.net.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(config.seed + 1)
    n = len(target)
    best, best_state, since_best = math.inf, None, 0
    for _ in range(config.epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            loss = loss_fn(head.raw(inputs[0][idx], inputs[1][idx]), target[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            val = float(loss_fn(head.raw(*val_inputs), val_target))
        if not math.isfinite(val):
            raise FloatingPointError("a learned reward/termination head diverged (non-finite loss)")
        if val < best:
            best, since_best = val, 0
            best_state = {k: v.clone() for k, v in head.state_dict().items()}
        else:
            since_best += 1
            if since_best >= config.patience:
                break
    assert best_state is not None  # at least one epoch ran and its loss was finite
    head.load_state_dict(best_state)
    return best


def _split(buffer: TransitionData, config: HeadConfig) -> tuple[np.ndarray, np.ndarray]:
    if len(buffer) < 10:
        raise ValueError(
            f"learning a reward needs at least 10 transitions, the buffer has {len(buffer)}"
        )
    train, val = buffer.split(config.val_fraction, seed=config.seed)
    if len(train) == 0 or len(val) == 0:
        raise ValueError("the buffer is too small to hold out validation rows")
    return train, val


def fit_reward_head(buffer: TransitionData, config: HeadConfig | None = None) -> RewardHead:
    """A :class:`RewardHead` fitted on the buffer's ``(act, next_obs) -> reward``."""
    config = config or HeadConfig()
    train, val = _split(buffer, config)
    act, next_obs, reward, _ = _tensors(buffer, train)
    val_act, val_next, val_reward, _ = _tensors(buffer, val)
    head = RewardHead(buffer.obs_dim, buffer.act_dim, config)
    head.input_normalizer.fit(torch.cat([act, next_obs], dim=-1))
    head.target_mean.fill_(reward.mean())
    head.target_std.fill_(reward.std(correction=0).clamp_min(1e-6))

    def scaled(r: torch.Tensor) -> torch.Tensor:
        return (r - head.target_mean) / head.target_std

    _fit(head, (act, next_obs), scaled(reward), (val_act, val_next), scaled(val_reward),
         nn.MSELoss(), config)
    return head.eval()


class _WeightedBCE(nn.Module):
    def __init__(self, pos_weight: float) -> None:
        super().__init__()
        self.pos_weight = torch.tensor(pos_weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=self.pos_weight)


def fit_termination_head(
    buffer: TransitionData, config: HeadConfig | None = None
) -> TerminationHead:
    """A :class:`TerminationHead` fitted on the buffer's ``(act, next_obs) -> terminated``."""
    config = config or HeadConfig()
    head = TerminationHead(buffer.obs_dim, buffer.act_dim, config)
    positives = int(buffer.batch().terminated.sum()) if len(buffer) else 0
    if positives == 0:
        head.never.fill_(True)
        return head.eval()
    train, val = _split(buffer, config)
    act, next_obs, _, term = _tensors(buffer, train)
    val_act, val_next, _, val_term = _tensors(buffer, val)
    head.input_normalizer.fit(torch.cat([act, next_obs], dim=-1))
    pos = float(term.sum())
    weight = (len(term) - pos) / pos if pos > 0 else 1.0
    _fit(head, (act, next_obs), term, (val_act, val_next), val_term, _WeightedBCE(weight), config)
    return head.eval()


def task_functions(
    task: str | TaskSpec,
    buffer: TransitionData | None = None,
    config: HeadConfig | None = None,
) -> tuple[RewardFn, TermFn, str]:
    """``(reward_fn, term_fn, source)`` for planning on ``task``.

    The task's closed forms where it has them (``source = "closed form"``; the reward is the
    task's planning reward, :attr:`TaskSpec.planning_reward`); otherwise heads learned from
    ``buffer`` (``"learned"``), which must then hold the task's transitions.
    """
    spec = get_task(task)
    if spec.planning_reward is not None and spec.term_fn is not None:
        return spec.planning_reward, spec.term_fn, "closed form"
    if buffer is None:
        raise ValueError(
            f"{spec.name} has no closed-form reward; give a buffer of its transitions to learn one"
        )
    check_dims(spec, buffer.obs_dim, buffer.act_dim, "the buffer")
    reward_fn = spec.planning_reward or fit_reward_head(buffer, config)
    term_fn = spec.term_fn or fit_termination_head(buffer, config)
    return reward_fn, term_fn, "learned"
