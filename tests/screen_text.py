"""The text of a Textual SVG screenshot, line by line, so a snapshot failure can say what differs."""

from __future__ import annotations

import html
import re
from pathlib import Path

_CELL = re.compile(r'<text [^>]*x="([\d.]+)"[^>]*clip-path="url\(#terminal-(?:\d+-)?line-(\d+)\)"[^>]*>(.*?)</text>', re.S)
_CELL_WIDTH = 12.2  # Textual's SVG export: one terminal column, in SVG units; column 0 is at x=0


def svg_lines(svg: str) -> list[str]:
    """The screen's rows as plain text (styles dropped)."""
    rows: dict[int, dict[int, str]] = {}
    for x, row, text in _CELL.findall(svg):
        column = round(float(x) / _CELL_WIDTH)
        for offset, char in enumerate(html.unescape(text).replace("\xa0", " ")):
            rows.setdefault(int(row), {})[column + offset] = char
    lines = []
    for row in range(max(rows, default=-1) + 1):
        cells = rows.get(row, {})
        lines.append("".join(cells.get(column, " ") for column in range(max(cells, default=-1) + 1)).rstrip())
    return lines


def text_difference(expected_svg: Path, actual_svg: str) -> str:
    """The rows that differ between a stored snapshot and a new screenshot, for the failure message."""
    expected, actual = svg_lines(expected_svg.read_text(encoding="utf-8")), svg_lines(actual_svg)
    lines = [f"row {row}: expected {e!r}\n        actual   {a!r}"
             for row, (e, a) in enumerate(zip(expected, actual)) if e != a]
    if len(expected) != len(actual):
        lines.append(f"{len(expected)} rows expected, {len(actual)} rows now")
    return "\n".join(lines) or "the text is the same: only colours or styles differ"
