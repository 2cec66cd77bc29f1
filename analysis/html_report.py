"""``report.html``: one self-contained page of a comparison, for a browser.

Config, the headline table with its CIs (and the secondary tables), the sample-efficiency
curves, the coverage maps and the predicted-vs-true rollouts. Every image is embedded as a
``data:`` URI and there is no script, stylesheet or font to fetch: the file opens offline, can
be mailed or attached to an issue, and makes no network request.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from advex.analysis.summary import table_cells, table_legend
from advex.atomic_io import write_text_atomic

_STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; padding: 0 1em;
       color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f0f0f0; }
img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
.note { background: #fff4d6; padding: 0.6em; border-left: 4px solid #e0a800; }
.legend { color: #555; font-size: 0.85em; margin: 0; }
"""


def _image(title: str, path: Path) -> str:
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    alt = html.escape(title)
    return f'<h2>{alt}</h2>\n<img alt="{alt}" src="data:image/png;base64,{data}">'


def _table(table: pd.DataFrame, caption: str) -> str:
    header, rows = table_cells(table)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in header)
    body = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows
    )
    legend = "".join(f'<p class="legend">{html.escape(line)}</p>' for line in table_legend(table))
    return (f"<h3>{html.escape(caption)}</h3>\n{legend}\n"
            f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>")


def write_html_report(
    out: Path,
    title: str,
    notes: Sequence[str],
    tables: Sequence[tuple[str, pd.DataFrame]],
    images: Sequence[tuple[str, Path]],
    config: dict[str, Any],
    missing: Sequence[str] = (),
) -> Path:
    """Write ``out/report.html``: ``notes`` (plain-text paragraphs: one opening with ``**`` is
    a highlighted warning, one opening with ``- `` a bullet; no other markdown), then
    ``tables`` (caption, :func:`~advex.analysis.summary.summary_table`), ``images`` (title,
    PNG path; embedded), ``missing`` (lines saying which pictures the folder cannot give and
    why) and ``config`` (as JSON)."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for note in notes:
        text = html.escape(note.replace("**", ""))
        if note.startswith("- "):  # a markdown bullet: items of one list
            parts.append(f"<ul><li>{text[2:]}</li></ul>")
        else:
            parts.append(f'<p class="note">{text}</p>' if note.startswith("**")
                         else f"<p>{text}</p>")
    parts += [_table(table, caption) for caption, table in tables]
    parts += [_image(name, path) for name, path in images]
    parts += [f'<p class="note">{html.escape(line)}</p>' for line in missing]
    parts += ["<h2>Configuration</h2>",
              f"<pre>{html.escape(json.dumps(config, indent=2, sort_keys=True))}</pre>",
              "</body></html>"]
    page = "\n".join(parts).replace("</ul>\n<ul>", "")  # consecutive bullets: one list
    return write_text_atomic(Path(out) / "report.html", page + "\n")
