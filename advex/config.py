"""Build config dataclasses from plain dicts (CLI overrides, JSON files, saved checkpoints).

One place decides what an unknown key does: it is an error that names the unknown keys and
lists the valid ones, so a typo such as ``lr`` for ``learning_rate`` never passes silently.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

ConfigT = TypeVar("ConfigT")


class UnknownConfigFieldError(ValueError):
    """A dict given for a config dataclass has keys that are not fields of it."""


def dataclass_from_dict(cls: type[ConfigT], values: Mapping[str, Any], owner_name: str) -> ConfigT:
    """``cls(**values)`` after checking every key is a field of the dataclass ``cls``.

    ``owner_name`` names whose config it is in the error (a strategy or model kind, e.g.
    ``"unknown mlp config field(s) num_layers; valid: hidden_sizes, ..."``). Raises
    :class:`UnknownConfigFieldError`; the dataclass's own validation errors pass through.
    """
    if not dataclasses.is_dataclass(cls) or not isinstance(cls, type):
        raise TypeError(f"dataclass_from_dict: {cls!r} is not a dataclass type")
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise UnknownConfigFieldError(
            f"unknown {owner_name} config field(s) {', '.join(unknown)}; "
            f"valid: {', '.join(valid) or '(none)'}"
        )
    return cls(**dict(values))
