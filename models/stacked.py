"""``G`` independent PETS ensembles ("fit seeds") trained together in one batched kernel.

Why: the yardstick scores a strategy's data with ``F`` fresh fits per evaluation point, to
show how much of a score is fit noise. ``F`` ensembles of ``E`` members are ``F x E`` members
of one :class:`~advex.models.ensemble.EnsembleModel`-shaped network, so one ``baddbmm`` per
layer trains them all. What must stay per fit is kept per group: initial weights (each group is
initialised exactly as ``EnsembleModel(config_g)`` would be), the soft log-variance bounds
(``G x 1 x 1 x O``), bootstrap rows and minibatch order (one training seed per group, see
:mod:`advex.models.training`), early stopping and elites. The loss is the sum of the groups'
losses and Adam is element-wise, so each group follows the trajectory it would follow alone.
:meth:`StackedEnsemble.unstack` hands back ``G`` ordinary ensembles.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from advex.models.base import TransitionModel, make_activation
from advex.models.ensemble import EnsembleConfig, EnsembleLinear, EnsembleModel


class StackedEnsemble(EnsembleModel):
    """``G`` ensembles of the same architecture, one per config in ``configs`` (which may
    differ only in ``seed``), as ``G * E`` members. Member ``g * E + e`` is member ``e`` of
    group ``g``. Forward pass, loss and elite choice are :class:`EnsembleModel`'s, per group;
    ``predict`` is not meant for use (it mixes every group's elites); evaluate the groups
    through :meth:`unstack`."""

    kind = "ensemble-stack"
    elite_idx: torch.Tensor

    def __init__(self, obs_dim: int, act_dim: int, configs: Sequence[EnsembleConfig]) -> None:
        if not configs:
            raise ValueError("StackedEnsemble: needs at least one config")
        first = configs[0]
        for config in configs[1:]:
            if dataclasses.replace(config, seed=first.seed) != first:
                raise ValueError("StackedEnsemble: configs may differ only in seed")
        # Not EnsembleModel.__init__: the layers are built below, G x E members wide, with
        # each group's initial weights copied from the ensemble it stands for.
        TransitionModel.__init__(self, obs_dim, act_dim, first, normalizer_eps=first.normalizer_eps)
        self.configs = list(configs)
        self._gathered = None
        singles = [EnsembleModel(obs_dim, act_dim, config) for config in configs]
        g, e = len(singles), first.num_members
        sizes = [self.input_dim, *first.hidden_sizes]
        generator = torch.Generator()  # init is copied from ``singles`` below, not drawn
        self.hidden = nn.ModuleList(
            EnsembleLinear(g * e, fan_in, fan_out, generator)
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.output = EnsembleLinear(g * e, sizes[-1], 2 * obs_dim, generator)
        self.activation = make_activation(first.activation)
        self.min_logvar = nn.Parameter(torch.full((g, 1, 1, obs_dim), first.init_min_logvar))
        self.max_logvar = nn.Parameter(torch.full((g, 1, 1, obs_dim), first.init_max_logvar))
        self.register_buffer("elite_idx", torch.arange(first.num_elites).repeat(g, 1))
        with torch.no_grad():
            for mine, theirs in zip(self._layers(), zip(*(s._layers() for s in singles),
                                                        strict=True), strict=True):
                mine.weight.copy_(torch.cat([layer.weight for layer in theirs]))
                mine.bias.copy_(torch.cat([layer.bias for layer in theirs]))

    def save(self, path: str | os.PathLike) -> None:
        """Not a file format: save the ensembles :meth:`unstack` returns instead."""
        raise NotImplementedError("StackedEnsemble.save: unstack() and save each ensemble")

    def predict_by_member(self, *args: Any, **kwargs: Any) -> Any:
        """Not for planning: unstack() and plan with one ensemble."""
        raise NotImplementedError("StackedEnsemble.predict_by_member: unstack() first")

    # ------------------------------------------------------------------ structure
    @property
    def num_groups(self) -> int:
        return len(self.configs)

    @property
    def group_size(self) -> int:
        return self.config.num_members

    @property
    def num_members(self) -> int:
        return self.num_groups * self.group_size

    @property
    def group_sizes(self) -> tuple[int, ...]:
        return (self.group_size,) * self.num_groups

    def _elite_members(self) -> torch.Tensor:
        """Every group's elites, as member indices (``elite_idx`` is ``G x num_elites``)."""
        offsets = self.group_size * torch.arange(self.num_groups, device=self.elite_idx.device)
        return (self.elite_idx + offsets[:, None]).flatten()

    # ------------------------------------------------------------------ groups
    def merge_group_states(
        self, states: list[dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        """Group ``g``'s slice of every member-indexed or group-indexed tensor from
        ``states[g]``; shared tensors (the normalisers, fitted before training) from any."""
        if len(states) != self.num_groups:
            raise ValueError(f"merge_group_states: {len(states)} states for "
                             f"{self.num_groups} groups")
        merged = {key: value.clone() for key, value in states[0].items()}
        e = self.group_size
        for key, value in merged.items():
            if value.ndim == 0:
                continue
            if value.shape[0] == self.num_members and key != "elite_idx":
                for g in range(1, self.num_groups):
                    value[g * e : (g + 1) * e] = states[g][key][g * e : (g + 1) * e]
            elif value.shape[0] == self.num_groups and ("logvar" in key or key == "elite_idx"):
                for g in range(1, self.num_groups):
                    value[g] = states[g][key][g]
        return merged

    @torch.no_grad()
    def unstack(self) -> list[EnsembleModel]:
        """``G`` independent :class:`EnsembleModel`s holding each group's weights, bounds,
        elites and the shared normalisers."""
        out = []
        e = self.group_size
        for g, config in enumerate(self.configs):
            single = EnsembleModel(self.obs_dim, self.act_dim, config)
            for mine, theirs in zip(self._layers(), single._layers(), strict=True):
                theirs.weight.copy_(mine.weight[g * e : (g + 1) * e])
                theirs.bias.copy_(mine.bias[g * e : (g + 1) * e])
            single.min_logvar.copy_(self.min_logvar[g, 0])
            single.max_logvar.copy_(self.max_logvar[g, 0])
            single.elite_idx.copy_(self.elite_idx[g])
            single.input_normalizer.load_state_dict(self.input_normalizer.state_dict())
            single.target_normalizer.load_state_dict(self.target_normalizer.state_dict())
            out.append(single.to(self.device).eval())
        return out
