"""One writer per run folder, and no pool worker outlives a killed comparison."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advex.engine.compare import run_compare
from advex.engine.experiment import ExperimentConfig
from advex.run_lock import RunFolderBusyError, run_folder_lock

TINY = {
    "task": "InvertedPendulum-v5",
    "strategies": ["random", "adversarial-sf"],
    "seeds": [0],
    "steps": 200,
    "round_steps": 100,
    "model_config": {"num_members": 2, "num_elites": 1, "hidden_sizes": [16]},
    "train": {"max_epochs": 2, "patience": 1},
    "evaluation": {"fit_seeds": 1, "max_epochs": 2, "patience": 1},
    "references": [],
    "coverage": {"n_starts": 20, "n_sb3_steps": 0, "frac_sb3": 0.0, "frac_random": 0.5,
                 "n_random_rollout_steps": 100, "n_bang_bang_steps": 50},
}


def test_a_second_run_on_a_held_folder_is_refused_with_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with run_folder_lock(out):
        with pytest.raises(RunFolderBusyError, match=f"in use by another advex process "
                                                      f"\\(pid {os.getpid()} on"):
            run_compare(ExperimentConfig(**TINY), out, backend="serial", progress=False)
        assert not (out / "config.json").exists()
    with run_folder_lock(out):  # released on exit: a later holder gets it
        pass


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state  # a zombie has exited, only its reaping is pending


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_exit_when_the_main_process_is_killed(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**TINY, "steps": 20000, "round_steps": 100}))
    main = subprocess.Popen(
        [sys.executable, "-m", "advex.cli", "compare", "--config", str(config), "--out",
         str(tmp_path / "out"), "--workers", "2", "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline and not (tmp_path / "out" / "runs").exists():
            time.sleep(0.5)
        children = Path(f"/proc/{main.pid}/task/{main.pid}/children")
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [int(p) for p in children.read_text().split()]
            time.sleep(0.5)
        assert (tmp_path / "out" / "runs").exists() and len(workers) >= 2
    finally:
        main.send_signal(signal.SIGKILL)
        main.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
        time.sleep(0.2)
    assert not [pid for pid in workers if _alive(pid)]


def test_resume_never_unpickles_an_untrusted_run_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An sb3-* checkpoint is SB3's pickle format: resuming it needs --trust-run-folder, and
    without it nothing is loaded and no job starts."""
    from advex.cli import main
    from advex.engine.coverage import build_coverage_set
    from advex.engine.experiment import run_single
    from advex.exploration.sb3_strategy import SB3PPOStrategy
    from advex.exploration.strategy import UntrustedRunFolderError

    cfg = ExperimentConfig(**{**TINY, "strategies": ["sb3-ppo"]})
    out = tmp_path / "out"
    run_compare(cfg, out, backend="serial", progress=False)
    coverage = build_coverage_set(cfg.task, 0, cfg.coverage_config(), progress=False)
    run_dir = out / "runs" / "sb3-ppo_seed0"
    loaded: list[str] = []
    real_load = SB3PPOStrategy.load_state_dict

    def recording_load(self, state):  # type: ignore[no-untyped-def]
        loaded.append("agent")
        real_load(self, state)

    monkeypatch.setattr(SB3PPOStrategy, "load_state_dict", recording_load)
    with pytest.raises(UntrustedRunFolderError, match="--trust-run-folder"):
        run_compare(cfg, out, resume=True, backend="serial", progress=False)
    with pytest.raises(UntrustedRunFolderError, match="pickle"):
        run_single(cfg, "sb3-ppo", 0, run_dir, coverage, resume=True, progress=False)
    assert loaded == []
    assert main(["compare", "--out", str(out), "--resume", "--backend", "serial",
                 "--quiet"]) == 2
    assert "--trust-run-folder" in capsys.readouterr().err and loaded == []
    run_compare(cfg, out, resume=True, backend="serial", progress=False, trust_run_folder=True)
    assert loaded == ["agent"]


def test_damaged_run_files_give_one_line_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from advex.cli import main
    from advex.engine.checkpoint import Checkpointer, CheckpointError

    cfg = ExperimentConfig(**{**TINY, "strategies": ["random"],
                              "references": ["no-change"]})
    out = tmp_path / "out"
    run_compare(cfg, out, backend="serial", progress=False)
    run_dir = out / "runs" / "random_seed0"
    folder = run_dir / json.loads((run_dir / "latest.json").read_text())["folder"]
    strategy_pt = folder / "strategy.pt"
    good = strategy_pt.read_bytes()
    strategy_pt.write_bytes(b"\x80\x04garbage")
    with pytest.raises(CheckpointError, match=f"{strategy_pt}: not a readable strategy"):
        Checkpointer(run_dir).load()
    strategy_pt.write_bytes(good)
    progress = folder / "progress.json"
    progress.write_text(progress.read_text()[:40])
    with pytest.raises(CheckpointError, match="progress.json: damaged checkpoint"):
        Checkpointer(run_dir).load()
    capsys.readouterr()  # drop torch's warning about the garbage pickle above
    assert main(["compare", "--out", str(out), "--resume", "--backend", "serial",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "progress.json: damaged checkpoint" in err and err.count("\n") == 1
    refs_dir = out / "runs" / "references_seed0"
    refs = Checkpointer(refs_dir).latest_folder() / "progress.json"
    refs.write_text("{")
    from advex.engine.experiment import run_references

    with pytest.raises(CheckpointError, match="progress.json: damaged checkpoint"):
        run_references(cfg, 0, refs_dir, None, None, resume=True,  # type: ignore[arg-type]
                       progress=False)
    assert main(["report", str(out / "results.csv")]) == 2
    assert "results.csv: expected a run or grid folder, it is a file" in capsys.readouterr().err
