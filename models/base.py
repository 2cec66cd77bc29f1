"""The transition-model contract shared by every learned dynamics model in advex.

A model predicts the **delta** ``s' - s`` (easier to learn than ``s'``: most of the next state
is the current one, as in PETS / mbrl-lib), from normalised ``(obs, act)`` inputs to normalised
delta targets. Both normalisers are fitted on the training data and live in the ``state_dict``.

Members: a model is a stack of ``M`` members (``M = 1`` for a plain MLP, ``E`` for an
ensemble). Subclasses say how members map normalised inputs to normalised ``(mean, var)`` and
how members combine into one prediction; this base turns that into raw-unit ``predict``, the
adversary's ``loss``, ``nll``, validated inputs, ``fit`` and file I/O.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
from torch import nn

from advex.file_format import FileFormat
from advex.models.normalizer import Normalizer

if TYPE_CHECKING:
    from advex.models.training import TrainConfig, TrainHistory
    from advex.types import TransitionBatch

_REQUIRED_FILE_KEYS = ("kind", "config", "obs_dim", "act_dim", "state_dict")

ArrayOrTensor = np.ndarray | torch.Tensor

#: Activations a config may name (``activation="silu"``).
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "silu": nn.SiLU,
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
}


class ModelInputError(ValueError):
    """Bad ``obs`` / ``act`` / ``next_obs`` given to a model (shape, dtype, NaN/inf)."""


class ModelFileError(ValueError):
    """A model file is missing, unreadable, or does not describe a valid model."""


#: The file :meth:`TransitionModel.save` writes. Version 2: the file names its format.
MODEL_FILE = FileFormat("advex-transition-model", 2, "model file", ModelFileError)


def make_activation(name: str) -> nn.Module:
    """A fresh activation module from its config name."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
        ) from None


def checked_hidden_sizes(owner: str, hidden_sizes: Any) -> tuple[int, ...]:
    """``hidden_sizes`` as a non-empty tuple of positive ints; ``owner`` (the config class
    name) starts the error message."""
    sizes = tuple(int(h) for h in hidden_sizes)
    if not sizes or min(sizes) < 1:
        raise ValueError(f"{owner}: hidden_sizes must be positive ints, got {sizes}")
    return sizes


def checked_angle_obs(owner: str, angle_obs: Any) -> tuple[int, ...]:
    """``angle_obs`` (observation indices that hold an angle) as a sorted tuple of distinct
    ints >= 0; ``owner`` (the config class name) starts the error message. Whether each index
    is below the model's ``obs_dim`` is checked when the model is built."""
    listed = isinstance(angle_obs, list | tuple)
    given = tuple(angle_obs) if listed else ()
    integral = listed and all(
        isinstance(i, int | np.integer) and not isinstance(i, bool) for i in given)
    indices = tuple(sorted(int(i) for i in given)) if integral else ()
    if not integral or len(set(indices)) != len(indices) or (indices and indices[0] < 0):
        raise ValueError(f"{owner}: angle_obs must be a list of distinct ints >= 0, got "
                         f"{angle_obs!r}")
    return indices


