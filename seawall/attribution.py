"""Which model differences a resource difference follows from, read off the two graphs parity compares.

Parity asks, for an entry of parity.yaml (or one it suggests), which resource differences would change if
B took that entry's fields from A, or lost its environment-only item (A too): the entry's *variant*.
Rendering the variant answers exactly, once per entry. This module answers from A's and B's graphs alone,
by explaining every difference as edits that each show model differences (``Cause``):

- a value substituted: where A's graph holds A's value of a model field and B's holds B's, as the model
  writes it or as the program does (``Staging``, ``1-8-1``), in a line, an input or a list element;
- what one side has because of a host or an item only it has (``api-3`` when B has one replica more, the
  faucet that only A has): a resource named after it, lines or list elements that name it;
- a value only one side's model holds (a port B added), named by what only that side's graph holds.

A variant changes a difference when it undoes one of the difference's edits, or removes an item the value
names; in a list, when it adds or removes an element before the difference's position, which moves it.
That is what the render would find when every edit is explained and no two causes explain one edit alike:
otherwise ``explain_difference`` returns None and the caller renders the variant, as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cache
from typing import Any

ABSENT: Any = object()  # the value of a path or element a side does not have
CHANGED: Any = object()  # a value a variant changes in a way the graphs do not spell out


@dataclass(frozen=True)
class Cause:
    """Model differences as they show in the graphs, under one key (an entry of parity.yaml, or what no
    entry claims). ``names_*``: hosts and items one side has because of it; ``tokens_*``: values that only
    one side's model holds. Its substituted values are given to ``Causes`` per field; what a variant does
    with it (copies A's into B, or removes an item from both) is the ``Variant``'s."""

    key: str
    names_a: frozenset[str] = frozenset()
    names_b: frozenset[str] = frozenset()
    tokens_a: frozenset[str] = frozenset()
    tokens_b: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Variant:
    """A variant of the pair: the causes whose B side takes A's, and the causes whose items both lose."""

    copied: frozenset[str]
    removed: frozenset[str] = frozenset()


@dataclass
class Edit:
    """One explained change: ``sub`` (a value substituted), ``a`` or ``b`` (what only that side holds).

    ``causes`` explain it; ``inner`` are the causes whose B values stand inside what only B holds (copying
    them changes it too)."""

    kind: str
    causes: frozenset[str]
    inner: frozenset[str] = frozenset()


@dataclass
class Element:
    """A list element of one side: its value (hashable), its text, and how it is explained."""

    value: tuple[tuple[str, str], ...]
    text: str
    edit: Edit | None = None


@dataclass
class Explanation:
    """How one resource difference came about: the edits of a value, or the elements of a list."""

    edits: list[Edit] = field(default_factory=list)
    # Lists: the elements of B and of A in order, each with its edit (None: the same on both sides).
    list_b: list[Element] | None = None
    list_a: list[Element] | None = None
    index: int = 0
    rest: str = ""
    # The whole values' texts (a removed item changes every mention of it) and the resource's namers.
    text_a: str = ""
    text_b: str = ""
    named_a: frozenset[str] = frozenset()
    named_b: frozenset[str] = frozenset()
    value_a: Any = ABSENT
    value_b: Any = ABSENT


class Causes:
    """The causes of one pair, indexed for explaining: substitutions by text, names and tokens by cause."""

    def __init__(self, causes: Iterable[Cause], substitutions: Iterable[tuple[str, str, frozenset[str]]]) -> None:
        """Given the causes and each model field's substitutions (A's text, B's text, the field's causes)."""
        self.by_key = {cause.key: cause for cause in causes}
        found: dict[tuple[str, str], set[frozenset[str]]] = {}
        for a, b, keys in substitutions:
            found.setdefault((a, b), set()).add(keys)
        # One text pair that two fields of different causes show is ambiguous: which variant undoes it
        # cannot be read off the graphs.
        self.substitutions: list[tuple[str, str, frozenset[str] | None]] = sorted(
            ((a, b, next(iter(keys)) if len(keys) == 1 else None) for (a, b), keys in found.items()),
            key=lambda item: (-len(item[0]), item[0], item[1]),
        )

    def apply_all(self, text: str) -> str:
        """Given A's text, return it with every substitution of three characters or more made (to align it
        with B's; a shorter value, such as a count, is found in too many places to align by)."""
        for a, b, _ in self.substitutions:
            if len(a) >= 3 and a in text:
                text = _replace(text, a, b)
        return text

    def mentions(self, text: str, side: str, keys: Iterable[str] | None = None, tokens: bool = True) -> frozenset[str]:
        """Given a text of one side, return the causes whose hosts or items of that side it names; if none,
        with ``tokens``, those whose values only that side holds it holds (a value that names an item, such
        as a port's source, shows nothing without the item)."""
        chosen = list(self.by_key if keys is None else keys)
        for kind in ("names", "tokens") if tokens else ("names",):
            found = {
                key
                for key in chosen
                if any(
                    word in text and _word(word).search(text) for word in getattr(self.by_key[key], f"{kind}_{side}")
                )
            }
            if found:
                return frozenset(found)
        return frozenset()

    def namers(self, resource: str, side: str) -> frozenset[str]:
        """Given a resource name, return the causes whose hosts or items of that side name it (the
        components name their children ``<name>-…``); if none, those whose values only that side holds
        name it (the vault's steps, named after the host a copy names)."""
        for kind in ("names", "tokens"):
            found = {
                cause.key
                for cause in self.by_key.values()
                if any(resource == word or resource.startswith(word + "-") for word in getattr(cause, f"{kind}_{side}"))
            }
            if found:
                return frozenset(found)
        return frozenset()

    def inner(self, text: str) -> frozenset[str] | None:
        """Given what only B holds, return the causes whose B values stand in it; None when a value there is
        B's value of two causes (which of them put it there cannot be read off B alone)."""
        found: dict[str, set[frozenset[str] | None]] = {}
        for a, b, keys in self.substitutions:
            if _one_digit_each(a, b):
                continue
            if b in text and _word(b).search(text):
                found.setdefault(b, set()).add(keys)
        if any(len(owners) > 1 or None in owners for owners in found.values()):
            return None
        return frozenset(key for owners in found.values() for keys in owners if keys is not None for key in keys)


def explain_difference(
    resource: str, path: str, inputs_a: dict[str, Any] | None, inputs_b: dict[str, Any] | None, causes: Causes
) -> Explanation | None:
    """Given a resource difference (the resource's flat inputs on each side, None where it is absent),
    return how it came about, or None when the graphs cannot tell."""
    if path in ("(type)", "(parent)"):
        return None
    named_a = causes.namers(resource, "a") if inputs_a is not None else frozenset()
    named_b = causes.namers(resource, "b") if inputs_b is not None else frozenset()
    if inputs_a is None or inputs_b is None:
        only = "a" if inputs_b is None else "b"
        namers = named_a if only == "a" else named_b
        if not namers:
            return None
        return Explanation([Edit(only, namers)], named_a=named_a, named_b=named_b, value_a=True, value_b=True)
    value_a, value_b = inputs_a.get(path, ABSENT), inputs_b.get(path, ABSENT)
    parts = path.split(".")
    indexes = [position for position, part in enumerate(parts) if part.isdigit()]
    if indexes:
        explanation = _explain_list(inputs_a, inputs_b, parts, indexes[-1], causes)
    else:
        explanation = _explain_value(path, value_a, value_b, causes)
    if explanation is None:
        return None
    explanation.text_a, explanation.text_b = _text(value_a), _text(value_b)
    explanation.named_a, explanation.named_b = named_a, named_b
    explanation.value_a, explanation.value_b = value_a, value_b
    return explanation


def changes(explanation: Explanation, variant: Variant, causes: Causes) -> bool:
    """Given an explained difference and a variant, return whether the variant changes the difference:
    B's value (or A's, where the variant removes an item A has) is not what it was."""
    return _changes_b(explanation, variant, causes) or _changes_a(explanation, variant, causes)


def _changes_b(explanation: Explanation, variant: Variant, causes: Causes) -> bool:
    if explanation.named_b & variant.removed:
        return explanation.value_b is not False  # the resource is gone: parity reads its value as False
    if explanation.list_b is not None:
        return _list_changes_b(explanation, variant, causes)
    if causes.mentions(explanation.text_b, "b", variant.removed, tokens=False):
        return True
    undone = variant.copied | variant.removed
    for edit in explanation.edits:
        if edit.kind == "sub" and edit.causes & variant.copied:
            return True
        if edit.kind == "b" and (edit.causes & undone or edit.inner & variant.copied):
            return True
        if edit.kind == "a" and edit.causes & variant.copied:
            return True
    return False


def _changes_a(explanation: Explanation, variant: Variant, causes: Causes) -> bool:
    if not variant.removed:
        return False
    if explanation.named_a & variant.removed:
        return explanation.value_a is not False
    if explanation.list_a is not None:
        kept = [e for e in explanation.list_a if not causes.mentions(e.text, "a", variant.removed, tokens=False)]
        return _at(kept, explanation.index, explanation.rest) != _at(
            explanation.list_a, explanation.index, explanation.rest
        )
    return bool(causes.mentions(explanation.text_a, "a", variant.removed, tokens=False))


def _list_changes_b(explanation: Explanation, variant: Variant, causes: Causes) -> bool:
    """Given an explained list difference, return whether the variant changes B's element at its index."""
    undone = variant.copied | variant.removed
    out: list[Element | Any] = []
    for element in explanation.list_b or []:
        edit = element.edit
        if causes.mentions(element.text, "b", variant.removed, tokens=False):
            continue
        if edit is None:
            out.append(element)
        elif edit.kind == "sub":
            out.append(CHANGED if edit.causes & variant.copied else element)
        elif edit.kind == "b" and edit.causes & undone:
            continue
        elif edit.kind == "b" and edit.inner & variant.copied:
            out.append(CHANGED)
        elif edit.kind == "restore":
            if edit.causes & variant.copied:
                out.append(element)
        else:
            out.append(element)
    actual = [e for e in explanation.list_b or [] if e.edit is None or e.edit.kind != "restore"]
    return _at(out, explanation.index, explanation.rest) != _at(actual, explanation.index, explanation.rest)


def _at(elements: list[Any], index: int, rest: str) -> Any:
    if index >= len(elements):
        return ABSENT
    element = elements[index]
    if element is CHANGED:
        return CHANGED
    return dict(element.value).get(rest, ABSENT)


def _explain_value(path: str, value_a: Any, value_b: Any, causes: Causes) -> Explanation | None:
    if value_a is ABSENT or value_b is ABSENT:
        side, value = ("b", value_b) if value_a is ABSENT else ("a", value_a)
        found = causes.mentions(path + "\n" + _text(value), side)
        return Explanation([Edit(side, found)]) if found else None
    if not isinstance(value_a, str) or not isinstance(value_b, str):
        edit = _explain_pair(_text(value_a), _text(value_b), causes)
        return Explanation([edit]) if edit is not None else None
    pairs = _align(value_a.split("\n"), value_b.split("\n"), causes)
    if pairs is None:
        return None
    return Explanation([edit for _, _, edit in pairs if edit is not None])


Pair = tuple[int | None, int | None, Edit | None]


def _align(texts_a: list[str], texts_b: list[str], causes: Causes) -> list[Pair] | None:
    """Given two sequences of texts (lines, list elements), return them aligned: ``(i, j, None)`` the same,
    ``(i, j, edit)`` one substitution apart, ``(i, None, edit)`` and ``(None, j, edit)`` only one side's,
    in order; None when a change is unexplained."""
    pairs: list[Pair] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, texts_a, texts_b, autojunk=False).get_opcodes():
        if tag == "equal":
            pairs += [(i1 + k, j1 + k, None) for k in range(i2 - i1)]
            continue
        found = _align_hunk(texts_a[i1:i2], texts_b[j1:j2], causes, i1, j1)
        if found is None:
            return None
        pairs += found
    return pairs


