"""advex: adversarial exploration for robust robot transition-model learning.

From a notebook::

    import advex
    from advex.engine.experiment import ExperimentConfig

    frame = advex.compare(ExperimentConfig(steps=1000, round_steps=500,
                                           strategies=["random", "adversarial-sf"]))
    frame[frame.metric == "mse_1step@free"]

The command line (``advex compare``) runs the same function.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from advex.engine.experiment import ExperimentConfig

__version__ = "0.1.0"
__all__ = ["compare"]


def compare(
    config: ExperimentConfig | None = None,
    out: str | Path | None = None,
    **options: Any,
) -> pd.DataFrame:
    """Run the exploration experiment of ``config`` (default: ``advex compare``'s embedded
    default) into ``out`` and return its tidy results frame (``task, strategy, seed,
    env_steps, metric, value, value_sd, n_fits, wall_s``).

    ``out``: the run folder (default ``runs/default``, or ``runs/<task>`` for another task);
    it must not hold another comparison (``resume=True`` continues one). ``options``: the
    keyword arguments of :func:`advex.engine.compare.run_compare` (``backend``, ``workers``,
    ``progress``, ``device``, ``max_hours``, ``tensorboard``, ``trust_run_folder``, ...).
    """
    from advex.engine.compare import run_compare
    from advex.engine.experiment import ExperimentConfig

    config = ExperimentConfig() if config is None else config
    if not isinstance(config, ExperimentConfig):
        raise TypeError(f"advex.compare takes an ExperimentConfig, got {type(config).__name__}")
    if out is None:
        default = ExperimentConfig()
        out = Path("runs") / ("default" if config == default
                              else config.task.replace("/", "_"))
    return run_compare(config, Path(out), **options)
