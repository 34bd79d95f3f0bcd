"""Security and operations policies: one set of rules, run offline (``seawall audit``) or by CrossGuard.

A rule sees resources the way a CrossGuard policy does: a type token and camelCase properties. A
resource rule looks at one resource; a stack rule at all of them. Each rule has an id, a severity
(Critical, Major, Minor), an enforcement level (mandatory fails the audit and the deploy; advisory only
warns) and a remediation hint.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from seawall import hostfiles
from seawall.model.calendar import CalendarError, longest_interval, parse_calendar
from seawall.model.types import SEVERITIES, is_branch_like, parse_duration

DROPLET = "digitalocean:index/droplet:Droplet"
VOLUME = "digitalocean:index/volume:Volume"
FIREWALL = "digitalocean:index/firewall:Firewall"
ALERT = "digitalocean:index/monitorAlert:MonitorAlert"
UPTIME = "digitalocean:index/uptimeCheck:UptimeCheck"
BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
LOAD_BALANCER = "digitalocean:index/loadBalancer:LoadBalancer"
DATABASE_CLUSTER = "digitalocean:index/databaseCluster:DatabaseCluster"
DATABASE_FIREWALL = "digitalocean:index/databaseFirewall:DatabaseFirewall"
HTTP = {80, 443}
COMMAND = "command:remote:Command"
SENSITIVE_PORTS = {22: "SSH", 3306: "MySQL", 5432: "PostgreSQL", 6379: "Redis", 9200: "Elasticsearch", 27017: "MongoDB"}
# The one table of DigitalOcean's droplet metric names (the monitoring component alerts on them).
METRICS = {
    "cpu": "v1/insights/droplet/cpu",
    "memory": "v1/insights/droplet/memory_utilization_percent",
    "disk": "v1/insights/droplet/disk_utilization_percent",
}


@dataclass(frozen=True)
class Resource:
    """What a rule sees of a resource: its type token, logical name and camelCase properties."""

    type: str
    name: str
    props: dict[str, Any]
    # What the policies read of it, kept for the next policy that reads it (``step_files``, ``_documents``):
    # several read every host step, and a bounded cache of texts is outgrown by a large fleet's hosts.
    read: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False)


@dataclass(frozen=True)
class Finding:
    """One violation of one rule."""

    rule: str
    severity: str
    enforcement: str
    resource: str
    message: str
    remediation: str

    def as_json(self) -> dict[str, str]:
        """Return the finding as JSON-able data."""
        return asdict(self)


ResourceCheck = Callable[[Resource], Iterable[str]]
StackCheck = Callable[[Sequence[Resource]], Iterable[tuple[str, str]]]


@dataclass(frozen=True)
class Rule:
    """A policy: exactly one of ``check_resource`` (one resource) or ``check_stack`` (all resources)."""

    id: str
    description: str
    severity: str
    enforcement: str
    remediation: str
    check_resource: ResourceCheck | None = None
    check_stack: StackCheck | None = None


def evaluate(rules: Sequence[Rule], resources: Sequence[Resource]) -> list[Finding]:
    """Given rules and resources, return every finding, in rule then resource order."""
    findings = []
    for rule in rules:
        pairs: list[tuple[str, str]] = []
        if rule.check_resource is not None:
            pairs = [(resource.name, message) for resource in resources for message in rule.check_resource(resource)]
        elif rule.check_stack is not None:
            pairs = list(rule.check_stack(resources))
        findings += [
            Finding(rule.id, rule.severity, rule.enforcement, name, msg, rule.remediation) for name, msg in pairs
        ]
    return findings


def _ports(rule: dict[str, Any]) -> range:
    text = str(rule.get("portRange") or "")
    if text in ("", "all", "0"):
        return range(1, 65536)
    low, _, high = text.partition("-")
    return range(int(low), int(high or low) + 1)


def _to_world(addresses: Iterable[str]) -> bool:
    for address in addresses:
        try:
            if ipaddress.ip_network(address, strict=False).prefixlen == 0:
                return True
        except ValueError:
            continue
    return False


def no_sensitive_port_open_to_the_world(resource: Resource) -> Iterable[str]:
    """Firewalls must not open SSH or database ports to 0.0.0.0/0 or ::/0."""
    if resource.type != FIREWALL:
        return
    for rule in resource.props.get("inboundRules") or []:
        if not _to_world(rule.get("sourceAddresses") or []):
            continue
        for port, name in SENSITIVE_PORTS.items():
            if port in _ports(rule):
                yield f"{name} port {port} is open to the whole internet"


def droplets_behind_firewalls(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """Every droplet is targeted by a firewall, by tag or by id."""
    targeted: set[str] = set()
    for firewall in (r for r in resources if r.type == FIREWALL):
        targeted |= {str(tag) for tag in firewall.props.get("tags") or []}
    for droplet in (r for r in resources if r.type == DROPLET):
        if not targeted & {str(tag) for tag in droplet.props.get("tags") or []}:
            yield droplet.name, "no firewall targets this droplet's tags"


def _tag(resource: Resource, prefix: str) -> str | None:
    for tag in resource.props.get("tags") or []:
        if str(tag).startswith(prefix + ":"):
            return str(tag).split(":", 1)[1]
    return None


def production_droplets_have_backups(resource: Resource) -> Iterable[str]:
    """Droplets of a production-tier environment have backups with a policy."""
    if resource.type == DROPLET and _tag(resource, "tier") == "production":
        if not resource.props.get("backups"):
            yield "backups are off on a production droplet"
        elif not resource.props.get("backupPolicy"):
            yield "backups have no backup_policy (plan, weekday, hour)"


def services_have_routed_alerts(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """Every service (by its firewall's tag) has CPU, memory and disk alerts routed to a channel."""
    alerts: dict[str, set[str]] = {}
    for alert in (r for r in resources if r.type == ALERT):
        routed = alert.props.get("alerts") or {}
        if not (routed.get("emails") or routed.get("slacks")):
            continue
        for tag in alert.props.get("tags") or []:
            alerts.setdefault(str(tag), set()).add(str(alert.props.get("type")))
    for firewall in (r for r in resources if r.type == FIREWALL):
        for tag in firewall.props.get("tags") or []:
            missing = [metric for metric, token in METRICS.items() if token not in alerts.get(str(tag), set())]
            if missing:
                yield firewall.name, f"service {tag} has no routed {', '.join(missing)} alert"


def public_http_has_uptime_check(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """Services open to the internet on 80 or 443, directly or through their load balancer, have an uptime check."""
    checks = {str(r.props.get("name")) for r in resources if r.type == UPTIME}
    for firewall in (r for r in resources if r.type == FIREWALL):
        public = [
            rule
            for rule in firewall.props.get("inboundRules") or []
            if (_to_world(rule.get("sourceAddresses") or []) or rule.get("sourceLoadBalancerUids"))
            and (HTTP & set(_ports(rule)))
        ]
        if public and str(firewall.props.get("name")) not in checks:
            yield firewall.name, f"{firewall.props.get('name')} serves HTTP(S) publicly without an uptime check"


def production_http_behind_load_balancer(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """No production droplet is reachable from the internet on 80 or 443 directly: its service's firewall admits
    those ports from its load balancer alone (which terminates HTTPS: ``load-balancer-https``)."""
    production = {
        str(tag)
        for droplet in resources
        if droplet.type == DROPLET and _tag(droplet, "tier") == "production"
        for tag in droplet.props.get("tags") or []
    }
    for firewall in (r for r in resources if r.type == FIREWALL):
        if not production & {str(tag) for tag in firewall.props.get("tags") or []}:
            continue
        for rule in firewall.props.get("inboundRules") or []:
            direct = sorted(HTTP & set(_ports(rule)))
            if direct and _to_world(rule.get("sourceAddresses") or []):
                ports = ", ".join(map(str, direct))
                yield (
                    firewall.name,
                    f"production droplets of {firewall.props.get('name')} are open on {ports} to the internet",
                )


def load_balancer_serves_https(resource: Resource) -> Iterable[str]:
    """A load balancer terminates HTTPS with a managed certificate, redirects HTTP to it and checks droplet health."""
    if resource.type != LOAD_BALANCER:
        return
    rules = resource.props.get("forwardingRules") or []
    if not any(rule.get("entryProtocol") == "https" and rule.get("certificateName") for rule in rules):
        yield "no HTTPS forwarding rule with a certificate"
    if any(rule.get("entryProtocol") == "http" for rule in rules) and not resource.props.get("redirectHttpToHttps"):
        yield "HTTP is forwarded instead of redirected to HTTPS"
    if not (resource.props.get("healthcheck") or {}).get("path"):
        yield "no HTTP health check of the droplets"


def databases_private_with_trusted_sources(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """A managed database is never public: it is in a VPC (its private network) and has a database firewall with
    trusted sources, none of them the whole internet (a cluster without trusted sources admits any address). The
    ManagedDatabase component names the firewall of ``<name>-cluster`` ``<name>-firewall``: its cluster's id is
    not known before it exists."""
    firewalls = {r.name: r for r in resources if r.type == DATABASE_FIREWALL}
    for cluster in (r for r in resources if r.type == DATABASE_CLUSTER):
        label = cluster.props.get("name")
        if not cluster.props.get("privateNetworkUuid"):
            yield cluster.name, f"database {label} is in no VPC (no privateNetworkUuid)"
        firewall = firewalls.get(cluster.name.removesuffix("-cluster") + "-firewall")
        rules = (firewall.props.get("rules") or []) if firewall is not None else []
        if not rules:
            yield cluster.name, f"database {label} has no trusted sources: it admits connections from anywhere"
        elif any(rule.get("type") == "ip_addr" and _to_world([str(rule.get("value", ""))]) for rule in rules):
            yield cluster.name, f"database {label} trusts the whole internet"


def production_databases_have_a_standby(resource: Resource) -> Iterable[str]:
    """A production database cluster has a standby node to fail over to (``node_count`` 2 or more)."""
    if resource.type != DATABASE_CLUSTER or _tag(resource, "tier") != "production":
        return
    nodes = int(resource.props.get("nodeCount") or 0)
    if nodes < 2:
        yield f"database {resource.props.get('name')} has {nodes} node(s): production needs a standby"


def buckets_private_versioned_with_lifecycle(resource: Resource) -> Iterable[str]:
    """Spaces buckets are private, versioned and have lifecycle rules."""
    if resource.type != BUCKET:
        return
    if resource.props.get("acl", "private") != "private":
        yield f"the bucket's acl is {resource.props.get('acl')!r}, not private"
    if not (resource.props.get("versioning") or {}).get("enabled"):
        yield "versioning is off"
    rules = [rule for rule in resource.props.get("lifecycleRules") or [] if rule.get("enabled")]
    if not any(rule.get("noncurrentVersionExpiration") for rule in rules):
        yield "no lifecycle rule expires non-current versions"
    if not any(rule.get("abortIncompleteMultipartUploadDays") for rule in rules):
        yield "no lifecycle rule aborts incomplete multipart uploads"


def tagged_with_environment_and_service(resource: Resource) -> Iterable[str]:
    """Droplets and volumes carry env: and service: tags."""
    if resource.type in (DROPLET, VOLUME):
        missing = [prefix for prefix in ("env", "service") if _tag(resource, prefix) is None]
        if missing:
            yield f"missing tag(s): {', '.join(prefix + ':…' for prefix in missing)}"


def no_moving_versions_above_development(resource: Resource) -> Iterable[str]:
    """Above development, images and versions are pinned: no ``latest`` and no branch names."""
    if resource.type != DROPLET or _tag(resource, "tier") in (None, "development"):
        return
    version = _tag(resource, "version") or ""
    image = str(resource.props.get("image", ""))
    if is_branch_like(version):
        yield f"version {version!r} is a moving target"
    if image.endswith(("latest", ":main", ":master")) or is_branch_like(
        image.rsplit(":", 1)[-1] if ":" in image else ""
    ):
        yield f"image {image!r} is a moving target"


def step_files(resource: Resource) -> dict[str, str]:
    """Given a host command (every host gets the same SSH steps), return the files it writes, by path (read
    once per resource: the same dict each time, never change it)."""
    if resource.type != COMMAND:
        return {}
    if "files" not in resource.read:
        resource.read["files"] = hostfiles.installed_files(str(resource.props.get("create") or ""))
    files: dict[str, str] = resource.read["files"]
    return files


# libyaml's safe loader where PyYAML has it: these are files Seawall rendered, some of them large (the
# alert rules), and several policies read the same ones.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=512)
def _parsed(text: str) -> Any:
    """Given the text of a YAML file a host step writes, return it parsed (None when it is not YAML). The
    result is shared between the policies that read it: read it, never change it."""
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader, C or Python
    except yaml.YAMLError:
        return None


def _yaml_documents(resource: Resource, matches: Callable[[str], bool]) -> list[dict[str, Any]]:
    """Given a host command, return the YAML documents (mappings) of the files it installs whose path matches,
    by path; each file is parsed once per resource."""
    documents = []
    for path, text in sorted(step_files(resource).items()):
        if not matches(path):
            continue
        if ("yaml", path) not in resource.read:
            resource.read["yaml", path] = _parsed(text)
        if isinstance(document := resource.read["yaml", path], dict):
            documents.append(document)
    return documents


def backup_documents(resource: Resource) -> list[dict[str, Any]]:
    """Given a host command, return the environment documents it installs for backups."""
    return _yaml_documents(resource, lambda path: path.startswith(f"{hostfiles.HOST_ENVIRONMENTS}/"))


@dataclass(frozen=True)
class MonitoringFiles:
    """What the monitoring host's step installs, parsed: the command's name, prometheus.yml, the rule
    groups and alertmanager.yml."""

    step: str
    prometheus: dict[str, Any]
    rules: list[dict[str, Any]]
    alertmanager: dict[str, Any]

    def scraped_hosts(self) -> set[str]:
        """Return the ``host`` label of every node_exporter target."""
        return {
            str((group.get("labels") or {}).get("host"))
            for job in self.prometheus.get("scrape_configs") or []
            if job.get("job_name") == "node"
            for group in job.get("static_configs") or []
        }

    def alerts(self) -> list[dict[str, Any]]:
        """Return every alerting rule."""
        return [rule for group in self.rules for rule in group.get("rules") or [] if "alert" in rule]


def monitoring_files(resources: Sequence[Resource]) -> list[MonitoringFiles]:
    """Given the resources, return the monitoring configuration of each step that installs one."""
    found = []
    for resource in resources:
        prometheus = _yaml_documents(resource, lambda path: path.endswith("/prometheus.yml"))
        manager = _yaml_documents(resource, lambda path: path.endswith("/alertmanager.yml"))
        if prometheus and manager:
            groups = [
                group
                for document in _yaml_documents(resource, lambda path: "/rules/" in path and path.endswith(".yml"))
                for group in document.get("groups") or []
            ]
            found.append(MonitoringFiles(resource.name, prometheus[0], groups, manager[0]))
    return found


def _configured_hosts(resources: Sequence[Resource]) -> list[str]:
    """Every host, droplet or data-center host, gets an install step (``hostfiles.INSTALL_STEP``)."""
    found = (hostfiles.host_of_step(r.name, hostfiles.INSTALL_STEP) for r in resources if r.type == COMMAND)
    return sorted(host for host in found if host is not None)


def every_host_is_scraped(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """Every host runs node_exporter and is a scrape target of the environment's Prometheus."""
    monitors = monitoring_files(resources)
    scraped = set().union(*(monitor.scraped_hosts() for monitor in monitors)) if monitors else set()
    steps = {r.name for r in resources if r.type == COMMAND}
    for host in _configured_hosts(resources):
        install = hostfiles.step_name(host, hostfiles.INSTALL_STEP)
        if hostfiles.step_name(host, hostfiles.EXPORTER_STEP) not in steps:
            yield install, f"host {host} gets no node_exporter"
        if host not in scraped:
            where = "no host installs Prometheus" if not monitors else "Prometheus has no node target for it"
            yield install, f"host {host} is not scraped: {where}"


def backup_sets_have_alerts(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """Every backup set a host runs has backup and drill alerts: failed, RPO missed, drill failed, overdue."""
    sets = sorted(
        {
            name
            for resource in resources
            for document in backup_documents(resource)
            for name in document.get("backup_sets") or {}
        }
    )
    monitors = monitoring_files(resources)
    if sets and not monitors:
        yield "monitoring", f"backup sets {', '.join(sets)} have no alerts: no host installs Prometheus"
    for monitor in monitors:
        alerts = monitor.alerts()
        general = {str(rule["alert"]) for rule in alerts if "set" not in (rule.get("labels") or {})}
        per_set = {
            (str(rule["alert"]), str(rule["labels"]["set"])) for rule in alerts if "set" in (rule.get("labels") or {})
        }
        unwatched = [alert for alert in ("SeawallBackupFailed", "SeawallDrillFailed") if alert not in general]
        for name in sets:
            missing = unwatched + [
                alert for alert in ("SeawallBackupRpoMissed", "SeawallDrillOverdue") if (alert, name) not in per_set
            ]
            if missing:
                yield monitor.step, f"backup set {name} has no {', '.join(missing)} alert"


def severity_routes_reach_a_channel(resources: Sequence[Resource]) -> Iterable[tuple[str, str]]:
    """Every severity routes to a receiver with a channel; Critical is active in every availability
    window, Major and Minor at least in business hours."""
    for monitor in monitoring_files(resources):
        config = monitor.alertmanager
        receivers = {str(r.get("name")): r for r in config.get("receivers") or []}
        windows = [str(interval.get("name")) for interval in config.get("time_intervals") or []]
        routes = (config.get("route") or {}).get("routes") or []
        for severity in SEVERITIES:
            route = next((r for r in routes if f'severity="{severity}"' in (r.get("matchers") or [])), None)
            if route is None:
                yield monitor.step, f"no route for severity {severity}"
                continue
            receiver = receivers.get(str(route.get("receiver")), {})
            if not any(receiver.get(kind) for kind in ("email_configs", "slack_configs", "webhook_configs")):
                yield monitor.step, f"severity {severity} reaches receiver {route.get('receiver')!r} with no channel"
            active = route.get("active_time_intervals") or windows
            needed = windows if severity == "Critical" else [w for w in windows if w == "business"]
            silent = [window for window in needed if window not in active]
            if silent:
                yield monitor.step, f"severity {severity} reaches nobody in the {', '.join(silent)} window"


def backups_meet_rpo_and_are_drilled(resource: Resource) -> Iterable[str]:
    """Every backup set a host runs is scheduled often enough for its RPO and has a drill schedule."""
    for document in backup_documents(resource):
        for name, backup_set in (document.get("backup_sets") or {}).items():
            try:
                gap = longest_interval(parse_calendar(str(backup_set.get("schedule", ""))))
                rpo = parse_duration(backup_set.get("rpo", ""))
            except (CalendarError, ValueError):
                yield f"backup set {name} has no readable schedule or rpo"
                continue
            if gap > rpo:
                yield f"backup set {name} runs every {gap} at worst, longer than its rpo {rpo}"
            if not (backup_set.get("drill") or {}).get("schedule"):
                yield f"backup set {name} has no drill schedule"


RULES: tuple[Rule, ...] = (
    Rule(
        "every-host-scraped",
        "Every host runs node_exporter and Prometheus scrapes it",
        "Major",
        "mandatory",
        "Deploy through the program (every host gets node_exporter) and set `monitoring.host` to a host.",
        check_stack=every_host_is_scraped,
    ),
    Rule(
        "backup-sets-alerted",
        "Every backup set has backup-failed, RPO, drill-failed and drill-overdue alerts",
        "Major",
        "mandatory",
        "Deploy through the program and set `monitoring.host` to a host: the program installs there the alert "
        "rules it renders from the model, which alert on every set a host backs up.",
        check_stack=backup_sets_have_alerts,
    ),
    Rule(
        "severity-routes-reachable",
        "Every severity reaches a channel: Critical in every availability window, the others in business hours",
        "Critical",
        "mandatory",
        "Give each route a channel under `alerting.routes`; set Critical's `hours` to on-call or always.",
        check_stack=severity_routes_reach_a_channel,
    ),
    Rule(
        "no-world-ssh-or-database",
        "No SSH or database port open to 0.0.0.0/0 or ::/0",
        "Critical",
        "mandatory",
        "Allow the port from admin CIDRs or other services (`from: admin` or a service name), never `public`.",
        check_resource=no_sensitive_port_open_to_the_world,
    ),
    Rule(
        "droplet-behind-firewall",
        "Every droplet is behind a firewall",
        "Critical",
        "mandatory",
        "Give the droplet its service's tag so the service firewall targets it.",
        check_stack=droplets_behind_firewalls,
    ),
    Rule(
        "production-droplet-backups",
        "Droplets in production have backups with a policy",
        "Major",
        "mandatory",
        "Set `droplet_backups: {enabled: true, plan: daily}` on the service.",
        check_resource=production_droplets_have_backups,
    ),
    Rule(
        "service-alerts-routed",
        "Every service has CPU, memory and disk alerts routed to a channel",
        "Major",
        "mandatory",
        "Set `alerts: {cpu, memory, disk}` on the service and route the severity to a channel.",
        check_stack=services_have_routed_alerts,
    ),
    Rule(
        "public-http-uptime-check",
        "Public HTTP(S) services have an uptime check",
        "Major",
        "mandatory",
        "Give the service `health: {path: …}` so an uptime check and its alerts are created.",
        check_stack=public_http_has_uptime_check,
    ),
    Rule(
        "production-http-behind-load-balancer",
        "Production droplets serve HTTP(S) only through their load balancer, never to the internet directly",
        "Critical",
        "mandatory",
        "Give the service a load balancer (`load_balancer: {}`, or more than one droplet) and keep `from: public` "
        "ports to 80 and 443: the program admits them from the balancer alone.",
        check_stack=production_http_behind_load_balancer,
    ),
    Rule(
        "load-balancer-https",
        "Load balancers terminate HTTPS with a managed certificate, redirect HTTP and check droplet health",
        "Major",
        "mandatory",
        "Declare the balancer through the ServiceLoadBalancer component (`load_balancer:` on the service, with "
        "`health:`), which does all three.",
        check_resource=load_balancer_serves_https,
    ),
    Rule(
        "database-private-trusted-sources",
        "Managed databases are in the VPC and admit only their trusted sources, never the internet",
        "Critical",
        "mandatory",
        "Declare the database under `databases:` with `trusted_sources: [service, …]`: the ManagedDatabase "
        "component puts it in the VPC and its firewall admits those services' droplets alone.",
        check_stack=databases_private_with_trusted_sources,
    ),
    Rule(
        "production-database-standby",
        "Production database clusters have a standby node",
        "Major",
        "mandatory",
        "Set `node_count: 2` (or 3) on the production database: a standby takes over when the primary fails.",
        check_resource=production_databases_have_a_standby,
    ),
    Rule(
        "bucket-private-versioned-lifecycle",
        "Buckets are private, versioned and have lifecycle rules",
        "Critical",
        "mandatory",
        "Use the BackupBucket component; never set a public acl.",
        check_resource=buckets_private_versioned_with_lifecycle,
    ),
    Rule(
        "tagged-environment-and-service",
        "Droplets and volumes are tagged with environment and service",
        "Minor",
        "advisory",
        "Create droplets and volumes through the ServiceFleet component, which tags them.",
        check_resource=tagged_with_environment_and_service,
    ),
    Rule(
        "no-moving-versions",
        "No `latest` image or branch-named version above development",
        "Major",
        "mandatory",
        "Pin a release version (semver or an image tag) for staging and production.",
        check_resource=no_moving_versions_above_development,
    ),
    Rule(
        "backup-rpo-and-drill",
        "Every backup set's schedule covers its RPO and it has a drill schedule",
        "Major",
        "mandatory",
        "Run the set more often (`schedule`) or raise its `rpo`; give it `drill.schedule`.",
        check_resource=backups_meet_rpo_and_are_drilled,
    ),
)
