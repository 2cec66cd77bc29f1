"""Global-RNG isolation and derived seeds."""

from __future__ import annotations

import random

import numpy as np
import torch

from advex.seeding import derive_seed, isolated_global_rngs


def _draws() -> tuple[float, float, float]:
    return random.random(), float(np.random.rand()), float(torch.rand(1))  # noqa: NPY002


def test_isolation_restores_every_global_generator_and_seeds_inside() -> None:
    random.seed(1)
    np.random.seed(1)  # noqa: NPY002
    torch.manual_seed(1)
    expected = _draws()
    random.seed(1)
    np.random.seed(1)  # noqa: NPY002
    torch.manual_seed(1)
    with isolated_global_rngs(7):
        inside = _draws()
        random.random(), np.random.rand(), torch.rand(5)  # noqa: NPY002
    assert _draws() == expected  # as if the block never drew
    with isolated_global_rngs(7):
        assert _draws() == inside  # seeded inside: the same draws again
    with isolated_global_rngs():
        assert _draws() != inside  # no seed: the outer streams continue inside


def test_derived_seeds_are_stable_and_distinct() -> None:
    assert derive_seed(0, 1, "collect") == derive_seed(0, 1, "collect")
    assert len({derive_seed(s, r) for s in range(10) for r in range(10)}) == 100
    assert 0 <= derive_seed("x") < 2**31
