"""Build CrossGuard policies from Seawall's rules, so the pack and ``seawall audit`` never disagree."""

from __future__ import annotations

from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationPolicy,
    Severity,
    StackValidationPolicy,
)

from seawall.policies import RULES, Resource, Rule

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}
SEVERITIES = {"Critical": Severity.CRITICAL, "Major": Severity.HIGH, "Minor": Severity.LOW}


def resource_validator(rule: Rule) -> Any:
    """Given a resource rule, return the CrossGuard ``validate(args, report_violation)`` function."""

    def validate(args: Any, report_violation: Any) -> None:
        assert rule.check_resource is not None
        for message in rule.check_resource(Resource(args.resource_type, args.name, dict(args.props))):
            report_violation(f"{message}. {rule.remediation}", args.urn)

    return validate


def stack_validator(rule: Rule) -> Any:
    """Given a stack rule, return the CrossGuard ``validate(args, report_violation)`` function."""

    def validate(args: Any, report_violation: Any) -> None:
        assert rule.check_stack is not None
        resources = [Resource(r.resource_type, r.name, dict(r.props)) for r in args.resources]
        urns = {r.name: r.urn for r in args.resources}
        for name, message in rule.check_stack(resources):
            report_violation(f"{name}: {message}. {rule.remediation}", urns.get(name))

    return validate


def build_policies() -> list[Any]:
    """Return one CrossGuard policy per Seawall rule."""
    policies: list[Any] = []
    for rule in RULES:
        common: dict[str, Any] = {
            "name": rule.id,
            "description": rule.description,
            "enforcement_level": LEVELS[rule.enforcement],
            "severity": SEVERITIES[rule.severity],
            "remediation_steps": rule.remediation,
        }
        if rule.check_resource is not None:
            policies.append(ResourceValidationPolicy(validate=resource_validator(rule), **common))
        else:
            policies.append(StackValidationPolicy(validate=stack_validator(rule), **common))
    return policies