def _align_hunk(part_a: list[str], part_b: list[str], causes: Causes, i0: int, j0: int) -> list[Pair] | None:
    """Given a changed hunk, pair its texts one substitution apart (line by line when both sides have as
    many, else after making A's substitutions); what is left is only one side's, each block explained by
    what it names."""
    paired = _pairwise(part_a, part_b, causes, i0, j0)
    if paired is not None:
        return paired
    aligned = [causes.apply_all(text) for text in part_a]
    pairs: list[Pair] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, aligned, part_b, autojunk=False).get_opcodes():
        block_a, block_b = part_a[i1:i2], part_b[j1:j2]
        found = _pairwise(block_a, block_b, causes, i0 + i1, j0 + j1)
        if found is None and tag != "equal":
            found = _blocks(block_a, block_b, causes, i0 + i1, j0 + j1)
        if found is None:
            return None
        pairs += found
    return pairs


def _pairwise(part_a: list[str], part_b: list[str], causes: Causes, i0: int, j0: int) -> list[Pair] | None:
    if len(part_a) != len(part_b):
        return None
    edits = [None if a == b else _explain_pair(a, b, causes) for a, b in zip(part_a, part_b, strict=True)]
    if any(edit is None and a != b for edit, a, b in zip(edits, part_a, part_b, strict=True)):
        return None
    return [(i0 + k, j0 + k, edit) for k, edit in enumerate(edits)]


