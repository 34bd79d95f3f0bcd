"""Environment parity: render two environments, match resources by logical name, classify every difference.

A difference is ``missing-in-B``, ``extra-in-B``, ``allowed`` or ``violation``. Environment identity
(name, domain) is masked before comparing, so it never shows. What parity.yaml allows: B with every
allowance's fields copied from A (and environment-only items removed from both) is A's model but for its
identity when every model difference is allowed, so every resource difference is allowed without a render;
otherwise that aligned pair is rendered, and the resource differences it still has are violations.
Which entry an allowed difference follows from (its reason), and which model difference a violation
follows from, is read off A's and B's graphs (``seawall.attribution``); only a difference they cannot
explain renders the entry's variant. A second level compares the models themselves, so a report names the
service, set or rule that differs.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise
from typing import Any

from seawall import attribution
from seawall.hostfiles import MANIFEST_STEP, host_of_step
from seawall.model.schema import Allowance, Environment, EnvironmentOnly, ParityRules, droplet_names
from seawall.render import Graph, Program, referenced, render_all
from seawall.runner import available_cores, start_process_server

SCHEMA = "seawall.parity/1"
MISSING = "missing-in-B"
EXTRA = "extra-in-B"
ALLOWED = "allowed"
VIOLATION = "violation"
# Identity differs by design; inputs derived from others (content hashes) are compared through their source.
IDENTITY = ("environment.name", "environment.domain", "environment.predecessor", "environment.description")
DERIVED_INPUTS = ("triggers",)
# A host's manifest step writes the hashes of what its other steps place (seawall.manifest): compared through
# them, never itself (a hash would differ wherever an environment's name is in a file).
DERIVED_STEP_INPUTS = {MANIFEST_STEP: ("create",)}
ITEM_SECTIONS = ("services", "datacenter_hosts", "backup_sets", "alerting.channels", "databases")
# Where align copies nothing of an item one side has alone (alerting: its channels).
ALIGNED_ROOTS = ("services", "datacenter_hosts", "backup_sets", "alerting", "databases")
# Every variant copies A's description into B (align), so a difference it explains changes under each entry.
DESCRIPTION = "environment.description"
# The model differences no entry claims: no variant undoes them, so they explain under one key.
UNCLAIMED = "(unclaimed)"
_ABSENT = object()

FlatGraph = dict[str, tuple[str, str | None, dict[str, Any]]]


@dataclass(frozen=True)
class Difference:
    """One difference between A and B: where, which input or model path, its class and why."""

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
        return asdict(self)


@dataclass
class ParityReport:
    """The comparison of environment B against environment A."""

    a: str
    b: str
    compared: int = 0
    differences: list[Difference] = field(default_factory=list)
    model: list[Difference] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    unused: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    @property
    def violations(self) -> list[Difference]:
        """Return what breaks parity: violations and resources or items missing or extra, unallowed."""
        return [d for d in self.differences + self.model if d.kind != ALLOWED]

    def summary(self) -> dict[str, int]:
        """Return the counts of the report's summary line."""
        differing = {d.resource for d in self.differences}
        return {
            "resources_compared": self.compared,
            "in_parity": self.compared - len(differing),
            "allowed": sum(1 for d in self.differences if d.kind == ALLOWED),
            "violations": len(self.violations),
        }

    def as_json(self) -> dict[str, Any]:
        """Return the report in its documented, stable JSON schema (docs/parity.md)."""
        return {
            "schema": SCHEMA,
            "a": self.a,
            "b": self.b,
            "summary": self.summary(),
            "differences": [d.as_json() for d in self.differences],
            "model": [d.as_json() for d in self.model],
            "unused_allowances": list(self.unused),
            "stale_allowances": list(self.stale),
        }


