"""The one builder of plain MLPs (``Linear`` layers with an activation between them).

Transition MLPs, the VAE's and GAN's networks, the exploration policy and the loss predictor
all build their networks here; they differ only in sizes, activation and how weights start.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

from advex.models.base import make_activation

#: ``init(weight, fan_in, last)`` fills a layer's weight in place (``last``: the output layer).
WeightInit = Callable[[torch.Tensor, int, bool], None]


def uniform_init(generator: torch.Generator) -> WeightInit:
    """``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` weights (torch's own ``Linear`` scale) drawn from
    ``generator``, so a network starts the same for the same seed without the global RNG."""

    def init(weight: torch.Tensor, fan_in: int, last: bool) -> None:
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(weight, -bound, bound, generator=generator)

    return init


def build_mlp(
    sizes: Sequence[int], activation: str, init: WeightInit | None = None
) -> nn.Sequential:
    """``Linear(sizes[0], sizes[1]), act, ..., Linear(sizes[-2], sizes[-1])``.

    ``init`` given: torch's default initialisation (which draws from the global RNG) is
    skipped, ``init`` fills each weight (seeded by whatever generator it closes over) and
    biases start at zero. ``init=None``: torch's default initialisation.
    """
    layers: list[nn.Module] = []
    n_layers = len(sizes) - 1
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        last = i == n_layers - 1
        if init is None:
            linear = nn.Linear(fan_in, fan_out)
        else:
            linear = nn.utils.skip_init(nn.Linear, fan_in, fan_out)
            with torch.no_grad():
                init(linear.weight, fan_in, last)
                linear.bias.zero_()
        layers.append(linear)
        if not last:
            layers.append(make_activation(activation))
    return nn.Sequential(*layers)
