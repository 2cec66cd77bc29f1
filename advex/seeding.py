"""Derived seeds: one stable 31-bit seed per (run seed, what it is for).

Why hashing instead of ``seed + k``: nearby run seeds must not share streams (run seed 0's
"round 1" would otherwise be run seed 1's "round 0"), and a new purpose must not shift the
seeds of existing ones, or old results would stop reproducing.
"""

from __future__ import annotations

import hashlib


def derive_seed(*parts: object) -> int:
    """A 31-bit seed from ``parts`` (joined with ``/``): equal parts, equal seed, always."""
    digest = hashlib.sha256("/".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
