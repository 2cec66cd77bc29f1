"""One round of collection as data: which buffer rows it appended and what was recorded with
them.

The experiment loop gets a :class:`RoundData` from ``Strategy.collect`` and hands it to the
strategy's ``observe_round`` (before the model refits on the round) and ``update`` (after), so
nothing about a round lives on in the strategy or the collector between those calls: a
strategy that learns from its round reads it here, and a round the loop did not pass cannot
be learned from by mistake.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class RoundData:
    """``n`` transitions appended to the buffer by one round of collection.

    rows: ``n`` int64 buffer indices, in collection order (contiguous: a round appends).
    policy_draws: ``n x A`` float32 pre-squash Gaussian draws ``u`` that gave each row's action
        (strategies with a :class:`~advex.exploration.gaussian_policy.GaussianPolicy`;
        score-function learners need the exact draw, ``atanh`` of a clipped action is not it).
    states: ``n x S`` float64 full simulator states before each row's step
        (:func:`advex.envs.get_state`), when the collector was asked to record them (the
        pathwise adversary linearises the simulator there).
    """

    rows: np.ndarray
    policy_draws: np.ndarray | None = None
    states: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.rows)
        for name in ("policy_draws", "states"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"RoundData: {name} has {len(value)} rows, the round has {n}")

    def __len__(self) -> int:
        return len(self.rows)

    @classmethod
    def appended(cls, start: int, end: int, n_steps: int, owner: str) -> RoundData:
        """The rows ``[start, end)`` a collection of ``n_steps`` appended; raises if the buffer
        grew by anything else (a collector that dropped or added rows)."""
        if end - start != n_steps:
            raise RuntimeError(
                f"{owner}: expected {n_steps} new rows, the buffer grew by {end - start}"
            )
        return cls(np.arange(start, end, dtype=np.int64))

    @property
    def follows_earlier_data(self) -> bool:
        """Whether the buffer held rows before this round, i.e. the online model has trained
        on some data (not so in the first round): only then can a round be scored under the
        model before it refits on it."""
        return len(self.rows) > 0 and int(self.rows[0]) > 0

    def with_draws(self, policy_draws: np.ndarray) -> RoundData:
        """This round with its policy's draws recorded."""
        return replace(self, policy_draws=policy_draws)
