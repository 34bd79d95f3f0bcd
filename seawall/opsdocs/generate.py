"""The ops documents' contexts, rendered from the Jinja2 templates (``seawall.templating``), and the check of
committed documents against them.

``render_documents(envs, measured, templates)`` returns ``{relative path: Markdown}``: the same model,
recorded state and templates always give the same bytes. What hosts recorded (backups, drills,
deploys) sits between ``<!-- seawall:measured -->`` and ``<!-- /seawall:measured -->``: ``--check``
compares everything else, so a drill that ran since the documents were committed is not a failure,
while any change the model makes is.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from seawall import __version__
from seawall.backup.backends import environment_backend
from seawall.backup.schedules import timer_names
from seawall.errors import SeawallError
from seawall.files import write_atomically
from seawall.hostfiles import HOST_ENVIRONMENTS, MANIFEST_FILE, OWNED, QUARANTINE_DIR, SEAWALL_BIN, VERIFY_UNIT
from seawall.manifest import KIND_MEANING, KINDS
from seawall.model.schema import DatacenterHost, Environment, Service, droplet_names
from seawall.monitoring.alerts import ALERTS, COPY_ALERTS, DRIFT_ALERTS
from seawall.opsdocs import facts
from seawall.opsdocs.measured import Measured
from seawall.opsdocs.risks import assess
from seawall.sizes import size_table
from seawall.templating import duration, template_environment, tidy_markdown

MEASURED = re.compile(r"<!-- seawall:measured -->.*?<!-- /seawall:measured -->", re.DOTALL)
MEASURED_PLACEHOLDER = "<!-- seawall:measured --><!-- /seawall:measured -->"
PROCEDURES = (
    "restore-backup-set",
    "rebuild-host",
    "rotate-restic-password",
    "rotate-spaces-keys",
    "rotate-ssh-key",
    "add-service",
    "add-environment",
    "emergency-deploy",
)
SERVICE_TEMPLATE = "OPS_SERVICE_TEMPLATE.md"


class DocsError(SeawallError):
    """The documents cannot be rendered or written."""


@dataclass(frozen=True)
class StaleDocument:
    """One document that is not what the model generates: missing, changed or not generated any more."""

    path: str
    kind: str


def render_documents(
    envs: dict[str, Environment], measured: dict[str, Measured], project_templates: Path | None = None
) -> dict[str, str]:
    """Given environments (in promotion order), their recorded state and the project's templates,
    return every document by its path under the output folder."""
    templates = template_environment(project_templates)
    context = fleet_context(envs, measured)
    documents: dict[str, str] = {}
    try:
        documents["README.md"] = templates.get_template("index.md.j2").render(context)
        documents["inventory.md"] = templates.get_template("inventory.md.j2").render(context)
        documents["risk-assessment.md"] = templates.get_template("risk-assessment.md.j2").render(context)
        for subject in context["subjects"]:
            page = templates.get_template(SERVICE_TEMPLATE).render({**context, "subject": subject})
            documents[f"services/{subject['name']}.md"] = page
        for env in context["environments"]:
            documents[f"dr-plan/{env['name']}.md"] = templates.get_template("dr-plan.md.j2").render(
                {**context, "env": env}
            )
        documents["runbooks/README.md"] = templates.get_template("runbooks/index.md.j2").render(context)
        for procedure in PROCEDURES:
            documents[f"runbooks/{procedure}.md"] = templates.get_template(f"runbooks/{procedure}.md.j2").render(
                context
            )
        for alert in context["alerts"]:
            page = templates.get_template("runbooks/alert.md.j2").render({**context, "alert": alert})
            documents[f"runbooks/{alert['runbook']}"] = page
    except jinja2.TemplateError as exc:
        where = f"{exc.filename}:{exc.lineno}: " if isinstance(exc, jinja2.TemplateSyntaxError) else ""
        msg = f"a documentation template failed: {where}{exc}; fix the template (templates/) and run again"
        raise DocsError(msg) from None
    return {path: tidy_markdown(text) for path, text in sorted(documents.items())}


def _plain(text: str) -> str:
    """Given an alert text with Prometheus template fields, return it with the fields named in capitals
    (``{{ $labels.host }}`` is HOST, ``{{ $value ... }}`` is VALUE)."""
    text = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda match: match.group(1).upper(), text)
    return re.sub(r"\{\{ \$value[^}]*\}\}", "VALUE", text)


def without_measured(text: str) -> str:
    """Given a document, return it with what hosts recorded left out (what ``--check`` compares)."""
    return MEASURED.sub(MEASURED_PLACEHOLDER, text)


def stale_documents(documents: dict[str, str], folder: Path) -> list[StaleDocument]:
    """Given generated documents and the folder they were written to, return every stale one (measured
    blocks aside): a missing or changed file, and a file the model no longer generates."""
    differences = []
    for path, text in documents.items():
        target = folder / path
        if not target.is_file():
            differences.append(StaleDocument(path, "missing"))
        elif without_measured(target.read_text(encoding="utf-8")) != without_measured(text):
            differences.append(StaleDocument(path, "changed"))
    if folder.is_dir():
        for target in sorted(folder.rglob("*.md")):
            relative = target.relative_to(folder).as_posix()
            if relative not in documents:
                differences.append(StaleDocument(relative, "not generated"))
    return differences


def write_documents(documents: dict[str, str], folder: Path) -> list[str]:
    """Given documents, write those that changed under ``folder`` and remove generated files the model no
    longer makes; return the paths written or removed."""
    touched = []
    try:
        for path, text in documents.items():
            target = folder / path
            if target.is_file() and target.read_text(encoding="utf-8") == text:
                continue
            write_atomically(target, text)
            touched.append(path)
        for difference in stale_documents(documents, folder):
            if difference.kind == "not generated":
                (folder / difference.path).unlink()
                touched.append(difference.path)
    except OSError as exc:
        msg = f"cannot write the documents under {folder}: {exc.strerror or exc}; choose a writable folder with --out"
        raise DocsError(msg) from None
    return touched


def fleet_context(envs: dict[str, Environment], measured: dict[str, Measured]) -> dict[str, Any]:
    """Given environments and their recorded state, return everything the templates use."""
    sizes = size_table()
    environments = [env_context(env, measured.get(name), sizes) for name, env in envs.items()]
    findings = [finding for name, env in envs.items() for finding in assess(env, measured.get(name))]
    any_env = next(iter(envs.values()))
    used = {env.network.vpc_cidr for env in envs.values()}
    return {
        "free_vpc_cidr": next(f"10.{n}.0.0/16" for n in range(10, 250) if f"10.{n}.0.0/16" not in used),
        "seawall_version": __version__,
        "environments": environments,
        "names": list(envs),
        "sizes": sizes,
        "software": facts.software_matrix(envs),
        "subjects": subjects(envs, measured),
        "findings": sorted(findings, key=lambda finding: finding.order),
        "alerts": [
            {
                **row,
                "summary": _plain(ALERTS[row["name"]].summary),
                "description": _plain(ALERTS[row["name"]].description),
            }
            for row in facts.alert_rows(any_env)
        ],
        "alert_severities": {name: {row["name"]: row for row in facts.alert_rows(env)} for name, env in envs.items()},
        "procedures": PROCEDURES,
        "copy_alerts": COPY_ALERTS,
        "drift_alerts": DRIFT_ALERTS,
        "drift": {
            "kinds": [{"name": kind, "meaning": KIND_MEANING[kind]} for kind in KINDS],
            "manifest": MANIFEST_FILE,
            "owned": list(OWNED),
            "quarantine": QUARANTINE_DIR,
            "schedule_unit": f"{VERIFY_UNIT}.timer",
            "service": f"{VERIFY_UNIT}.service",
            "seawall": SEAWALL_BIN,
            "environments": HOST_ENVIRONMENTS,
        },
    }


def env_context(env: Environment, measured: Measured | None, sizes: Any) -> dict[str, Any]:
    """Given one environment, return its facts for the templates."""
    order, cycle = facts.restore_order(env)
    sets = facts.backup_set_rows(env, env.backup_sets)
    loss = loss_scenarios(env, sets)
    return {
        "name": env.name,
        "tier": env.environment.tier,
        "provider": env.environment.provider,
        "local": env.environment.provider == "local",
        "region": "this machine" if env.environment.provider == "local" else env.environment.region,
        "domain": env.environment.domain,
        "description": env.environment.description,
        "predecessor": env.environment.predecessor,
        "protected": env.environment.tier in env.release.protected_tiers,
        "frozen": env.name in env.release.freeze.environments,
        "freeze": env.release.freeze,
        "timezone": env.release.timezone,
        "operators": env.release.operators,
        "require_issue": env.release.require_issue,
        "admin_cidrs": env.network.admin_cidrs,
        "ssh_keys": env.network.ssh_keys,
        "droplets": facts.droplet_rows(env, sizes),
        "datacenter_hosts": facts.datacenter_rows(env),
        "databases": facts.database_rows(env),
        "totals": facts.totals(env, sizes),
        "services": sorted(env.services),
        "sets": sets,
        "status_host": env.status_host(),
        "dependencies": facts.dependencies(env),
        "restore_order": order,
        "cycle": cycle,
        "routing": facts.routing(env),
        "availability": facts.availability(env),
        "bucket": environment_backend(env, Path(".")).bucket,
        "offsite": facts.offsite_copy(env),
        "backup": env.backup,
        "password_source": env.backup.password_file or f"${env.backup.password_env}",
        "measured": measured_context(env, measured, sets),
        "dr": dr_facts(env),
        "loss": loss,
        # Each service's or host's first loss scenario, for the restore order (a lookup, not a search per name).
        "loss_of": {row["owner"]: row for row in reversed(loss)},
        "ssh": ssh_destinations(env),
        "node_exporter_port": env.monitoring.node_exporter_port,
        "repositories": sorted({row["repository"] for row in sets}),
        "restic_env": restic_environment(env),
    }


def ssh_destinations(env: Environment) -> dict[str, str]:
    """Given an environment, return how to reach each host over SSH (``root@api-1.devnet.example.net``)."""
    destinations = {
        droplet: f"root@{droplet}.{env.environment.domain}"
        for name, service in env.services.items()
        for droplet in droplet_names(name, service)
    }
    for name, host in env.datacenter_hosts.items():
        port = "" if host.ssh_port == 22 else f"-p {host.ssh_port} "
        destinations[name] = f"{port}{host.ssh_user}@{host.address}"
    return destinations


def restic_environment(env: Environment) -> list[str]:
    """Given an environment, return the shell lines that give plain restic its password and keys (named,
    never written out)."""
    backup = env.backup
    lines = [
        f"export RESTIC_PASSWORD_FILE={backup.password_file}"
        if backup.password_file
        else f'export RESTIC_PASSWORD="${backup.password_env}"'
    ]
    keys = environment_backend(env, Path(".")).key_variables()
    if keys:
        lines.append("export " + " ".join(f'{name}="${variable}"' for name, variable in keys.items()))
    return lines


def measured_context(env: Environment, measured: Measured | None, sets: list[dict[str, Any]]) -> dict[str, Any]:
    """Given an environment's recorded state, return it per set and host, with the RTO sums."""
    read = measured is not None
    measured = measured or Measured()
    rows = [
        measured.set_host(row["name"], host) | {"rto_target": row["rto_seconds"], "rpo_target": row["rpo"]}
        for row in sets
        for host in row["hosts"]
    ]
    drilled = [row for row in rows if row["rto_seconds"] is not None]
    per_set: dict[str, float] = {}
    for row in drilled:
        per_set[row["set"]] = max(per_set.get(row["set"], 0.0), float(row["rto_seconds"]))
    return {
        "read": read,
        "as_of": measured.as_of,
        "drift": drift_as_recorded(env, measured),
        "sources": measured.sources if read else ["not read: --no-state"],
        "rows": rows,
        "restic": sorted({row["restic"] for row in rows if row["restic"]}),
        "last_deploy": measured.last_deploy(),
        "rto_sum_seconds": sum(per_set.values()) if per_set else None,
        "drilled_sets": len(per_set),
        "rto_budget_seconds": sum(row["rto_seconds"] for row in sets),
        "rehearsal": rehearsal_as_recorded(env, measured),
    }