def _blocks(block_a: list[str], block_b: list[str], causes: Causes, i0: int, j0: int) -> list[Pair] | None:
    """Given what only A holds and what only B holds, explain each block by the hosts, items or values of
    that side it names (its every text: a block stands or falls together)."""
    text_a, text_b = "\n".join(block_a), "\n".join(block_b)
    found_a = causes.mentions(text_a, "a") if block_a else frozenset()
    found_b = causes.mentions(text_b, "b") if block_b else frozenset()
    if (block_a and not found_a) or (block_b and not found_b):
        return None
    inner = causes.inner(text_b)
    if inner is None:
        return None
    pairs: list[Pair] = [(i0 + k, None, Edit("a", found_a)) for k in range(len(block_a))]
    return pairs + [(None, j0 + k, Edit("b", found_b, inner)) for k in range(len(block_b))]


def _explain_pair(text_a: str, text_b: str, causes: Causes) -> Edit | None:
    """Given a changed line (or value) of each side, return the substitutions that turn A's into B's (each
    one only where it brings A's closer to B's), with what one side alone names where they do not cover it;
    None when nothing explains it."""
    current, used = text_a, set[str]()
    for a, b, keys in causes.substitutions:
        if a in current and b in text_b and _word(a).search(current) and _word(b).search(text_b):
            replaced = _replace(current, a, b)
            if _distance(replaced, text_b) >= _distance(current, text_b):
                continue
            if keys is None:
                return None  # two causes show this very substitution
            current = replaced
            used |= keys
    if current == text_b:
        return Edit("sub", frozenset(used)) if used else None
    # What is left names a host or an item, or holds a value, that one side alone has.
    structural = (causes.mentions(text_a, "a") - causes.mentions(text_b, "a")) | (
        causes.mentions(text_b, "b") - causes.mentions(text_a, "b")
    )
    return Edit("sub", frozenset(used | structural)) if structural else None


