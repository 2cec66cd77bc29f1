"""``--device``: auto picks the GPU only when torch sees one; a missing GPU is refused first."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from advex.cli import main
from advex.device import resolve_device
from advex.engine.evaluation import EvaluationConfig
from advex.engine.experiment import ExperimentConfig


def _gpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


def test_auto_is_the_cpu_without_a_gpu_and_cuda_with_one(monkeypatch: pytest.MonkeyPatch) -> None:
    _gpus(monkeypatch, 0)
    assert resolve_device("auto") == "cpu" and resolve_device("cpu") == "cpu"
    _gpus(monkeypatch, 2)
    assert resolve_device("auto") == "cuda"
    assert resolve_device("cuda") == "cuda" and resolve_device("cuda:1") == "cuda:1"
    assert resolve_device("cpu") == "cpu"  # asking for the CPU is always honoured


def test_bad_or_missing_devices_are_one_line_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    _gpus(monkeypatch, 0)
    with pytest.raises(ValueError, match="torch sees no CUDA GPU"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="unknown device 'gpu'"):
        resolve_device("gpu")
    _gpus(monkeypatch, 1)
    with pytest.raises(ValueError, match="has 1 CUDA GPU"):
        resolve_device("cuda:1")


def test_the_device_reaches_every_fit_and_stays_out_of_the_config() -> None:
    cfg = ExperimentConfig()
    assert cfg.train_config().device == "cpu"
    assert cfg.train_config("cuda").device == "cuda"
    assert cfg.evaluation_config("cuda").train_config().device == "cuda"
    assert EvaluationConfig().train_config().device == "cpu"
    assert "device" not in cfg.to_dict()


def test_compare_refuses_a_missing_gpu_before_writing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _gpus(monkeypatch, 0)
    out = tmp_path / "run"
    assert main(["compare", "--device", "cuda", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "torch sees no CUDA GPU" in err and err.count("\n") == 1
    assert not out.exists()


def test_fit_refuses_a_missing_gpu_before_reading_or_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _gpus(monkeypatch, 0)
    out = tmp_path / "models" / "m.pt"
    # the buffer does not exist either: the device is refused first, in one line
    argv = ["fit", "--buffer", str(tmp_path / "none.npz"), "--out", str(out), "--device", "cuda"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "torch sees no CUDA GPU" in err and err.count("\n") == 1
    assert not out.parent.exists()

