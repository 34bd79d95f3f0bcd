"""Load environments: read defaults.yaml and ``<env>.yaml`` safely, deep-merge, validate, report all.

Every problem of every file asked for is collected and raised at once as one ConfigError whose lines
read ``FILE:LINE: field.path: message``. A value in a secret-looking field is never echoed.
"""

from __future__ import annotations

import copy
import ipaddress
import os
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic

from seawall.errors import ConfigError, UsageError
from seawall.model.rules import advise_environment, check_environment
from seawall.model.schema import Environment, ParityRules
from seawall.model.yamlsafe import Located, PathKey, YamlProblem, load_located

DEFAULTS = "defaults.yaml"
PARITY = "parity.yaml"
NOT_ENVIRONMENTS = {DEFAULTS, PARITY}
SECRET_KEY = re.compile(
    r"(password|passwd|passphrase|token|secret|private[_-]?key|access[_-]?key|api[_-]?key|credential)", re.I
)
SECRET_SOURCE_SUFFIXES = ("_env", "_file", "_config")
MISSING_FIELDS_HINT = 3  # more missing fields than this, without a defaults.yaml: one error that says so
CHAIN = ("devnet", "qanet", "testnet", "mainnet")
ENVIRONMENT_NAME = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")
TOP_LEVEL_KEYS = frozenset(Environment.model_fields)


@dataclass(frozen=True)
class Problem:
    """One finding: where it is and what is wrong."""

    where: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.path}: {self.message}" if self.path else f"{self.where}: {self.message}"


def list_environments(directory: Path) -> list[str]:
    """Given the environments folder, return the names of its environments, promotion order first.

    Editor droppings (``.#devnet.yaml``, ``devnet.yaml~``, ``.devnet.yaml.swp``) are not environments;
    any other ``.yaml`` or ``.yml`` file whose name is not an environment name is an error, never skipped.
    """
    if not directory.is_dir():
        msg = f"{directory}: no such environments folder (set --environments or SEAWALL_ENVIRONMENTS)"
        raise ConfigError([msg])
    names, misnamed = [], []
    for path in sorted(directory.glob("*.y*ml")):
        if path.name in NOT_ENVIRONMENTS or path.name.startswith((".", "#")):
            continue  # an editor's dropping (.#devnet.yaml) is never an environment
        if path.suffix == ".yaml" and ENVIRONMENT_NAME.match(path.stem):
            names.append(path.stem)
        elif path.suffix in (".yaml", ".yml"):
            misnamed.append(path)
    if misnamed:
        # A misnamed file would be an environment nobody validates or deploys: say so on every command.
        raise ConfigError([f"{path}:0: {_why_not_an_environment(path)}" for path in misnamed])
    if not names:
        msg = f"{directory}: no environment files (<name>.yaml beside defaults.yaml): nothing to load"
        raise ConfigError([msg])
    return sorted(names, key=lambda name: (CHAIN.index(name) if name in CHAIN else len(CHAIN), name))


def _why_not_an_environment(path: Path) -> str:
    if path.suffix == ".yml":
        return f"an environment file ends in .yaml: rename it {path.stem}.yaml (or move it out of the folder)"
    shown = path.stem if path.stem.isprintable() else path.stem.encode("unicode_escape").decode()
    return (
        f"{shown!r} is not an environment name (2-40 lowercase letters, digits and dashes, starting with a "
        "letter): rename the file, or move it out of the folder"
    )


def require_environment_name(directory: Path, name: str) -> str:
    """Given a name from the command line, return it when it is an environment of the folder; every
    command checks names this way (a path such as ``../evil`` is never read)."""
    known = list_environments(directory)
    if name not in known:
        raise UsageError(unknown_environments(directory, [name], known))
    return name


def unknown_environments(directory: Path, names: list[str], known: list[str]) -> str:
    """Given names from the command line that are not environments, return the one line that says so and
    lists the environments there are."""
    shown = ", ".join(repr(name if name.isprintable() else name.encode("unicode_escape").decode()) for name in names)
    verb = "is not an environment" if len(names) == 1 else "are not environments"
    return f"{shown} {verb} of {directory} (known: {', '.join(known) or 'none'}): give one of those"


def load_environment(directory: Path, name: str) -> Environment:
    """Given the environments folder and a name, return the validated environment."""
    return load_environments(directory, [name])[name]


