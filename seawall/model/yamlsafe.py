"""Safe YAML loading that remembers where every value came from.

Given a file, return its data and a map from field path (a tuple of keys and list indexes) to the
line it was written on. Only the safe tags are accepted; duplicate keys, alias bombs and oversized
files are refused with a message that names the file and line. Only regular files are read, and at
most ``MAX_FILE_BYTES`` of them (a named pipe or a link to a device never hangs a command).

Plain values are resolved as YAML 1.2's core schema does, not YAML 1.1's: only ``true``/``false`` are
booleans (``yes``, ``on`` stay text), integers are decimal (``010`` stays the text it is; ``0o`` and
``0x`` are octal and hex), ``1:30`` is text (no sexagesimal numbers), dates are text. A value that cannot
be read under its explicit tag is named by its line, never repeated: it may be a secret.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import yaml

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000

PathKey = tuple[str | int, ...]


@dataclass
class Located:
    """A loaded document: its data and the line of every path in it."""

    data: Any
    lines: dict[PathKey, tuple[str, int]] = field(default_factory=dict)
    problems: list[YamlProblem] = field(default_factory=list)


class YamlProblem(Exception):
    """A file could not be read as safe YAML. ``where`` is ``FILE:LINE``."""

    def __init__(self, where: str, message: str) -> None:
        self.where = where
        self.message = message
        super().__init__(f"{where}: {message}")


def load_located(path: Path, label: str | None = None) -> Located:
    """Given a YAML file, return its data and the source line of every path in it."""
    name = label or str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        what = "is a broken link" if os.path.islink(path) else "does not exist"
        raise YamlProblem(f"{name}:0", f"the file {what}") from None
    except OSError as exc:
        raise YamlProblem(f"{name}:0", f"cannot read the file ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise YamlProblem(f"{name}:0", "not a regular file (a folder, pipe or device is never read)")
    try:
        with open(path, "rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlProblem(f"{name}:0", f"cannot read the file ({exc.strerror})") from None
    if len(raw) > MAX_FILE_BYTES:
        raise YamlProblem(f"{name}:0", f"the file is over the size limit (the limit is {MAX_FILE_BYTES} bytes)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlProblem(
            f"{name}:{line}", f"not UTF-8 text (byte {raw[exc.start]:#04x} at offset {exc.start})"
        ) from None
    return load_located_text(text, name)


def load_located_text(text: str, name: str) -> Located:
    """Given YAML text and a name for messages, return its data and line map."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise YamlProblem(f"{name}:0", f"document is larger than {MAX_FILE_BYTES} bytes")
    # YAML 1.1 (PyYAML) breaks lines at U+2028/U+2029; YAML 1.2 and editors do not: keep the lines.
    text = text.replace("\u2028", " ").replace("\u2029", " ")
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise YamlProblem(f"{name}:{line}", f"character {exc.character!r} is not allowed in YAML") from None
    except yaml.MarkedYAMLError as exc:
        # An unclosed quote or bracket is reported where it opened, not at the end of the file.
        unclosed = "end of stream" in str(exc.problem) and exc.context_mark is not None
        mark = exc.context_mark if unclosed else (exc.problem_mark or exc.context_mark)
        line = mark.line + 1 if mark else 0
        what = f"{exc.context}, never closed" if unclosed else str(exc.problem or exc.context)
        opened = None if unclosed or mark is None else _quote_closing_on(text, mark.line)
        if opened is not None:
            # A stray quote swallows the lines after it up to the next quote, where parsing then fails.
            what += (
                f" (a quoted value opened on line {opened} runs on to line {line}: is a quote on line {opened} stray?)"
            )
            line = opened
        raise YamlProblem(f"{name}:{line}", f"not valid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"{name}:0", f"not valid YAML: {exc}") from None
    except RecursionError:
        raise YamlProblem(f"{name}:0", "the document is nested too deeply") from None
    if node is None:
        return Located(data={})
    located = Located(data=None)
    counter = [0]
    try:
        located.data = _construct(node, (), name, located, counter)
    except RecursionError:
        raise YamlProblem(f"{name}:0", "the document is nested too deeply") from None
    return located


def _quote_closing_on(text: str, line: int) -> int | None:
    """Given text that fails to parse at a 0-based line, return the 1-based line where a quoted value
    that spans several lines and closes on that line opened, or None."""
    opened = None
    try:
        for token in yaml.scan(text, Loader=_COMPOSER):
            if token.start_mark.line > line:
                break
            quoted = isinstance(token, yaml.ScalarToken) and token.style in ("'", '"')
            if quoted and token.start_mark.line < token.end_mark.line == line:
                opened = token.start_mark.line + 1
    except yaml.YAMLError:
        pass
    return opened


def _construct(node: yaml.Node, path: PathKey, name: str, located: Located, counter: list[int]) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        line = node.start_mark.line + 1
        msg = f"the document expands to more than {MAX_NODES} values (alias bomb?)"
        raise YamlProblem(f"{name}:{line}", msg)
    located.lines.setdefault(path, (name, node.start_mark.line + 1))
    if isinstance(node, yaml.CollectionNode) and node.tag not in _COLLECTION_TAGS:
        line = node.start_mark.line + 1
        raise YamlProblem(f"{name}:{line}", f"unsupported value: tag {node.tag!r} is not allowed")
    if isinstance(node, yaml.MappingNode):
        return _construct_mapping(node, path, name, located, counter)
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, index), name, located, counter) for index, item in enumerate(node.value)]
    return _construct_scalar(node, name)


