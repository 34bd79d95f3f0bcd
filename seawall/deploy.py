"""Deploys: the guard rails first, then Pulumi's Automation API, and a ledger entry for every attempt.

``make_driver`` returns the Automation API stack of this project directory (a LocalWorkspace); the
Pulumi CLI it needs is looked for first, and its absence is one clear error. A refused deploy calls
nothing and writes nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from seawall.errors import CheckFailed, SeawallError, ToolMissing
from seawall.guard import DeployRequest, DrillEvidence, Verdict, release_verdicts
from seawall.ledger import BucketMirror, LedgerEntry, append_entry, now_iso, parse_ledger, read_ledger
from seawall.model.schema import Environment
from seawall.releases import ReleaseEntry, artifact_evidence

if TYPE_CHECKING:
    from seawall.parity import Renderer

logger = logging.getLogger(__name__)
INSTALL_PULUMI = (
    "the Pulumi CLI is not installed: install it (https://www.pulumi.com/docs/install/, for example "
    "`curl -fsSL https://get.pulumi.com | sh`), put it on PATH, log in to a backend, then run this again"
)
CI_IDENTITY = ("GITHUB_ACTOR", "GITLAB_USER_LOGIN", "BUILDKITE_BUILD_CREATOR")


class DeployRefused(CheckFailed):
    """A guard rail refused the deploy; nothing was changed."""


class DeployFailed(SeawallError):
    """Pulumi ran and failed; the ledger records it."""

    exit_code = 1


class Driver(Protocol):
    """What a deploy needs from Pulumi: a preview and an update of that plan."""

    def preview(self, on_output: Callable[[str], None]) -> dict[str, Any]: ...

    def up(self, on_output: Callable[[str], None]) -> dict[str, Any]: ...


@dataclass
class AutomationDriver:
    """The Automation API stack of one environment in this project (LocalWorkspace)."""

    stack: Any
    policy_pack: Path
    plan: Path

    def preview(self, on_output: Callable[[str], None]) -> dict[str, Any]:
        """Preview with the policy pack and save the plan."""
        result = self.stack.preview(on_output=on_output, policy_packs=[str(self.policy_pack)], plan=str(self.plan))
        return {"change_summary": dict(result.change_summary or {})}

    def up(self, on_output: Callable[[str], None]) -> dict[str, Any]:
        """Apply exactly the previewed plan, with the policy pack."""
        result = self.stack.up(on_output=on_output, policy_packs=[str(self.policy_pack)], plan=str(self.plan))
        return {"result": result.summary.result, "resource_changes": dict(result.summary.resource_changes or {})}


def require_pulumi_cli() -> None:
    """Raise ToolMissing, with how to install it, when the Pulumi CLI is not on PATH."""
    if shutil.which("pulumi") is None:
        raise ToolMissing(INSTALL_PULUMI)


def make_driver(env: Environment, project_root: Path, env_vars: dict[str, str]) -> Driver:
    """Given an environment and the variables its program reads (``SEAWALL_ENVIRONMENTS``, the release
    request), return the Automation API driver of its stack (needs the Pulumi CLI)."""
    require_pulumi_cli()
    from pulumi import automation as auto

    stack = auto.create_or_select_stack(
        stack_name=env.name, work_dir=str(project_root), opts=auto.LocalWorkspaceOptions(env_vars=env_vars)
    )
    plan = Path(tempfile.mkdtemp(prefix="seawall-plan-")) / "plan.json"
    return AutomationDriver(stack, project_root / "policy", plan)


def identity() -> tuple[str | None, str]:
    """Return who is deploying, as far as can be told: the CI's actor, or git's user name."""
    for variable in CI_IDENTITY:
        if os.environ.get(variable):
            return os.environ[variable], "ci"
    from seawall.runner import Command, run

    try:
        result = run(Command(("git", "config", "user.name"), timeout=5))
    except ToolMissing:
        return None, "none"
    name = result.stdout.strip()
    return (name, "git") if result.ok and name else (None, "none")


@dataclass(frozen=True)
class Evidence:
    """The predecessor's deploys as its own ledger copies show them, and why they cannot be trusted
    (the local copy and the ledger bucket's disagree), if they cannot."""

    entries: list[LedgerEntry] | None
    conflict: str | None = None


def predecessor_ledger(env: Environment, ledger_dir: Path, mirror: BucketMirror | None) -> Evidence:
    """Given an environment and the predecessor's ledger bucket (``release.ledger`` of the predecessor,
    which only deployers write), return the predecessor's own evidence: its local ledger and its bucket
    copy; when both hold deploys and they disagree about one, a conflict that names both."""
    before = env.environment.predecessor
    if before is None:
        return Evidence(None)
    local = read_ledger(ledger_dir, before)
    if mirror is None:
        return Evidence(local)
    where = mirror.url(before)
    text = mirror.read_text(before)
    shared = parse_ledger(text, where) if text else []
    if local and shared:
        mine, theirs = _succeeded(local), _succeeded(shared)
        if mine != theirs:
            only_local, only_shared = sorted(mine - theirs), sorted(theirs - mine)
            conflict = (
                f"{before}'s ledger copies disagree: {ledger_dir / f'{before}.jsonl'} has "
                f"{_deploys(only_local)} that {where} lacks, and {where} has {_deploys(only_shared)} that the "
                "local copy lacks"
            )
            return Evidence(None, conflict)
    return Evidence(shared or local)


def _succeeded(entries: list[LedgerEntry]) -> set[tuple[str, str]]:
    return {
        (entry.deploy_id or entry.time, ",".join(f"{k} {v}" for k, v in sorted(entry.versions.items())))
        for entry in entries
        if entry.result == "succeeded"
    }


def _deploys(found: list[tuple[str, str]]) -> str:
    if not found:
        return "no succeeded deploy"
    return "succeeded deploy(s) " + "; ".join(f"{deploy} ({versions})" for deploy, versions in found[:3])


def verdicts_for(
    env: Environment,
    predecessor_env: Environment | None,
    request: DeployRequest,
    ledger_dir: Path,
    mirror: BucketMirror | None,
    rules: Any,
    renderer: Renderer,
    releases: Sequence[ReleaseEntry] = (),
    drills: Sequence[DrillEvidence] | None = None,
) -> list[Verdict]:
    """Given the environment, its predecessor and the request (and the release ledger, the predecessor's drill
    results), run parity, the audit and every guard (parity and the audit share the renderer's renders)."""
    from seawall.audit import audit, blocking
    from seawall.parity import compare_environments

    violations = None
    if predecessor_env is not None:
        report = compare_environments(predecessor_env, env, rules, renderer, attribute=False)
        violations = [f"{d.resource} {d.path} ({d.kind})".replace(" ()", "") for d in report.violations]
    findings = [f"{f.rule} on {f.resource}" for f in blocking(audit(env, renderer))]
    evidence = predecessor_ledger(env, ledger_dir, mirror)
    return release_verdicts(env, request, evidence.entries, violations, findings, evidence.conflict, releases, drills)


def program_variables(environments: Path, request: DeployRequest, deploy_id: str) -> dict[str, str]:
    """Given the deploy, return what the Pulumi program reads: the model's folder and the release request
    (its own release gate and ledger entries use them)."""
    variables = {"SEAWALL_ENVIRONMENTS": str(environments.resolve()), "SEAWALL_DEPLOY_ID": deploy_id}
    for name, value in (
        ("ISSUE", request.issue),
        ("OPERATOR", request.operator),
        ("INCIDENT", request.incident),
        ("PRIORITY", request.priority),
    ):
        if value:
            variables[f"SEAWALL_{name}"] = value
    if request.emergency:
        variables["SEAWALL_EMERGENCY"] = "1"
    return variables


def deploy(
    env: Environment,
    request: DeployRequest,
    verdicts: list[Verdict],
    driver_factory: Callable[[str], Driver],
    ledger_dir: Path,
    mirror: BucketMirror | None,
    confirm: Callable[[dict[str, Any]], bool],
    on_output: Callable[[str], None],
    model_hash: str,
    releases: Sequence[ReleaseEntry] = (),
) -> LedgerEntry | None:
    """Given passing verdicts, preview, confirm and apply; record the outcome. None when declined.

    The program records its own start and success (with the deploy id handed to ``driver_factory``);
    this records a failure, and the success when no program wrote it (a driver that ran none).
    """
    refused = [v for v in verdicts if not v.allowed]
    if refused:
        msg = "deploy refused: " + "; ".join(f"{v.rule}: {v.reason} — {v.how}" for v in refused)
        raise DeployRefused(msg)
    deploy_id = uuid.uuid4().hex
    driver = driver_factory(deploy_id)
    preview = driver.preview(on_output)
    if not confirm(preview):
        logger.warning("deploy of %s declined after the preview; nothing was changed", env.name)
        return None
    base: dict[str, Any] = {
        "environment": env.name,
        "operator": request.operator or "",
        "identity": request.identity or "",
        "issue": request.issue or "",
        "versions": {name: service.version for name, service in sorted(env.services.items())},
        "model_hash": model_hash,
        "incident": request.incident or "",
        "emergency": request.emergency,
        "deploy_id": deploy_id,
        "priority": request.priority or "",
        "digests": artifact_evidence(env.services, releases, succeeded=False)[0],
    }
    try:
        summary = driver.up(on_output)
    except Exception as exc:
        entry = LedgerEntry(
            time=now_iso(dt.datetime.now(dt.UTC)),
            result="failed",
            summary={"error": f"{type(exc).__name__}: {exc}"},
            **base,
        )
        append_entry(ledger_dir, entry, mirror)
        msg = f"pulumi up of {env.name} failed ({type(exc).__name__}: {exc}); recorded in the ledger"
        raise DeployFailed(msg) from None
    healthy = artifact_evidence(env.services, releases, succeeded=True)[1]
    entry = LedgerEntry(
        time=now_iso(dt.datetime.now(dt.UTC)), result="succeeded", summary=summary, healthy=healthy, **base
    )
    if not any(e.deploy_id == deploy_id and e.result == "succeeded" for e in read_ledger(ledger_dir, env.name)):
        append_entry(ledger_dir, entry, mirror)
    return entry
