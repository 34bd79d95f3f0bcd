"""Load environments: read defaults.yaml and ``<env>.yaml`` safely, deep-merge, validate, report all.

Every problem of every file asked for is collected and raised at once as one ConfigError whose lines
read ``FILE:LINE: field.path: message``. A value in a secret-looking field is never echoed.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from seawall.errors import ConfigError
from seawall.model.rules import check_environment
from seawall.model.schema import Environment, ParityRules
from seawall.model.yamlsafe import Located, PathKey, YamlProblem, load_located

DEFAULTS = "defaults.yaml"
PARITY = "parity.yaml"
NOT_ENVIRONMENTS = {DEFAULTS, PARITY}
SECRET_KEY = re.compile(
    r"(password|passwd|passphrase|token|secret|private[_-]?key|access[_-]?key|api[_-]?key|credential)", re.I
)
SECRET_SOURCE_SUFFIXES = ("_env", "_file", "_config")
CHAIN = ("devnet", "qanet", "testnet", "mainnet")


@dataclass(frozen=True)
class Problem:
    """One finding: where it is and what is wrong."""

    where: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.path}: {self.message}" if self.path else f"{self.where}: {self.message}"


def list_environments(directory: Path) -> list[str]:
    """Given the environments folder, return the names of its environments, promotion order first."""
    if not directory.is_dir():
        msg = f"{directory}: no such environments folder (set --environments or SEAWALL_ENVIRONMENTS)"
        raise ConfigError([msg])
    names = [path.stem for path in directory.glob("*.yaml") if path.name not in NOT_ENVIRONMENTS]
    return sorted(names, key=lambda name: (CHAIN.index(name) if name in CHAIN else len(CHAIN), name))


def load_environment(directory: Path, name: str) -> Environment:
    """Given the environments folder and a name, return the validated environment."""
    return load_environments(directory, [name])[name]


def load_environments(directory: Path, names: list[str] | None = None) -> dict[str, Environment]:
    """Given the folder and names (all when None), return each validated, or raise every problem at once."""
    known = list_environments(directory)
    wanted = known if names is None else names
    problems: list[Problem] = []
    for name in wanted:
        if name not in known:
            listed = ", ".join(known) or "none"
            problems.append(Problem(f"{directory / (name + '.yaml')}:0", "", f"no such environment (known: {listed})"))
    if problems:
        raise ConfigError([str(problem) for problem in problems])
    loaded: dict[str, Environment] = {}
    for name in wanted:
        env, found = _load_one(directory, name)
        problems += found
        if env is not None:
            loaded[name] = env
    problems += _check_across(directory, known, loaded)
    if problems:
        raise ConfigError([str(problem) for problem in sorted(problems, key=_reading_order)])
    return loaded


def _reading_order(problem: Problem) -> tuple[str, int]:
    file_name, _, line = problem.where.rpartition(":")
    return file_name, int(line) if line.isdigit() else 0


def load_parity_rules(directory: Path) -> ParityRules:
    """Given the environments folder, return its validated parity.yaml (empty rules when absent)."""
    path = directory / PARITY
    if not path.exists():
        return ParityRules()
    try:
        located = load_located(path)
    except YamlProblem as exc:
        raise ConfigError([str(Problem(exc.where, "", exc.message))]) from None
    try:
        return ParityRules.model_validate(located.data)
    except pydantic.ValidationError as exc:
        problems = [_problem_from_error(error, [located]) for error in exc.errors()]
        raise ConfigError([str(problem) for problem in problems]) from None


def merge(base: Any, override: Any) -> Any:
    """Given two documents, return ``override`` deep-merged onto ``base``.

    Mappings merge key by key; any other value (lists included) replaces; ``null`` removes the key.
    """
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return copy.deepcopy(override)
    result = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            result.pop(key, None)
        elif key in result:
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def merged_document(directory: Path, name: str) -> tuple[dict[str, Any], list[Located]]:
    """Given the folder and a name, return the merged raw document and its sources, newest first."""
    sources: list[Located] = []
    defaults_path = directory / DEFAULTS
    if defaults_path.exists():
        sources.append(load_located(defaults_path))
    own = load_located(directory / f"{name}.yaml")
    sources.append(own)
    document: dict[str, Any] = {}
    for source in sources:
        file_name, line = source.lines.get((), (str(directory / f"{name}.yaml"), 1))
        if not isinstance(source.data, dict):
            raise YamlProblem(f"{file_name}:{line}", "the file must be a mapping")
        data = dict(source.data)
        replaced = data.pop("replace", [])
        if not isinstance(replaced, list) or not all(isinstance(key, str) for key in replaced):
            file_name, line = source.lines[("replace",)]
            raise YamlProblem(f"{file_name}:{line}", "replace: must list top-level keys")
        for key in replaced:
            document.pop(key, None)
        document = merge(document, data)
    return document, list(reversed(sources))


def _load_one(directory: Path, name: str) -> tuple[Environment | None, list[Problem]]:
    try:
        document, sources = merged_document(directory, name)
    except YamlProblem as exc:
        return None, [Problem(exc.where, "", exc.message)]
    problems = _find_literal_secrets(document, (), sources)
    try:
        env = Environment.model_validate(document)
    except pydantic.ValidationError as exc:
        secret_paths = {problem.path for problem in problems}
        for error in exc.errors():
            problem = _problem_from_error(error, sources)
            if not any(problem.path.startswith(path) for path in secret_paths):
                problems.append(problem)
        repaired = _repaired(document, exc, sources[-1].data)
        if repaired is not None:
            for path, message in check_environment(repaired, name):
                problems.append(Problem(_where(path, sources), _dotted(path), message))
        return None, problems
    for path, message in check_environment(env, name):
        problems.append(Problem(_where(path, sources), _dotted(path), message))
    return (env if not problems else None), problems


def _repaired(document: dict[str, Any], exc: pydantic.ValidationError, defaults: Any) -> Environment | None:
    """Given a document that failed validation, return it validated with the bad values set aside.

    Unknown keys and bad list items are dropped, other bad values fall back to defaults.yaml, so that
    the cross-field rules can still report their findings in the same run. None when that fails.
    """
    fixed = copy.deepcopy(document)
    for _ in range(3):
        for error in exc.errors():
            path = tuple(part for part in error["loc"] if not (isinstance(part, str) and "[" in part))
            _set_aside(fixed, path, defaults)
        try:
            return Environment.model_validate(fixed)
        except pydantic.ValidationError as again:
            exc = again
    return None


def _set_aside(document: Any, path: PathKey, defaults: Any) -> None:
    parent = document
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    last = path[-1] if path else None
    fallback = defaults
    for part in path:
        fallback = fallback.get(part) if isinstance(fallback, dict) else None
    if isinstance(parent, dict) and last in parent:
        if fallback is not None and not isinstance(parent[last], list):
            parent[last] = copy.deepcopy(fallback)
        else:
            parent.pop(last)
    elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
        parent.pop(last)


def _check_across(directory: Path, known: list[str], loaded: dict[str, Environment]) -> list[Problem]:
    problems: list[Problem] = []
    for name, env in loaded.items():
        where = f"{directory / (name + '.yaml')}:0"
        predecessor = env.environment.predecessor
        if predecessor is not None and predecessor not in known:
            problems.append(Problem(where, "environment.predecessor", f"{predecessor!r} is not an environment"))
        seen = [name]
        current: str | None = predecessor
        while current is not None and current in known:
            if current in seen:
                cycle = " -> ".join([*seen, current])
                problems.append(Problem(where, "environment.predecessor", f"the promotion chain has a cycle: {cycle}"))
                break
            seen.append(current)
            current = _predecessor_of(directory, current, loaded)
        for index, frozen in enumerate(env.release.freeze.environments):
            if frozen not in known:
                path = f"release.freeze.environments.{index}"
                problems.append(Problem(where, path, f"{frozen!r} is not an environment"))
    return problems


def _predecessor_of(directory: Path, name: str, loaded: dict[str, Environment]) -> str | None:
    if name in loaded:
        return loaded[name].environment.predecessor
    try:
        document, _ = merged_document(directory, name)
    except YamlProblem:
        return None
    environment = document.get("environment")
    predecessor = environment.get("predecessor") if isinstance(environment, dict) else None
    return predecessor if isinstance(predecessor, str) else None


def _find_literal_secrets(node: Any, path: PathKey, sources: list[Located]) -> list[Problem]:
    problems: list[Problem] = []
    if isinstance(node, dict):
        for key, value in node.items():
            child = (*path, key)
            if SECRET_KEY.search(key) and not key.endswith(SECRET_SOURCE_SUFFIXES) and _is_literal(value):
                msg = (
                    "a secret must not be written in the environment files; set it with "
                    f"`pulumi config set --secret`, or name where it comes from with {key}_env (an "
                    f"environment variable) or {key}_file (a file)"
                )
                problems.append(Problem(_where(child, sources), _dotted(child), msg))
            else:
                problems += _find_literal_secrets(value, child, sources)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            problems += _find_literal_secrets(value, (*path, index), sources)
    return problems


def _is_literal(value: Any) -> bool:
    return value not in (None, "", [], {}) and not isinstance(value, bool)


def _problem_from_error(error: Any, sources: list[Located]) -> Problem:
    path = tuple(part for part in error["loc"] if not (isinstance(part, str) and "[" in part))
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key (check its spelling against docs/environment-model.md)"
    elif kind == "missing":
        message = "required field is missing"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    return Problem(_where(path, sources), _dotted(path), message)


def _where(path: PathKey, sources: list[Located]) -> str:
    for length in range(len(path), -1, -1):
        prefix = path[:length]
        for source in sources:
            if prefix in source.lines:
                file_name, line = source.lines[prefix]
                return f"{file_name}:{line}"
    return f"{sources[0].lines.get((), ('?', 0))[0]}:0" if sources else "?:0"


def _dotted(path: PathKey) -> str:
    return ".".join(str(part) for part in path)
