"""``seawall capacity --propose``: the recommended sizes, counts and volume sizes as a patch to
``environments/<ENV>.yaml`` (a unified diff for ``git apply``), which then goes through review, parity
and the release rules like any change. It never deploys and never edits the file itself.

The edit is made in the file's own text (comments and layout stay): a value the file sets is replaced
where it stands, one it inherits from defaults.yaml is added under its service, in block or flow style
as the service is written. The result is parsed again and must hold exactly the proposed values.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

import yaml

from seawall.errors import SeawallError

TOP = re.compile(r"^[A-Za-z_]")


class ProposeError(SeawallError):
    """The proposal cannot be written into the environment's file."""


def proposal(text: str, changes: dict[str, dict[str, Any]]) -> str:
    """Given an environment file and ``{service: {"size"|"count"|"volume_gb": value}}``, return the file
    with them (checked by parsing it again)."""
    lines = text.splitlines()
    for service, fields in changes.items():
        for field, value in fields.items():
            lines = _set(lines, service, field, value)
    result = "\n".join(lines) + "\n"
    _check(result, changes)
    return result


def as_patch(env_name: str, before: str, after: str) -> str:
    """Given the file before and after, return the unified diff ``git apply`` takes."""
    path = f"environments/{env_name}.yaml"
    diff = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(diff)


def _set(lines: list[str], service: str, field: str, value: Any) -> list[str]:
    start = next((i for i, line in enumerate(lines) if re.match(r"^services:\s*(#.*)?$", line)), None)
    if start is None:
        return [*lines, "services:", f"  {service}: {_flow(_nested(field, value))}"]
    end = next((i for i in range(start + 1, len(lines)) if TOP.match(lines[i])), len(lines))
    head = next((i for i in range(start + 1, end) if re.match(rf"^  {re.escape(service)}:(\s|$)", lines[i])), None)
    if head is None:
        return [*lines[: start + 1], f"  {service}: {_flow(_nested(field, value))}", *lines[start + 1 :]]
    rest = lines[head].split(":", 1)[1].split("#", 1)[0].strip()
    if rest.startswith("{"):
        current = yaml.safe_load(rest) or {}
        _merge(current, _nested(field, value))
        return [*lines[:head], f"  {service}: {_flow(current)}", *lines[head + 1 :]]
    stop = next((i for i in range(head + 1, end) if re.match(r"^  \S", lines[i])), end)
    key = "volume" if field == "volume_gb" else field
    found = next((i for i in range(head + 1, stop) if re.match(rf"^    {key}:", lines[i])), None)
    if found is None:
        return [*lines[: head + 1], f"    {key}: {_flow(_nested(field, value)[key])}", *lines[head + 1 :]]
    if field != "volume_gb":
        return [*lines[:found], f"    {key}: {value}", *lines[found + 1 :]]
    inline = lines[found].split(":", 1)[1].split("#", 1)[0].strip()
    if inline.startswith("{"):
        current = yaml.safe_load(inline) or {}
        current["size_gb"] = value
        return [*lines[:found], f"    volume: {_flow(current)}", *lines[found + 1 :]]
    nested = next((i for i in range(found + 1, stop) if re.match(r"^      size_gb:", lines[i])), None)
    if nested is None:
        return [*lines[: found + 1], f"      size_gb: {value}", *lines[found + 1 :]]
    return [*lines[:nested], f"      size_gb: {value}", *lines[nested + 1 :]]


def _nested(field: str, value: Any) -> dict[str, Any]:
    return {"volume": {"size_gb": value}} if field == "volume_gb" else {field: value}


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()


def _check(text: str, changes: dict[str, dict[str, Any]]) -> None:
    try:
        services = (yaml.safe_load(text) or {}).get("services", {})
    except yaml.YAMLError as exc:
        msg = f"the proposal would not be valid YAML ({exc}); change the file by hand"
        raise ProposeError(msg) from None
    for service, fields in changes.items():
        written = services.get(service) or {}
        for field, value in fields.items():
            got = (written.get("volume") or {}).get("size_gb") if field == "volume_gb" else written.get(field)
            if got != value:
                msg = f"could not write services.{service}.{field} into the file's layout; change it by hand to {value}"
                raise ProposeError(msg)
