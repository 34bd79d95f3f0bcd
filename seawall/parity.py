"""Environment parity: render two environments, match resources by logical name, classify every difference.

A difference is ``missing-in-B``, ``extra-in-B``, ``allowed`` or ``violation``. To decide which
differences parity.yaml allows, B is rendered a second time with every allowed field copied from A and
every environment-only item removed from both: what disappears in that second comparison was caused by an
allowed field; what remains is a violation (or a missing/extra resource).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Any

from seawall.model.schema import Environment, ParityRules
from seawall.render import Graph, render

# Inputs derived from others (content hashes that re-run commands): the source they hash is compared.
DERIVED_INPUTS = ("triggers",)
IDENTITY = ("environment.name", "environment.domain", "environment.predecessor", "environment.description")
MISSING = "missing-in-B"
EXTRA = "extra-in-B"
ALLOWED = "allowed"
VIOLATION = "violation"
_ABSENT = object()


@dataclass(frozen=True)
class Difference:
    """One difference between A and B: which resource, which input path, its class and why."""

    resource: str
    type: str
    group: str
    kind: str
    path: str = ""
    a: Any = None
    b: Any = None
    reason: str = ""

    def as_json(self) -> dict[str, Any]:
        """Return the difference as JSON-able data."""
        return {
            "resource": self.resource,
            "type": self.type,
            "group": self.group,
            "kind": self.kind,
            "path": self.path,
            "a": self.a,
            "b": self.b,
            "reason": self.reason,
        }


@dataclass
class ParityReport:
    """The comparison of two environments."""

    a: str
    b: str
    compared: int = 0
    differences: list[Difference] = field(default_factory=list)
    model: list[Difference] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[Difference]:
        """Return the differences that break parity (violations, missing and extra resources)."""
        return [d for d in self.differences + self.model if d.kind != ALLOWED]

    def as_json(self) -> dict[str, Any]:
        """Return the report in its documented, stable JSON schema."""
        allowed = [d for d in self.differences if d.kind == ALLOWED]
        differing = {d.resource for d in self.differences}
        return {
            "schema": "seawall.parity/1",
            "a": self.a,
            "b": self.b,
            "summary": {
                "resources_compared": self.compared,
                "in_parity": self.compared - len(differing),
                "allowed": len(allowed),
                "violations": len(self.violations),
            },
            "differences": [d.as_json() for d in self.differences],
            "model": [d.as_json() for d in self.model],
            "stale_allowances": list(self.stale),
        }


def normalise_graph(graph: Graph, env: Environment) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
    """Given a graph and its environment, return ``name -> (type, parent, flat inputs)`` with identity masked."""
    pattern = _identity_pattern(env)
    result = {}
    for name, record in graph.resources.items():
        flat: dict[str, Any] = {}
        _flatten(record.inputs, "", flat, pattern)
        for key in [k for k in flat if k.split(".")[0] in DERIVED_INPUTS]:
            del flat[key]
        result[name] = (record.type, record.parent, flat)
    return result


def compare_graphs(
    a: dict[str, tuple[str, str | None, dict[str, Any]]], b: dict[str, tuple[str, str | None, dict[str, Any]]]
) -> list[Difference]:
    """Given two normalised graphs, return every difference, unclassified (kind is a violation)."""
    found = []
    for name in sorted(a.keys() | b.keys()):
        if name not in b:
            found.append(Difference(name, a[name][0], _group(name, a), MISSING))
            continue
        if name not in a:
            found.append(Difference(name, b[name][0], _group(name, b), EXTRA))
            continue
        (type_a, parent_a, inputs_a), (type_b, parent_b, inputs_b) = a[name], b[name]
        group = _group(name, a)
        if type_a != type_b:
            found.append(Difference(name, type_a, group, VIOLATION, "(type)", type_a, type_b))
        if parent_a != parent_b:
            found.append(Difference(name, type_a, group, VIOLATION, "(parent)", parent_a, parent_b))
        for path in sorted(inputs_a.keys() | inputs_b.keys()):
            left, right = inputs_a.get(path, _ABSENT), inputs_b.get(path, _ABSENT)
            if left != right:
                found.append(Difference(name, type_a, group, VIOLATION, path, _show(left), _show(right)))
    return found


def compare_environments(a: Environment, b: Environment, rules: ParityRules) -> ParityReport:
    """Given two environments and the parity rules, return the classified report."""
    model = compare_models(a, b, rules)
    graph_a, graph_b = normalise_graph(render(a), a), normalise_graph(render(b), b)
    raw = compare_graphs(graph_a, graph_b)
    a_aligned, b_aligned = align(a, b, rules)
    remaining = {
        _key(d)
        for d in compare_graphs(
            normalise_graph(render(a_aligned), a_aligned), normalise_graph(render(b_aligned), b_aligned)
        )
    }
    reasons = "; ".join(sorted({d.reason for d in model if d.kind == ALLOWED}))
    differences = [
        d if _key(d) in remaining else Difference(**{**d.as_json(), "kind": ALLOWED, "reason": reasons}) for d in raw
    ]
    used = {d.reason for d in model if d.kind == ALLOWED}
    stale = [f"{allow.field}: {allow.reason}" for allow in rules.allowed if allow.reason not in used]
    return ParityReport(a.name, b.name, len(graph_a.keys() | graph_b.keys()), differences, model, stale)


def compare_models(a: Environment, b: Environment, rules: ParityRules) -> list[Difference]:
    """Given two environments, return the differences of their models, each allowed or a violation."""
    flat_a, flat_b = _flat_model(a), _flat_model(b)
    found = []
    for path in sorted(flat_a.keys() | flat_b.keys()):
        left, right = flat_a.get(path, _ABSENT), flat_b.get(path, _ABSENT)
        if left == right or path.startswith(IDENTITY):
            continue
        allowance = next((r for r in rules.allowed if _matches(r.field, path)), None)
        only = next((o for o in rules.environment_only if _is_within(path, o.item)), None)
        if only is not None and {a.name, b.name} - set(only.environments) != {a.name, b.name}:
            kind, reason = ALLOWED, f"environment-only: {only.reason}"
        elif allowance is not None:
            kind, reason = ALLOWED, allowance.reason
        else:
            kind, reason = VIOLATION, ""
        found.append(
            Difference(
                _model_resource(path), "model", path.split(".")[0], kind, path, _show(left), _show(right), reason
            )
        )
    return found


def align(a: Environment, b: Environment, rules: ParityRules) -> tuple[Environment, Environment]:
    """Given A and B, return both with allowed fields of B set to A's and environment-only items removed."""
    doc_a = a.model_dump(mode="json", by_alias=True)
    doc_b = b.model_dump(mode="json", by_alias=True)
    for only in rules.environment_only:
        _remove(doc_a, only.item.split("."))
        _remove(doc_b, only.item.split("."))
    doc_b["environment"]["description"] = doc_a["environment"]["description"]
    flat_a = _flatten_plain(doc_a)
    for path in _flatten_plain(doc_b).keys() | flat_a.keys():
        if any(_matches(allow.field, path) for allow in rules.allowed) and not path.startswith(IDENTITY):
            _set(doc_b, path.split("."), flat_a.get(path, _ABSENT))
    return Environment.model_validate(doc_a), Environment.model_validate(doc_b)