def dr_facts(env: Environment) -> dict[str, Any]:
    """Given an environment, return what the DR plan says of its rehearsal: where, how often, the target, and
    the hosts it rebuilds."""
    from seawall.dr.plan import hosts_to_rebuild
    from seawall.model.types import format_duration

    interval = env.dr.rehearsal_interval
    days = interval.total_seconds() / 86400
    hosts = hosts_to_rebuild(env)
    return {
        "region": env.dr.region,
        "interval": f"{days:.0f} days" if days.is_integer() else format_duration(interval),
        "recovery_target": format_duration(env.dr.recovery_target),
        "recovery_target_seconds": env.dr.recovery_target.total_seconds(),
        "sizes": dict(sorted(env.dr.sizes.items())),
        "droplets": [host for host in hosts if host not in env.datacenter_hosts],
        "datacenter_hosts": [host for host in hosts if host in env.datacenter_hosts],
    }


def rehearsal_as_recorded(env: Environment, measured: Measured) -> dict[str, Any]:
    """Given an environment's recorded state, return its last DR rehearsal judged against the model's interval
    as of the newest recorded time (the same state, the same documents), with each set's measurement."""
    from seawall.dr.report import rehearsal_status

    as_of = measured.newest or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    record = measured.rehearsal
    status = rehearsal_status(record, measured.rehearsal_problem, env.dr.rehearsal_interval, as_of, env.name)
    sets = [
        {"set": key.partition("/")[0], "host": key.partition("/")[2], **entry}
        for key, entry in sorted((record.get("sets") or {}).items())
    ]
    return {**status, "machines": record.get("machines"), "sets": sets, "failures": record.get("failures") or []}


