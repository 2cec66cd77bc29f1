"""Build config dataclasses from plain dicts (CLI overrides, JSON files, saved checkpoints).

One place decides what an unknown key does: it is an error that names the unknown keys and
lists the valid ones, so a typo such as ``lr`` for ``learning_rate`` never passes silently.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar, get_args, get_origin

ConfigT = TypeVar("ConfigT")


class UnknownConfigFieldError(ValueError):
    """A dict given for a config dataclass has keys that are not fields of it."""


class ConfigTypeError(ValueError):
    """A config value whose type does not match its field's annotation."""


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` (from JSON or the CLI) fits the type annotation ``hint``. Lists pass
    for tuples (JSON has no tuples) and ints for floats; anything not understood passes."""
    origin = get_origin(hint)
    if hint is Any or isinstance(hint, TypeVar):
        return True
    if origin is typing.Literal:
        return value in get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (list, tuple) or hint in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        args = [a for a in get_args(hint) if a is not Ellipsis]
        return len(args) != 1 or all(_matches(v, args[0]) for v in value)
    if origin is dict or hint is dict:
        return isinstance(value, dict)
    return True


def check_types(cls: type, values: Mapping[str, Any], owner_name: str) -> None:
    """Raise :class:`ConfigTypeError` naming the first field of dataclass ``cls`` whose value
    in ``values`` does not fit its annotation."""
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        if name in hints and not _matches(value, hints[name]):
            raise ConfigTypeError(
                f"{owner_name} config field {name} must be {_describe(hints[name])}, got "
                f"{value!r} ({type(value).__name__})"
            )
        if _non_finite(value):  # NaN passes every comparison a range check makes
            raise ConfigTypeError(
                f"{owner_name} config field {name} must be finite, got {value!r}"
            )


def _non_finite(value: Any) -> bool:
    """Whether ``value`` is, or a list/tuple holds, a NaN or infinite number."""
    if isinstance(value, list | tuple):
        return any(_non_finite(v) for v in value)
    return isinstance(value, float) and not math.isfinite(value)


def _describe(hint: Any) -> str:
    if get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(hint))
    if isinstance(hint, type):
        return hint.__name__
    return str(hint).replace("typing.", "")


def dataclass_from_dict(cls: type[ConfigT], values: Mapping[str, Any], owner_name: str) -> ConfigT:
    """``cls(**values)`` after checking every key is a field of the dataclass ``cls``.

    ``owner_name`` names whose config it is in the error (a strategy or model kind, e.g.
    ``"unknown mlp config field(s) num_layers; valid: hidden_sizes, ..."``). Raises
    :class:`UnknownConfigFieldError`, or :class:`ConfigTypeError` for a value of the wrong
    type; the dataclass's own validation errors pass through.
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
    check_types(cls, values, owner_name)
    return cls(**dict(values))


def require(owner: str, checks: Mapping[str, bool]) -> None:
    """Raise one ``ValueError`` naming every failed condition of a config's ``checks``
    (``{"lr > 0": lr > 0, ...}``)."""
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise ValueError(f"{owner}: need {', '.join(bad)}")


def require_choice(field: str, value: Any, valid: tuple[str, ...]) -> None:
    """Raise one ``ValueError`` naming ``field`` and the valid choices unless ``value`` is
    one of them."""
    if value not in valid:
        raise ValueError(f"unknown {field} {value!r}; valid: {', '.join(valid)}")
