"""Load a script of ``benchmarks/`` as a module, for the tests of its pure parts.

The scripts are run as ``python benchmarks/X.py`` (so ``benchmarks/`` is on ``sys.path`` there
and they import ``harness`` by name); they are not a package, so the tests load them by path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a module named ``name`` (its own ``main`` is not run)."""
    if str(BENCHMARKS) not in sys.path:
        sys.path.append(str(BENCHMARKS))  # what `python benchmarks/X.py` gives the script
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
