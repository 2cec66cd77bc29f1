"""Round checkpoints of one exploration run: buffer, model, strategy, RNG states and rows.

A checkpoint is a folder ``round_NNNN/`` written completely before ``latest.json`` is
atomically switched to it, so a run killed at any instant resumes from the last *whole*
round and never appends a round's data twice.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from advex.atomic_io import read_json, write_json_atomic
from advex.exploration.buffer import ReplayBuffer
from advex.file_format import FileFormat
from advex.models import TransitionModel


def already_holds(path: Path, what: str) -> FileExistsError:
    """The one refusal to start over a folder that holds ``what`` (a run, a comparison)."""
    return FileExistsError(
        f"{path} already holds {what}; pass --resume (resume=True) to continue it, or choose "
        "a new --out"
    )


class CheckpointError(ValueError):
    """A checkpoint folder is missing pieces or was written by an incompatible run."""


#: ``strategy.pt``: the strategy's state dict and the torch RNG state after the round.
STRATEGY_FILE = FileFormat("advex-strategy-state", 1, "strategy checkpoint", CheckpointError)


@dataclass
class RunState:
    """Everything a run needs to continue after round ``completed_rounds``."""

    completed_rounds: int
    buffer: ReplayBuffer
    model: TransitionModel | None  # None: a job without an online model (the references)
    strategy_state: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    torch_rng_state: torch.Tensor | None = None


class Checkpointer:
    """Saves and restores :class:`RunState` under ``run_dir``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir)
        self.pointer = self.run_dir / "latest.json"

    def exists(self) -> bool:
        return self.pointer.is_file()

    @staticmethod
    def _folder_name(completed_rounds: int) -> str:
        return f"round_{completed_rounds:04d}"

    def completed_rounds(self) -> int:
        """Rounds the latest checkpoint holds, read off its folder name (no file is loaded);
        0 when there is none yet."""
        latest = self.latest_folder()
        return 0 if latest is None else int(latest.name.removeprefix("round_"))

    def save(self, state: RunState) -> Path:
        folder = self.run_dir / self._folder_name(state.completed_rounds)
        if folder.exists():
            shutil.rmtree(folder)  # left by a crash before the pointer moved: not trusted
        folder.mkdir(parents=True)
        state.buffer.save(folder / "buffer.npz")
        if state.model is not None:
            state.model.save(folder / "model.pt")
        STRATEGY_FILE.save_tensors(
            folder / "strategy.pt",
            {"strategy": state.strategy_state, "torch_rng_state": torch.get_rng_state()},
        )
        write_json_atomic(
            folder / "progress.json",
            {
                "completed_rounds": state.completed_rounds,
                "wall_s": state.wall_s,
                "rows": state.rows,
            },
        )
        previous = self.latest_folder()
        write_json_atomic(self.pointer, {"folder": folder.name})
        if previous is not None and previous != folder and previous.exists():
            shutil.rmtree(previous)
        return folder

    def latest_folder(self) -> Path | None:
        if not self.exists():
            return None
        try:
            folder = json.loads(self.pointer.read_text())["folder"]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"{self.pointer}: not a checkpoint pointer ({type(exc).__name__}: {exc})"
            ) from None
        if not isinstance(folder, str) or Path(folder).name != folder:
            raise CheckpointError(f"{self.pointer}: bad checkpoint folder name {folder!r}")
        return self.run_dir / folder

    def load(self, with_model: bool = True) -> RunState:
        """The latest checkpoint; ``with_model``: it must hold the online model (every job but
        the references)."""
        folder = self.latest_folder()
        if folder is None:
            raise CheckpointError(f"{self.run_dir}: no checkpoint to resume from")
        needed = ("buffer.npz", *(("model.pt",) if with_model else ()), "strategy.pt",
                  "progress.json")
        missing = [name for name in needed if not (folder / name).is_file()]
        if missing:
            raise CheckpointError(f"{folder}: checkpoint is missing {', '.join(missing)}")
        try:
            progress = read_json(folder / "progress.json")
            completed, rows = int(progress["completed_rounds"]), list(progress["rows"])
            wall_s = float(progress["wall_s"])
        except (ValueError, KeyError, TypeError) as exc:
            raise CheckpointError(
                f"{folder / 'progress.json'}: damaged checkpoint ({exc})"
            ) from None
        extra = STRATEGY_FILE.load_tensors(
            folder / "strategy.pt", ("strategy", "torch_rng_state")
        )
        strategy_state, torch_rng = extra["strategy"], extra["torch_rng_state"]
        return RunState(
            completed_rounds=completed,
            buffer=ReplayBuffer.load(folder / "buffer.npz"),
            model=TransitionModel.load(folder / "model.pt") if with_model else None,
            strategy_state=strategy_state,
            rows=rows,
            wall_s=wall_s,
            torch_rng_state=torch_rng,
        )
