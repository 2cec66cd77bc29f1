"""TensorBoard event files of one comparison run, written as it goes.

Each job of ``advex compare`` writes ``runs/<job>/tb/`` (open the whole comparison with
``tensorboard --logdir <out>/runs``). Scalars, by tag:

* ``online/train_loss``, ``online/val_loss``: the online model's loss per epoch of every
  round's refit; step = ``round x max_epochs + epoch``, so rounds follow each other on one
  axis and a resumed run uses the same step numbers (a round that was logged but not yet
  checkpointed when the run was killed is logged again, as a second point at those steps);
* ``online/epochs``: epochs the round's refit ran (step = env steps);
* ``heldout/<metric>``: the evaluation's scores on the coverage set (step = env steps); the
  references job writes ``heldout/<reference>/<metric>``;
* ``strategy/<name>``: what the strategy's ``update`` reported (adversary reward, entropy,
  approximate KL, SB3's episode return ...; step = env steps).

Logging is switchable (``advex compare --no-tensorboard``) and never fatal: a writer that
cannot start (TensorBoard not installed, the folder not writable) or a write that fails (a
full disk) is one warning, after which the run goes on without it. It lives outside
``config.json``: it changes no result.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The sub-folder of a run folder holding its event files.
TENSORBOARD_DIR = "tb"


class RunLog:
    """Scalars of one job; every method is a no-op when the writer is off."""

    def __init__(self, run_dir: Path, enabled: bool = True) -> None:
        self.writer: Any = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=str(Path(run_dir) / TENSORBOARD_DIR))
        except Exception as error:  # ImportError, OSError: logging is not worth a crash
            warnings.warn(
                f"TensorBoard logging is off for {run_dir} ({type(error).__name__}: {error})",
                RuntimeWarning,
                stacklevel=2,
            )

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def online_fit(self, round_index: int, history: Any, max_epochs: int) -> None:
        """Per-epoch losses of round ``round_index``'s online refit (a ``TrainHistory``)."""
        if self.writer is None or history is None:
            return
        first = round_index * max_epochs
        for epoch, (train, val) in enumerate(
            zip(history.train_loss, history.val_loss, strict=False)
        ):
            self._scalar("online/train_loss", train, first + epoch)
            self._scalar("online/val_loss", val, first + epoch)

    def scalars(self, prefix: str, values: Mapping[str, float], env_steps: int) -> None:
        """``prefix/<name>`` for every finite value (non-finite ones are skipped: TensorBoard
        draws them as gaps at best)."""
        if self.writer is None:
            return
        for name, value in values.items():
            self._scalar(f"{prefix}/{name}", value, env_steps)

    def _scalar(self, tag: str, value: Any, step: int) -> None:
        if value is None or self.writer is None:
            return
        value = float(value)
        if math.isfinite(value):
            self._guarded(self.writer.add_scalar, tag, value, global_step=int(step))

    def flush(self) -> None:
        if self.writer is not None:
            self._guarded(self.writer.flush)

    def _guarded(self, call: Any, *args: Any, **kwargs: Any) -> None:
        """A failing write (a full disk) turns logging off with one warning; the run goes on."""
        try:
            call(*args, **kwargs)
        except Exception as error:
            warnings.warn(f"TensorBoard logging stopped ({type(error).__name__}: {error})",
                          RuntimeWarning, stacklevel=3)
            writer, self.writer = self.writer, None
            try:
                writer.close()
            except Exception:
                pass

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
