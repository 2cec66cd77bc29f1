"""Which torch device trains the models: ``auto`` (a CUDA GPU when torch sees one, else the
CPU), ``cpu``, or ``cuda`` / ``cuda:N``.

The device is how a run runs, not what it measures, so it is never part of a saved config:
a run started on a GPU machine can be resumed or reported on a CPU one. Asking for a GPU that
is not there is a one-line error before any work is done.
"""

from __future__ import annotations

import re

import torch

#: What ``--device`` accepts (``cuda:N`` too).
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")
_CUDA = re.compile(r"cuda(:\d+)?")


def resolve_device(requested: str) -> str:
    """The concrete device for ``requested``: ``"cpu"``, ``"cuda"`` or ``"cuda:N"``.

    ``"auto"`` gives ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``. A CUDA
    device torch cannot see, or a name that is no device, is a ``ValueError``.
    """
    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if not _CUDA.fullmatch(requested):
        raise ValueError(f"unknown device {requested!r}; valid: auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {requested!r}: torch sees no CUDA GPU on this machine (torch "
            f"{torch.__version__}); use --device cpu or auto"
        )
    index = int(requested.split(":")[1]) if ":" in requested else 0
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device {requested!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)"
        )
    return requested
