"""One Markdown table writer for every report that has a Markdown form (audit, parity, drills)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Given headers and rows, return the table's lines; a cell's pipes are escaped and its line breaks
    folded, so no value can break the table."""
    return [_line(headers), "| " + " | ".join("---" for _ in headers) + " |", *(_line(row) for row in rows)]


def _line(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(value: object) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown_cell(value: object) -> str:
    """Given a value, return it fit for one table cell (pipes escaped, line breaks folded)."""
    return _cell(value)
