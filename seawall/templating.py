"""The templating every document writer shares (the ops documents, the fleet page, incident reports and
escalations): one Jinja2 environment over the project's and the shipped templates, the filters the templates
use, and the tidying that gives rendered Markdown the same blank lines whatever a template's whitespace.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path

import jinja2

from seawall.markdown import markdown_cell, markdown_code, markdown_text
from seawall.model.types import format_duration


def template_environment(project_templates: Path | None, html: bool = False) -> jinja2.Environment:
    """Given the project's templates folder (None or absent: only the shipped ones), return the Jinja2
    environment: a project's file overrides the shipped file of the same name. ``html`` escapes every
    value (the fleet page); Markdown values go through the ``cell`` filter instead."""
    shipped = Path(str(resources.files("seawall").joinpath("templates")))
    folders = [str(path) for path in (project_templates, shipped) if path is not None and path.is_dir()]
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=html,  # noqa: S701 - Markdown is not HTML; its values go through the cell filter
    )
    environment.filters.update(
        cell=markdown_cell,
        text=markdown_text,
        code=markdown_code,
        duration=duration,
        money=money,
        sentence=_sentence,
        link=_link,
        size=_size,
    )
    return environment


def duration(value: dt.timedelta | float | None) -> str:
    """Given a duration (or seconds), return it as the model writes durations (``2h30m``); ``-`` for none."""
    if value is None:
        return "-"
    seconds = value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
    return format_duration(dt.timedelta(seconds=max(0, round(seconds))))


def money(value: float | None) -> str:
    """Given a monthly price, return it with two decimals; ``?`` when unknown."""
    return "?" if value is None else f"{value:,.2f}"


def _size(value: float | None) -> str:
    """Given bytes, return them with a binary unit (``1.5 GiB``); ``-`` for none."""
    if value is None:
        return "-"
    amount, units = float(value), ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    for unit in units:
        if abs(amount) < 1024 or unit == units[-1]:
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return "-"


def _link(text: str) -> str:
    """Given a value that may be a URL (an issue), return it as a Markdown autolink when it is one."""
    return f"<{text}>" if re.match(r"^https?://\S+$", text) else text


def _sentence(text: str) -> str:
    """Given a description, return it ending as a sentence does."""
    text = text.strip()
    return text if not text or text[-1] in ".!?" else text + "."


def tidy_markdown(text: str) -> str:
    """Given rendered Markdown, return it with one blank line around headings, fences and lists (whatever
    a template's whitespace), none doubled, no trailing spaces, one final newline."""
    tidy: list[str] = []
    fence = False
    for raw in text.splitlines():
        line = raw.rstrip()
        is_fence = line.lstrip().startswith("```")
        opening = is_fence and not fence
        heading = not fence and line.startswith("#")
        starts_list = not fence and _LIST_ITEM.match(line) is not None and bool(tidy) and not _in_list(tidy[-1])
        if (opening or heading or starts_list) and tidy and tidy[-1] != "":
            tidy.append("")
        if line == "" and (not tidy or tidy[-1] == "") and not fence:
            continue
        if tidy and not fence and tidy[-1].startswith("#") and line != "":
            tidy.append("")
        tidy.append(line)
        if is_fence:
            fence = not fence
            if not fence:
                tidy.append("")
    while tidy and tidy[-1] == "":
        tidy.pop()
    return "\n".join(_single_blanks(tidy)) + "\n"


_LIST_ITEM = re.compile(r"^(\s*)([-*]|\d+\.) ")


def _in_list(line: str) -> bool:
    return _LIST_ITEM.match(line) is not None or (line.startswith("  ") and line.strip() != "")


def _single_blanks(lines: list[str]) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line == "" and out and out[-1] == "":
            continue
        out.append(line)
    return out
