"""benchmarks/harness.py: the timing, thread and list helpers every benchmark script shares."""

from __future__ import annotations

import argparse
import time

import pytest
import torch
from benchmark_script import load_benchmark

harness = load_benchmark("harness")


def test_stopwatch_measures_a_sleep_and_stops_at_exit() -> None:
    with harness.Stopwatch() as clock:
        time.sleep(0.05)
        assert clock.seconds > 0  # readable while running
    seconds = clock.seconds
    assert seconds >= 0.05
    time.sleep(0.01)
    assert clock.seconds == seconds  # stopped when the block ended


def test_int_list_parses_and_rejects_with_one_line() -> None:
    assert harness.int_list("0,1, 2") == [0, 1, 2]
    with pytest.raises(argparse.ArgumentTypeError, match="comma-separated integers"):
        harness.int_list("a,b")


def test_pin_threads_sets_torchs_thread_count() -> None:
    before = torch.get_num_threads()
    try:
        assert harness.pin_threads() == 1
        assert torch.get_num_threads() == 1
        assert harness.pin_threads(2) == 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_median_ratio_is_the_median() -> None:
    assert harness.median_ratio([1.2, 0.9, 1.0]) == 1.0
