"""Safe YAML loading that remembers where every value came from.

Given a file, return its data and a map from field path (a tuple of keys and list indexes) to the
line it was written on. Only the safe tags are accepted; duplicate keys, alias bombs and oversized
files are refused with a message that names the file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1024 * 1024
MAX_NODES = 100_000

PathKey = tuple[str | int, ...]


@dataclass
class Located:
    """A loaded document: its data and the line of every path in it."""

    data: Any
    lines: dict[PathKey, tuple[str, int]] = field(default_factory=dict)


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
        size = path.stat().st_size
    except OSError as exc:
        raise YamlProblem(f"{name}:0", f"cannot read the file ({exc.strerror})") from None
    if size > MAX_FILE_BYTES:
        raise YamlProblem(f"{name}:0", f"file is {size} bytes; the limit is {MAX_FILE_BYTES}")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlProblem(f"{name}:0", f"cannot read the file as UTF-8 text ({exc})") from None
    return load_located_text(text, name)


def load_located_text(text: str, name: str) -> Located:
    """Given YAML text and a name for messages, return its data and line map."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise YamlProblem(f"{name}:0", f"document is larger than {MAX_FILE_BYTES} bytes")
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise YamlProblem(f"{name}:{line}", f"not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"{name}:0", f"not valid YAML: {exc}") from None
    except RecursionError:
        raise YamlProblem(f"{name}:0", "the document is nested too deeply") from None
    if node is None:
        return Located(data={})
    located = Located(data=None)
    counter = [0]
    try:
        located.data = _construct(node, (), name, located.lines, counter)
    except RecursionError:
        raise YamlProblem(f"{name}:0", "the document is nested too deeply") from None
    return located


def _construct(
    node: yaml.Node,
    path: PathKey,
    name: str,
    lines: dict[PathKey, tuple[str, int]],
    counter: list[int],
) -> Any:
    counter[0] += 1
    if counter[0] > MAX_NODES:
        line = node.start_mark.line + 1
        msg = f"the document expands to more than {MAX_NODES} values (alias bomb?)"
        raise YamlProblem(f"{name}:{line}", msg)
    lines.setdefault(path, (name, node.start_mark.line + 1))
    if isinstance(node, yaml.CollectionNode) and node.tag not in _COLLECTION_TAGS:
        line = node.start_mark.line + 1
        raise YamlProblem(f"{name}:{line}", f"unsupported value: tag {node.tag!r} is not allowed")
    if isinstance(node, yaml.MappingNode):
        return _construct_mapping(node, path, name, lines, counter)
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*path, index), name, lines, counter) for index, item in enumerate(node.value)]
    return _construct_scalar(node, name)


def _construct_mapping(
    node: yaml.MappingNode,
    path: PathKey,
    name: str,
    lines: dict[PathKey, tuple[str, int]],
    counter: list[int],
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
            raise YamlProblem(f"{name}:{line}", f"duplicate key {key!r}")
        lines[(*path, key)] = (name, line)
        result[key] = _construct(value_node, (*path, key), name, lines, counter)
    return result


_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SCALAR_LOADER = yaml.SafeLoader("")
_COLLECTION_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}


def _construct_scalar(node: yaml.Node, name: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise YamlProblem(f"{name}:{node.start_mark.line + 1}", "expected a plain value")
    try:
        return _SCALAR_LOADER.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as exc:
        line = node.start_mark.line + 1
        raise YamlProblem(f"{name}:{line}", f"unsupported value: {exc.problem}") from None
    except ValueError as exc:
        line = node.start_mark.line + 1
        raise YamlProblem(f"{name}:{line}", f"unreadable value: {exc}") from None
    finally:
        _SCALAR_LOADER.constructed_objects.clear()