def load_environments(directory: Path, names: list[str] | None = None) -> dict[str, Environment]:
    """Given the folder and names (all when None), return each validated, or raise every problem at once.

    Every problem of every file is reported together: ``defaults.yaml`` is checked on its own first (its
    problems named once, against it), then each environment, the rules across environments, and
    ``parity.yaml``. Each problem names the file and line where it was written.
    """
    known = list_environments(directory)
    wanted = known if names is None else names
    problems: list[Problem] = []
    unknown = [name for name in dict.fromkeys(wanted) if name not in known]
    if unknown:
        raise UsageError(unknown_environments(directory, unknown, known))
    defaults, found = _load_defaults(directory)
    problems += found
    if defaults is None and os.path.lexists(directory / DEFAULTS):
        # One clear error: every environment would fail for the same reason.
        raise ConfigError(list(dict.fromkeys(str(problem) for problem in problems)))
    loaded: dict[str, Environment] = {}
    lines: dict[str, list[Located]] = {}
    for name in wanted:
        env, found, sources = _load_one(directory, name, defaults)
        problems += found
        lines[name] = sources
        if env is not None:
            loaded[name] = env
    # The rules across environments see every environment, whichever were asked for: preview or audit of
    # the one that overlaps another's VPC fails as validate does. Another file's own problems are its own.
    others: dict[str, Environment] = {}
    for name in known:
        if name not in loaded and name not in wanted:
            env, _, sources = _load_one(directory, name, defaults)
            if env is not None:
                others[name] = env
                lines[name] = sources
    problems += _check_across(directory, known, loaded | others, lines, set(wanted))
    problems += _parity_problems(directory, known, loaded)
    if problems:
        unique = list(dict.fromkeys(str(problem) for problem in sorted(problems, key=_reading_order)))
        raise ConfigError(unique)
    return loaded


def environment_warnings(directory: Path, envs: dict[str, Environment]) -> list[str]:
    """Given the folder and environments it validated, return every warning as ``FILE:LINE: field: text``
    (the line where the field is written, or the section it belongs in)."""
    warnings: list[Problem] = []
    for name, env in envs.items():
        findings = advise_environment(env)
        if findings:
            _, sources = merged_document(directory, name)
            warnings += [Problem(_where(path, sources), _dotted(path), message) for path, message in findings]
    return [str(warning) for warning in warnings]


def _reading_order(problem: Problem) -> tuple[str, int]:
    file_name, _, line = problem.where.rpartition(":")
    return file_name, int(line) if line.isdigit() else 0


def load_parity_rules(directory: Path) -> ParityRules:
    """Given the environments folder, return its validated parity.yaml (empty rules when absent; a broken
    link or a bad file is an error, never taken as absent)."""
    path = directory / PARITY
    if not os.path.lexists(path):
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


def _load_defaults(directory: Path) -> tuple[Located | None, list[Problem]]:
    """Read and check ``defaults.yaml`` on its own: YAML, literal secrets, unknown keys and wrong types
    (required fields may be left to the environments). Absent is allowed (a host's standalone file)."""
    path = directory / DEFAULTS
    if not os.path.lexists(path):
        return None, []
    try:
        located = load_located(path)
    except YamlProblem as exc:
        return None, [Problem(exc.where, "", f"{exc.message}; every environment builds on {DEFAULTS}")]
    problems = [Problem(p.where, "", p.message) for p in located.problems]
    if located.data in (None, {}):
        msg = (
            f"the file is empty: every environment builds on {DEFAULTS}; restore it from version control, or "
            "remove it when each environment file holds everything"
        )
        return None, [Problem(f"{path}:1", "", msg)]
    if not isinstance(located.data, dict):
        return None, [Problem(f"{path}:1", "", "the file must be a mapping of the model's sections")]
    data = {key: value for key, value in located.data.items() if key != "replace"}
    problems += _find_literal_secrets(data, (), [located])
    secret_paths = {problem.path for problem in problems}
    try:
        Environment.model_validate(data)
    except pydantic.ValidationError as exc:
        for error in exc.errors():
            if error["type"] == "missing":
                continue
            problem = _problem_from_error(error, [located])
            if not any(problem.path.startswith(path) for path in secret_paths if path):
                problems.append(problem)
    return located, problems


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


