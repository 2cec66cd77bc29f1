"""Probabilistic ensemble transition model (PETS: Chua et al. 2018; mbrl-lib ``GaussianMLP``).

``E`` Gaussian MLPs run in parallel through batched ensemble linear layers (weights
``E x in x out``, one ``torch.baddbmm`` per layer, no Python loop over members). Each member
outputs the mean and log-variance of the normalised delta. The log-variance is soft-bounded
between learned ``min_logvar``/``max_logvar`` with softplus (PETS appendix A.1) so it cannot
run off to +-inf where there is no data, and a small penalty
``0.01 * (max_logvar.sum() - min_logvar.sum())`` keeps the bounds tight. Members train on
bootstrap resamples of the training set with a Gaussian NLL; after training the ``num_elites``
members with the lowest validation MSE are the elites that ``predict`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from advex.models.base import (
    ArrayOrTensor,
    ModelInputError,
    TransitionModel,
    check_activation_name,
    checked_angle_obs,
    checked_hidden_sizes,
    init_weight_,
    make_activation,
)


@dataclass(frozen=True)
class MemberGroups:
    """``B`` rows grouped by the member that predicts each (for
    :meth:`EnsembleModel.predict_by_member`): ``used`` the distinct members (sorted),
    ``order`` the rows sorted by member, and each sorted row's ``group`` and ``position``
    in a ``len(used) x width`` padded layout (``width``: the largest group)."""

    members: torch.Tensor  # B, as given
    used: torch.Tensor
    order: torch.Tensor
    group: torch.Tensor
    position: torch.Tensor
    width: int

    @classmethod
    def of(cls, members: torch.Tensor) -> MemberGroups:
        members = torch.as_tensor(members).long().reshape(-1)
        order = torch.argsort(members, stable=True)
        used, group, counts = torch.unique_consecutive(
            members[order], return_inverse=True, return_counts=True
        )
        starts = torch.cumsum(counts, 0) - counts
        position = torch.arange(len(order), device=members.device) - starts[group]
        width = int(counts.max()) if len(counts) else 0
        return cls(members, used, order, group, position, width)

    @classmethod
    def spread_evenly(cls, members: torch.Tensor, order: torch.Tensor) -> MemberGroups:
        """Rows dealt to ``members`` (``K`` distinct indices, sorted here) in the random
        ``order`` (a permutation of the ``B`` rows): member ``k`` gets rows
        ``order[starts_k : ends_k]``, groups of ``B // K`` or ``B // K + 1``. No rows are
        sorted, and :meth:`redealt` reuses the layout: planners redraw it at every imagined
        step (TS-1)."""
        members = torch.sort(members.long()).values
        rows, k = len(order), len(members)
        counts = torch.full((k,), rows // k, dtype=torch.long, device=order.device)
        counts[: rows % k] += 1
        group = torch.repeat_interleave(
            torch.arange(k, device=order.device), counts, output_size=rows
        )
        row_members = torch.empty(rows, dtype=torch.long, device=order.device)
        row_members[order] = members[group]
        starts = torch.cumsum(counts, 0) - counts
        position = torch.arange(rows, device=order.device) - starts[group]
        width = int(counts[0]) if rows else 0
        return cls(row_members, members, order, group, position, width)

    def redealt(self, order: torch.Tensor) -> MemberGroups:
        """These groups (same members, same sizes) dealt in a new row ``order``, as
        :meth:`spread_evenly` would deal them: two tensor ops instead of a rebuild."""
        row_members = torch.empty_like(self.members)
        row_members[order] = self.used[self.group]
        return replace(self, members=row_members, order=order)

    @property
    def rows(self) -> int:
        return len(self.members)

    def spread(self, x: torch.Tensor) -> torch.Tensor:
        """``B x D`` rows -> ``len(used) x width x D``, each member's rows in its slice."""
        if self.width * len(self.used) == self.rows:  # equal groups: a plain reshape
            return x[self.order].reshape(len(self.used), self.width, x.shape[-1])
        padded = x.new_zeros(len(self.used), self.width, x.shape[-1])
        padded[self.group, self.position] = x[self.order]
        return padded

    def gather(self, y: torch.Tensor) -> torch.Tensor:
        """The inverse of :meth:`spread`: ``len(used) x width x D`` -> ``B x D`` in row order."""
        out = y.new_empty(self.rows, y.shape[-1])
        out[self.order] = y[self.group, self.position]
        return out