class Renderer:
    """Renders environments with the program it is given, once per distinct model in this process (the
    audit and the plan of the same command share the renders), several at once in render processes when
    more than one core is free. ``rendered`` names every environment it rendered, in order."""

    def __init__(self, program: Program, jobs: int | None = None) -> None:
        self.program = program
        self.jobs = jobs
        self.rendered: list[str] = []
        self._raw: dict[str, Graph] = {}
        self._graphs: dict[str, FlatGraph] = {}

    def warm(self) -> None:
        """Start the render processes' server now, when more than one core is free, so that its import of
        the program overlaps what this process does before it renders (loading the environments)."""
        if (self.jobs or available_cores()) > 1:
            start_process_server(self.program.modules)

    def prefetch(self, envs: list[Environment]) -> None:
        """Given environments, render those not rendered yet, at once (``render_all``)."""
        missing = {env.model_dump_json(): env for env in envs if env.model_dump_json() not in self._raw}
        for key, graph in zip(missing, render_all(list(missing.values()), self.program, self.jobs), strict=True):
            self._raw[key] = graph
            self.rendered.append(graph.environment)

    def graph(self, env: Environment) -> Graph:
        """Given an environment, return its rendered graph, rendering it only the first time."""
        key = env.model_dump_json()
        if key not in self._raw:
            self.prefetch([env])
        return self._raw[key]

    def flat(self, env: Environment) -> FlatGraph:
        """Given an environment, return its normalised graph, rendering it only the first time."""
        key = env.model_dump_json()
        if key not in self._graphs:
            self._graphs[key] = normalise_graph(self.graph(env), env)
        return self._graphs[key]


def normalise_graph(graph: Graph, env: Environment) -> FlatGraph:
    """Given a graph and its environment, return ``name -> (type, parent, flat inputs)`` with identity masked."""
    pattern = _identity_pattern(env)
    result = {}
    for name, record in graph.resources.items():
        flat: dict[str, Any] = {}
        _flatten(record.inputs, "", flat, pattern)
        derived = DERIVED_INPUTS + next(
            (inputs for step, inputs in DERIVED_STEP_INPUTS.items() if host_of_step(name, step) is not None), ()
        )
        result[name] = (
            record.type,
            record.parent,
            {key: value for key, value in flat.items() if key.split(".")[0] not in derived},
        )
    return result


def compare_graphs(a: FlatGraph, b: FlatGraph) -> list[Difference]:
    """Given two normalised graphs, return every difference, unclassified (inputs count as violations)."""
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


def compare_environments(
    a: Environment, b: Environment, rules: ParityRules, renderer: Renderer, attribute: bool = True
) -> ParityReport:
    """Given A, B and the parity rules, return B's differences from A, each classified.

    What remains once B has every allowed field of A's and environment-only items are gone from both is a
    violation: nothing, without a render, when that makes B's model A's but for who it is (the program is a
    function of the model and the graphs mask the identity); else that aligned pair's render says. With
    ``attribute`` each allowed resource difference also names the allowance(s) behind it (read off the two
    graphs); without it (the guard, the fleet page, a table that hides allowed resource rows) the
    classification is the same, and nothing is attributed.
    """
    model, used = compare_models(a, b, rules)
    all_a, all_b = align(a, b, rules)
    aligned = [] if same_but_identity(all_a, all_b) else [all_a, all_b]
    renderer.prefetch([a, b, *aligned])  # at once, in render processes when more than one core is free
    graph_a, graph_b = renderer.flat(a), renderer.flat(b)
    raw = compare_graphs(graph_a, graph_b)
    remaining = {_key(d) for d in compare_graphs(renderer.flat(all_a), renderer.flat(all_b))} if aligned else set()
    entries = [r for r in _rules(rules) if _rule_id(r) in used]
    allowed = [d for d in raw if _key(d) not in remaining]
    found = follows_from(a, b, allowed, entries, renderer) if attribute and allowed else {}
    differences = [
        d
        if _key(d) in remaining
        else replace(d, kind=ALLOWED, reason="; ".join(_reason(r) for r in found.get(_key(d), [])))
        for d in raw
    ]
    differences = explain_resource_violations(a, b, differences, model, renderer)
    unused = [_rule_id(r) for r in _rules(rules) if _rule_id(r) not in used]
    compared = len(graph_a.keys() | graph_b.keys())
    return ParityReport(a.name, b.name, compared, differences, model, used, unused)