def merged_document(
    directory: Path, name: str, defaults: Located | None = None
) -> tuple[dict[str, Any], list[Located]]:
    """Given the folder and a name, return the merged raw document and its sources, newest first.

    Keys the environment file lists under ``replace:`` take nothing from defaults.yaml, not even the lines
    problems are reported at.
    """
    if defaults is None and os.path.lexists(directory / DEFAULTS):
        defaults = load_located(directory / DEFAULTS)
    own = load_located(directory / f"{name}.yaml")
    own_path = str(directory / f"{name}.yaml")
    if own.data == {} and not own.lines:
        raise YamlProblem(f"{own_path}:1", "the file is empty: it must at least name the environment")
    if not isinstance(own.data, dict):
        raise YamlProblem(f"{own_path}:1", "the file must be a mapping of the model's sections")
    data = dict(own.data)
    replaced = data.pop("replace", [])
    if not isinstance(replaced, list) or not all(isinstance(key, str) for key in replaced):
        file_name, line = own.lines[("replace",)]
        raise YamlProblem(f"{file_name}:{line}", "replace: must list top-level keys")
    for index, key in enumerate(replaced):
        if key not in TOP_LEVEL_KEYS:
            file_name, line = own.lines.get(("replace", index), own.lines[("replace",)])
            known = ", ".join(sorted(TOP_LEVEL_KEYS))
            raise YamlProblem(f"{file_name}:{line}", f"replace: {key!r} is not a top-level key (known: {known})")
    base: dict[str, Any] = {}
    sources = [own]
    if defaults is not None and isinstance(defaults.data, dict):
        base = {k: v for k, v in defaults.data.items() if k not in replaced and k != "replace"}
        kept = {path: where for path, where in defaults.lines.items() if not (path and path[0] in replaced)}
        sources.append(Located(defaults.data, kept))
    return merge(base, data), sources


def _load_one(
    directory: Path, name: str, defaults: Located | None
) -> tuple[Environment | None, list[Problem], list[Located]]:
    try:
        document, sources = merged_document(directory, name, defaults)
    except YamlProblem as exc:
        return None, [Problem(exc.where, "", exc.message)], []
    problems = [Problem(p.where, "", p.message) for p in sources[0].problems]
    problems += _find_literal_secrets(document, (), sources)
    problems += _read_key_files(directory, document, sources)
    try:
        env = Environment.model_validate(document)
    except pydantic.ValidationError as exc:
        secret_paths = {problem.path for problem in problems if problem.path}
        errors = exc.errors()
        if defaults is None and sum(e["type"] == "missing" for e in errors) > MISSING_FIELDS_HINT:
            missing = [_dotted(_clean_loc(e["loc"])) for e in errors if e["type"] == "missing"]
            message = (
                f"{len(missing)} required fields are missing ({', '.join(missing[:4])}, …) and there is no "
                f"{directory / DEFAULTS} for them to come from: restore it, or complete this file"
            )
            problems.append(Problem(f"{directory / (name + '.yaml')}:1", "", message))
            errors = [e for e in errors if e["type"] != "missing"]
        for error in errors:
            problem = _problem_from_error(error, sources)
            if not any(problem.path.startswith(path) for path in secret_paths):
                problems.append(problem)
        repaired = _repaired(document, exc, sources[-1].data)
        if repaired is not None:
            for path, message in check_environment(repaired, name):
                problems.append(Problem(_where(path, sources), _dotted(path), message))
        return None, problems, sources
    for path, message in check_environment(env, name):
        problems.append(Problem(_where(path, sources), _dotted(path), message))
    return (env if not problems else None), problems, sources


# A public key line is short; a file much larger than this is not one.
MAX_KEY_FILE = 16 * 1024


def _read_key_files(directory: Path, document: dict[str, Any], sources: list[Located]) -> list[Problem]:
    """Given the merged document, fill each SSH public key that names a ``file`` (relative to the environments
    folder unless absolute) with the file's first line (the document gets new key mappings: what it shares with
    defaults.yaml stays as written); return a problem for each file that cannot be read."""
    network = document.get("network")
    keys = network.get("ssh_public_keys") if isinstance(network, dict) else None
    if not isinstance(network, dict) or not isinstance(keys, list):
        return []
    problems, filled = [], []
    for index, key in enumerate(keys):
        if isinstance(key, dict) and isinstance(key.get("file"), str) and key.get("public_key") is None:
            try:
                key = {**key, "public_key": _first_line(directory / key["file"])}
            except (OSError, UnicodeDecodeError) as exc:
                where = ("network", "ssh_public_keys", index, "file")
                problems.append(Problem(_where(where, sources), _dotted(where), f"cannot read the public key: {exc}"))
        filled.append(key)
    document["network"] = {**network, "ssh_public_keys": filled}
    return problems