def _identity_pattern(env: Environment) -> list[tuple[re.Pattern[str], str]]:
    words = [(env.environment.domain, "{domain}"), (env.name, "{env}")]
    return [(re.compile(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])"), mark) for word, mark in words]


def _flatten(value: Any, prefix: str, out: dict[str, Any], pattern: list[tuple[re.Pattern[str], str]]) -> None:
    if isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out, pattern)
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            _flatten(item, f"{prefix}.{index}" if prefix else str(index), out, pattern)
    elif isinstance(value, str):
        for regex, mark in pattern:
            value = regex.sub(mark, value)
        out[prefix] = value
    else:
        out[prefix] = value


def _flatten_plain(value: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten(value, prefix, out, [])
    return out


def _flat_model(env: Environment) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten(env.model_dump(mode="json", by_alias=True), "", out, [])
    return out


def _matches(glob: str, path: str) -> bool:
    glob_parts, path_parts = glob.split("."), path.split(".")
    if len(path_parts) < len(glob_parts):
        return False
    return all(fnmatch.fnmatchcase(part, pattern) for part, pattern in zip(path_parts, glob_parts, strict=False))


def _is_within(path: str, item: str) -> bool:
    return path == item or path.startswith(item + ".")


def _remove(document: dict[str, Any], parts: list[str]) -> None:
    node: Any = document
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(parts[-1], None)


def _set(document: dict[str, Any], parts: list[str], value: Any) -> None:
    node: Any = document
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)] if int(part) < len(node) else None
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        if node is None:
            return
    if isinstance(node, dict):
        if value is _ABSENT:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value


def _group(name: str, graph: dict[str, tuple[str, str | None, dict[str, Any]]]) -> str:
    current = name
    while graph.get(current, ("", None, {}))[1] is not None:
        current = graph[current][1] or current
    return current


def _model_resource(path: str) -> str:
    parts = path.split(".")
    return ".".join(parts[:2]) if parts[0] in ("services", "datacenter_hosts", "backup_sets") else parts[0]


def _key(difference: Difference) -> tuple[str, str, str]:
    return difference.resource, difference.kind, difference.path


def _show(value: Any) -> Any:
    return None if value is _ABSENT else value