def follows_from(
    a: Environment,
    b: Environment,
    differences: list[Difference],
    entries: list[Allowance | EnvironmentOnly],
    renderer: Renderer,
) -> dict[tuple[str, str], list[Allowance | EnvironmentOnly]]:
    """Given resource differences and parity.yaml entries (real or suggested), return for each difference
    the entries whose variant changes it: B with the entry's fields copied from A, or its
    environment-only item removed from both (``align``).

    Read off A's and B's graphs (``seawall.attribution``); a difference they cannot explain is looked up in
    the variant's render instead, as parity did for every difference before.
    """
    graph_a, graph_b = renderer.flat(a), renderer.flat(b)
    causes = pair_causes(a, b, entries)
    explained = {
        _key(d): attribution.explain_difference(
            d.resource, d.path, _inputs(graph_a, d.resource), _inputs(graph_b, d.resource), causes
        )
        for d in differences
    }
    unexplained = [d for d in differences if explained[_key(d)] is None]
    if unexplained:  # every variant at once, in render processes when more than one core is free
        renderer.prefetch([aligned for entry in entries for aligned in align(a, b, _only(entry))])
    found: dict[tuple[str, str], list[Allowance | EnvironmentOnly]] = {}
    for entry in entries:
        variant = _variant(entry)
        rendered = _variant_changes(a, b, entry, unexplained, renderer) if unexplained else set()
        for d in differences:
            explanation = explained[_key(d)]
            changed = _key(d) in rendered if explanation is None else attribution.changes(explanation, variant, causes)
            if changed:
                found.setdefault(_key(d), []).append(entry)
    return found


def _variant(entry: Allowance | EnvironmentOnly) -> attribution.Variant:
    if isinstance(entry, Allowance):
        return attribution.Variant(frozenset({_rule_id(entry), DESCRIPTION}))
    return attribution.Variant(frozenset({DESCRIPTION}), frozenset({_rule_id(entry)}))


def _variant_changes(
    a: Environment,
    b: Environment,
    entry: Allowance | EnvironmentOnly,
    differences: list[Difference],
    renderer: Renderer,
) -> set[tuple[str, str]]:
    """Given an entry and differences the graphs cannot explain, render the entry's variant and return the
    differences it changes."""
    aligned_a, aligned_b = align(a, b, _only(entry))
    renderer.prefetch([aligned_a, aligned_b])
    graph_a, graph_b = renderer.flat(a), renderer.flat(b)
    flat_a, flat_b = renderer.flat(aligned_a), renderer.flat(aligned_b)
    return {
        _key(d)
        for d in differences
        if _value(flat_b, d) != _value(graph_b, d) or (aligned_a != a and _value(flat_a, d) != _value(graph_a, d))
    }


def _inputs(graph: FlatGraph, name: str) -> dict[str, Any] | None:
    entry = graph.get(name)
    return None if entry is None else entry[2]


def pair_causes(a: Environment, b: Environment, entries: list[Allowance | EnvironmentOnly]) -> attribution.Causes:
    """Given A, B and the entries to attribute to, return every model difference between them as the
    graphs show it, under the entries that claim it (align's rules), else unclaimed."""
    flat_a, flat_b = _flat_model(a), _flat_model(b)
    both = _items(flat_a) & _items(flat_b)
    items: dict[str, set[str]] = {}
    causes: dict[str, dict[str, set[str]]] = {}
    for entry in entries:
        causes[_rule_id(entry)] = _new_cause()
        if isinstance(entry, EnvironmentOnly):
            _claim_item(entry.item, _rule_id(entry), a, b, items, causes)
    for item in sorted(_items(flat_a) ^ _items(flat_b)):
        if not any(_is_within(item, claimed) for claimed in items):
            causes.setdefault(UNCLAIMED, _new_cause())
            _claim_item(item, UNCLAIMED, a, b, items, causes)
    substitutions = []
    for path in sorted(flat_a.keys() | flat_b.keys()):
        left, right = flat_a.get(path, _ABSENT), flat_b.get(path, _ABSENT)
        if left == right or path.startswith(("environment.name", "environment.domain")):
            continue
        # A field of an item one side alone has shows through the item's names, not its values.
        if _model_item(path) not in both and path.startswith(tuple(f"{s}." for s in ITEM_SECTIONS)):
            continue
        keys = frozenset(_field_causes(path, entries, items, both))
        for key in keys:
            causes.setdefault(key, _new_cause())
        forms_a, forms_b = _forms(left), _forms(right)
        if forms_a and forms_b:
            substitutions += [(x, y, keys) for x, y in zip(forms_a, forms_b, strict=True) if x != y and x and y]
        for key in keys:
            causes[key]["tokens_a"] |= set(forms_a) if not forms_b else set()
            causes[key]["tokens_b"] |= set(forms_b) if not forms_a else set()
    _claim_hosts(a, b, lambda path: _field_causes(path, entries, items, both), causes)
    made = [
        attribution.Cause(key, *(frozenset(spec[k]) for k in ("names_a", "names_b", "tokens_a", "tokens_b")))
        for key, spec in causes.items()
    ]
    return attribution.Causes(made, substitutions)


