"""Atomic file writes: readers see the old file or the new one, never half of one.

Every saver in advex (buffers, models, generative checkpoints, coverage sets, run
checkpoints) writes through :func:`atomic_write`, so a run killed mid-save cannot leave a
truncated file under the real name.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO


def _umask() -> int:
    """The process umask (reading it means setting it, so it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write_fn: Callable[[BinaryIO], None]) -> Path:
    """Call ``write_fn`` on a temp file beside ``path``, fsync it, then rename it over ``path``.

    The temp file lives in the same folder (so the rename is atomic on one filesystem) and is
    removed on any failure, ``KeyboardInterrupt`` included; the old ``path`` stays untouched.
    Missing parent folders are created; the file's mode follows the umask like ``open()``'s.
    Returns ``path`` as a :class:`Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes the file 0600; a plain open() would give 0666 minus the umask, which
        # is what users sharing an output folder expect.
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            write_fn(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, Exception) and _disk_full(exc, path.parent):
            # torch and others report a full disk in their own words ("failed writing file")
            raise OSError(errno.ENOSPC, f"{path}: no space left on the device; nothing was "
                          "replaced (free space and run again)") from None
        raise
    return path


#: Below this many free bytes a failed write is taken for a full disk.
_FULL_BELOW = 1 << 20


def _free_bytes(folder: Path) -> int:
    stat = os.statvfs(folder)
    return stat.f_bavail * stat.f_frsize


def _disk_full(exc: Exception, folder: Path) -> bool:
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    try:
        return _free_bytes(folder) < _FULL_BELOW
    except OSError:
        return False


def write_json_atomic(path: str | os.PathLike, payload: Any) -> Path:
    """Write ``payload`` as indented JSON through :func:`atomic_write`."""

    def write(handle: BinaryIO) -> None:
        handle.write(json.dumps(payload, indent=2).encode("utf-8"))

    return atomic_write(path, write)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` as UTF-8 through :func:`atomic_write`."""

    def write(handle: BinaryIO) -> None:
        handle.write(text.encode("utf-8"))

    return atomic_write(path, write)


def read_json(path: str | os.PathLike) -> Any:
    """Parse the JSON file ``path``; a damaged file is a ``ValueError`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); the file is damaged") from None


#: Library advice that must not reach a user who gave advex a damaged file.
_UNSAFE_HINTS = ("allow_pickle", "weights_only", "Weights only", "pickle")


def load_failure(exc: BaseException) -> str:
    """Why a file failed to load, in one line: the exception type and the first line of its
    message, except that numpy's and torch's advice to load the file unsafely (with pickle) is
    replaced by what it means for advex, which never unpickles a file."""
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else ""
    if any(hint in text for hint in _UNSAFE_HINTS):
        text = "it holds pickled objects or is damaged (advex never unpickles files)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
