"""The offline engine: run ``stacks.program.build(env)`` under Pulumi's mock engine and record the graph.

No Pulumi CLI, plugin, credential or network is used. Every registered resource is recorded as its
logical name (which never contains the environment), type token, parent and inputs. An input that is
another resource's output the cloud computes (an id, a droplet's addresses, a URN) is recorded as a
reference to it, ``{"ref": "api-1.ipv4AddressPrivate"}`` (that resource's logical name and the output),
as a deploy knows it before the cloud answers: the fake cloud's stand-in values let the program run and
never reach the graph. The result is deterministic, and each call starts from fresh mocks and fresh
runtime state, so one process may render any number of environments; ``render_all`` renders several at
once, one render process per free core, each graph what ``render`` would return.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from seawall.errors import RenderError
from seawall.model.schema import Environment
from seawall.runner import available_cores, map_in_processes

PROJECT = "seawall"
PLACEHOLDER_SECRET = "offline-placeholder"  # noqa: S105 - a marker, not a secret
SECRET_MARK = "[secret]"  # noqa: S105
UNKNOWN_MARK = "[unknown]"
# Pulumi's wire signatures: the key that marks a special value, and the kinds this engine meets.
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105
_RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
_OUTPUT_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
REF_KEY = "ref"


def reference(name: str, output: str) -> dict[str, str]:
    """Given a resource's logical name and one of its outputs, return how the graph records an input that is
    that output: ``{"ref": "api-1.ipv4AddressPrivate"}``."""
    return {REF_KEY: f"{name}.{output}"}


def referenced(value: Any) -> tuple[str, str] | None:
    """Given a recorded input, return the resource and output it refers to, or None when it is a value."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get(REF_KEY), str):
        name, _, output = value[REF_KEY].rpartition(".")
        if name and output:
            return name, output
    return None


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
    # What a render process imports once, before its first render (the program's own module).
    modules: tuple[str, ...] = ()


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
        pulumi.Output.from_input(_traced(result)).apply(outputs.update)

    # A render allocates millions of objects that live until it ends: the cyclic collector's full passes
    # over them (and over every graph rendered before) took 40-50% of a render, more the larger the fleet.
    # Paused while the program runs, one collection after it frees what the render left (the same memory
    # within a few percent).
    collecting = gc.isenabled()
    _freeze_imports()
    gc.disable()
    # The SDK walks the whole Python stack of every resource it registers (and stats each frame's file) for the
    # source position it sends the engine; the recording monitor keeps none, so a render skips the walk (a
    # seventh of its time).
    from pulumi.runtime import resource as sdk_resource
    from pulumi.runtime.proto import source_pb2

    walk = getattr(sdk_resource, "_get_stack_trace", None)
    if walk is not None:
        sdk_resource._get_stack_trace = source_pb2.StackTrace
    try:
        _sync_await(run_pulumi_func(run))
    except Exception as exc:
        msg = f"rendering {env.name} failed: {type(exc).__name__}: {exc}"
        raise RenderError(msg) from exc
    finally:
        if walk is not None:
            sdk_resource._get_stack_trace = walk
        settings.ROOT.set(None)
        if collecting:
            gc.enable()
            gc.collect()
    graph = Graph(environment=env.name, outputs=_normalise(outputs, recorder.stand_ins))
    for record in recorder.records:
        graph.resources[record.name] = record
    graph.dependencies = recorder.dependencies
    return graph


def _freeze_imports() -> None:
    """Move what this process holds before its first render (the imported modules: Pulumi, the providers'
    classes, pydantic's) out of the cyclic collector's reach, once per process: the collection after each
    render then walks the render's own objects only (it walked the imports' 130,000 too, a quarter of a
    render). Objects held then are never collected as cycles; what a render allocates still is."""
    if not gc.get_freeze_count():
        gc.freeze()


def render_all(envs: list[Environment], program: Program, jobs: int | None = None) -> list[Graph]:
    """Given environments, return their graphs in the same order: rendered in this process when one core
    is free (or one environment is given), else in up to one process per core (``jobs``: at most that many).

    Each render process runs renders one after another; the mock engine's state is per process and each
    render starts it afresh, so every graph is what ``render`` returns here. An error in a render process is
    the same RenderError, raised here.
    """
    count = min(len(envs), jobs or available_cores())
    if count <= 1:
        return [render(env, program) for env in envs]
    from concurrent.futures.process import BrokenProcessPool

    try:
        return map_in_processes(_render_one, [(env, program) for env in envs], count, program.modules)
    except BrokenProcessPool as exc:
        names = ", ".join(env.name for env in envs)
        msg = f"rendering {names} failed: a render process ended before it answered ({exc})"
        raise RenderError(msg) from None