def _field_causes(
    path: str, entries: list[Allowance | EnvironmentOnly], items: dict[str, set[str]], both: set[str]
) -> set[str]:
    """Given a model field that differs, return the keys of the causes it goes under: the environment-only
    items it is in, the allowances that name it where ``align`` copies it, else unclaimed."""
    if path == DESCRIPTION:
        return {DESCRIPTION}
    keys = {key for item, owners in items.items() if _is_within(path, item) for key in owners}
    if _copied_by_align(path, both):
        keys |= {_rule_id(e) for e in entries if isinstance(e, Allowance) and _matches(e.field, path)}
    return keys or {UNCLAIMED}


def _new_cause() -> dict[str, set[str]]:
    return {"names_a": set(), "names_b": set(), "tokens_a": set(), "tokens_b": set()}


def _claim_item(
    item: str,
    key: str,
    a: Environment,
    b: Environment,
    items: dict[str, set[str]],
    causes: dict[str, dict[str, set[str]]],
) -> None:
    """Given a model item (``services.faucet``) and the key it goes under, claim its fields and name it
    (and its droplets) on the sides that have it."""
    items.setdefault(item, set()).add(key)
    for side, env in (("a", a), ("b", b)):
        if _get(env.model_dump(mode="json", by_alias=True), item.split(".")) is not _ABSENT:
            causes[key][f"names_{side}"] |= _item_names(env, item)


def _item_names(env: Environment, item: str) -> set[str]:
    """Given an environment and one of its items, return the names its resources are named after."""
    section, _, name = item.rpartition(".")
    if section == "services" and name in env.services:
        return {name, *droplet_names(name, env.services[name])}
    return {name}


def _claim_hosts(
    a: Environment, b: Environment, keys_of: Callable[[str], set[str]], causes: dict[str, dict[str, set[str]]]
) -> None:
    """Name the droplets one side has and the other not (a count differs) under the count's causes, and a
    database's read replicas likewise."""
    for name in sorted(a.services.keys() & b.services.keys()):
        hosts_a, hosts_b = set(droplet_names(name, a.services[name])), set(droplet_names(name, b.services[name]))
        for key in keys_of(f"services.{name}.count") if hosts_a != hosts_b else ():
            cause = causes.setdefault(key, _new_cause())
            cause["names_a"] |= hosts_a - hosts_b
            cause["names_b"] |= hosts_b - hosts_a
    # A managed database's read replicas, as the hosts of a count (``index-database-replica-2`` when B has two).
    for name in sorted(a.databases.keys() & b.databases.keys()):
        count_a, count_b = a.databases[name].read_replicas, b.databases[name].read_replicas
        replicas_a = {f"{name}-database-replica-{n}" for n in range(1, count_a + 1)}
        replicas_b = {f"{name}-database-replica-{n}" for n in range(1, count_b + 1)}
        for key in keys_of(f"databases.{name}.read_replicas") if replicas_a != replicas_b else ():
            cause = causes.setdefault(key, _new_cause())
            cause["names_a"] |= replicas_a - replicas_b
            cause["names_b"] |= replicas_b - replicas_a


def _forms(value: Any) -> list[str]:
    """Given a model value, return the ways the program writes it (the same number of forms for every
    value of a kind, so A's and B's pair up)."""
    if value is _ABSENT or value is None or isinstance(value, dict | list):
        return []
    if isinstance(value, bool):
        return [str(value), str(value).lower()]
    if isinstance(value, int | float):
        return [str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)]
    text = str(value)
    return [text, text.title(), text.capitalize(), text.upper(), text.lower(), text.replace(".", "-")]


