"""Atomic writes: the old file survives a failed write, and modes follow the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from advex.atomic_io import atomic_write, write_text_atomic


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_mode_follows_the_umask(tmp_path: Path, umask: int, mode: int) -> None:
    old = os.umask(umask)
    try:
        path = write_text_atomic(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = write_text_atomic(tmp_path / "r.csv", "good")

    def boom(handle) -> None:  # type: ignore[no-untyped-def]
        handle.write(b"half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(path, boom)
    assert path.read_text() == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]


def test_a_full_disk_is_named_whatever_the_writer_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import advex.atomic_io as atomic_io

    path = write_text_atomic(tmp_path / "model.pt", "good")

    def torch_like(handle) -> None:  # type: ignore[no-untyped-def]
        raise RuntimeError("[enforce fail at inline_container.cc:783] . PytorchStreamWriter "
                           "failed writing file data/0: file write failed")

    monkeypatch.setattr(atomic_io, "_free_bytes", lambda folder: 0)
    with pytest.raises(OSError, match="model.pt: no space left on the device"):
        atomic_write(path, torch_like)
    assert path.read_text() == "good"
    monkeypatch.setattr(atomic_io, "_free_bytes", lambda folder: 1 << 40)
    with pytest.raises(RuntimeError, match="PytorchStreamWriter"):  # not a full disk: as is
        atomic_write(path, torch_like)