def _one_digit_each(a: str, b: str) -> bool:
    """Given a substitution, return whether it is one digit for another (a count of replicas or nodes): such a
    digit stands in too many lines (ports, times, other counts) to tell by which field put it there."""
    return len(a) == len(b) == 1 and a.isdigit() and b.isdigit()


def _distance(text_a: str, text_b: str) -> int:
    """Given two texts, return how many characters they do not share."""
    matcher = SequenceMatcher(None, text_a, text_b, autojunk=False)
    return len(text_a) + len(text_b) - 2 * sum(block.size for block in matcher.get_matching_blocks())


def _explain_list(
    inputs_a: dict[str, Any], inputs_b: dict[str, Any], parts: list[str], position: int, causes: Causes
) -> Explanation | None:
    """Given a difference inside a list (its path's last number is its index), explain the whole list:
    elements one substitution apart, and what only one side holds."""
    prefix = ".".join(parts[:position])
    elements_a, elements_b = _elements(inputs_a, prefix, causes), _elements(inputs_b, prefix, causes)
    pairs = _align([e.text for e in elements_a], [e.text for e in elements_b], causes)
    if pairs is None and not (elements_a and elements_b):
        # A list only one side has (under a port only B has): explained, as any such input, by its path too.
        side, elements = ("b", elements_b) if elements_b else ("a", elements_a)
        found = causes.mentions(prefix + "\n" + "\n".join(e.text for e in elements), side)
        inner = causes.inner("\n".join(e.text for e in elements)) if side == "b" else frozenset()
        edit = Edit(side, found, inner) if found and inner is not None else None
        pairs = [(None, j, edit) if side == "b" else (j, None, edit) for j in range(len(elements))] if edit else None
    if pairs is None:
        return None
    list_b: list[Element] = []
    for i, j, edit in pairs:
        if j is not None:
            elements_b[j].edit = edit
            list_b.append(elements_b[j])
        elif i is not None and edit is not None:
            elements_a[i].edit = edit
            list_b.append(Element(elements_a[i].value, elements_a[i].text, Edit("restore", edit.causes)))
    return Explanation(
        list_b=list_b, list_a=elements_a, index=int(parts[position]), rest=".".join(parts[position + 1 :])
    )


def _elements(inputs: dict[str, Any], prefix: str, causes: Causes) -> list[Element]:
    """Given a resource's flat inputs and a list's path, return the list's elements in order."""
    found: dict[int, dict[str, Any]] = {}
    start = prefix + "." if prefix else ""
    for key, value in inputs.items():
        if key.startswith(start):
            head, _, rest = key[len(start) :].partition(".")
            if head.isdigit():
                found.setdefault(int(head), {})[rest] = value
    elements = []
    for index in sorted(found):
        items = tuple(sorted((rest, _hashable(value)) for rest, value in found[index].items()))
        elements.append(Element(items, " ".join(_text(value) for value in found[index].values())))
    return elements


def _hashable(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _text(value: Any) -> str:
    """Given an input value, return its text (a reference to another resource's output names it:
    ``{"ref": "api-3.dropletUrn"}``)."""
    if value is ABSENT:
        return ""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def _replace(text: str, old: str, new: str) -> str:
    """Given a text, return it with every whole-word ``old`` replaced by ``new`` (taken as it is)."""
    return _word(old).sub(lambda _: new, text)


@cache
def _word(text: str) -> re.Pattern[str]:
    """Given a value or a name, return the pattern that finds it as a whole word (not inside another)."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(text)}(?![A-Za-z0-9])")
