"""The team's release rules inside the Pulumi program, so that a plain ``pulumi up`` obeys them too.

Before the program registers any resource it asks ``seawall guard`` (the same rules ``seawall up``
checks: freeze window, operator, issue, promotion, parity, audit) for its verdicts. During an update a
refusal fails the program with the verdict table, before anything changes; during a preview the
refusals are warnings. The guard runs as its own process because parity and audit render environments
under Pulumi's mock engine, which cannot run inside a live Pulumi program.

Issue, operator, incident, priority and emergency come from ``SEAWALL_ISSUE``, ``SEAWALL_OPERATOR``,
``SEAWALL_PRIORITY``,
``SEAWALL_INCIDENT`` and ``SEAWALL_EMERGENCY`` (which ``seawall up`` sets), or the stack's config
(``seawall:issue``, ``seawall:operator``, ``seawall:incident``); the identity from the CI's variables.
An update leaves a ``started`` ledger entry at once and a ``succeeded`` entry from a final step that
depends on every resource; ``seawall ledger`` shows a start without an outcome as failed or interrupted.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi_command import local

from seawall.runner import Command, run


@dataclass(frozen=True)
class ReleaseRequest:
    """Who deploys what, and why: read from the environment or the stack's config."""

    issue: str | None
    operator: str | None
    incident: str | None
    emergency: bool
    deploy_id: str
    priority: str | None = None

    def arguments(self) -> list[str]:
        """Return the request as ``seawall guard`` / ``seawall ledger record`` options."""
        args = []
        options = (
            ("--issue", self.issue),
            ("--operator", self.operator),
            ("--incident", self.incident),
            ("--priority", self.priority),
        )
        for option, value in options:
            if value:
                args += [option, value]
        return [*args, *(["--emergency"] if self.emergency else [])]


def release_request(config: pulumi.Config, environ: Mapping[str, str] = os.environ) -> ReleaseRequest:
    """Given the stack's ``seawall`` config and the process environment, return the release request."""

    def read(name: str) -> str | None:
        return environ.get(f"SEAWALL_{name.upper()}") or config.get(name) or None

    emergency = (environ.get("SEAWALL_EMERGENCY") or config.get("emergency") or "").lower() in ("1", "true", "yes")
    return ReleaseRequest(
        read("issue"),
        read("operator"),
        read("incident"),
        emergency,
        environ.get("SEAWALL_DEPLOY_ID") or uuid.uuid4().hex,
        read("priority"),
    )


def seawall_command(environments: Path, *args: str) -> Command:
    """Given the environments folder and arguments, return the command that runs this Seawall's CLI."""
    return Command((sys.executable, "-m", "seawall", "--environments", str(environments), *args), timeout=900)


def check_release(
    env_name: str, environments: Path, request: ReleaseRequest, now: dt.datetime, dry_run: bool
) -> list[dict[str, Any]]:
    """Given the deploy, return the guard's verdicts; during an update, raise RunError when one refuses."""
    result = run(
        seawall_command(
            environments, "guard", env_name, "--format", "json", "--at", now.isoformat(), *request.arguments()
        )
    )
    try:
        verdicts: list[dict[str, Any]] = json.loads(result.stdout)["verdicts"]
    except (ValueError, KeyError):
        msg = f"the release rules of {env_name} could not be checked: {result.last_error_line()}"
        raise pulumi.RunError(msg) from None
    refused = [v for v in verdicts if not v["allowed"]]
    table = verdict_table(env_name, verdicts)
    if refused and not dry_run:
        raise pulumi.RunError(f"release refused by Seawall's rules; nothing was changed\n{table}")
    for verdict in refused:
        pulumi.log.warn(
            f"release rule {verdict['rule']} would refuse an update: {verdict['reason']} — {verdict['how']}"
        )
    return verdicts


def verdict_table(env_name: str, verdicts: Sequence[Mapping[str, Any]]) -> str:
    """Given verdicts, return them as a plain-text table (one line each)."""
    lines = [f"may {env_name} be deployed?"]
    for v in verdicts:
        how = f" — {v['how']}" if not v["allowed"] and v.get("how") else ""
        lines.append(f"  {v['rule']:<20} {'allowed' if v['allowed'] else 'REFUSED':<8} {v['reason']}{how}")
    return "\n".join(lines)


def record_start(env_name: str, environments: Path, request: ReleaseRequest) -> None:
    """Write the ``started`` ledger entry of this update (locally and in the bucket)."""
    result = run(
        seawall_command(
            environments, "ledger-record", env_name, "--result", "started", "--deploy-id", request.deploy_id,
            *request.arguments(),
        )
    )  # fmt: skip
    if not result.ok:
        msg = f"could not write the ledger entry of this update: {result.last_error_line()}"
        raise pulumi.RunError(msg)


def record_success_step(
    env_name: str,
    environments: Path,
    request: ReleaseRequest,
    after: Sequence[pulumi.Resource],
    wheel_sha256: str | None = None,
) -> local.Command:
    """Return the final step: a local command, run after every resource, that records the success (and the
    wheel the hosts got, which the deployed graph names for `seawall drift`)."""
    shipped = ("--wheel-sha256", wheel_sha256) if wheel_sha256 else ()
    command = seawall_command(
        environments, "ledger-record", env_name, "--result", "succeeded", "--deploy-id", request.deploy_id,
        *request.arguments(), *shipped,
    )  # fmt: skip
    return local.Command(
        "deploy-ledger",
        create=" ".join(_quote(arg) for arg in command.argv),
        triggers=[request.deploy_id],
        opts=pulumi.ResourceOptions(depends_on=list(after)),
    )


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
