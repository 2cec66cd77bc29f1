"""The committed grid results rebuild to the committed tables (``advex report`` reproduces
them anywhere, without rerunning anything).

Floats are compared with a tolerance, never as text: the bootstrap's last digits differ
between CPUs (AVX2 against AVX-512 rounding), so ``0.9848971884297`` and ``0.98489718843``
are the same result. Everything that is not a number (names, verdicts) must match exactly.
"""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pytest

from advex.analysis.grid_report import write_grid_report

RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
GRIDS = sorted(p for p in RESULTS.glob("*") if (p / "headline.csv").is_file())
#: Relative tolerance of a float written in full (``repr``) in a CSV.
REL_TOL = 1e-9
_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?")


def _last_place(text: str) -> float:
    """One unit in the last written decimal of a rounded number (``"0.985"`` -> 0.001), 0
    for an integer: a table rounds to a few digits, and a last-digit flip is float noise."""
    mantissa, _, exponent = text.lower().partition("e")
    if "." not in mantissa:
        return 0.0
    decimals = len(mantissa.split(".")[1])
    return 10.0 ** (-decimals + (int(exponent) if exponent else 0))


def differences(expected: str, actual: str, rel_tol: float = REL_TOL) -> list[str]:
    """Where two texts differ beyond float noise: the text between numbers must be equal,
    numbers must agree to ``rel_tol`` (or to one unit of their last written decimal, for
    the rounded numbers of a table). Returns one line per difference (empty: the same)."""
    words_e, words_a = _NUMBER.split(expected), _NUMBER.split(actual)
    numbers_e, numbers_a = _NUMBER.findall(expected), _NUMBER.findall(actual)
    if words_e != words_a or len(numbers_e) != len(numbers_a):
        lines_e, lines_a = expected.splitlines(), actual.splitlines()
        for line_e, line_a in zip(lines_e, lines_a, strict=False):
            if _NUMBER.split(line_e) != _NUMBER.split(line_a):
                return [f"text differs: {line_e!r} != {line_a!r}"]
        return [f"line counts differ: {len(lines_e)} != {len(lines_a)}"]
    out = []
    for text_e, text_a in zip(numbers_e, numbers_a, strict=True):
        x, y = float(text_e), float(text_a)
        tolerance = max(_last_place(text_e), _last_place(text_a))
        if not (math.isclose(x, y, rel_tol=rel_tol) or abs(x - y) <= tolerance * (1 + 1e-9)):
            out.append(f"{text_e} != {text_a}")
    return out


def test_there_are_committed_grids() -> None:
    assert GRIDS, f"no grid with a headline.csv under {RESULTS}"


@pytest.mark.parametrize("grid", GRIDS, ids=[g.name for g in GRIDS])
def test_report_rebuilds_the_committed_headline(grid: Path, tmp_path: Path) -> None:
    copy = tmp_path / grid.name
    shutil.copytree(grid, copy)
    for generated in ("headline.csv", "report.md"):
        (copy / generated).unlink()
    write_grid_report([copy], copy)
    # report.md names its folders relative to the grid, so it is the same text too
    for generated in ("headline.csv", "report.md"):
        expected, rebuilt = (grid / generated).read_text(), (copy / generated).read_text()
        assert differences(expected, rebuilt) == [], generated


def _perturbed(text: str, rel: float) -> str:
    """``text`` with its first full-precision float (``repr``, >= 10 digits) scaled by
    ``1 + rel`` and written in full again."""
    match = next(m for m in _NUMBER.finditer(text) if len(m.group()) >= 12)
    value = float(match.group()) * (1 + rel)
    return text[: match.start()] + repr(value) + text[match.end():]


@pytest.mark.parametrize("grid", GRIDS, ids=[g.name for g in GRIDS])
def test_float_noise_is_tolerated_and_real_changes_are_not(grid: Path) -> None:
    headline = (grid / "headline.csv").read_text()
    assert differences(headline, _perturbed(headline, 1e-12)) == []
    assert differences(headline, _perturbed(headline, 1e-6)) != []
    verdict_changed = headline.rstrip("\n") + " (edited)\n"  # the last row's verdict
    assert differences(headline, verdict_changed) != []


def test_rounded_table_numbers_allow_one_last_digit() -> None:
    assert differences("| 0.985 [0.97, 1.00] |", "| 0.986 [0.97, 1.00] |") == []
    assert differences("| 0.985 |", "| 0.987 |") == ["0.985 != 0.987"]
    assert differences("| 5 seeds |", "| 4 seeds |") == ["5 != 4"]  # integers: exact
    assert differences("goal met", "goal not met") != []