def compare_chain(
    envs: list[Environment], rules: ParityRules, renderer: Renderer, attribute: bool = True
) -> list[ParityReport]:
    """Given environments in promotion order, return each one compared with its predecessor.

    Stale allowances are those that matched nothing anywhere along the chain: only a chain can say so, a
    pair reports what it did not use as ``unused``.
    """
    renderer.prefetch(envs)
    reports = [compare_environments(a, b, rules, renderer, attribute) for a, b in pairwise(envs)]
    used = set().union(*(report.used for report in reports)) if reports else set()
    stale = [_rule_id(r) for r in _rules(rules) if _rule_id(r) not in used]
    for report in reports:
        report.stale = stale
    return reports


def explain_resource_violations(
    a: Environment, b: Environment, differences: list[Difference], model: list[Difference], renderer: Renderer
) -> list[Difference]:
    """Given the classified resource differences and the model's, return them with each violation's reason:
    what differs and the model difference it follows from, with the parity.yaml entry that would allow it.

    Each model violation suggests an entry; a resource violation follows from those whose variant changes it.
    """
    left = [d for d in differences if d.kind != ALLOWED]
    if not left:
        return differences
    suggestions = {_rule_id(rule): (rule, d) for d in model if d.kind != ALLOWED for rule in [suggest_rule(d, a, b)]}
    found = follows_from(a, b, left, [rule for rule, _ in suggestions.values()], renderer)
    causes = {
        key: [
            f"follows from {_cause_path(cause, rule)}: {_entry(rule)} would allow it"
            for rule in rules
            for rule_key in [_rule_id(rule)]
            for _, cause in [suggestions[rule_key]]
        ]
        for key, rules in found.items()
    }
    return [
        d if d.kind == ALLOWED else replace(d, reason=_what_differs(d, a.name, b.name) + "; " + _cause(d, causes))
        for d in differences
    ]


def suggest_rule(difference: Difference, a: Environment, b: Environment) -> Allowance | EnvironmentOnly:
    """Given a model violation, return the parity.yaml entry that would allow it: an ``allowed`` field with
    every item name as ``*``, or an ``environment_only`` item held by the environment that has it."""
    if difference.kind == VIOLATION:
        return Allowance(field=_field_glob(difference.path), reason="suggested")
    holder = a.name if difference.kind == MISSING else b.name
    return EnvironmentOnly(item=difference.path, environments=[holder], reason="suggested")


def _field_glob(path: str) -> str:
    item = _model_item(path)
    parts = path.split(".")
    if item != parts[0]:
        parts[len(item.split(".")) - 1] = "*"
    kept = list(itertools.takewhile(lambda part: re.fullmatch(r"[A-Za-z0-9_*-]+", part), parts))
    return ".".join(kept or parts[:1])


def _cause_path(cause: Difference, rule: Allowance | EnvironmentOnly) -> str:
    """Given a model violation and its suggested entry, return the model path the entry covers."""
    if isinstance(rule, EnvironmentOnly):
        return rule.item
    return ".".join(cause.path.split(".")[: len(rule.field.split("."))])


def _entry(rule: Allowance | EnvironmentOnly) -> str:
    if isinstance(rule, Allowance):
        return f"an allowed entry with field {rule.field}"
    return f"an environment_only entry with item {rule.item} and environments [{', '.join(rule.environments)}]"


def _model_reason(difference: Difference, a: Environment, b: Environment, rules: ParityRules) -> str:
    """Given a model violation, return what differs and which parity.yaml entry would allow it."""
    rule = suggest_rule(difference, a, b)
    if isinstance(rule, Allowance):
        return f"{difference.path} differs and no parity.yaml entry allows it: {_entry(rule)} would"
    holder = rule.environments[0]
    only = next((o for o in rules.environment_only if _is_within(difference.path, o.item)), None)
    if only is not None:
        listed = ", ".join(only.environments)
        return (
            f"{difference.path} exists only in {holder}, but its environment_only entry {only.item} lists "
            f"[{listed}]: adding {holder} would allow it"
        )
    return f"{difference.path} exists only in {holder} and no parity.yaml entry allows it: {_entry(rule)} would"


def _what_differs(difference: Difference, a: str, b: str) -> str:
    if difference.kind == MISSING:
        return f"resource only in {a}"
    if difference.kind == EXTRA:
        return f"resource only in {b}"
    if difference.path in ("(type)", "(parent)"):
        return f"{difference.path.strip('()')} differs"
    return f"input {difference.path} differs"


