"""Shared fixtures for the model tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(scope="module")
def single_torch_thread() -> Iterator[None]:
    """Tiny nets gain nothing from intra-op threads, and on a busy 2-core box OpenMP spinning
    makes them ~20x slower; restore the caller's setting afterwards. Opt in per module with
    ``pytestmark = pytest.mark.usefixtures("single_torch_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