def _construct_mapping(
    node: yaml.MappingNode, path: PathKey, name: str, located: Located, counter: list[int]
) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key_node, value_node in node.value:
        line = key_node.start_mark.line + 1
        if key_node.tag == "tag:yaml.org,2002:merge":
            raise YamlProblem(f"{name}:{line}", "merge keys (<<) are not supported; write keys out")
        if not isinstance(key_node, yaml.ScalarNode):
            raise YamlProblem(f"{name}:{line}", "mapping keys must be plain strings")
        key = str(_construct_scalar(key_node, name))
        if key in result:
            # Reported, and the rest of the file is still checked (the first value is kept).
            located.problems.append(YamlProblem(f"{name}:{line}", f"duplicate key {key!r}"))
            continue
        located.lines[(*path, key)] = (name, line)
        result[key] = _construct(value_node, (*path, key), name, located, counter)
    return result


class _CoreSchema(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader with YAML 1.2 core-schema resolution of plain values."""

    yaml_implicit_resolvers: ClassVar[dict[str | None, list[tuple[str, re.Pattern[str]]]]] = {}


for _tag, _pattern, _first in (
    ("tag:yaml.org,2002:bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("tag:yaml.org,2002:int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "tag:yaml.org,2002:float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+.0123456789",
    ),
    ("tag:yaml.org,2002:null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", r"^(?:<<)$", ["<"]),
):
    _CoreSchema.add_implicit_resolver(_tag, re.compile(_pattern), list(_first))

_COMPOSER = _CoreSchema
_SCALAR_LOADER = yaml.SafeLoader("")
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def _construct_scalar(node: yaml.Node, name: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise YamlProblem(f"{name}:{node.start_mark.line + 1}", "expected a plain value")
    line = node.start_mark.line + 1
    if node.tag == "tag:yaml.org,2002:int" and not node.style:
        # YAML 1.2 octal and hex; decimal otherwise (PyYAML's 1.1 constructor would read 010 as 8).
        text = node.value.replace("_", "")
        base = 8 if text.lower().startswith("0o") else 16 if text.lower().startswith("0x") else 10
        try:
            return int(text[2:] if base != 10 else text, base)
        except ValueError:
            raise YamlProblem(f"{name}:{line}", "this value cannot be read as a whole number") from None
    try:
        return _SCALAR_LOADER.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError:
        raise YamlProblem(f"{name}:{line}", f"unsupported value: tag {node.tag!r} is not allowed") from None
    except Exception:  # ValueError, KeyError, AttributeError: PyYAML's converters fail every way
        # The value itself is never repeated: it may be a secret.
        kind = node.tag.rsplit(":", 1)[-1]
        raise YamlProblem(f"{name}:{line}", f"this value cannot be read as {kind} (as its tag asks)") from None
    finally:
        _SCALAR_LOADER.constructed_objects.clear()