def _cause(difference: Difference, causes: dict[tuple[str, str], list[str]]) -> str:
    found = causes.get(_key(difference))
    if found:
        return "; ".join(found)
    return "it follows from no model field that differs, so no parity.yaml entry can allow it"


def compare_models(a: Environment, b: Environment, rules: ParityRules) -> tuple[list[Difference], set[str]]:
    """Given A and B, return their model differences (each classified) and the ids of the rules they used."""
    flat_a, flat_b = _flat_model(a), _flat_model(b)
    found: list[Difference] = []
    used: set[str] = set()
    for item in _items(flat_a) ^ _items(flat_b):
        kind = MISSING if item in _items(flat_a) else EXTRA
        only = next((o for o in rules.environment_only if _is_within(item, o.item)), None)
        holder = a.name if kind == MISSING else b.name
        if only is not None and holder in only.environments:
            used.add(_rule_id(only))
            found.append(Difference(item, "model", item.split(".")[0], ALLOWED, item, reason=_reason(only)))
        else:
            unexplained = Difference(item, "model", item.split(".")[0], kind, item)
            found.append(replace(unexplained, reason=_model_reason(unexplained, a, b, rules)))
    skip = tuple(f"{item}." for item in _items(flat_a) ^ _items(flat_b))
    for path in sorted(flat_a.keys() | flat_b.keys()):
        left, right = flat_a.get(path, _ABSENT), flat_b.get(path, _ABSENT)
        if left == right or path.startswith(IDENTITY) or path.startswith(skip):
            continue
        allowance = next((r for r in rules.allowed if _matches(r.field, path)), None)
        kind = VIOLATION if allowance is None else ALLOWED
        if allowance is not None:
            used.add(_rule_id(allowance))
        difference = Difference(_model_item(path), "model", path.split(".")[0], kind, path, _show(left), _show(right))
        reason = _model_reason(difference, a, b, rules) if allowance is None else allowance.reason
        found.append(replace(difference, reason=reason))
    return sorted(found, key=lambda d: (d.group, d.resource, d.path)), used


def same_but_identity(a: Environment, b: Environment) -> bool:
    """Given two environments, return whether their models are equal but for the identity fields (name,
    domain, predecessor, description), which the normalised graphs mask."""
    doc_a, doc_b = a.model_dump(mode="json", by_alias=True), b.model_dump(mode="json", by_alias=True)
    for path in IDENTITY:
        section, key = path.split(".")
        doc_b[section][key] = doc_a[section][key]
    return doc_a == doc_b


def align(a: Environment, b: Environment, rules: ParityRules) -> tuple[Environment, Environment]:
    """Given A and B, return both with B's allowed fields set to A's and environment-only items removed."""
    doc_a = a.model_dump(mode="json", by_alias=True)
    doc_b = b.model_dump(mode="json", by_alias=True)
    for only in rules.environment_only:
        _remove(doc_a, only.item.split("."))
        _remove(doc_b, only.item.split("."))
    doc_b["environment"]["description"] = doc_a["environment"]["description"]
    flat_a, flat_b = _flatten_plain(doc_a), _flatten_plain(doc_b)
    both = _items(flat_a) & _items(flat_b)
    # An allowance copies the whole value its field names (a list of ports too, whatever its length).
    copied: set[tuple[str, ...]] = set()
    for path in sorted(flat_b.keys() | flat_a.keys()):
        if not _copied_by_align(path, both):
            continue
        for allow in (allow for allow in rules.allowed if _matches(allow.field, path)):
            copied.add(tuple(path.split("."))[: len(allow.field.split("."))])
    for parts in sorted(copied, key=len):
        _set(doc_b, list(parts), copy.deepcopy(_get(doc_a, list(parts))))
    if not rules.environment_only and doc_b == b.model_dump(mode="json", by_alias=True):
        return a, b
    return (
        a if not rules.environment_only else Environment.model_validate(doc_a),
        Environment.model_validate(doc_b),
    )


def _copied_by_align(path: str, both: set[str]) -> bool:
    """Given a model path and the items both sides have, return whether an allowance that names the path
    copies it (``align``): never the identity, nor a field of an item one side has alone."""
    item = _model_item(path)
    return not path.startswith(IDENTITY) and not (item.split(".")[0] in ALIGNED_ROOTS and item not in both)


def _rules(rules: ParityRules) -> list[Allowance | EnvironmentOnly]:
    return [*rules.allowed, *rules.environment_only]


