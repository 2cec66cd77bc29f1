"""One writer per run folder: an exclusive lock on ``<out>/.advex.lock``.

Two ``advex compare --resume`` on one folder would compute every job twice into the same
checkpoint folders, and the checkpointer deletes old round folders another writer may be
reading. The lock is an ``fcntl.flock`` on a file in the folder: the kernel drops it when the
holder exits or dies, so a stale lock from a killed process never blocks a later run. The file
holds the holder's pid and host, so a refused run can say who has the folder.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = ".advex.lock"


class RunFolderBusyError(RuntimeError):
    """Another live process holds the run folder's lock."""


@contextlib.contextmanager
def run_folder_lock(out: str | os.PathLike) -> Iterator[Path]:
    """Hold the exclusive lock of run folder ``out`` (created if missing) for the block."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            raise RunFolderBusyError(
                f"{out} is in use by another advex process ({holder}); wait for it to finish "
                "or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
