"""RoundData: a round's rows and what was recorded with them, checked on creation."""

from __future__ import annotations

import numpy as np
import pytest

from advex.exploration.round_data import RoundData


def test_appended_rows_and_their_checks() -> None:
    data = RoundData.appended(5, 9, 4, "random")
    np.testing.assert_array_equal(data.rows, [5, 6, 7, 8])
    assert len(data) == 4 and data.follows_earlier_data
    assert not RoundData.appended(0, 3, 3, "random").follows_earlier_data  # round one
    assert not RoundData(np.zeros(0, np.int64)).follows_earlier_data  # nothing collected
    with pytest.raises(RuntimeError, match="random: expected 4 new rows, the buffer grew by 3"):
        RoundData.appended(5, 8, 4, "random")


def test_recordings_must_match_the_rows() -> None:
    data = RoundData.appended(0, 3, 3, "x")
    draws = np.zeros((3, 2), np.float32)
    assert data.with_draws(draws).policy_draws is draws and data.policy_draws is None
    with pytest.raises(ValueError, match="policy_draws has 2 rows, the round has 3"):
        data.with_draws(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="states has 4 rows, the round has 3"):
        RoundData(data.rows, states=np.zeros((4, 7)))
