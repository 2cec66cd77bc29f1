"""Replay buffer: growth, sampling, split disjointness, atomic save and refusing bad files."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from advex.exploration.buffer import BufferFileError, BufferFullError, ReplayBuffer

OBS, ACT = 3, 2


def _rows(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "obs": rng.normal(size=(n, OBS)),
        "act": rng.uniform(-1, 1, size=(n, ACT)),
        "next_obs": rng.normal(size=(n, OBS)),
        "reward": rng.normal(size=n),
        "terminated": rng.random(n) < 0.1,
        "truncated": rng.random(n) < 0.1,
        "episode_id": np.arange(n) // 10,
    }


def _filled(n: int = 100) -> ReplayBuffer:
    buf = ReplayBuffer(OBS, ACT, initial_size=4)
    buf.add(**_rows(n))
    return buf


def test_grows_by_doubling_and_keeps_rows() -> None:
    buf = ReplayBuffer(OBS, ACT, initial_size=4)
    rows = _rows(37)
    for start in range(0, 37, 5):
        buf.add(**{k: v[start : start + 5] for k, v in rows.items()})
    assert len(buf) == 37
    np.testing.assert_array_equal(buf.batch().obs, rows["obs"].astype(np.float32))
    np.testing.assert_array_equal(buf.episode_id, rows["episode_id"])


def test_fixed_capacity_full_error_names_capacity() -> None:
    buf = ReplayBuffer(OBS, ACT, capacity=10)
    buf.add(**_rows(8))
    with pytest.raises(BufferFullError, match="capacity 10"):
        buf.add(**_rows(3))
    assert len(buf) == 8  # nothing half-added


def test_add_refuses_nan_and_wrong_shapes_without_changing_buffer() -> None:
    buf = _filled(10)
    bad = _rows(2)
    bad["obs"][0, 0] = np.nan
    with pytest.raises(ValueError, match="obs holds NaN"):
        buf.add(**bad)
    wrong = _rows(2)
    wrong["act"] = np.zeros((2, ACT + 1))
    with pytest.raises(ValueError, match="act rows have shape"):
        buf.add(**wrong)
    assert len(buf) == 10


def test_sample_is_seeded_and_uniform() -> None:
    buf = _filled(50)
    a = buf.sample(20, np.random.default_rng(3))
    b = buf.sample(20, np.random.default_rng(3))
    np.testing.assert_array_equal(a.obs, b.obs)
    big = buf.sample(5000, np.random.default_rng(1))
    _, counts = np.unique(big.obs[:, 0], return_counts=True)
    assert len(counts) == 50  # every row is reachable
    assert counts.min() > 50 and counts.max() < 150  # ~100 each: uniform


def test_iterate_visits_every_row_once() -> None:
    buf = _filled(53)
    seen = np.concatenate([b.obs[:, 0] for b in buf.iterate(8, np.random.default_rng(0))])
    assert sorted(seen.tolist()) == sorted(buf.batch().obs[:, 0].tolist())


def test_split_is_disjoint_complete_and_stable_as_buffer_grows() -> None:
    buf = _filled(1000)
    train, val = buf.split(0.2, seed=7)
    assert len(np.intersect1d(train, val)) == 0
    assert len(train) + len(val) == 1000
    assert 150 < len(val) < 250
    buf.add(**_rows(500, seed=1))
    train2, val2 = buf.split(0.2, seed=7)
    np.testing.assert_array_equal(val2[val2 < 1000], val)  # old rows keep their side
    other_train, _ = buf.split(0.2, seed=8)
    assert not np.array_equal(other_train[:100], train2[:100])


def test_save_load_round_trip(tmp_path: Path) -> None:
    buf = _filled(77)
    buf.meta["task"] = "Hopper-v5"
    path = buf.save(tmp_path / "sub" / "buf.npz")
    loaded = ReplayBuffer.load(path)
    assert len(loaded) == 77
    assert loaded.meta == {"task": "Hopper-v5"}
    for name in ("obs", "act", "next_obs", "reward", "terminated", "truncated"):
        np.testing.assert_array_equal(getattr(loaded.batch(), name), getattr(buf.batch(), name))
    np.testing.assert_array_equal(loaded.episode_id, buf.episode_id)
    loaded.add(**_rows(5))  # a loaded buffer keeps growing
    assert len(loaded) == 82
    assert list(tmp_path.joinpath("sub").iterdir()) == [path]  # no temp file left behind


def test_failed_save_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _filled(10).save(tmp_path / "buf.npz")
    before = path.read_bytes()

    def crash(*args: object, **kwargs: object) -> None:
        raise OSError("disk died mid-save")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk died"):
        _filled(20).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["buf.npz"]


def _rewrite(path: Path, mutate) -> None:  # type: ignore[no-untyped-def]
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    mutate(arrays)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _set_version(arrays: dict) -> None:  # type: ignore[type-arg]
    header = json.loads(str(arrays["__header__"]))
    header["format_version"] = 99
    arrays["__header__"] = np.array(json.dumps(header))


def _put_nan(arrays: dict) -> None:  # type: ignore[type-arg]
    arrays["next_obs"] = arrays["next_obs"].copy()
    arrays["next_obs"][3, 1] = np.nan


def _drop_reward(arrays: dict) -> None:  # type: ignore[type-arg]
    del arrays["reward"]


def _bad_dtype(arrays: dict) -> None:  # type: ignore[type-arg]
    arrays["obs"] = arrays["obs"].astype(np.float64)


def _short(arrays: dict) -> None:  # type: ignore[type-arg]
    arrays["act"] = arrays["act"][:-1]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (_set_version, "format version 99"),
        (_put_nan, "'next_obs' holds NaN"),
        (_drop_reward, "'reward' is missing"),
        (_bad_dtype, "'obs' has dtype float64"),
        (_short, "'act' has shape"),
    ],
)
def test_load_refuses_bad_contents(tmp_path: Path, mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    path = _filled(10).save(tmp_path / "buf.npz")
    _rewrite(path, mutate)
    with pytest.raises(BufferFileError, match=message) as err:
        ReplayBuffer.load(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_load_refuses_truncated_and_garbage_and_missing(tmp_path: Path) -> None:
    path = _filled(200).save(tmp_path / "buf.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(BufferFileError, match="buf.npz: not a readable buffer file"):
        ReplayBuffer.load(path)
    path.write_bytes(b"not a zip at all")
    with pytest.raises(BufferFileError, match="buf.npz: not a readable buffer file"):
        ReplayBuffer.load(path)
    with pytest.raises(BufferFileError, match="no such buffer file"):
        ReplayBuffer.load(tmp_path / "missing.npz")


def test_load_never_unpickles(tmp_path: Path) -> None:
    path = tmp_path / "evil.npz"
    with zipfile.ZipFile(path, "w") as z:
        with z.open("__header__.npy", "w") as f:
            np.save(f, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BufferFileError):
        ReplayBuffer.load(path)