def _first_line(path: Path) -> str:
    """Given a public key file, return its first line (an OpenSSH public key file holds one)."""
    if path.stat().st_size > MAX_KEY_FILE:
        msg = f"{path} is larger than {MAX_KEY_FILE} bytes: not an OpenSSH public key file"
        raise OSError(msg)
    lines = path.read_text(encoding="utf-8").splitlines()
    return lines[0].strip() if lines else ""


def _repaired(document: dict[str, Any], exc: pydantic.ValidationError, defaults: Any) -> Environment | None:
    """Given a document that failed validation, return it validated with the bad values set aside.

    Unknown keys and bad list items are dropped, other bad values fall back to defaults.yaml, so that
    the cross-field rules can still report their findings in the same run. None when that fails.
    """
    fixed = copy.deepcopy(document)
    for _ in range(3):
        for error in exc.errors():
            _set_aside(fixed, _clean_loc(error["loc"]), defaults)
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


def _check_across(
    directory: Path,
    known: list[str],
    loaded: dict[str, Environment],
    lines: dict[str, list[Located]],
    wanted: set[str],
) -> list[Problem]:
    """The rules across environments, for the ``wanted`` ones (``loaded`` holds every one that loads)."""
    problems: list[Problem] = []
    for name, env in loaded.items():
        if name not in wanted:
            continue
        sources = lines[name]
        predecessor = env.environment.predecessor
        if predecessor is not None and predecessor not in known:
            path: PathKey = ("environment", "predecessor")
            problems.append(Problem(_where(path, sources), _dotted(path), f"{predecessor!r} is not an environment"))
        seen = [name]
        current: str | None = predecessor
        while current is not None and current in known:
            if current in seen:
                cycle = " -> ".join([*seen, current])
                path = ("environment", "predecessor")
                problems.append(
                    Problem(_where(path, sources), _dotted(path), f"the promotion chain has a cycle: {cycle}")
                )
                break
            seen.append(current)
            current = _predecessor_of(directory, current, loaded)
        for index, frozen in enumerate(env.release.freeze.environments):
            if frozen not in known:
                path = ("release", "freeze", "environments", index)
                problems.append(Problem(_where(path, sources), _dotted(path), f"{frozen!r} is not an environment"))
    problems += _overlapping_networks(loaded, lines, wanted)
    return problems


def _overlapping_networks(
    loaded: dict[str, Environment], lines: dict[str, list[Located]], wanted: set[str]
) -> list[Problem]:
    """Every environment's VPC range is its own: two that overlap would collide when peered."""
    problems = []
    names = sorted(name for name, env in loaded.items() if env.environment.provider != "local")  # no VPC
    for index, name in enumerate(names):
        mine = ipaddress.ip_network(loaded[name].network.vpc_cidr)
        for other in names[index + 1 :]:
            theirs = ipaddress.ip_network(loaded[other].network.vpc_cidr)
            if mine.overlaps(theirs):
                path: PathKey = ("network", "vpc_cidr")
                why = "every environment needs its own private range (parity.yaml says why: VPCs never overlap)"
                if other in wanted:
                    problems.append(
                        Problem(_where(path, lines[other]), _dotted(path), f"{theirs} overlaps {name}'s {mine}: {why}")
                    )
                if name in wanted:
                    problems.append(
                        Problem(_where(path, lines[name]), _dotted(path), f"{mine} overlaps {other}'s {theirs}: {why}")
                    )
    return problems


