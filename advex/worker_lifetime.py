"""Pool workers that die with the process that started them.

When the main ``advex compare`` process is killed (SIGKILL, OOM killer), a process pool's
workers would otherwise go on finishing jobs, each holding hundreds of MB and writing
checkpoints into folders that a later ``--resume`` writes too. Each worker runs
:func:`exit_with_parent` as its pool initializer: on Linux the kernel sends it SIGKILL when its
parent dies (``PR_SET_PDEATHSIG``), and everywhere a daemon thread checks once a second that
the parent is still the one that started it and ends the worker otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
POLL_S = 1.0


def _watch(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # no cleanup: the parent's run folder is no longer ours to write
        time.sleep(POLL_S)


def exit_with_parent(parent_pid: int) -> None:
    """Make this process exit when ``parent_pid`` (its parent) dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the line above ran
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True,
                     name="exit-with-parent").start()
