"""The package's layers: each folder imports only from the folders below it.

From the ground up: the shared helpers in ``advex/`` (types, configs, files, seeding), then
``envs``, ``models``, ``agents`` (planners), ``exploration`` (buffer, collection, strategies;
the long-horizon adversary plans with ``agents``), ``engine`` (the experiment: coverage set,
evaluation fits, rounds, checkpoints, compare, ``advex plan``) and ``analysis`` (statistics,
tables, plots and reports of the files the engine wrote). ``advex/cli.py`` and
``advex/__init__.py`` (the public API) sit on top. An import that runs upward, even one inside
a function, ties a lower layer to everything above it; this test names each one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("core", "envs", "models", "agents", "exploration", "engine", "analysis", "top")
TOP_FILES = {"cli.py", "__init__.py"}


def _layer(path: Path) -> str:
    folder = path.parent.name
    if folder == "advex":
        return "top" if path.name in TOP_FILES else "core"
    return folder


def _imported_layers(path: Path) -> set[tuple[str, int]]:
    """``(layer, line)`` of every ``advex.<x>`` import in ``path``, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "advex":
                continue
            layer = parts[1] if len(parts) > 1 and parts[1] in LAYERS else "core"
            if len(parts) > 1 and parts[1] in {"cli"}:
                layer = "top"
            found.add((layer, node.lineno))
    return found


SOURCES = sorted(
    p for layer in ("advex", *LAYERS[1:-1]) for p in (ROOT / layer).glob("*.py")
)


def test_every_layer_has_sources() -> None:
    assert {_layer(p) for p in SOURCES} == set(LAYERS)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_no_import_runs_upward(path: Path) -> None:
    own = LAYERS.index(_layer(path))
    upward = sorted(
        f"line {line}: imports advex.{layer}"
        for layer, line in _imported_layers(path)
        if LAYERS.index(layer) > own
    )
    assert not upward, f"{path.relative_to(ROOT)} ({LAYERS[own]}) " + "; ".join(upward)
