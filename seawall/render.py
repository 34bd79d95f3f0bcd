"""The offline engine: run ``stacks.program.build(env)`` under Pulumi's mock engine and record the graph.

No Pulumi CLI, plugin, credential or network is used. Every registered resource is recorded as its
logical name (which never contains the environment), type token, parent and inputs. The result is
deterministic, and each call starts from fresh mocks and fresh runtime state, so one process may render
any number of environments.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from seawall.errors import RenderError
from seawall.model.schema import Environment

PROJECT = "seawall"
PLACEHOLDER_SECRET = "offline-placeholder"  # noqa: S105 - a marker, not a secret
SECRET_MARK = "[secret]"  # noqa: S105
UNKNOWN_MARK = "[unknown]"
# Pulumi's wire signatures: the key that marks a special value, and the kinds this engine meets.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"


@dataclass(frozen=True)
class ResourceRecord:
    """One registered resource of the rendered graph."""

    name: str
    type: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        """Return the record as JSON-able data."""
        return asdict(self)


@dataclass
class Graph:
    """The rendered resource graph of one environment, keyed by logical name."""

    environment: str
    resources: dict[str, ResourceRecord] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    dependencies: dict[str, list[str]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """Return the whole graph as JSON-able data, in a stable order: each resource's dependencies (the
        resources it waits for, explicit or through its inputs) too, as the engine orders them."""
        return {
            "environment": self.environment,
            "resources": [self.resources[name].as_json() for name in sorted(self.resources)],
            "dependencies": {name: deps for name, deps in sorted(self.dependencies.items()) if deps},
            "outputs": self.outputs,
        }

    def to_json(self) -> str:
        """Return the graph as stable JSON text (identical bytes for identical input)."""
        return json.dumps(self.as_json(), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class Program:
    """A Pulumi program the offline engine can run: ``build(env)`` and the secret config keys it reads.

    The engine takes it as an argument (``seawall.stacks.program.OFFLINE``), so the core never imports
    the program.
    """

    build: Callable[[Environment], dict[str, Any]]
    secret_config: tuple[str, ...]


def render(
    env: Environment, program: Program, config: dict[str, str] | None = None, cloud: FakeCloud | None = None
) -> Graph:
    """Given a validated environment and the program, run it under mocks and return its resource graph.

    ``config`` and ``cloud`` are for the lab fleet's stand-in of the engine (tests/lab): the secrets it
    really deploys with (recorded as they are, never masked) and the addresses of its hosts. Everything
    else renders with the placeholder secret and the deterministic fake cloud."""
    import pulumi
    from pulumi.runtime import mocks, settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    recorder = _recording_monitor_class(mocks)(cloud or FakeCloud())
    settings.ROOT.set(None)
    keys = _config_keys(env, program)
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:{key}": (config or {}).get(key, PLACEHOLDER_SECRET) for key in keys},
        [f"{PROJECT}:{key}" for key in keys],
    )
    mocks.set_mocks(recorder.mocks, project=PROJECT, stack=env.name, preview=False, monitor=recorder)
    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    outputs: dict[str, Any] = {}

    def run() -> None:
        result = program.build(env)
        pulumi.Output.from_input(result).apply(outputs.update)

    try:
        _sync_await(run_pulumi_func(run))
    except Exception as exc:
        msg = f"rendering {env.name} failed: {type(exc).__name__}: {exc}"
        raise RenderError(msg) from exc
    finally:
        settings.ROOT.set(None)
    graph = Graph(environment=env.name, outputs=_normalise(outputs))
    for record in recorder.records:
        graph.resources[record.name] = record
    graph.dependencies = recorder.dependencies
    return graph


def _config_keys(env: Environment, program: Program) -> list[str]:
    slack = [c.slack_url_config for c in env.alerting.channels.values() if c.slack_url_config]
    return sorted({*program.secret_config, *slack})


class FakeCloud:
    """What the mock engine answers for each resource: deterministic ids and the outputs programs read."""

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        digest = int(hashlib.sha256(args.name.encode()).hexdigest()[:8], 16)
        state = dict(args.inputs)
        short = args.typ.rsplit(":", 1)[-1]
        state.update(
            {
                "Droplet": {"ipv4Address": f"198.51.100.{digest % 250 + 1}", "dropletUrn": f"do:droplet:{digest}"},
                "Volume": {"volumeUrn": f"do:volume:{digest}"},
                "Domain": {"domainUrn": f"do:domain:{args.inputs.get('name', '')}"},
                "SpacesBucket": {"bucketUrn": f"do:space:{args.inputs.get('name', '')}"},
            }.get(short, {})
        )
        return str(digest), state

    def call(self, args: Any) -> tuple[dict[str, Any], None]:
        msg = f"the program called {args.token}, which the offline engine cannot answer"
        raise RenderError(msg)


def _recording_monitor_class(mocks: Any) -> Any:
    class RecordingMonitor(mocks.MockMonitor):
        """The SDK's mock monitor, also recording each registration's parent and inputs."""

        def __init__(self, cloud: FakeCloud) -> None:
            adapter = type(
                "CloudMocks",
                (mocks.Mocks,),
                {"new_resource": lambda _, a: cloud.new_resource(a), "call": lambda _, a: cloud.call(a)},
            )
            self.mocks = adapter()
            super().__init__(self.mocks)
            self.records: list[ResourceRecord] = []
            self.dependencies: dict[str, list[str]] = {}

        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                from pulumi.runtime import rpc

                inputs = rpc.deserialize_properties(request.object, keep_unknowns=True)
                parent = _parent_name(request.parent)
                self.records.append(
                    ResourceRecord(request.name, request.type, parent, bool(request.custom), _normalise(inputs))
                )
                self.dependencies[request.name] = sorted(urn.rsplit("::", 1)[-1] for urn in request.dependencies)
            return response

    return RecordingMonitor


def _parent_name(urn: str) -> str | None:
    """Given a parent URN, return its logical name, or None for the stack itself."""
    if not urn or urn.split("::")[2].endswith("pulumi:pulumi:Stack"):
        return None
    return urn.rsplit("::", 1)[-1]


def _normalise(value: Any) -> Any:
    """Given deserialized inputs, return plain JSON data: secrets masked, unknowns marked, keys sorted.

    Floats that are whole numbers (the wire has no integers) become ints.
    """
    import pulumi

    if isinstance(value, dict):
        kind = value.get(_SIG_KEY)
        if kind == _RESOURCE_SIG:
            return str(value.get("urn", UNKNOWN_MARK)).rsplit("::", 1)[-1]
        if kind in (_SECRET_SIG, _OUTPUT_SIG):
            # Offline, every secret is the placeholder, masked below; what surrounds it stays visible.
            return _normalise(value.get("value", UNKNOWN_MARK))
        return {str(key): _normalise(item) for key, item in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    if isinstance(value, pulumi.Resource):
        return getattr(value, "_name", UNKNOWN_MARK)
    if isinstance(value, pulumi.FileAsset):
        return {"asset": "file", "path": str(value.path)}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": "text", "text": _normalise(value.text)}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if value is None or isinstance(value, bool | int | float | str):
        if isinstance(value, str) and PLACEHOLDER_SECRET in value:
            return SECRET_MARK
        return value
    return UNKNOWN_MARK
