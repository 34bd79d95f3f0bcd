"""Prometheus textfile metrics and healthchecks-style pings.

Metrics are written for node_exporter's textfile collector, one file per host and set, atomically.
A ping failure is logged and never fails the backup it reports on.
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path

from seawall.files import write_atomically

logger = logging.getLogger(__name__)


def render_metrics(
    prefix: str, labels: Mapping[str, str], values: Mapping[str, float | None], help_texts: Mapping[str, str]
) -> str:
    """Given a prefix, labels and values, return Prometheus text exposition (values of None are left out)."""
    return render_series(prefix, [(labels, values)], help_texts)


def render_series(
    prefix: str,
    series: Iterable[tuple[Mapping[str, str], Mapping[str, float | None]]],
    help_texts: Mapping[str, str],
) -> str:
    """Given a prefix and (labels, values) pairs, return Prometheus text exposition: each metric's HELP and
    TYPE once, then its samples together, as the text format requires (values of None are left out)."""
    samples: dict[str, list[str]] = {}
    for labels, values in series:
        label_text = ",".join(f'{key}="{_escape(value)}"' for key, value in sorted(labels.items()))
        for name, value in values.items():
            if value is not None:
                number = float(value)
                shown = int(number) if number.is_integer() else repr(number)
                samples.setdefault(name, []).append(f"{prefix}_{name}{{{label_text}}} {shown}")
    lines = []
    for name, rows in samples.items():
        lines += [f"# HELP {prefix}_{name} {help_texts.get(name, name)}", f"# TYPE {prefix}_{name} gauge", *rows]
    return "\n".join(lines) + "\n"


def write_metrics(directory: Path, name: str, text: str) -> Path:
    """Given the textfile folder, a file name and metrics text, write ``name.prom`` atomically."""
    path = directory / f"{name}.prom"
    write_atomically(path, text)
    return path


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def ping(url: str | None, event: str) -> None:
    """Given a healthchecks-style URL and ``start``, ``success`` or ``fail``, tell it; never raise."""
    if not url:
        return
    target = url.rstrip("/") + ("" if event == "success" else f"/{event}")
    try:
        with urllib.request.urlopen(target, timeout=10) as response:  # noqa: S310 - the operator's own URL
            response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        logger.warning("healthcheck ping %s failed: %s", event, exc)
