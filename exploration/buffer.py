"""Replay buffer: preallocated numpy storage of transitions, safe on disk.

The buffer is the one record of what a strategy paid environment steps for, so it is never
pickled, never half-written (atomic save) and never loaded without validation.
Shaped after mbrl-lib's ``util/replay_buffer.py``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from advex.atomic_io import load_failure
from advex.envs.frames import FrameError, FrameSpec
from advex.file_format import FileFormat
from advex.types import TransitionBatch


class BufferFullError(RuntimeError):
    """Raised when a fixed-capacity buffer cannot take more rows."""


class BufferFileError(ValueError):
    """A buffer file is missing, corrupt, truncated, of another version or holds NaN."""


#: The per-row contact label (:mod:`advex.envs.contacts`): 1 when a contact or a joint limit
#: acted during the transition. An extra column, kept by the buffers advex collects into.
CONTACT_COLUMN = "contact"

#: The file :meth:`ReplayBuffer.save` writes.
BUFFER_FILE = FileFormat("advex-replay-buffer", 1, "buffer file", BufferFileError)


def _fields(obs_dim: int, act_dim: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Per-row shape and dtype of every stored array (the on-disk schema too)."""
    return {
        "obs": ((obs_dim,), np.dtype(np.float32)),
        "act": ((act_dim,), np.dtype(np.float32)),
        "next_obs": ((obs_dim,), np.dtype(np.float32)),
        "reward": ((), np.dtype(np.float32)),
        "terminated": ((), np.dtype(np.bool_)),
        "truncated": ((), np.dtype(np.bool_)),
        "episode_id": ((), np.dtype(np.int64)),
    }


def row_bytes(obs_dim: int, act_dim: int) -> int:
    """Bytes one stored transition takes (every column of :func:`_fields`)."""
    return sum(
        int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
        for shape, dtype in _fields(obs_dim, act_dim).values()
    )


def check_fits_in_memory(n_rows: int, obs_dim: int, act_dim: int, what: str,
                         copies: int = 3, extra_row_bytes: int = 0) -> None:
    """One clear line, before any work, when ``n_rows`` transitions (held ``copies`` times:
    collection's staging arrays and the buffer's doubling) exceed the available memory;
    ``extra_row_bytes``: what each row holds beyond the vectors (frames).
    No check where the OS does not report available memory."""
    try:
        available = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return
    need = copies * n_rows * (row_bytes(obs_dim, act_dim) + extra_row_bytes)
    if need > available:
        raise ValueError(
            f"{what}: {n_rows} transitions need about {need / 2**30:.1f} GiB of memory, "
            f"{available / 2**30:.1f} GiB are available"
        )


