"""Derived seeds: one stable 31-bit seed per (run seed, what it is for).

Why hashing instead of ``seed + k``: nearby run seeds must not share streams (run seed 0's
"round 1" would otherwise be run seed 1's "round 0"), and a new purpose must not shift the
seeds of existing ones, or old results would stop reproducing.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
from collections.abc import Iterator

import numpy as np
import torch


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from ``parts`` (joined with ``/``): equal parts, equal seed, always."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


@contextlib.contextmanager
def isolated_global_rngs(seed: int | None = None) -> Iterator[None]:
    """Restore the global python, numpy and torch (CPU) generators after the block, seeding
    them with ``seed`` inside when given. Libraries that draw from or reseed the global
    generators (SB3's ``seed=``, its ``predict``) then cannot disturb anyone else's draws."""
    # The legacy global numpy API is the point here: it is what SB3 draws from.
    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    with torch.random.fork_rng(devices=[]):
        if seed is not None:
            random.seed(seed)
            np.random.seed(seed)  # noqa: NPY002
            torch.manual_seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002
