"""One Markdown table writer for every report that has a Markdown form (audit, parity, drills)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

# Characters that open Markdown structure anywhere in a line: code spans, links and images, HTML, table
# cells, emphasis and strikethrough, and the backslash that escapes them.
_INLINE = re.compile(r"([\\`\[\]<>|*_~])")
# What opens a block when it begins a line: a heading, a list item, a quote, a rule, a fence, a setext line.
_BLOCK_START = re.compile(r"^([#>+=-])")
_ORDERED = re.compile(r"^(\d{1,9})([.)])")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    """Given headers and rows, return the table's lines; a cell's pipes are escaped and its line breaks
    folded, so no value can break the table."""
    return [_line(headers), "| " + " | ".join("---" for _ in headers) + " |", *(_line(row) for row in rows)]


def _line(cells: Sequence[object]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(value: object) -> str:
    return " ".join(str(value).split()).replace("|", "\\|")


def markdown_text(value: object) -> str:
    """Given text from the model (a description, a note), return it as one line of plain Markdown text:
    line breaks folded, and every character that would open a heading, list, fence, table, link, HTML or
    emphasis escaped, so the text reads as written and never changes the document's structure."""
    text = _INLINE.sub(r"\\\1", " ".join(str(value).split()))
    text = _BLOCK_START.sub(r"\\\1", text)
    return _ORDERED.sub(r"\1\\\2", text)


def markdown_code(value: object) -> str:
    """Given text (a path, a command), return it as one inline code span, however many backticks it holds."""
    text = " ".join(str(value).split())
    runs = [len(run) for run in re.findall(r"`+", text)]
    fence = "`" * (max(runs, default=0) + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") else text
    return f"{fence}{padded}{fence}"


def markdown_cell(value: object) -> str:
    """Given a value, return it fit for one table cell (pipes escaped, line breaks folded)."""
    return _cell(value)
