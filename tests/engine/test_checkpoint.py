"""Round checkpoints: a saved round comes back whole; a damaged pointer or folder is one clear
:class:`CheckpointError`, never a bare JSON/KeyError traceback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from advex.engine.checkpoint import Checkpointer, CheckpointError, RunState
from advex.exploration.buffer import ReplayBuffer
from advex.models import make_model


def _state(rounds: int) -> RunState:
    rng = np.random.default_rng(rounds)
    buffer = ReplayBuffer(3, 1)
    obs = rng.normal(size=(5, 3)).astype(np.float32)
    buffer.add(obs, rng.normal(size=(5, 1)).astype(np.float32), obs + 1, np.zeros(5, np.float32),
               np.zeros(5, bool), np.zeros(5, bool), episode_id=0)
    model = make_model("mlp", 3, 1, {"hidden_sizes": [8], "seed": rounds})
    rows = [{"metric": "mse_1step", "value": float(rounds)}]
    return RunState(rounds, buffer, model, {"round": rounds}, rows, wall_s=1.5 * rounds)


def test_round_trip_keeps_only_the_latest_round(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path)
    ckpt.save(_state(1))
    saved = _state(2)
    ckpt.save(saved)
    loaded = ckpt.load()
    assert [p.name for p in tmp_path.glob("round_*")] == ["round_0002"]
    assert loaded.completed_rounds == 2 and loaded.rows == saved.rows and loaded.wall_s == 3.0
    assert loaded.strategy_state == {"round": 2}
    np.testing.assert_array_equal(loaded.buffer.batch().obs, saved.buffer.batch().obs)
    x = torch.zeros(2, 3), torch.zeros(2, 1)
    assert torch.equal(loaded.model.predict(*x)[0], saved.model.predict(*x)[0])


def test_damaged_checkpoints_are_clear_errors(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path)
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        ckpt.load()
    folder = ckpt.save(_state(1))
    ckpt.pointer.write_text("{not json")
    with pytest.raises(CheckpointError, match="latest.json: not a checkpoint pointer"):
        ckpt.load()
    ckpt.pointer.write_text('{"folder": "../elsewhere"}')
    with pytest.raises(CheckpointError, match="bad checkpoint folder name"):
        ckpt.load()
    ckpt.pointer.write_text(f'{{"folder": "{folder.name}"}}')
    (folder / "model.pt").unlink()
    with pytest.raises(CheckpointError, match="missing model.pt"):
        ckpt.load()