def drift_as_recorded(env: Environment, measured: Measured | None) -> dict[str, Any]:
    """Given an environment's recorded state, return its drift section judged as of the newest recorded time,
    not the time of reading: the same state, the same documents (nothing recorded: no host reported, so no
    check's age is measured)."""
    measured = measured or Measured()
    as_of = measured.newest or dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return facts.drift_view(env, measured.drift, as_of)


def _host_drift(view: dict[str, Any], by_host: dict[str, dict[str, Any]], hosts: list[str]) -> list[dict[str, Any]]:
    """Given a drift section, its rows by host and hosts, return each host's row (not read, not compared, not
    in the graph)."""
    why = "not read" if not view["read"] else "not compared" if view["problem"] else "not in the deployed graph"
    empty = {"status": why, "alarm": False, "checked": "-", "differs": []}
    return [by_host.get(host) or {"host": host, **empty} for host in hosts]


def loss_scenarios(env: Environment, sets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Given an environment, return what losing each host takes with it and what brings it back."""
    by_name = {row["name"]: row for row in sets}
    scenarios = []
    for name, service in sorted(env.services.items()):
        for droplet in droplet_names(name, service):
            scenarios.append(_loss(env, droplet, name, service, [by_name[s] for s in service.backup_sets]))
    for name, host in sorted(env.datacenter_hosts.items()):
        scenarios.append(_loss(env, name, name, host, [by_name[s] for s in host.backup_sets]))
    return scenarios


def _loss(
    env: Environment, host: str, owner: str, item: Service | DatacenterHost, sets: list[dict[str, Any]]
) -> dict[str, Any]:
    stateful = isinstance(item, Service) and item.is_stateful
    peers = item.count if isinstance(item, Service) else 1
    return {
        "host": host,
        "owner": owner,
        "kind": "droplet" if isinstance(item, Service) else "data-center host",
        "outage": peers == 1,
        "outage_text": "no: its peers serve"
        if peers > 1
        else ("yes: the only one of " + owner if isinstance(item, Service) else "yes"),
        "lost": ", ".join(f"{row['name']} since its last backup (up to {row['rpo']})" for row in sets)
        or ("its volume's data (no backup set)" if stateful else "nothing Seawall backs up"),
        "sets": [row["name"] for row in sets],
        "rto": duration(sum(row["rto_seconds"] for row in sets)) if sets else "-",
    }


def subjects(envs: dict[str, Environment], measured: dict[str, Measured]) -> list[dict[str, Any]]:
    """Given environments, return one document subject per service and per data-center host: what it is
    in each environment it runs in, described by the last (most production-like) of them."""
    names = sorted({name for env in envs.values() for name in [*env.services, *env.datacenter_hosts]})
    known = {env_name: whole_environment(env, measured.get(env_name)) for env_name, env in envs.items()}
    return [_subject(name, envs, known) for name in names]


@dataclass(frozen=True)
class WholeEnvironment:
    """What the subjects read of their environment as a whole, worked out once for all of them (per subject,
    the documents would be quadratic in the fleet)."""

    measured: Measured | None
    dependencies: dict[str, list[str]]
    sets: dict[str, dict[str, Any]]
    drift: dict[str, Any]
    drift_by_host: dict[str, dict[str, Any]]
    as_of: str | None


def whole_environment(env: Environment, measured: Measured | None) -> WholeEnvironment:
    """Given an environment and its recorded state, return what its subjects share: the dependencies, each
    set's row, the drift as recorded (and by host) and when the state was recorded."""
    drift = drift_as_recorded(env, measured)
    return WholeEnvironment(
        measured=measured,
        dependencies=facts.dependencies(env),
        sets={row["name"]: row for row in facts.backup_set_rows(env, env.backup_sets)},
        drift=drift,
        drift_by_host={row["host"]: row for row in drift["hosts"]},
        as_of=(measured or Measured()).as_of,
    )


def _subject(name: str, envs: dict[str, Environment], known: dict[str, WholeEnvironment]) -> dict[str, Any]:
    present = {env_name: env for env_name, env in envs.items() if name in env.services or name in env.datacenter_hosts}
    reference_name, reference = list(present.items())[-1]
    item: Service | DatacenterHost = reference.services.get(name) or reference.datacenter_hosts[name]
    is_service = isinstance(item, Service)
    per_env = [_subject_in(name, env, known[env_name]) for env_name, env in present.items()]
    return {
        "name": name,
        "kind": "service" if is_service else "data-center host",
        "description": item.description,
        "owner": getattr(item, "owner", None),
        "circle_owner": getattr(item, "circle_owner", None),
        "units": [*getattr(item, "units", []), facts.NODE_EXPORTER_UNIT],
        "logs": getattr(item, "logs", []),
        "upgrade_notes": getattr(item, "upgrade_notes", ""),
        "reference": reference_name,
        "ports": [
            {"port": facts.port_text(port), "from": facts.source_text(reference, port.source)}
            for port in (item.ports if isinstance(item, Service) else item.firewall)
        ],
        "depends_on": known[reference_name].dependencies.get(name, []) if is_service else [],
        "used_by": facts.used_by(reference, name) if is_service else [],
        "sets": [known[reference_name].sets[set_name] for set_name in sorted(item.backup_sets)],
        "environments": per_env,
        "routing": facts.routing(reference),
        "availability": facts.availability(reference),
    }


def _subject_in(name: str, env: Environment, known: WholeEnvironment) -> dict[str, Any]:
    service = env.services.get(name)
    hosts = droplet_names(name, service) if service else [name]
    sets = service.backup_sets if service else env.datacenter_hosts[name].backup_sets
    item = service or env.datacenter_hosts[name]
    thresholds = facts.alert_thresholds(env, item.alerts)
    severities = {field: getattr(env.alerting, field) for field in ("cpu", "memory", "disk", "uptime", "backup")}
    recorded = known.measured or Measured()
    return {
        "env": env.name,
        "size": service.size if service else "-",
        "count": service.count if service else 1,
        "version": service.version if service else "-",
        "volume": f"{service.volume.size_gb} GB" if service and service.volume else "-",
        "hosts": hosts,
        "dns": [n for host in hosts for n in env.dns_names(name, host)] if service else [],
        "address": None if service else env.datacenter_hosts[name].address,
        "databases": [row for row in facts.database_rows(env) if row["name"] in env.databases_trusting(name)]
        if service
        else [],
        "health": [_health_url(env, service, host) for host in hosts] if service and service.health else [],
        "metrics": _metrics(env, name, service, hosts),
        "timers": {host: timer_names(env, host) for host in hosts},
        "thresholds": thresholds,
        "severities": severities,
        "recorded": [recorded.set_host(set_name, host) for set_name in sorted(sets) for host in hosts],
        "drift": _host_drift(known.drift, known.drift_by_host, hosts),
        "as_of": known.as_of,
        "deploy": f'seawall up {env.name} --issue "$ISSUE"',
    }


def _health_url(env: Environment, service: Service, host: str) -> str:
    health = service.health
    assert health is not None
    default = {"https": 443, "http": 80}[health.protocol]
    port = "" if health.port == default else f":{health.port}"
    return f"{health.protocol}://{host}.{env.environment.domain}{port}{health.path}"


def _metrics(env: Environment, name: str, service: Service | None, hosts: list[str]) -> list[str]:
    exporter = env.monitoring.node_exporter_port
    if service is None:
        return [f"http://{env.datacenter_hosts[name].address}:{exporter}/metrics"]
    ports = sorted({exporter} | {p.port for p in service.ports if p.source == "monitoring"})
    return [f"http://{env.private_dns_name(host)}:{port}/metrics" for host in hosts for port in ports]