def _render_one(job: tuple[Environment, Program]) -> Graph:
    """A render process's work: one environment's graph (pickled back to the parent)."""
    env, program = job
    return render(env, program)


def _config_keys(env: Environment, program: Program) -> list[str]:
    slack = [c.slack_url_config for c in env.alerting.channels.values() if c.slack_url_config]
    containers = [name for s in env.services.values() if s.artifact is not None for name in s.artifact.secrets]
    return sorted({*program.secret_config, *slack, *containers})


class FakeCloud:
    """What the mock engine answers for each resource: deterministic ids and the outputs programs read.

    Everything it adds to a resource's inputs (the id, a droplet's addresses, the URNs) only stands in for
    what the cloud computes, so the graph records an input holding one as a reference to that output. A
    cloud whose answers are the real ones (the lab fleet's addresses) names those outputs in
    ``known_outputs``: they are recorded as values.
    """

    known_outputs: frozenset[str] = frozenset()

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        state = dict(args.inputs)
        state.update(stand_in_outputs(args.name, args.typ, args.inputs))
        return state.pop("id"), state

    def call(self, args: Any) -> tuple[dict[str, Any], None]:
        msg = f"the program called {args.token}, which the offline engine cannot answer"
        raise RenderError(msg)


def stand_in_outputs(name: str, token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """Given a resource's logical name, type token and inputs, return the fake cloud's deterministic stand-ins
    for the outputs the cloud computes, ``id`` among them (the same values graphs recorded before they
    recorded references; ``ipv4AddressPrivate`` came later)."""
    digest = int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
    short = token.rsplit(":", 1)[-1]
    private = f"10.{digest >> 16 & 255}.{digest >> 8 & 255}.{digest & 255}"
    computed: dict[str, dict[str, Any]] = {
        "Droplet": {
            "ipv4Address": f"198.51.100.{digest % 250 + 1}",
            "ipv4AddressPrivate": private,
            "dropletUrn": f"do:droplet:{digest}",
        },
        "Volume": {"volumeUrn": f"do:volume:{digest}"},
        "Domain": {"domainUrn": f"do:domain:{inputs.get('name', '')}"},
        "SpacesBucket": {"bucketUrn": f"do:space:{inputs.get('name', '')}"},
        "LoadBalancer": {"ip": f"203.0.113.{digest % 250 + 1}", "loadBalancerUrn": f"do:loadbalancer:{digest}"},
        "ReservedIp": {"ipAddress": f"192.0.2.{digest % 250 + 1}", "reservedIpUrn": f"do:reservedip:{digest}"},
        "SshKey": {"fingerprint": ":".join(f"{digest:032x}"[i : i + 2] for i in range(0, 32, 2))},
        "SpacesKey": {"accessKey": f"DO00{digest:016X}", "secretKey": PLACEHOLDER_SECRET},
        "DatabaseCluster": {
            "privateHost": f"private-{inputs.get('name', '')}-do-user-{digest}.db.ondigitalocean.com",
            "port": 25060,
            "clusterUrn": f"do:dbaas:{digest}",
        },
        "DatabaseUser": {"password": PLACEHOLDER_SECRET},
        "DatabaseConnectionPool": {"privateUri": f"postgresql://{inputs.get('user', '')}:{PLACEHOLDER_SECRET}@pool"},
    }
    return {"id": str(digest), **computed.get(short, {})}


class _StandIns:
    """The fake cloud's stand-in outputs by resource, and the references an input holding one is recorded as.

    An input holds a stand-in when its value is one (a string, or the digits of an id an apply made a number)
    and it depends on that resource: Pulumi records each input's dependencies as the program passes it."""

    def __init__(self) -> None:
        self.by_resource: dict[str, dict[str, dict[str, str]]] = {}

    def add(self, args: Any, identity: str, state: dict[str, Any], known: frozenset[str]) -> None:
        """Given a custom resource's registration and the cloud's answer, remember the outputs it stood in for."""
        computed = {"id": identity, **{key: value for key, value in state.items() if key not in args.inputs}}
        table: dict[str, dict[str, str]] = {}
        for output, value in sorted(computed.items()):
            if output not in known and isinstance(value, str | int) and not isinstance(value, bool):
                table.setdefault(str(value), reference(args.name, output))
        self.by_resource[args.name] = table

    def find(self, value: Any, needs: Sequence[str]) -> dict[str, str] | None:
        """Given a scalar input and the resources it depends on, return the reference it stands for, or None."""
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None
        for name in needs:
            found = self.by_resource.get(name, {}).get(str(value))
            if found is not None:
                return dict(found)
        return None


@dataclass(frozen=True)
class _Traced:
    """A stack output's value with the resources it depends on (what a resource's input gets from the wire)."""

    value: Any
    needs: tuple[str, ...]


def _traced(value: Any) -> Any:
    """Given a program's outputs, return them as an Output whose every Output leaf is ``_Traced``."""
    import pulumi

    if isinstance(value, pulumi.Output):
        needs: Any = _resource_names(value)  # an awaitable, which Output.from_input takes (its type says otherwise)
        return pulumi.Output.all(value, pulumi.Output.from_input(needs)).apply(
            lambda pair: _Traced(pair[0], tuple(pair[1]))
        )
    if isinstance(value, dict) and value:
        return pulumi.Output.all(**{str(key): _traced(item) for key, item in value.items()})
    if isinstance(value, list | tuple) and value:
        return pulumi.Output.all(*[_traced(item) for item in value])
    return value


async def _resource_names(output: Any) -> list[str]:
    return sorted(str(getattr(resource, "_name", "")) for resource in await output.resources())


def _recording_monitor_class(mocks: Any) -> Any:
    class RecordingMonitor(mocks.MockMonitor):
        """The SDK's mock monitor, also recording each registration's parent and inputs (each input that holds
        a stand-in output of a resource it depends on as a reference to that output)."""

        def __init__(self, cloud: FakeCloud) -> None:
            self.stand_ins = _StandIns()

            def new_resource(args: Any) -> tuple[str, dict[str, Any]]:
                identity, state = cloud.new_resource(args)
                if args.custom:
                    self.stand_ins.add(args, identity, state, cloud.known_outputs)
                return identity, state

            adapter = type(
                "CloudMocks",
                (mocks.Mocks,),
                {"new_resource": lambda _, a: new_resource(a), "call": lambda _, a: cloud.call(a)},
            )
            self.mocks = adapter()
            super().__init__(self.mocks)
            self.records: list[ResourceRecord] = []
            self.dependencies: dict[str, list[str]] = {}

        def RegisterResource(self, request: Any) -> Any:
            response = super().RegisterResource(request)
            if request.type != "pulumi:pulumi:Stack":
                from pulumi.runtime import rpc

                raw = rpc.deserialize_properties(request.object, keep_unknowns=True)
                needs = {
                    key: sorted(map(_logical_name, deps.urns)) for key, deps in request.propertyDependencies.items()
                }
                inputs = {
                    str(key): _normalise(item, self.stand_ins, needs.get(key, ())) for key, item in sorted(raw.items())
                }
                parent = _parent_name(request.parent)
                self.records.append(ResourceRecord(request.name, request.type, parent, bool(request.custom), inputs))
                self.dependencies[request.name] = sorted(map(_logical_name, request.dependencies))
            return response

    return RecordingMonitor


def _logical_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _parent_name(urn: str) -> str | None:
    """Given a parent URN, return its logical name, or None for the stack itself."""
    if not urn or urn.split("::")[2].endswith("pulumi:pulumi:Stack"):
        return None
    return urn.rsplit("::", 1)[-1]


def _normalise(value: Any, stand_ins: _StandIns | None = None, needs: Sequence[str] = ()) -> Any:
    """Given deserialized inputs and the resources they depend on, return plain JSON data: secrets masked,
    unknowns marked, keys sorted, each stand-in output of a resource depended on recorded as a reference.

    Floats that are whole numbers (the wire has no integers) become ints.
    """
    import pulumi

    if isinstance(value, _Traced):
        return _normalise(value.value, stand_ins, value.needs)
    if isinstance(value, dict):
        kind = value.get(_SIG_KEY)
        if kind == _RESOURCE_SIG:
            return str(value.get("urn", UNKNOWN_MARK)).rsplit("::", 1)[-1]
        if kind in (_SECRET_SIG, _OUTPUT_SIG):
            # Offline, every secret is the placeholder, masked below; what surrounds it stays visible.
            return _normalise(value.get("value", UNKNOWN_MARK), stand_ins, needs)
        return {str(key): _normalise(item, stand_ins, needs) for key, item in sorted(value.items())}
    if isinstance(value, list | tuple):
        return [_normalise(item, stand_ins, needs) for item in value]
    if isinstance(value, pulumi.Resource):
        return getattr(value, "_name", UNKNOWN_MARK)
    if isinstance(value, pulumi.FileAsset):
        return {"asset": "file", "path": str(value.path)}
    if isinstance(value, pulumi.StringAsset):
        return {"asset": "text", "text": _normalise(value.text)}
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if value is None or isinstance(value, bool | int | float | str):
        found = stand_ins.find(value, needs) if stand_ins is not None and needs else None
        if found is not None:
            return found
        if isinstance(value, str) and PLACEHOLDER_SECRET in value:
            return SECRET_MARK
        return value
    return UNKNOWN_MARK