def _parity_problems(directory: Path, known: list[str], loaded: dict[str, Environment]) -> list[Problem]:
    """parity.yaml's own problems, and references that name nothing: a field path no environment has, an
    environment or item that does not exist."""
    path = directory / PARITY
    if not os.path.lexists(path):
        return []
    try:
        located = load_located(path)
        rules = ParityRules.model_validate(located.data)
    except YamlProblem as exc:
        return [Problem(exc.where, "", exc.message)]
    except pydantic.ValidationError as exc:
        return [_problem_from_error(error, [located]) for error in exc.errors()]
    problems = [Problem(p.where, "", p.message) for p in located.problems]
    for index, allowance in enumerate(rules.allowed):
        if not _schema_has(allowance.field.split("."), Environment):
            where = _where(("allowed", index, "field"), [located])
            problems.append(Problem(where, f"allowed.{index}.field", f"{allowance.field!r} is no field of the model"))
    for index, only in enumerate(rules.environment_only):
        for position, env_name in enumerate(only.environments):
            if env_name not in known:
                where = _where(("environment_only", index, "environments", position), [located])
                key = f"environment_only.{index}.environments.{position}"
                problems.append(Problem(where, key, f"{env_name!r} is not an environment"))
        parts = only.item.split(".")
        present = [env for env in loaded.values() if _document_has(parts, env.model_dump(mode="json", by_alias=True))]
        if not _schema_has(parts, Environment) or (loaded and not present and set(only.environments) <= set(loaded)):
            where = _where(("environment_only", index, "item"), [located])
            problems.append(Problem(where, f"environment_only.{index}.item", f"{only.item!r} is in no environment"))
    return problems


def _schema_has(parts: list[str], annotation: Any) -> bool:
    """Given a dotted path (``*`` for any key) and a model type, return whether the model has that path."""
    if not parts:
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return any(_schema_has(parts, arg) for arg in args if arg is not type(None))
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        head = parts[0]
        fields = annotation.model_fields
        names = {field.alias or key for key, field in fields.items()} | set(fields)
        if head == "*":
            return any(_schema_has(parts[1:], field.annotation) for field in fields.values())
        field = fields.get(head) or next((f for f in fields.values() if f.alias == head), None)
        return head in names and field is not None and _schema_has(parts[1:], field.annotation)
    if origin is dict:
        return _schema_has(parts[1:], args[1])
    if origin is list:
        return (parts[0] == "*" or parts[0].isdigit()) and _schema_has(parts[1:], args[0])
    if origin is Annotated:
        return _schema_has(parts, args[0])
    return False


def _document_has(parts: list[str], document: Any) -> bool:
    if not parts:
        return True
    if isinstance(document, dict):
        keys = list(document) if parts[0] == "*" else [parts[0]] if parts[0] in document else []
        return any(_document_has(parts[1:], document[key]) for key in keys)
    return False


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


PLAIN_MESSAGES = {
    "model_type": "must be a mapping (key: value lines)",
    "model_attributes_type": "must be a mapping (key: value lines)",
    "dict_type": "must be a mapping (key: value lines)",
    "list_type": "must be a list (- item lines, or [a, b])",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "timedelta_type": "must be a duration (like 30m, 26h, 7d)",
}


def _clean_loc(loc: tuple[Any, ...]) -> PathKey:
    """Given pydantic's error location, return the field path (its function-name entries dropped)."""
    return tuple(part for part in loc if not (isinstance(part, str) and ("[" in part or part.startswith("function-"))))


def _problem_from_error(error: Any, sources: list[Located]) -> Problem:
    path = _clean_loc(error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key (check its spelling against docs/environment-model.md)"
    elif kind == "missing":
        message = "required field is missing"
    elif kind in PLAIN_MESSAGES:
        message = PLAIN_MESSAGES[kind]
    elif kind == "greater_than_equal":
        message = f"must be at least {error['ctx']['ge']}"
    elif kind == "less_than_equal":
        message = f"must be at most {error['ctx']['le']}"
    elif kind == "literal_error":
        message = f"must be one of {error['ctx']['expected']}"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    if any(isinstance(part, str) and SECRET_KEY.search(part) for part in path):
        # A field that may hold a secret: whatever was written there is never repeated.
        value = error.get("input")
        if isinstance(value, str | int | float) and str(value) and str(value) in message:
            message = message.replace(repr(value), "this value").replace(str(value), "this value")
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
    """Given a path, return it dotted; invisible or control characters in keys are shown escaped."""
    return ".".join(
        str(part) if str(part).isprintable() else str(part).encode("unicode_escape").decode() for part in path
    )