@dataclass
class EnsembleConfig:
    """Architecture of :class:`EnsembleModel` (defaults as PETS / mbrl-lib).

    num_members ``E`` and num_elites (members used by ``predict``, best validation MSE).
    bootstrap: each member trains on its own with-replacement resample of the training set.
    init_min_logvar / init_max_logvar: starting soft bounds of the log-variance.
    logvar_penalty: weight of ``max_logvar.sum() - min_logvar.sum()`` in the loss.
    seed: weight initialisation seed (training has its own). normalizer_eps: std floor.
    angle_obs: observation indices holding an angle, fed to the network as (sin, cos)
    (:meth:`TransitionModel.input_features`).
    """

    num_members: int = 7
    num_elites: int = 5
    hidden_sizes: tuple[int, ...] = (200, 200, 200, 200)
    activation: str = "silu"
    bootstrap: bool = True
    init_min_logvar: float = -10.0
    init_max_logvar: float = 0.5
    logvar_penalty: float = 0.01
    seed: int = 0
    normalizer_eps: float = 1e-6
    angle_obs: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        self.hidden_sizes = checked_hidden_sizes("EnsembleConfig", self.hidden_sizes)
        self.angle_obs = checked_angle_obs("EnsembleConfig", self.angle_obs)
        if self.num_members < 1:
            raise ValueError(f"EnsembleConfig: num_members must be >= 1, got {self.num_members}")
        if not 1 <= self.num_elites <= self.num_members:
            raise ValueError(
                f"EnsembleConfig: num_elites must be in [1, num_members={self.num_members}], "
                f"got {self.num_elites}"
            )
        check_activation_name("EnsembleConfig", self.activation)
        if not self.init_min_logvar < self.init_max_logvar:
            raise ValueError(
                f"EnsembleConfig: init_min_logvar ({self.init_min_logvar}) must be below "
                f"init_max_logvar ({self.init_max_logvar})"
            )


def soft_bound_logvar(
    logvar: torch.Tensor, min_logvar: torch.Tensor, max_logvar: torch.Tensor
) -> torch.Tensor:
    """Log-variance softly kept within ``[min_logvar, max_logvar]`` (PETS appendix A.1): the
    bounds broadcast against ``logvar``."""
    logvar = max_logvar - F.softplus(max_logvar - logvar)
    return min_logvar + F.softplus(logvar - min_logvar)


