"""The offline audit: the policies of ``seawall.policies`` over an environment's rendered graph."""

from __future__ import annotations

from typing import TYPE_CHECKING

from seawall.model.schema import Environment
from seawall.policies import RULES, Finding, Resource, Rule, evaluate
from seawall.render import Graph

if TYPE_CHECKING:
    from seawall.parity import Renderer


def graph_resources(graph: Graph) -> list[Resource]:
    """Given a rendered graph, return its custom resources as the policies see them."""
    return [
        Resource(r.type, r.name, r.inputs) for r in sorted(graph.resources.values(), key=lambda r: r.name) if r.custom
    ]


def audit(env: Environment, renderer: Renderer, rules: tuple[Rule, ...] = RULES) -> list[Finding]:
    """Given an environment and the command's renderer, return every policy finding of its graph."""
    return evaluate(rules, graph_resources(renderer.graph(env)))


def blocking(findings: list[Finding]) -> list[Finding]:
    """Given findings, return the mandatory ones (those that fail the audit and refuse a deploy)."""
    return [finding for finding in findings if finding.enforcement == "mandatory"]
