"""Build a transition model by name: ``make_model("ensemble", obs_dim, act_dim, config)``.

The registry maps each ``kind`` to its model class and config dataclass; saved model files
store ``kind`` and ``asdict(config)`` and are rebuilt through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

from advex.config import dataclass_from_dict
from advex.models.base import TransitionModel
from advex.models.cgan import CGANConfig, CGANModel
from advex.models.ensemble import EnsembleConfig, EnsembleModel
from advex.models.mlp import MLPConfig, MLPModel

#: Any model architecture config.
ModelConfig: TypeAlias = MLPConfig | EnsembleConfig | CGANConfig

#: kind -> (model class, config class).
MODEL_KINDS: dict[str, tuple[type[TransitionModel], type]] = {
    "mlp": (MLPModel, MLPConfig),
    "ensemble": (EnsembleModel, EnsembleConfig),
    "cgan": (CGANModel, CGANConfig),
}


class UnknownModelKindError(ValueError):
    """``make_model`` was asked for a kind that is not registered."""


def list_model_kinds() -> list[str]:
    return sorted(MODEL_KINDS)


def config_from_dict(kind: str, values: Mapping[str, Any]) -> ModelConfig:
    """The config dataclass of ``kind`` from a plain dict (a CLI, a saved file); unknown
    keys are an error that lists the valid fields."""
    return dataclass_from_dict(_lookup(kind)[1], values, kind)


def make_model(
    kind: str,
    obs_dim: int,
    act_dim: int,
    config: ModelConfig | Mapping[str, Any] | None = None,
) -> TransitionModel:
    """A fresh (untrained) model of ``kind`` (``"mlp"``, ``"ensemble"`` or ``"cgan"``).

    ``config``: that kind's config dataclass, a dict of its fields, or ``None`` for defaults.
    """
    model_cls, config_cls = _lookup(kind)
    if config is None:
        config = config_cls()
    elif isinstance(config, Mapping):
        config = config_from_dict(kind, config)
    elif not isinstance(config, config_cls):
        raise TypeError(
            f"make_model: kind {kind!r} needs a {config_cls.__name__}, got {type(config).__name__}"
        )
    return model_cls(obs_dim, act_dim, config)


def _lookup(kind: str) -> tuple[type[TransitionModel], type]:
    try:
        return MODEL_KINDS[kind]
    except (KeyError, TypeError):
        raise UnknownModelKindError(
            f"unknown model kind {kind!r}; valid kinds: {', '.join(list_model_kinds())}"
        ) from None
