"""The one versioned file helper: round trips, and the same refusals for every file kind."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from advex.file_format import FileFormat


class ThingFileError(ValueError):
    pass


THING = FileFormat("advex-thing", 3, "thing file", ThingFileError)
OTHER = FileFormat("advex-other", 3, "other file", ThingFileError)


def test_tensor_files_round_trip_with_name_and_version(tmp_path: Path) -> None:
    path = THING.save_tensors(tmp_path / "sub" / "t.pt", {"w": torch.arange(3), "n": 2})
    payload = THING.load_tensors(path, ("w", "n"))
    assert torch.equal(payload["w"], torch.arange(3)) and payload["n"] == 2
    assert payload["format"] == "advex-thing" and payload["format_version"] == 3
    assert [p.name for p in path.parent.iterdir()] == ["t.pt"]  # atomic: no temp file left


def test_array_files_round_trip_with_header(tmp_path: Path) -> None:
    arrays = {"x": np.arange(6, dtype=np.float32).reshape(2, 3)}
    path = THING.save_arrays(tmp_path / "a.npz", arrays, {"task": "T"})
    header, loaded = THING.load_arrays(path)
    assert header == {"format": "advex-thing", "format_version": 3, "task": "T"}
    assert np.array_equal(THING.check_array(path, loaded, "x", np.float32, (2, 3)), arrays["x"])


@pytest.mark.parametrize("kind", ["tensors", "arrays"])
def test_every_refusal_is_one_line_naming_the_file(tmp_path: Path, kind: str) -> None:
    save = THING.save_tensors if kind == "tensors" else THING.save_arrays
    load = THING.load_tensors if kind == "tensors" else THING.load_arrays
    with pytest.raises(ThingFileError, match="missing.bin: no such thing file"):
        load(tmp_path / "missing.bin")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"not a file of any kind")
    with pytest.raises(ThingFileError, match="garbage.bin: not a readable thing file"):
        load(garbage)
    other = tmp_path / "other.bin"
    (OTHER.save_tensors if kind == "tensors" else OTHER.save_arrays)(other, {})
    with pytest.raises(ThingFileError, match="its format is 'advex-other', expected 'advex-thing'"):
        load(other)
    old = tmp_path / "old.bin"
    older = FileFormat("advex-thing", 2, "thing file", ThingFileError)
    (older.save_tensors if kind == "tensors" else older.save_arrays)(old, {})
    with pytest.raises(ThingFileError, match="thing file format version 2 is not supported"):
        load(old)
    good = save(tmp_path / "good.bin", {})
    good.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ThingFileError, match="good.bin: not a readable thing file") as info:
        load(good)
    assert "\n" not in str(info.value)


def test_tensor_files_missing_keys_and_unnamed_files(tmp_path: Path) -> None:
    path = THING.save_tensors(tmp_path / "t.pt", {"w": 1})
    with pytest.raises(ThingFileError, match="missing key\\(s\\) state_dict"):
        THING.load_tensors(path, ("w", "state_dict"))
    torch.save({"w": 1}, tmp_path / "plain.pt")
    with pytest.raises(ThingFileError, match="it names no format"):
        THING.load_tensors(tmp_path / "plain.pt")
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(ThingFileError, match="holds a list"):
        THING.load_tensors(tmp_path / "list.pt")


class Payload:
    """Any class: ``torch.load(weights_only=True)`` must refuse to rebuild it."""


def test_pickled_contents_are_never_loaded_or_written(tmp_path: Path) -> None:
    torch.save({"format": "advex-thing", "format_version": 3, "x": Payload()}, tmp_path / "p.pt")
    with pytest.raises(ThingFileError, match="advex never unpickles"):
        THING.load_tensors(tmp_path / "p.pt")
    np.savez(tmp_path / "o.npz", __header__=np.array(json.dumps({"format": "advex-thing"})),
             x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ThingFileError, match="not a readable thing file"):
        THING.load_arrays(tmp_path / "o.npz")
    with pytest.raises(TypeError, match="object arrays would need pickle: x"):
        THING.save_arrays(tmp_path / "w.npz", {"x": np.array([{"a": 1}], dtype=object)})
    with pytest.raises(ValueError, match="reserved"):
        THING.save_arrays(tmp_path / "w.npz", {"__header__": np.zeros(1)})


def test_check_array_names_the_array_and_the_problem(tmp_path: Path) -> None:
    arrays = {"x": np.array([1.0, np.nan], dtype=np.float32)}
    for args, message in [
        (("y", np.float32), "array 'y' is missing"),
        (("x", np.float64), "array 'x' has dtype float32, expected float64"),
        (("x", np.float32, (3,)), r"array 'x' has shape \(2,\), expected \(3,\)"),
    ]:
        with pytest.raises(ThingFileError, match=message):
            THING.check_array(tmp_path / "f", arrays, *args)
    with pytest.raises(ThingFileError, match="'x' holds NaN or inf"):
        THING.check_array(tmp_path / "f", arrays, "x", np.float32, finite=True)
    assert THING.check_array(tmp_path / "f", arrays, "x", np.float32).shape == (2,)