def summed_member_nll(
    mean: torch.Tensor, logvar: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Gaussian NLL up to constants of ``M x b x O`` predictions: mean over rows and dims per
    member, summed over members (so each member's gradient is its own loss's)."""
    return ((mean - target).square() * (-logvar).exp() + logvar).mean(dim=(1, 2)).sum()


class EnsembleLinear(nn.Module):
    """``E`` independent affine maps applied in one batched matmul.

    Input ``B x in`` (the same rows for every member) or ``E x B x in`` (own rows per member)
    -> output ``E x B x out``.
    """

    def __init__(
        self, num_members: int, in_features: int, out_features: int, generator: torch.Generator
    ) -> None:
        super().__init__()
        self.num_members = num_members
        self.in_features = in_features
        self.out_features = out_features
        self.weight = nn.Parameter(torch.empty(num_members, in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(num_members, 1, out_features))
        init_weight_(self.weight, in_features, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 2:  # shared input: broadcast over members
            return torch.matmul(x, self.weight) + self.bias
        return torch.baddbmm(self.bias, x, self.weight)

    def extra_repr(self) -> str:
        return f"members={self.num_members}, in={self.in_features}, out={self.out_features}"


class EnsembleModel(TransitionModel):
    """Probabilistic ensemble: ``E`` Gaussian members, ``predict`` = moments of the elite
    mixture (mean of elite means; mean of elite variances + variance of elite means)."""

    kind = "ensemble"
    elite_idx: torch.Tensor

    def __init__(self, obs_dim: int, act_dim: int, config: EnsembleConfig | None = None) -> None:
        config = config if config is not None else EnsembleConfig()
        super().__init__(obs_dim, act_dim, config, normalizer_eps=config.normalizer_eps)
        generator = torch.Generator().manual_seed(config.seed)
        e = config.num_members
        sizes = [self.input_dim, *config.hidden_sizes]
        self.hidden = nn.ModuleList(
            EnsembleLinear(e, fan_in, fan_out, generator)
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:], strict=True)
        )
        self.activation = make_activation(config.activation)
        self.output = EnsembleLinear(e, sizes[-1], 2 * obs_dim, generator)
        self.min_logvar = nn.Parameter(torch.full((1, obs_dim), config.init_min_logvar))
        self.max_logvar = nn.Parameter(torch.full((1, obs_dim), config.init_max_logvar))
        self.register_buffer("elite_idx", torch.arange(config.num_elites))
        #: ``(key, parameters)`` of the last no-grad :meth:`_member_parameters` gather
        self._gathered: tuple[tuple, list[tuple[torch.Tensor, torch.Tensor]]] | None = None

    @property
    def num_members(self) -> int:
        return self.config.num_members

    @property
    def num_groups(self) -> int:
        """Independent ensembles held: one (a :class:`~advex.models.stacked.StackedEnsemble`
        holds several, each with its own log-variance bounds and elites)."""
        return 1

    @property
    def group_size(self) -> int:
        """Members per independent ensemble."""
        return self.config.num_members

    @property
    def bootstrap(self) -> bool:
        return self.config.bootstrap

    def _layers(self) -> list[EnsembleLinear]:
        """Every batched linear layer, input to output (weights are ``E x in x out``)."""
        return [*self.hidden, self.output]

    def _member_parameters(self, used: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(weight U x in x out, bias U x 1 x out)`` of every layer for the members ``used``.

        Planning gathers the same elites at every imagined step, and at a few hundred rows the
        copy costs as much as the matrix products. So without grad the gathered copies are
        kept while ``used`` and every parameter stay the same (same storage, same in-place
        version counter: an optimiser step or ``load_state_dict`` changes it); with grad each
        call indexes afresh so gradients reach the parameters. ``used`` is sorted and distinct
        (:class:`MemberGroups`), so all ``E`` of them are the layers themselves: no copy.
        """
        layers = self._layers()
        if len(used) == self.num_members:
            return [(layer.weight, layer.bias) for layer in layers]
        if torch.is_grad_enabled():
            return [(layer.weight[used], layer.bias[used]) for layer in layers]
        key = (tuple(used.tolist()), tuple(
            (p.data_ptr(), p._version) for layer in layers for p in (layer.weight, layer.bias)))
        if self._gathered is None or self._gathered[0] != key:
            self._gathered = key, [(layer.weight[used], layer.bias[used]) for layer in layers]
        return self._gathered[1]

    def forward_logvar(self, x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised input ``B x I`` or ``E x B x I`` -> ``(mean, logvar)``, each
        ``E x B x O``, log-variance soft-bounded to ``[min_logvar, max_logvar]`` (each group's
        own bounds: they broadcast against ``G x E/G x B x O``)."""
        h = x_norm
        for layer in self.hidden:
            h = self.activation(layer(h))
        mean, logvar = self.output(h).chunk(2, dim=-1)
        grouped = logvar.reshape(self.num_groups, self.group_size, *logvar.shape[1:])
        grouped = soft_bound_logvar(grouped, self.min_logvar, self.max_logvar)
        return mean, grouped.reshape(logvar.shape)

    def _member_outputs(self, x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mean, logvar = self.forward_logvar(x_norm)
        return mean, logvar.exp()

    def _combine_members(
        self, mean: torch.Tensor, var: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        elite_mean, elite_var = mean[self._elite_members()], var[self._elite_members()]
        mix_mean = elite_mean.mean(dim=0)
        mix_var = elite_var.mean(dim=0) + elite_mean.var(dim=0, correction=0)
        return mix_mean, mix_var

    def _elite_members(self) -> torch.Tensor:
        """Indices of the members :meth:`predict` mixes."""
        return self.elite_idx

    def train_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Gaussian NLL (up to constants) per member, mean over rows and dims, summed over
        members, plus the log-variance bound penalty (summed over groups' bounds). Normalised
        ``E x b x I`` inputs and ``E x b x O`` targets."""
        mean, logvar = self.forward_logvar(inputs)
        nll = summed_member_nll(mean, logvar, targets)
        bound_penalty = self.max_logvar.sum() - self.min_logvar.sum()
        return nll + self.config.logvar_penalty * bound_penalty

    @torch.no_grad()
    def after_fit(self, member_dim_mse: torch.Tensor) -> None:
        """Elites of each group: its ``num_elites`` members with the lowest validation MSE (kept
        sorted by member index so the choice is deterministic and order-independent)."""
        scores = member_dim_mse.mean(dim=-1).reshape(self.num_groups, self.group_size)
        best = torch.argsort(scores, dim=1, stable=True)[:, : self.config.num_elites]
        self.elite_idx.copy_(torch.sort(best, dim=1).values.reshape(self.elite_idx.shape))

    def predict_members(self, obs: ArrayOrTensor, act: ArrayOrTensor) -> tuple[Any, Any]:
        """Every member's next-state ``(mean, var)`` in raw units, each ``E x B x O``
        (numpy in -> numpy out; torch in -> differentiable torch out)."""
        numpy_in, (obs_t, act_t) = self._validated(obs, act)
        with self._grad_context(numpy_in):
            mean, var = self._member_outputs(self.normalized_inputs(obs_t, act_t))
            next_mean = obs_t + self.target_normalizer.denormalize(mean)
            next_var = self.target_normalizer.denormalize_var(var)
        return self._out(next_mean, numpy_in), self._out(next_var, numpy_in)

    def predict_by_member(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        members: torch.Tensor | MemberGroups,
        *,
        checked: bool = True,
        with_var: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Row ``i``'s next-state ``(mean, var)`` from member ``members[i]`` alone (raw units,
        each ``B x O``): PETS trajectory sampling, where each particle follows one member.

        Each member runs on its own rows only (rows grouped by member, padded to the largest
        group), so the work is about ``B`` rows instead of :meth:`predict`'s ``E x B``.
        ``members``: ``B`` member indices (any of the ``E``, usually elites), or their
        :class:`MemberGroups` (computed once when the members stay fixed over a rollout).

        Planners call this at every imagined step, so two switches drop work they do not need:
        ``checked=False`` skips the shape, finiteness and index checks (the caller passes
        float32 ``B x O`` / ``B x A`` tensors on the model's device and valid members; a
        diverged model's NaN then flows on into the return, which the optimisers rank worst,
        instead of raising), and ``with_var=False`` returns ``var=None``.
        """
        if checked:
            _, (obs, act) = self._validated(obs, act)
        groups = members if isinstance(members, MemberGroups) else MemberGroups.of(members)
        if checked and groups.rows != obs.shape[0]:
            raise ModelInputError(
                f"members: has {groups.rows} entries but obs has {obs.shape[0]} rows"
            )
        if checked and groups.rows and not (
            0 <= int(groups.used[0]) <= int(groups.used[-1]) < self.num_members
        ):
            raise ModelInputError(f"members: indices must be in [0, {self.num_members})")
        *hidden, (out_weight, out_bias) = self._member_parameters(groups.used)
        h = groups.spread(self.normalized_inputs(obs, act))
        for weight, bias in hidden:
            h = self.activation(torch.baddbmm(bias, h, weight))
        if not with_var:  # the mean half of the output layer only
            mean_p = torch.baddbmm(out_bias[..., : self.obs_dim], h,
                                   out_weight[..., : self.obs_dim])
            return obs + self.target_normalizer.denormalize(groups.gather(mean_p)), None
        out = torch.baddbmm(out_bias, h, out_weight)
        mean_p, logvar_p = out.chunk(2, dim=-1)
        var_p = soft_bound_logvar(logvar_p, self.min_logvar, self.max_logvar).exp()
        next_mean = obs + self.target_normalizer.denormalize(groups.gather(mean_p))
        return next_mean, self.target_normalizer.denormalize_var(groups.gather(var_p))

    def disagreement(self, obs: ArrayOrTensor, act: ArrayOrTensor) -> Any:
        """Epistemic uncertainty ``B``: variance across **all** members of their normalised
        mean deltas, averaged over dims (normalised units make dims comparable)."""
        numpy_in, (obs_t, act_t) = self._validated(obs, act)
        with self._grad_context(numpy_in):
            mean, _ = self.forward_logvar(self.normalized_inputs(obs_t, act_t))
            out = mean.var(dim=0, correction=0).mean(dim=-1)
        return self._out(out, numpy_in)
