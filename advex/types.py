"""Types shared by envs, buffer, models, exploration strategies and planners.

One batch type passes between every part of advex (the habit of mbrl-lib's ``types.py``):
a frozen :class:`TransitionBatch` of numpy arrays, with a torch view for model code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import torch

#: A behaviour policy: batched observations ``N x O`` -> batched actions ``N x A``.
Policy = Callable[[np.ndarray], np.ndarray]
#: Batched reward of a transition: ``(act B x A, next_obs B x O) -> B``.
RewardFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: Batched termination of a transition: ``(act B x A, next_obs B x O) -> B`` (bool).
TermFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class TransitionBatch:
    """``B`` transitions ``(s, a, s', r, terminated, truncated)``.

    Shapes: ``obs``/``next_obs`` ``B x O`` float32, ``act`` ``B x A`` float32, ``reward`` ``B``
    float32, ``terminated``/``truncated`` ``B`` bool. ``terminated`` and ``truncated`` stay
    apart: a time-limit cut is not a physical end and must not stop value bootstrapping.
    """

    obs: np.ndarray
    act: np.ndarray
    next_obs: np.ndarray
    reward: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.obs)
        for name in ("act", "next_obs", "reward", "terminated", "truncated"):
            if len(getattr(self, name)) != n:
                raise ValueError(
                    f"TransitionBatch: {name} has {len(getattr(self, name))} rows, obs has {n}"
                )
        if self.obs.shape != self.next_obs.shape:
            raise ValueError(
                f"TransitionBatch: obs shape {self.obs.shape} != next_obs shape "
                f"{self.next_obs.shape}"
            )

    def __len__(self) -> int:
        return len(self.obs)

    @property
    def obs_dim(self) -> int:
        return int(self.obs.shape[1])

    @property
    def act_dim(self) -> int:
        return int(self.act.shape[1])

    def tensors(
        self, device: str | torch.device = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(obs, act, next_obs)`` as float32 tensors on ``device`` (what model fitting needs)."""
        return tuple(  # type: ignore[return-value]
            torch.as_tensor(x, dtype=torch.float32, device=device)
            for x in (self.obs, self.act, self.next_obs)
        )


@runtime_checkable
class TransitionData(Protocol):
    """What fitting code needs of a growing transition store (:class:`advex.exploration.buffer.
    ReplayBuffer` is one): rows by index and a train/validation split whose sides never move as
    rows are added. Models and heads take this, so they never import the exploration layer."""

    @property
    def obs_dim(self) -> int: ...

    @property
    def act_dim(self) -> int: ...

    def __len__(self) -> int: ...

    def batch(self, indices: np.ndarray | None = None) -> TransitionBatch:
        """A copy of the rows at ``indices`` (all rows when ``None``)."""
        ...

    def split(self, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Disjoint ``(train_idx, val_idx)``; a row's side depends only on ``(seed, index)``."""
        ...