def _only(rule: Allowance | EnvironmentOnly) -> ParityRules:
    if isinstance(rule, Allowance):
        return ParityRules(allowed=[rule])
    return ParityRules(environment_only=[rule])


def _rule_id(rule: Allowance | EnvironmentOnly) -> str:
    return rule.field if isinstance(rule, Allowance) else f"environment-only {rule.item}"


def _reason(rule: Allowance | EnvironmentOnly) -> str:
    return rule.reason if isinstance(rule, Allowance) else f"environment-only: {rule.reason}"


def _identity_pattern(env: Environment) -> list[tuple[re.Pattern[str], str]]:
    words = [(env.environment.domain, "{domain}"), (env.name, "{env}")]
    return [(re.compile(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])"), mark) for word, mark in words]


def _flatten(
    value: Any, prefix: str, out: dict[str, Any], pattern: list[tuple[re.Pattern[str], str]], keyed: bool = True
) -> None:
    if referenced(value) is not None:
        out[prefix] = dict(value)  # another resource's output: one value, equal wherever it names the same one
    elif isinstance(value, dict) and value:
        for key, item in value.items():
            _flatten(item, f"{prefix}.{key}" if prefix else str(key), out, pattern, keyed)
    elif isinstance(value, list) and value:
        keys = [_list_key(item) if keyed else None for item in value]
        unique = None not in keys and len(set(keys)) == len(keys)
        for index, item in enumerate(value):
            part = keys[index] if unique else str(index)
            _flatten(item, f"{prefix}.{part}" if prefix else str(part), out, pattern, keyed)
    elif isinstance(value, str):
        for regex, mark in pattern:
            value = regex.sub(mark, value)
        out[prefix] = value
    else:
        out[prefix] = value


def _list_key(item: Any) -> str | None:
    """Given a list element, return a stable name for it (``tcp/443``, a rule id, the output a reference names:
    ``api-1.dropletUrn``), or None to use its index."""
    if not isinstance(item, dict):
        return None
    target = referenced(item)
    if target is not None:
        return ".".join(target)
    port = item.get("portRange", item.get("port"))
    if port is not None:
        protocol = item.get("protocol", "tcp")
        source = item.get("from")
        return f"{protocol}/{port}" + (f"<{source}" if source else "")
    if "id" in item:
        return str(item["id"])
    return None


def _flatten_plain(value: Any) -> dict[str, Any]:
    """Given a document, return it flat with list indexes (the paths ``_set`` can write)."""
    out: dict[str, Any] = {}
    _flatten(value, "", out, [], keyed=False)
    return out


def _flat_model(env: Environment) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _flatten(env.model_dump(mode="json", by_alias=True), "", out, [])
    return out


def _items(flat: dict[str, Any]) -> set[str]:
    items = set()
    for path in flat:
        for section in ITEM_SECTIONS:
            if path.startswith(section + "."):
                name = path[len(section) + 1 :].split(".")[0]
                items.add(f"{section}.{name}")
    return items


def _model_item(path: str) -> str:
    for section in ITEM_SECTIONS:
        if path.startswith(section + "."):
            return f"{section}.{path[len(section) + 1 :].split('.')[0]}"
    return path.split(".")[0]


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


def _get(document: dict[str, Any], parts: list[str]) -> Any:
    node: Any = document
    for part in parts:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _ABSENT
    return node


def _set(document: dict[str, Any], parts: list[str], value: Any) -> None:
    node: Any = document
    for part in parts[:-1]:
        if isinstance(node, list):
            node = node[int(part)] if part.isdigit() and int(part) < len(node) else None
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        if node is None:
            return
    if isinstance(node, dict):
        if value is _ABSENT:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = value


def _group(name: str, graph: FlatGraph) -> str:
    current = name
    while graph.get(current, ("", None, {}))[1] is not None:
        current = graph[current][1] or current
    return current


def _value(graph: FlatGraph, difference: Difference) -> Any:
    entry = graph.get(difference.resource)
    if entry is None or not difference.path:
        return entry is not None
    return entry[2].get(difference.path, _ABSENT)


def _key(difference: Difference) -> tuple[str, str]:
    return difference.resource, difference.path


def _show(value: Any) -> Any:
    return None if value is _ABSENT else value
