"""A user's own strategy (docs/examples/pick_disagreement.py, the example of docs/design.md):
registered at import, named ``module:name`` on the command line, run in compare's worker
processes, refused on a resume that would import it from an untrusted folder."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from advex.cli import main
from advex.exploration.strategy import STRATEGIES, Strategy, register_strategy, strategy_class

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
TINY = {
    "model_config": {"num_members": 2, "num_elites": 1, "hidden_sizes": [16]},
    "train": {"max_epochs": 3, "patience": 2},
    "evaluation": {"fit_seeds": 1, "max_epochs": 3, "patience": 2, "patience_steps": 0,
                   "model_config": {"hidden_sizes": [16]}},
    "coverage": {"n_starts": 20, "n_sb3_steps": 0, "n_random_rollout_steps": 200,
                 "n_bang_bang_steps": 100},
    "references": ["no-change"],
}


@pytest.fixture
def examples_on_path():  # type: ignore[no-untyped-def]
    sys.path.insert(0, str(EXAMPLES))
    yield
    sys.path.remove(str(EXAMPLES))


def test_example_is_short_and_registers_itself(examples_on_path) -> None:  # type: ignore[no-untyped-def]
    assert len((EXAMPLES / "pick_disagreement.py").read_text().splitlines()) < 80
    cls = strategy_class("pick_disagreement:pick-disagreement")
    assert issubclass(cls, Strategy) and STRATEGIES["pick-disagreement"].endswith(
        "pick_disagreement:PickDisagreement")
    assert register_strategy(cls) is cls  # registering again is a no-op


def test_a_user_strategy_runs_in_compare_workers(
    examples_on_path, tmp_path: Path, capsys: pytest.CaptureFixture[str]  # type: ignore[no-untyped-def]
) -> None:
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    out = tmp_path / "run"
    name = "pick_disagreement:pick-disagreement"
    argv = ["compare", "--strategies", f"random,{name}", "--steps", "100", "--round", "50",
            "--config", str(config), "--out", str(out), "--workers", "2", "--quiet",
            "--no-tensorboard"]
    assert main(argv) == 0, capsys.readouterr().err
    frame = pd.read_parquet(out / "results.parquet")
    assert name in set(frame["strategy"])
    user = frame[(frame["strategy"] == name) & (frame["metric"] == "mse_1step")]
    assert len(user) == 2 and user["value"].notna().all()
    # a resume would import the module the folder names: only with --trust-run-folder
    assert main(["compare", "--out", str(out), "--resume", "--quiet"]) == 2
    assert "--trust-run-folder" in capsys.readouterr().err


def test_bad_registrations_are_one_line() -> None:
    with pytest.raises(TypeError, match="Strategy subclass"):
        register_strategy(int)  # type: ignore[arg-type]

    class Clash(Strategy):
        name = "random"

        def act(self, obs):  # type: ignore[no-untyped-def]
            return obs

    with pytest.raises(ValueError, match="taken"):
        register_strategy(Clash)
    with pytest.raises(ValueError, match="registered no strategy"):
        strategy_class("json:nothing")
