"""The CrossGuard pack as the Pulumi engine meets it: ``policy/__main__.py`` started as its own process (it
serves the Analyzer gRPC service on 127.0.0.1 and prints the port, as it does for ``pulumi preview
--policy-pack``), and every rule's audit fixture rendered and sent to it, each resource by ``Analyze`` and the
whole stack by ``AnalyzeStack``. Only the Pulumi CLI, which would start the pack and send the requests, is
stood in for here: this test is that client (the CLI cannot be installed on this machine)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from seawall.audit import graph_resources
from seawall.model import load_environment
from seawall.policies import RULES, Resource
from seawall.render import render
from seawall.stacks.program import OFFLINE
from tests.conftest import PROJECT, SHIPPED, patch_environment
from tests.unit.policy.test_audit_rules import FIXTURES, _edited

pytestmark = pytest.mark.render  # renders under the mock engine


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack's own server, as the engine starts it, and a client of it."""
    server = subprocess.Popen(
        [sys.executable, str(PROJECT / "policy" / "__main__.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=PROJECT,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline().decode().strip())
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            grpc.channel_ready_future(channel).result(timeout=30)
            yield analyzer_pb2_grpc.AnalyzerStub(channel)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _urn(env: str, resource: Resource) -> str:
    return f"urn:pulumi:{env}::seawall::{resource.type}::{resource.name}"


def _properties(resource: Resource) -> struct_pb2.Struct:
    properties = struct_pb2.Struct()
    json_format.ParseDict(resource.props, properties)
    return properties


def _diagnostics(
    analyzer: analyzer_pb2_grpc.AnalyzerStub, env: str, resources: list[Resource]
) -> list[analyzer_pb2.AnalyzeDiagnostic]:
    """Every diagnostic the pack returns for the resources: one Analyze call each, then AnalyzeStack."""
    found: list[analyzer_pb2.AnalyzeDiagnostic] = []
    for resource in resources:
        request = analyzer_pb2.AnalyzeRequest(
            type=resource.type, properties=_properties(resource), urn=_urn(env, resource), name=resource.name
        )
        found += analyzer.Analyze(request, timeout=60).diagnostics
    stack = [
        analyzer_pb2.AnalyzerResource(
            type=resource.type, properties=_properties(resource), urn=_urn(env, resource), name=resource.name
        )
        for resource in resources
    ]
    found += analyzer.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=stack), timeout=60).diagnostics
    return found


def test_the_pack_serves_one_policy_per_rule(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
    assert info.name == "seawall"
    assert sorted(policy.name for policy in info.policies) == sorted(rule.id for rule in RULES)


def test_a_shipped_environment_draws_no_diagnostic(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    resources = graph_resources(render(load_environment(Path(SHIPPED), "mainnet"), OFFLINE))
    assert [(d.policyName, d.urn) for d in _diagnostics(analyzer, "mainnet", resources)] == []


@pytest.mark.parametrize("fixture", FIXTURES, ids=[path.stem for path in FIXTURES])
def test_each_rules_violation_comes_back_over_grpc_on_its_resource(
    fixture: Path, environments: Path, analyzer: analyzer_pb2_grpc.AnalyzerStub
) -> None:
    spec = yaml.safe_load(fixture.read_text())
    if "patch" in spec:
        patch_environment(environments, spec["env"], spec["patch"])
    env = load_environment(environments, spec["env"])
    resources = _edited(graph_resources(render(env, OFFLINE)), spec.get("edit", []))
    diagnostics = _diagnostics(analyzer, env.name, resources)
    assert {d.policyName for d in diagnostics} == {fixture.stem}, [(d.policyName, d.message) for d in diagnostics]
    expected = next(r for r in resources if r.name == spec["expect"]["resource"])
    assert _urn(env.name, expected) in {d.urn for d in diagnostics}
    level = analyzer_pb2.ADVISORY if spec["expect"].get("advisory", False) else analyzer_pb2.MANDATORY
    assert {d.enforcementLevel for d in diagnostics} == {level}
