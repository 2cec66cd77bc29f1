"""One versioned file format for every file advex writes: named, versioned, atomic, never
unpickled on the way back.

Models, generative checkpoints and strategy states are dicts of tensors and plain values
(``torch.save``, read back with ``weights_only=True``); buffers and coverage sets are arrays
(``.npz`` with a JSON ``__header__``, read back with ``allow_pickle=False``). Both kinds carry
``{"format": name, "format_version": version}`` and are checked the same way, so every loader
gives the same one-line errors naming the file ("no such …", "not a readable …", "not an advex
…", "format version … is not supported") instead of five dialects of them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from advex.atomic_io import atomic_write, load_failure

#: The ``.npz`` member that holds the JSON header of an array file.
HEADER_KEY = "__header__"


@dataclass(frozen=True)
class FileFormat:
    """A file kind: ``name`` (e.g. ``"advex-replay-buffer"``), ``version`` (bump it on any
    incompatible change), ``what`` (how errors call it, e.g. ``"buffer file"``) and ``error``
    (the exception type its loader raises, always with the message ``"<path>: <problem>"``)."""

    name: str
    version: int
    what: str
    error: type[Exception]

    def fail(self, path: str | os.PathLike, problem: str) -> Exception:
        """The loader's error: ``"<path>: <problem>"`` as :attr:`error`."""
        return self.error(f"{path}: {problem}")

    # ------------------------------------------------------------------ tensors (torch.save)
    def save_tensors(self, path: str | os.PathLike, payload: Mapping[str, Any]) -> Path:
        """Write ``payload`` plus the format name and version atomically with ``torch.save``.
        ``payload`` must hold only what ``weights_only`` loading accepts (tensors, numbers,
        strings, lists, dicts)."""
        stamped = {"format": self.name, "format_version": self.version, **payload}
        return atomic_write(path, lambda handle: torch.save(stamped, handle))

    def load_tensors(self, path: str | os.PathLike, required: Sequence[str] = ()) -> dict:
        """Read a :meth:`save_tensors` file on CPU with ``weights_only=True``; check its format,
        its version and that it has the ``required`` keys."""
        path = self._existing(path)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises many types for a damaged or foreign file
            raise self.fail(path, f"not a readable {self.what} ({load_failure(exc)})") from None
        if not isinstance(payload, dict):
            raise self.fail(path, f"not an advex {self.what} (holds a {type(payload).__name__})")
        self._check_header(path, payload)
        missing = [key for key in required if key not in payload]
        if missing:
            raise self.fail(path, f"missing key(s) {', '.join(missing)}")
        return payload

    # ------------------------------------------------------------------ arrays (.npz)
    def save_arrays(
        self,
        path: str | os.PathLike,
        arrays: Mapping[str, np.ndarray],
        header: Mapping[str, Any] | None = None,
        compress: bool = False,
    ) -> Path:
        """Write ``arrays`` and a JSON header (``header`` plus the format name and version) as
        one ``.npz`` atomically (zip-deflated with ``compress``: frames shrink many times,
        float vectors barely). Arrays must not be of object dtype (they would need pickle)."""
        if HEADER_KEY in arrays:
            raise ValueError(f"save_arrays: {HEADER_KEY!r} is reserved for the header")
        pickled = [name for name, arr in arrays.items() if np.asarray(arr).dtype.hasobject]
        if pickled:
            raise TypeError(f"save_arrays: object arrays would need pickle: {', '.join(pickled)}")
        stamped = {"format": self.name, "format_version": self.version, **(header or {})}

        def write(handle: BinaryIO) -> None:
            # numpy's stub lets **kwds collide with ``allow_pickle: bool``; they are all arrays.
            save = np.savez_compressed if compress else np.savez
            save(handle, **{HEADER_KEY: np.array(json.dumps(stamped))}, **arrays)  # type: ignore[arg-type]

        return atomic_write(path, write)

    def load_arrays(self, path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Read a :meth:`save_arrays` file with ``allow_pickle=False``; check its format and
        version. Returns ``(header, arrays)``; the arrays are read into memory."""
        path = self._existing(path)
        try:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {key: npz[key] for key in npz.files}
        except Exception as exc:  # zip, format and pickle refusals come in many types
            raise self.fail(path, f"not a readable {self.what} ({load_failure(exc)})") from None
        if HEADER_KEY not in arrays:
            raise self.fail(path, f"not an advex {self.what} (no header)")
        try:
            header = json.loads(str(arrays.pop(HEADER_KEY)))
        except json.JSONDecodeError as exc:
            raise self.fail(path, f"damaged header ({exc})") from None
        if not isinstance(header, dict):
            raise self.fail(path, f"damaged header (a {type(header).__name__}, not an object)")
        self._check_header(path, header)
        return header, arrays

    def check_array(
        self,
        path: str | os.PathLike,
        arrays: Mapping[str, np.ndarray],
        name: str,
        dtype: Any,
        shape: tuple[int, ...] | None = None,
        finite: bool = False,
    ) -> np.ndarray:
        """``arrays[name]``, checked for presence, ``dtype``, ``shape`` (if given) and, with
        ``finite``, for NaN or inf."""
        if name not in arrays:
            raise self.fail(path, f"array {name!r} is missing")
        arr = arrays[name]
        if arr.dtype != np.dtype(dtype):
            expected = np.dtype(dtype)
            raise self.fail(path, f"array {name!r} has dtype {arr.dtype}, expected {expected}")
        if shape is not None and arr.shape != tuple(shape):
            raise self.fail(path, f"array {name!r} has shape {arr.shape}, expected {tuple(shape)}")
        if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise self.fail(path, f"array {name!r} holds NaN or inf")
        return arr

    # ------------------------------------------------------------------ shared checks
    def _existing(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        if not path.is_file():
            raise self.fail(path, f"no such {self.what}")
        return path

    def _check_header(self, path: Path, header: Mapping[str, Any]) -> None:
        found = header.get("format")
        if found != self.name:
            named = f"its format is {found!r}" if found is not None else "it names no format"
            raise self.fail(path, f"not an advex {self.what} ({named}, expected {self.name!r})")
        version = header.get("format_version")
        if version != self.version:
            raise self.fail(
                path,
                f"{self.what} format version {version!r} is not supported (this advex reads "
                f"version {self.version}; write the file again with this advex)",
            )