def _split_hash(indices: np.ndarray, seed: int) -> np.ndarray:
    """SplitMix64 of ``(seed, index)`` mapped to [0, 1): a per-row coin that never changes."""
    with np.errstate(over="ignore"):
        z = indices.astype(np.uint64) + np.uint64(seed & 0xFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _check_frame_shape(shape: Any) -> tuple[int, int, int] | None:
    if shape is None:
        return None
    return FrameSpec.of_shape(tuple(int(x) for x in shape)).shape


def _frame_fields(shape: tuple[int, int, int] | None) -> dict[str, tuple[tuple[int, ...],
                                                                       np.dtype]]:
    if shape is None:
        return {}
    return {"frame": (shape, np.dtype(np.uint8)), "next_frame": (shape, np.dtype(np.uint8))}


def _check_column_names(names: tuple[str, ...]) -> tuple[str, ...]:
    reserved = set(_fields(1, 1)) | {"frame", "next_frame"}
    for name in names:
        if not isinstance(name, str) or not name.isidentifier() or name in reserved:
            raise ValueError(
                f"ReplayBuffer: extra column name {name!r} must be an identifier and not one "
                f"of {sorted(reserved)}"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"ReplayBuffer: extra columns repeat: {list(names)}")
    return names


class ReplayBuffer:
    """Transitions ``(s, a, s', r, terminated, truncated, episode_id)`` in preallocated arrays.

    ``capacity=None`` grows by doubling (amortised O(1) appends); an integer capacity is a hard
    limit and :class:`BufferFullError` says so when reached. ``extra_columns`` names optional
    per-row int64 labels (the coverage set's ``start_pool`` and ``rollout_step``), given to
    :meth:`add` as keywords, read with :meth:`column` and saved with the buffer.

    ``frame_shape`` ``(H, W, C)``: the buffer also keeps each row's rendered ``frame`` (of
    ``obs``) and ``next_frame`` (of ``next_obs``) as uint8 (:mod:`advex.envs.frames`), read
    with :meth:`frames`; both are given to :meth:`add`. A row's two frames are stored apart
    (not shared with the next row) so any subset of rows stands alone, as the vectors do.
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        capacity: int | None = None,
        initial_size: int = 1024,
        extra_columns: tuple[str, ...] = (),
        frame_shape: tuple[int, int, int] | None = None,
    ) -> None:
        if obs_dim <= 0 or act_dim <= 0:
            raise ValueError(
                f"ReplayBuffer: obs_dim and act_dim must be > 0, got {obs_dim}, {act_dim}"
            )
        if capacity is not None and capacity <= 0:
            raise ValueError(f"ReplayBuffer: capacity must be > 0 or None, got {capacity}")
        self.obs_dim = int(obs_dim)
        self.act_dim = int(act_dim)
        self.capacity = capacity
        self.extra_columns = _check_column_names(tuple(extra_columns))
        self.frame_shape = _check_frame_shape(frame_shape)
        #: Free-form string facts saved with the buffer (e.g. ``task``, set by collection).
        self.meta: dict[str, str] = {}
        size = capacity if capacity is not None else max(1, initial_size)
        self._data = {
            name: np.zeros((size, *shape), dtype=dtype)
            for name, (shape, dtype) in self._schema().items()
        }
        self._len = 0

    def _schema(self) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
        """Per-row shape and dtype of every stored array, extra columns included."""
        extra = {name: ((), np.dtype(np.int64)) for name in self.extra_columns}
        return {**_fields(self.obs_dim, self.act_dim), **extra,
                **_frame_fields(self.frame_shape)}

    @property
    def has_frames(self) -> bool:
        return self.frame_shape is not None

    # ------------------------------------------------------------------ adding
    def __len__(self) -> int:
        return self._len

    def _reserve(self, n_new: int) -> None:
        needed = self._len + n_new
        allocated = len(self._data["obs"])
        if needed <= allocated:
            return
        if self.capacity is not None:
            raise BufferFullError(
                f"ReplayBuffer is full: capacity {self.capacity}, holds {self._len}, "
                f"cannot add {n_new} (use capacity=None to grow)"
            )
        new_size = allocated
        while new_size < needed:
            new_size *= 2
        for name, arr in self._data.items():
            grown = np.zeros((new_size, *arr.shape[1:]), dtype=arr.dtype)
            grown[: self._len] = arr[: self._len]
            self._data[name] = grown

    def add(
        self,
        obs: np.ndarray,
        act: np.ndarray,
        next_obs: np.ndarray,
        reward: np.ndarray,
        terminated: np.ndarray,
        truncated: np.ndarray,
        episode_id: int | np.ndarray,
        frame: np.ndarray | None = None,
        next_frame: np.ndarray | None = None,
        **extra: np.ndarray,
    ) -> None:
        """Append ``N`` rows (``obs N x O``, ``act N x A``, ...); single rows may be 1-D.
        ``extra`` gives every extra column (``N`` ints each), no more and no fewer;
        ``frame``/``next_frame`` (``N x H x W x C`` uint8) exactly when the buffer keeps
        frames."""
        if set(extra) != set(self.extra_columns):
            raise ValueError(
                f"ReplayBuffer.add: extra columns {sorted(extra)} given, the buffer has "
                f"{sorted(self.extra_columns)}; nothing was added"
            )
        given = (frame is not None, next_frame is not None)
        if given != (self.has_frames, self.has_frames):
            raise ValueError(
                "ReplayBuffer.add: frame and next_frame must be given exactly when the buffer "
                f"keeps frames (its frame_shape is {self.frame_shape}); nothing was added"
            )
        obs = np.atleast_2d(np.asarray(obs, dtype=np.float32))
        n = len(obs)
        values = {
            "obs": obs,
            "act": np.asarray(act, dtype=np.float32).reshape(n, -1),
            "next_obs": np.asarray(next_obs, dtype=np.float32).reshape(n, -1),
            "reward": np.asarray(reward, dtype=np.float32).reshape(n),
            "terminated": np.asarray(terminated, dtype=np.bool_).reshape(n),
            "truncated": np.asarray(truncated, dtype=np.bool_).reshape(n),
            "episode_id": np.broadcast_to(np.asarray(episode_id, dtype=np.int64), (n,)),
            **{
                name: np.broadcast_to(np.asarray(value, dtype=np.int64), (n,))
                for name, value in extra.items()
            },
        }
        if frame is not None and next_frame is not None:
            for name, value in (("frame", frame), ("next_frame", next_frame)):
                if np.asarray(value).dtype != np.uint8:
                    raise ValueError(f"ReplayBuffer.add: {name} must be uint8, got "
                                     f"{np.asarray(value).dtype}; nothing was added")
                values[name] = np.asarray(value).reshape(n, *np.shape(value)[-3:])
        for name, (shape, _) in self._schema().items():
            if values[name].shape[1:] != shape:
                raise ValueError(
                    f"ReplayBuffer.add: {name} rows have shape {values[name].shape[1:]}, "
                    f"expected {shape}"
                )
        for name in ("obs", "act", "next_obs", "reward"):
            if not np.isfinite(values[name]).all():
                raise ValueError(f"ReplayBuffer.add: {name} holds NaN or inf; nothing was added")
        self._reserve(n)
        for name, value in values.items():
            self._data[name][self._len : self._len + n] = value
        self._len += n

    def add_batch(self, batch: TransitionBatch, episode_id: int | np.ndarray) -> None:
        """Append a :class:`TransitionBatch`."""
        self.add(
            batch.obs,
            batch.act,
            batch.next_obs,
            batch.reward,
            batch.terminated,
            batch.truncated,
            episode_id,
        )

    # ------------------------------------------------------------------ reading
    @property
    def episode_id(self) -> np.ndarray:
        return self._data["episode_id"][: self._len]

    def column(self, name: str) -> np.ndarray:
        """The ``N`` values of extra column ``name`` (a read-only view)."""
        if name not in self.extra_columns:
            raise KeyError(f"ReplayBuffer has no column {name!r}; extra columns: "
                           f"{list(self.extra_columns)}")
        view = self._data[name][: self._len]
        view.flags.writeable = False
        return view

    @property
    def labels_contacts(self) -> bool:
        """Whether the rows carry contact labels (the :data:`CONTACT_COLUMN` column)."""
        return CONTACT_COLUMN in self.extra_columns

    def contact_frac(self) -> float | None:
        """Share of the rows labelled contact; ``None`` when the buffer has no labels or no
        rows (a buffer filled without a :class:`~advex.envs.contacts.ContactMonitor`)."""
        if not self.labels_contacts or self._len == 0:
            return None
        return float(np.mean(self.column(CONTACT_COLUMN) != 0))

    def batch(self, indices: np.ndarray | None = None) -> TransitionBatch:
        """A copy of the rows at ``indices`` (all rows when ``None``)."""
        sel: slice | np.ndarray
        if indices is None:
            sel = slice(0, self._len)
        else:
            sel = np.asarray(indices, dtype=np.int64)
            if len(sel) and (sel.min() < 0 or sel.max() >= self._len):
                raise IndexError(f"ReplayBuffer.batch: index out of range for {self._len} rows")
        d = self._data
        return TransitionBatch(
            obs=d["obs"][sel].copy(),
            act=d["act"][sel].copy(),
            next_obs=d["next_obs"][sel].copy(),
            reward=d["reward"][sel].copy(),
            terminated=d["terminated"][sel].copy(),
            truncated=d["truncated"][sel].copy(),
        )

    def frames(self, indices: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Copies of ``(frame, next_frame)`` at ``indices`` (all rows when ``None``), each
        ``N x H x W x C`` uint8; a buffer without frames says so in one line."""
        if not self.has_frames:
            raise FrameError(
                "this buffer holds no frames; collect with frames (advex collect --frames 64)"
            )
        sel: slice | np.ndarray = slice(0, self._len) if indices is None else np.asarray(
            indices, dtype=np.int64
        )
        if isinstance(sel, np.ndarray) and len(sel) and (sel.min() < 0 or sel.max() >= self._len):
            raise IndexError(f"ReplayBuffer.frames: index out of range for {self._len} rows")
        return self._data["frame"][sel].copy(), self._data["next_frame"][sel].copy()

    def sample(self, batch_size: int, rng: np.random.Generator) -> TransitionBatch:
        """``batch_size`` rows drawn uniformly with replacement."""
        if self._len == 0:
            raise ValueError("ReplayBuffer.sample: the buffer is empty")
        return self.batch(rng.integers(0, self._len, size=batch_size))

    def iterate(
        self, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[TransitionBatch]:
        """One pass over all rows in minibatches (shuffled when ``rng`` is given)."""
        order = rng.permutation(self._len) if rng is not None else np.arange(self._len)
        for start in range(0, self._len, batch_size):
            yield self.batch(order[start : start + batch_size])

    def split(self, val_fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Disjoint ``(train_idx, val_idx)``; a row's side depends only on ``(seed, index)``.

        Because the side never changes as the buffer grows, a warm-started refit never trains
        on a row it validated on before.
        """
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(
                f"ReplayBuffer.split: val_fraction must be in [0, 1), got {val_fraction}"
            )
        idx = np.arange(self._len)
        is_val = _split_hash(idx, seed) < val_fraction
        return idx[~is_val], idx[is_val]

    # ------------------------------------------------------------------ disk
    def save(self, path: str | os.PathLike) -> Path:
        """Write one ``.npz`` atomically as a :data:`BUFFER_FILE`, the schema in its header."""
        header = {
            "length": self._len,
            "obs_dim": self.obs_dim,
            "act_dim": self.act_dim,
            "capacity": self.capacity,
            "meta": self.meta,
            "extra_columns": list(self.extra_columns),
            "frame_shape": None if self.frame_shape is None else list(self.frame_shape),
            "fields": {
                name: {"shape": [self._len, *shape], "dtype": dtype.str}
                for name, (shape, dtype) in self._schema().items()
            },
        }
        arrays = {name: arr[: self._len] for name, arr in self._data.items()}
        return BUFFER_FILE.save_arrays(path, arrays, header, compress=self.has_frames)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReplayBuffer:
        """Read and validate a file written by :meth:`save`; never unpickles."""
        path = Path(path)
        header, npz = BUFFER_FILE.load_arrays(path)
        try:
            n, obs_dim, act_dim = (int(header[key]) for key in ("length", "obs_dim", "act_dim"))
            extra_columns = _check_column_names(tuple(header.get("extra_columns", [])))
            frame_shape = header.get("frame_shape")  # files written before frames have none
            buf = cls(
                obs_dim,
                act_dim,
                capacity=header.get("capacity"),
                initial_size=max(1, n),
                extra_columns=extra_columns,
                frame_shape=None if frame_shape is None else tuple(frame_shape),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BUFFER_FILE.fail(path, f"damaged header ({load_failure(exc)})") from None
        if buf.capacity is not None and n > buf.capacity:
            raise BUFFER_FILE.fail(path, f"holds {n} rows, more than its capacity {buf.capacity}")
        expected = buf._schema()
        arrays = {
            name: BUFFER_FILE.check_array(path, npz, name, dtype, (n, *shape), finite=True)
            for name, (shape, dtype) in expected.items()
        }
        buf._reserve(n)
        for name, arr in arrays.items():
            buf._data[name][:n] = arr
        buf._len = n
        buf.meta = {str(k): str(v) for k, v in header.get("meta", {}).items()}
        return buf

    def __repr__(self) -> str:
        cap = "growing" if self.capacity is None else f"capacity={self.capacity}"
        return (
            f"ReplayBuffer(len={self._len}, obs_dim={self.obs_dim}, act_dim={self.act_dim}, {cap})"
        )
