"""Per-dimension standardisation of model inputs and targets.

Networks learn faster and their loss is comparable across dimensions when inputs and targets
are zero-mean, unit-variance (PETS / mbrl-lib normalise the same way). The statistics are fitted
on the *training* data only and are registered torch buffers, so they travel with the model's
``state_dict`` and move with ``.to(device)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

#: Normalised model inputs are clipped to this many training stds (:class:`Normalizer`).
INPUT_CLIP = 100.0


def clip_standardised(z: np.ndarray, clip: float = INPUT_CLIP) -> np.ndarray:
    """numpy twin of :meth:`Normalizer.normalize`'s clip, for models fitted in numpy (ridge)."""
    return np.clip(z, -clip, clip)


class Normalizer(nn.Module):
    """``x -> (x - mean) / std`` per dimension, with ``std`` floored at ``eps``.

    The floor keeps a dimension that never varied in the training data (a constant joint, an
    unused action) from dividing by zero. Before :meth:`fit` it is the identity (mean 0, std 1).

    For model *inputs* (``inputs=True``) two more guards make a model degrade gracefully off
    its data. A dimension constant in the training data (std <= ``eps``: on Humanoid-v5, 37 of
    365 input dims in a 600-step random buffer, contact forces and the like) carries nothing the
    network could have learned from, so it is dropped: its std is set to infinity and it
    normalises to 0 whatever its value. And every normalised input is clipped to
    ``+-INPUT_CLIP`` training stds, so a nearly constant dimension cannot turn an unseen value
    into an input of 1e9 (it did: predictions 25-10 000x worse than no change). Neither guard
    touches a dimension inside 100 training stds, so on data like the training data the
    normaliser is exactly the plain one.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, dim: int, eps: float = 1e-6, *, inputs: bool = False) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"Normalizer: dim must be >= 1, got {dim}")
        if not eps > 0:
            raise ValueError(f"Normalizer: eps must be > 0, got {eps}")
        self.dim = int(dim)
        self.eps = float(eps)
        self.inputs = bool(inputs)
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, data: torch.Tensor) -> None:
        """Fit mean/std on ``data`` (``N x dim``). Non-finite values are not filtered out on
        purpose: they make the statistics non-finite, which training then reports loudly."""
        if data.ndim != 2 or data.shape[1] != self.dim:
            raise ValueError(
                f"Normalizer.fit: expected data of shape N x {self.dim}, got {tuple(data.shape)}"
            )
        if data.shape[0] < 1:
            raise ValueError("Normalizer.fit: data has no rows")
        data = data.to(dtype=self.mean.dtype, device=self.mean.device)
        # Population std (not Bessel-corrected) so a single row gives std 0 -> eps, not NaN.
        self.mean.copy_(data.mean(dim=0))
        std = data.std(dim=0, correction=0)
        if self.inputs:  # a constant input dimension is dropped (class docstring)
            std = torch.where(std <= self.eps, torch.full_like(std, math.inf), std)
        self.std.copy_(std.clamp_min(self.eps))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(... x dim)`` raw -> normalised (differentiable); inputs clipped to
        ``+-INPUT_CLIP``."""
        z = (x - self.mean) / self.std
        return z.clamp(-INPUT_CLIP, INPUT_CLIP) if self.inputs else z

    @property
    def dropped(self) -> torch.Tensor:
        """``dim`` bool: the input dimensions dropped as constant at the last fit."""
        return torch.isinf(self.std)

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(... x dim)`` normalised -> raw (differentiable)."""
        return x * self.std + self.mean

    def denormalize_var(self, var: torch.Tensor) -> torch.Tensor:
        """Variance ``(... x dim)`` in normalised units -> raw units (scales by ``std**2``)."""
        return var * self.std.square()

    def extra_repr(self) -> str:
        return f"dim={self.dim}, eps={self.eps}, inputs={self.inputs}"