def check_activation_name(owner: str, name: str) -> None:
    """Raise (naming ``owner`` and the valid names) unless ``name`` is in :data:`ACTIVATIONS`."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"{owner}: unknown activation {name!r}; valid: {', '.join(sorted(ACTIVATIONS))}"
        )


@torch.no_grad()
def init_weight_(weight: torch.Tensor, fan_in: int, generator: torch.Generator) -> None:
    """Truncated-normal init with std ``1 / (2 sqrt(fan_in))`` (PETS, Chua et al. 2018).

    Takes an explicit generator so construction is seeded without touching torch's global RNG.
    """
    std = 1.0 / (2.0 * math.sqrt(fan_in))
    nn.init.trunc_normal_(weight, std=std, a=-2.0 * std, b=2.0 * std, generator=generator)


def _to_tensor(name: str, x: Any, device: torch.device) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        if not (x.is_floating_point() or x.dtype in (torch.int32, torch.int64)):
            raise ModelInputError(f"{name}: expected a float tensor, got dtype {x.dtype}")
        return x.to(dtype=torch.float32)  # differentiable; keeps the caller's device
    try:
        arr = np.asarray(x, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise ModelInputError(f"{name}: cannot convert to a float array ({exc})") from None
    return torch.as_tensor(arr, device=device)


class TransitionModel(abc.ABC, nn.Module):
    """Learned dynamics ``f(s, a) -> s'`` predicting the normalised delta ``s' - s``.

    Shapes: ``B`` batch, ``O`` obs dim, ``A`` action dim, ``M`` members.
    """

    #: Registry name used by :func:`advex.models.factory.make_model` and in saved files.
    kind: ClassVar[str]

    def __init__(self, obs_dim: int, act_dim: int, config: Any, normalizer_eps: float) -> None:
        super().__init__()
        for name, value in (("obs_dim", obs_dim), ("act_dim", act_dim)):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(
                    f"{type(self).__name__}: {name} must be an int >= 1, got {value!r}"
                )
        self.obs_dim = int(obs_dim)
        self.act_dim = int(act_dim)
        self.config = config
        #: Plain string facts saved with the model (``advex fit`` records ``task``).
        self.meta: dict[str, str] = {}
        #: Observation indices the network sees as ``(sin, cos)`` instead of the raw value
        #: (``config.angle_obs``; empty for configs without the field).
        self.angle_obs: tuple[int, ...] = tuple(getattr(config, "angle_obs", ()))
        if self.angle_obs and self.angle_obs[-1] >= self.obs_dim:
            raise ValueError(f"{type(self).__name__}: angle_obs {self.angle_obs} must be below "
                             f"obs_dim={self.obs_dim}")
        self.input_normalizer = Normalizer(self.input_dim, eps=normalizer_eps, inputs=True)
        self.target_normalizer = Normalizer(self.obs_dim, eps=normalizer_eps)

    # ------------------------------------------------------------------ subclass contract
    @property
    @abc.abstractmethod
    def num_members(self) -> int:
        """``M``: how many members the training loop feeds separate minibatches to."""

    @property
    def bootstrap(self) -> bool:
        """Whether each member trains on its own bootstrap resample of the training set."""
        return False

    @property
    def group_sizes(self) -> tuple[int, ...]:
        """Members per independent fit, in member order (one group: the whole model). A
        :class:`~advex.models.stacked.StackedEnsemble` holds several."""
        return (self.num_members,)

    def merge_group_states(
        self, states: list[dict[str, torch.Tensor]]
    ) -> dict[str, torch.Tensor]:
        """One ``state_dict`` taking group ``g``'s weights from ``states[g]`` (each group's
        best epoch); with one group, ``states[0]``."""
        if len(states) != 1:
            raise ValueError(f"{type(self).__name__} has one group, got {len(states)} states")
        return states[0]

    @abc.abstractmethod
    def _member_outputs(self, x_norm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised inputs ``B x I`` (shared by all members) or ``M x B x I`` (one
        minibatch per member) -> normalised delta ``(mean, var)``, each ``M x B x O``."""

    @abc.abstractmethod
    def _combine_members(
        self, mean: torch.Tensor, var: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Member outputs ``M x B x O`` -> the model's prediction ``(mean, var)``, ``B x O``."""

    @abc.abstractmethod
    def train_loss(self, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Scalar training objective on per-member minibatches of normalised data: ``inputs``
        ``M x b x I`` (:meth:`normalized_inputs`), ``targets`` ``M x b x O``
        (:meth:`normalized_targets`). Training normalises the whole buffer once per fit, not
        every minibatch."""

    @torch.no_grad()
    def after_fit(self, member_dim_mse: torch.Tensor) -> None:
        """Hook given :meth:`member_dim_mse` (``M x O``) on validation data (training data if
        none) after the best weights are restored: ensembles pick elites, the MLP stores its
        residual variance."""

    # ------------------------------------------------------------------ normalisation
    @property
    def device(self) -> torch.device:
        return self.input_normalizer.mean.device

    @property
    def input_dim(self) -> int:
        """Width ``I`` of the network input: ``O + A``, plus one per angle in :attr:`angle_obs`
        (an angle enters as its sine and cosine)."""
        return self.obs_dim + self.act_dim + len(self.angle_obs)

    def input_features(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """``(... x O, ... x A) -> ... x I`` network input before normalisation: ``[obs, act]``,
        with each :attr:`angle_obs` entry replaced by its sine and its cosine appended last.

        Why: an observation that holds an unwrapped angle (HalfCheetah's root pitch, ``obs[1]``)
        takes values a buffer may never have held (a cheetah that flipped over backwards sits
        near -pi, one that never did stays above -0.7), and a network extrapolates there. As
        ``(sin, cos)`` the input is periodic, so a flip is inside the data. The target is still
        the raw delta ``s' - s`` (an angle's one-step change is small and unwrapped)."""
        if not self.angle_obs:
            return torch.cat([obs, act], dim=-1)
        angles = obs[..., list(self.angle_obs)]
        obs = obs.clone()
        obs[..., list(self.angle_obs)] = torch.sin(angles)
        return torch.cat([obs, act, torch.cos(angles)], dim=-1)

    @torch.no_grad()
    def fit_normalizers(self, obs: torch.Tensor, act: torch.Tensor, next_obs: torch.Tensor) -> None:
        """Fit input stats on :meth:`input_features` and target stats on ``next_obs - obs``
        (``N`` rows)."""
        self.input_normalizer.fit(self.input_features(obs, act))
        self.target_normalizer.fit(next_obs - obs)

    def normalized_inputs(self, obs: torch.Tensor, act: torch.Tensor) -> torch.Tensor:
        """``(... x O, ... x A) -> ... x I`` normalised network input."""
        return self.input_normalizer.normalize(self.input_features(obs, act))

    def normalized_targets(self, obs: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """``... x O`` normalised delta target ``(s' - s - mu) / sigma``."""
        return self.target_normalizer.normalize(next_obs - obs)

    # ------------------------------------------------------------------ input handling
    def _validated(
        self, obs: ArrayOrTensor, act: ArrayOrTensor, next_obs: ArrayOrTensor | None = None
    ) -> tuple[bool, list[torch.Tensor]]:
        """Check shapes and finiteness; return ``(numpy_in, [tensors])`` as float32."""
        numpy_in = not isinstance(obs, torch.Tensor)
        named = [("obs", obs, self.obs_dim), ("act", act, self.act_dim)]
        if next_obs is not None:
            named.append(("next_obs", next_obs, self.obs_dim))
        tensors = []
        rows = None
        for name, value, dim in named:
            t = _to_tensor(name, value, self.device)
            if t.ndim != 2 or t.shape[1] != dim:
                raise ModelInputError(f"{name}: expected shape B x {dim}, got {tuple(t.shape)}")
            if rows is None:
                rows = t.shape[0]
            elif t.shape[0] != rows:
                raise ModelInputError(f"{name}: has {t.shape[0]} rows but obs has {rows}")
            if not bool(torch.isfinite(t).all()):
                bad = int((~torch.isfinite(t)).sum())
                raise ModelInputError(f"{name}: contains {bad} NaN/inf value(s)")
            tensors.append(t)
        return numpy_in, tensors

    @staticmethod
    def _grad_context(numpy_in: bool) -> contextlib.AbstractContextManager:
        return torch.no_grad() if numpy_in else contextlib.nullcontext()

    @staticmethod
    def _out(x: torch.Tensor, numpy_in: bool) -> ArrayOrTensor:
        return x.detach().cpu().numpy() if numpy_in else x

    # ------------------------------------------------------------------ public API
    def normalized_prediction(
        self, obs: torch.Tensor, act: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Validated-tensor fast path: combined normalised delta ``(mean, var)``, ``B x O``."""
        mean, var = self._member_outputs(self.normalized_inputs(obs, act))
        return self._combine_members(mean, var)

    def predict(self, obs: ArrayOrTensor, act: ArrayOrTensor) -> tuple[Any, Any]:
        """Next-state ``(mean, var)`` in raw units, each ``B x O``.

        numpy in -> numpy out (no graph); torch in -> torch out, differentiable w.r.t. ``obs``
        and ``act`` so planners and a pathwise adversary can back-propagate through it.
        """
        numpy_in, (obs_t, act_t) = self._validated(obs, act)
        with self._grad_context(numpy_in):
            mean, var = self.normalized_prediction(obs_t, act_t)
            next_mean = obs_t + self.target_normalizer.denormalize(mean)
            next_var = self.target_normalizer.denormalize_var(var)
        return self._out(next_mean, numpy_in), self._out(next_var, numpy_in)

    def loss(self, obs: ArrayOrTensor, act: ArrayOrTensor, next_obs: ArrayOrTensor) -> Any:
        """Per-transition squared error ``B`` of the predicted mean, in normalised target units,
        averaged over dims (what the adversary maximises). Differentiable for torch input."""
        numpy_in, (obs_t, act_t, next_t) = self._validated(obs, act, next_obs)
        with self._grad_context(numpy_in):
            mean, _ = self.normalized_prediction(obs_t, act_t)
            err = (mean - self.normalized_targets(obs_t, next_t)).square().mean(dim=-1)
        return self._out(err, numpy_in)

    def nll(self, obs: ArrayOrTensor, act: ArrayOrTensor, next_obs: ArrayOrTensor) -> Any:
        """Per-transition Gaussian negative log-likelihood ``B`` of the normalised delta under the
        model's predictive ``(mean, var)``, averaged over dims (includes ``0.5 log 2 pi``)."""
        numpy_in, (obs_t, act_t, next_t) = self._validated(obs, act, next_obs)
        with self._grad_context(numpy_in):
            mean, var = self.normalized_prediction(obs_t, act_t)
            target = self.normalized_targets(obs_t, next_t)
            per_dim = (mean - target).square() / var + var.log() + math.log(2.0 * math.pi)
            out = 0.5 * per_dim.mean(dim=-1)
        return self._out(out, numpy_in)

    @torch.no_grad()
    def member_dim_mse(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        next_obs: torch.Tensor,
        chunk_size: int = 8192,
    ) -> torch.Tensor:
        """Per-member, per-dim squared error ``M x O`` of member means (normalised units, mean
        over the ``N`` rows) on already-validated tensors, in chunks to bound memory. The
        training loop's validation score is its mean over dims."""
        total = torch.zeros(self.num_members, self.obs_dim, device=obs.device)
        for start in range(0, obs.shape[0], chunk_size):
            sl = slice(start, start + chunk_size)
            mean, _ = self._member_outputs(self.normalized_inputs(obs[sl], act[sl]))
            target = self.normalized_targets(obs[sl], next_obs[sl])
            total += (mean - target).square().sum(dim=1)
        return total / max(obs.shape[0], 1)

    def validation_scores(
        self,
        obs: torch.Tensor,
        act: torch.Tensor,
        next_obs: torch.Tensor,
        chunk_size: int = 8192,
    ) -> torch.Tensor:
        """``M x O`` per-member, per-dim scores the training loop early-stops on (lower is
        better; their mean is the history's ``val_loss``): :meth:`member_dim_mse` unless a
        model needs a score that does not reward collapsing onto the mean (the cGAN)."""
        return self.member_dim_mse(obs, act, next_obs, chunk_size)

    def fit(
        self,
        data: Any,
        config: TrainConfig | None = None,
        *,
        seed: int | Sequence[int] = 0,
        progress: bool = True,
        val: TransitionBatch | None = None,
    ) -> TrainHistory:
        """Train on a ``ReplayBuffer`` (validation = its ``split``) or a ``TransitionBatch``
        (validation = ``val`` if given, else a seeded split). Warm start: a second call
        continues from the current weights and refits the normalisers on the new data.
        See :func:`advex.models.training.fit_model`."""
        from advex.models.training import fit_model

        return fit_model(self, data, config, seed=seed, progress=progress, val=val)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> None:
        """Write ``{kind, config, obs_dim, act_dim, state_dict, meta}`` as a
        :data:`MODEL_FILE` (``meta``: :attr:`meta`, e.g. the task the model was fitted on)."""
        MODEL_FILE.save_tensors(
            path,
            {
                "kind": self.kind,
                "config": dataclasses.asdict(self.config),
                "obs_dim": self.obs_dim,
                "act_dim": self.act_dim,
                "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
                "meta": {str(k): str(v) for k, v in self.meta.items()},
            },
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> TransitionModel:
        """Rebuild a saved model (on CPU) through the factory; ``ModelFileError`` on any
        problem, naming the file. ``MLPModel.load`` also checks the file holds an MLP."""
        from advex.models.factory import make_model

        path = Path(path)
        payload = MODEL_FILE.load_tensors(path, _REQUIRED_FILE_KEYS)
        try:
            model = make_model(
                payload["kind"], payload["obs_dim"], payload["act_dim"], payload["config"]
            )
        except (ValueError, TypeError) as exc:
            raise ModelFileError(f"{path}: {exc}") from exc
        if not isinstance(model, cls):
            raise ModelFileError(f"{path}: holds a {payload['kind']!r} model, not a {cls.__name__}")
        try:
            model.load_state_dict(payload["state_dict"])
        except (RuntimeError, TypeError, AttributeError) as exc:
            raise ModelFileError(f"{path}: state_dict does not fit the model ({exc})") from exc
        meta = payload.get("meta", {})  # files written before meta existed have none
        if not isinstance(meta, dict):
            raise ModelFileError(f"{path}: meta must be a dict, found {type(meta).__name__}")
        model.meta = {str(k): str(v) for k, v in meta.items()}
        return model
