"""What every benchmark script shares: threads, timing, integer lists and paired ratios.

A benchmark's figures are only worth something when two runs of it, on the same or on another
machine, can be compared. That needs every script to pin torch's threads the same way, to time
with the same clock, to read its lists of seeds or sizes the same way and to summarise paired
measurements the same way; this module is the one place where those rules live. Scripts are
run as ``python benchmarks/X.py``, so ``benchmarks/`` is on ``sys.path`` and they import it as
``harness``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Sequence
from typing import Any


def pin_threads(n: int = 1) -> int:
    """Set torch's intra-op threads to ``n`` and return ``n``.

    One thread by default, so that timings compare across runs and machines (more threads only
    spin on a loaded machine); a benchmark of parallel speed passes its own ``n``.
    """
    import torch  # here, not at the top: scripts that never touch torch need not load it

    torch.set_num_threads(n)
    return n


class Stopwatch:
    """Wall-clock seconds by ``time.perf_counter``: ``with Stopwatch() as clock: ...`` then
    ``clock.seconds``. It runs from its creation (or from entering the ``with``) until the
    ``with`` exits; ``seconds`` read before that is the time so far."""

    def __init__(self) -> None:
        self._start = time.perf_counter()
        self._stop: float | None = None

    def __enter__(self) -> Stopwatch:
        self._start, self._stop = time.perf_counter(), None
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop = time.perf_counter()

    @property
    def seconds(self) -> float:
        """Seconds from the start to the stop, or to now while still running."""
        end = time.perf_counter() if self._stop is None else self._stop
        return end - self._start


def int_list(text: str) -> list[int]:
    """Comma-separated integers, e.g. ``"0,1,2"`` (an argparse ``type=``)."""
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers such as 0,1,2, got {text!r}") from None


def median_ratio(ratios: Sequence[float]) -> float:
    """Median of paired ratios (each ``a / b`` measured back to back): a pair shares the
    machine's drift during a run, and the median ignores the pair that other work disturbed."""
    return statistics.median(ratios)
