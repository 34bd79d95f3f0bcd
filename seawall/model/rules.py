"""Rules that span fields of one environment. Each finding keeps the field path it is about.

``RULES`` are errors; ``ADVICE`` are warnings (``seawall validate`` prints them on stderr and exits 0):
what is fine to leave open in a development or staging tier but is refused in a protected one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from seawall.model.calendar import longest_interval, parse_calendar
from seawall.model.schema import PUBLIC_SOURCES, Environment, Port, droplet_names
from seawall.model.types import format_duration, is_branch_like

FieldFinding = tuple[tuple[str | int, ...], str]
FieldRule = Callable[[Environment], Iterator[FieldFinding]]


def check_environment(env: Environment, file_stem: str) -> list[FieldFinding]:
    """Given a validated environment and its file name, return every cross-field finding."""
    findings: list[FieldFinding] = []
    if env.environment.name != file_stem:
        msg = f"the environment is named {env.environment.name!r} but its file is {file_stem}.yaml"
        findings.append((("environment", "name"), msg))
    for rule in RULES:
        findings.extend(rule(env))
    return findings


def advise_environment(env: Environment) -> list[FieldFinding]:
    """Given a validated environment, return every warning: what works but will surprise someone."""
    return [finding for rule in ADVICE for finding in rule(env)]


def _escalation_has_a_repository(env: Environment) -> Iterator[FieldFinding]:
    if env.incidents.github_repository is not None:
        return
    tier = env.environment.tier
    if tier in env.release.protected_tiers:
        msg = (
            f"escalation in a protected tier ({tier}) needs a target repository: set it to the owner/repo where "
            "escalation issues are filed (`seawall incident escalate` gives it to `gh issue create --repo`)"
        )
        yield ("incidents", "github_repository"), msg


def _escalation_names_a_repository(env: Environment) -> Iterator[FieldFinding]:
    protected = env.environment.tier in env.release.protected_tiers
    if env.incidents.github_repository is None and not protected:
        msg = (
            "escalation has no target repository: `seawall incident escalate` prints `gh issue create` without "
            "--repo, which files the issue in whatever repository gh finds in the current folder; set it to the "
            "owner/repo where escalation issues are filed"
        )
        yield ("incidents", "github_repository"), msg


def _backup_set_references(env: Environment) -> Iterator[FieldFinding]:
    owners = [("services", name, item.backup_sets) for name, item in env.services.items()]
    owners += [("datacenter_hosts", name, item.backup_sets) for name, item in env.datacenter_hosts.items()]
    for section, owner, sets in owners:
        for index, set_name in enumerate(sets):
            if set_name not in env.backup_sets:
                known = ", ".join(sorted(env.backup_sets)) or "none defined"
                yield (section, owner, "backup_sets", index), f"backup set {set_name!r} is not defined (known: {known})"


def _prune_hosts_run_their_set(env: Environment) -> Iterator[FieldFinding]:
    for name, backup_set in env.backup_sets.items():
        hosts = env.hosts_of_set(name)
        if backup_set.prune_host is not None and backup_set.prune_host not in hosts:
            known = ", ".join(hosts) or "none"
            msg = f"prune_host {backup_set.prune_host!r} does not back up this set (its hosts: {known})"
            yield ("backup_sets", name, "prune_host"), msg


def _status_host_backs_up(env: Environment) -> Iterator[FieldFinding]:
    chosen = env.backup.status_host
    running = sorted({host for name in env.backup_sets for host in env.hosts_of_set(name)})
    if chosen is not None and chosen not in running:
        known = ", ".join(running) or "none"
        msg = f"status_host {chosen!r} backs up no set, so it has no repository keys (hosts that do: {known})"
        yield ("backup", "status_host"), msg


def _port_sources(env: Environment) -> Iterator[FieldFinding]:
    valid = set(PUBLIC_SOURCES) | set(env.services)
    lists: list[tuple[tuple[str | int, ...], list[Port]]] = [
        (("services", name, "ports"), service.ports) for name, service in env.services.items()
    ]
    lists += [(("datacenter_hosts", name, "firewall"), host.firewall) for name, host in env.datacenter_hosts.items()]
    for path, ports in lists:
        for index, port in enumerate(ports):
            if port.source not in valid:
                msg = f"'from: {port.source}' is neither public, admin, vpc nor a service of this environment"
                yield (*path, index, "from"), msg


def _no_duplicate_firewall_rules(env: Environment) -> Iterator[FieldFinding]:
    lists: list[tuple[tuple[str | int, ...], list[Port]]] = [
        (("services", name, "ports"), service.ports) for name, service in env.services.items()
    ]
    lists += [(("datacenter_hosts", name, "firewall"), host.firewall) for name, host in env.datacenter_hosts.items()]
    for path, ports in lists:
        seen: dict[tuple[int, str, str], int] = {}
        for index, port in enumerate(ports):
            key = (port.port, port.protocol, port.source)
            if key in seen:
                msg = f"the same rule as entry {seen[key]} ({port.protocol} {port.port} from {port.source}): remove one"
                yield (*path, index), msg
            else:
                seen[key] = index


def _alert_channels(env: Environment) -> Iterator[FieldFinding]:
    for severity, route in env.alerting.routes.items():
        for index, channel in enumerate(route.channels):
            if channel not in env.alerting.channels:
                yield ("alerting", "routes", severity, "channels", index), f"channel {channel!r} is not defined"


def _monitoring_host_exists(env: Environment) -> Iterator[FieldFinding]:
    host = env.monitoring.host
    if host is not None and host not in env.services and host not in env.datacenter_hosts:
        known = ", ".join(sorted([*env.services, *env.datacenter_hosts]))
        msg = f"monitoring host {host!r} is neither a service nor a data-center host of this environment ({known})"
        yield ("monitoring", "host"), msg


def _unique_host_names(env: Environment) -> Iterator[FieldFinding]:
    droplets = {droplet for name, service in env.services.items() for droplet in droplet_names(name, service)}
    for name in env.datacenter_hosts:
        if name in droplets or name in env.services:
            yield ("datacenter_hosts", name), f"host name {name!r} is also a service or droplet name"


def _rpo_covers_schedule(env: Environment) -> Iterator[FieldFinding]:
    for name, backup_set in env.backup_sets.items():
        gap = longest_interval(parse_calendar(backup_set.schedule))
        if backup_set.rpo < gap:
            msg = (
                f"rpo {format_duration(backup_set.rpo)} is shorter than the longest gap between two runs "
                f"of the schedule ({format_duration(gap)}): run more often or raise the rpo"
            )
            yield ("backup_sets", name, "rpo"), msg


def _drift_checks_report_in_time(env: Environment) -> Iterator[FieldFinding]:
    """A host is called silent only after its check could have run: the schedule's gap and delay allow it."""
    gap = longest_interval(parse_calendar(env.drift.schedule)) + env.backup.randomized_delay
    if env.drift.stale_after <= gap:
        msg = (
            f"stale_after {format_duration(env.drift.stale_after)} is not longer than the schedule's longest gap "
            f"plus backup.randomized_delay ({format_duration(gap)}): every host would be called silent; raise it"
        )
        yield ("drift", "stale_after"), msg


def _production_is_protected(env: Environment) -> Iterator[FieldFinding]:
    if env.environment.tier != "production":
        return
    for name, service in env.services.items():
        if not service.is_stateful:
            continue
        if not service.backup_sets:
            yield ("services", name, "backup_sets"), "a stateful service in production needs at least one backup set"
        if service.alerts is None:
            yield ("services", name, "alerts"), "a stateful service in production needs cpu/memory/disk alerts"
        if service.droplet_backups is None or not service.droplet_backups.enabled:
            yield ("services", name, "droplet_backups"), "a stateful service in production needs droplet backups"


def _protected_services_have_owners(env: Environment) -> Iterator[FieldFinding]:
    if env.environment.tier not in env.release.protected_tiers:
        return
    for name, service in env.services.items():
        for field in ("owner", "circle_owner"):
            if getattr(service, field) is None:
                tier = env.environment.tier
                msg = f"a service in a protected tier ({tier}) needs its {field} (a GitHub account or team)"
                yield ("services", name, field), msg


def _volume_protection_names_own_sets(env: Environment) -> Iterator[FieldFinding]:
    for name, service in env.services.items():
        if service.volume is None:
            continue
        for index, set_name in enumerate(service.volume.protected_by):
            if set_name not in service.backup_sets:
                known = ", ".join(service.backup_sets) or "none"
                msg = f"protected_by names {set_name!r}, which is not one of this service's backup sets ({known})"
                yield ("services", name, "volume", "protected_by", index), msg


def _no_moving_versions(env: Environment) -> Iterator[FieldFinding]:
    if env.environment.tier == "development":
        return
    for name, service in env.services.items():
        if is_branch_like(service.version):
            msg = f"{service.version!r} is a branch or moving tag; pin a release version above development"
            yield ("services", name, "version"), msg


def _paths_are_absolute(env: Environment) -> Iterator[FieldFinding]:
    if env.environment.provider == "local":
        return
    for name, backup_set in env.backup_sets.items():
        for index, path in enumerate(backup_set.paths):
            if not path.startswith("/"):
                yield ("backup_sets", name, "paths", index), "paths on real hosts must be absolute"


def _monitoring_reaches_datacenter_hosts(env: Environment) -> Iterator[FieldFinding]:
    """Prometheus on the monitoring droplets scrapes data-center hosts over the data center's link to the
    VPC: the link must exist, and each host's firewall admit node_exporter from the VPC."""
    if env.monitoring.host not in env.services or not env.datacenter_hosts:
        return
    port = env.monitoring.node_exporter_port
    if env.network.datacenter_link == "none":
        msg = (
            f"Prometheus runs on the {env.monitoring.host} droplets, which cannot reach the data-center hosts "
            "without a link: route the VPC to the data center (datacenter_link: vpn) or run monitoring there"
        )
        yield ("network", "datacenter_link"), msg
        return
    for name, host in env.datacenter_hosts.items():
        if not any(rule.port == port and rule.protocol == "tcp" and rule.source == "vpc" for rule in host.firewall):
            msg = (
                f"Prometheus on the {env.monitoring.host} droplets scrapes node_exporter here over the VPC link: "
                f"add {{port: {port}, from: vpc}}"
            )
            yield ("datacenter_hosts", name, "firewall"), msg


def _ledger_is_not_a_backup_bucket(env: Environment) -> Iterator[FieldFinding]:
    ledger = env.release.ledger
    if ledger is not None and ledger.bucket == env.bucket_name:
        msg = (
            f"the ledger's bucket {ledger.bucket!r} is {env.name}'s backup bucket, whose key every backup host "
            "holds: give the ledger a bucket of its own, written only with the deployers' key"
        )
        yield ("release", "ledger", "bucket"), msg


def _place(endpoint: str | None, region: str) -> tuple[str, str]:
    """An S3 endpoint's host (lower case) and region; a Spaces host names its region (``fra1.digitalocean…``),
    and the model's placeholder region (us-east-1) says nothing."""
    from urllib.parse import urlsplit

    host = (urlsplit(endpoint or "").hostname or "").lower()
    if host.endswith(".digitaloceanspaces.com"):
        return host, host.split(".", 1)[0]
    return host, "" if region == "us-east-1" else region.lower()


def _same_place(endpoint: str | None, region: str, other: str | None, other_region: str) -> bool:
    """Whether two repositories are in one place: one storage host, or one named region."""
    (host, where), (other_host, other_where) = _place(endpoint, region), _place(other, other_region)
    return host == other_host or (bool(where) and where == other_where)


def _vault_backs_up_nothing(env: Environment) -> Iterator[FieldFinding]:
    """A vault that is also a backup host lets that host's stolen keys reach the copy (a warning: the shipped
    model's vault backs up nothing; a small fleet may choose otherwise, knowingly)."""
    copy = env.backup.copy_
    if copy is None or env.environment.provider == "local":  # one machine: there is no other host to name
        return
    runs = sorted(name for name in env.backup_sets if copy.vault in env.hosts_of_set(name))
    if runs:
        yield (
            ("backup", "copy", "vault"),
            (
                f"vault {copy.vault!r} backs up {', '.join(runs)} itself: a stolen key of that host is the vault's, "
                "and can delete the copy; name a host that runs no backup set"
            ),
        )


def _artifacts_have_a_registry(env: Environment) -> Iterator[FieldFinding]:
    """A service's image is pushed to and pulled from the environment's registry, and a data-center host runs the
    images of services that have one."""
    if env.registry is None:
        for name, service in env.services.items():
            if service.artifact is not None:
                msg = "its image needs the environment's registry: set `registry: {url: …}`"
                yield ("services", name, "artifact"), msg
    for host_name, host in env.datacenter_hosts.items():
        for index, name in enumerate(host.containers):
            if name not in env.services or env.services[name].artifact is None:
                with_one = ", ".join(sorted(s for s, svc in env.services.items() if svc.artifact)) or "none"
                msg = f"{name!r} is not a service with an artifact (services with one: {with_one})"
                yield ("datacenter_hosts", host_name, "containers", index), msg


def _copy_is_elsewhere(env: Environment) -> Iterator[FieldFinding]:
    """The off-site copy is somewhere else, with keys and a password of its own, kept by a host that exists."""
    copy = env.backup.copy_
    if copy is None:
        return
    hosts = sorted(env.datacenter_hosts) + [d for s, svc in env.services.items() for d in droplet_names(s, svc)]
    if copy.vault not in hosts:
        yield (
            ("backup", "copy", "vault"),
            f"vault {copy.vault!r} is not a host of {env.name} (known: {', '.join(hosts)})",
        )
    where, primary = copy.repository, env.backup.repository
    if where.kind == "s3":
        buckets = {env.bucket_name} | {
            own.bucket for own in (s.repository for s in env.backup_sets.values()) if own and own.bucket
        }
        if env.copy_bucket_name in buckets:
            msg = f"the copy's bucket {env.copy_bucket_name!r} holds a primary repository: give the copy its own bucket"
            yield ("backup", "copy", "repository", "bucket"), msg
        if primary.kind == "s3" and _same_place(where.endpoint, where.region, primary.endpoint, primary.region):
            msg = (
                f"the copy is in the primary's region ({where.region} at {where.endpoint}): a lost region would lose "
                "both; put it in another region's endpoint or the data center's object storage"
            )
            yield ("backup", "copy", "repository", "endpoint"), msg
    elif primary.kind == "local" and where.path and primary.path:
        first, second = where.path.rstrip("/") + "/", primary.path.rstrip("/") + "/"
        if first.startswith(second) or second.startswith(first):
            msg = f"the copy's folder {where.path} overlaps the primary's {primary.path}: give it a folder apart"
            yield ("backup", "copy", "repository", "path"), msg
    keys = {env.backup.access_key_id_env, env.backup.secret_access_key_env}
    for field in ("access_key_id_env", "secret_access_key_env"):
        if getattr(copy, field) in keys:
            msg = f"{getattr(copy, field)} is the backup hosts' key: the vault's key must be one no backup host holds"
            yield ("backup", "copy", field), msg
    same_file = copy.password_file is not None and copy.password_file == env.backup.password_file
    if same_file or (copy.password_env is not None and copy.password_env == env.backup.password_env):
        yield (
            ("backup", "copy", "password_file" if same_file else "password_env"),
            ("the copy needs a password of its own (the backup hosts hold the primary's)"),
        )


def _local_provider_has_no_cloud(env: Environment) -> Iterator[FieldFinding]:
    if env.environment.provider == "local" and env.services:
        yield ("services",), "the local provider runs no droplets: declare hosts under datacenter_hosts"


def _dr_overrides_name_services(env: Environment) -> Iterator[FieldFinding]:
    """The rehearsal's sizes name services of the model."""
    for name in sorted(set(env.dr.sizes) - set(env.services)):
        yield ("dr", "sizes", name), f"{name!r} is not a service (services: {', '.join(sorted(env.services))})"


def _dr_region_is_elsewhere(env: Environment) -> Iterator[FieldFinding]:
    """A rehearsal in the environment's own region proves nothing about losing that region (a warning: a
    rehearsal there still proves the rebuild)."""
    if env.dr.region is not None and env.dr.region == env.environment.region:
        yield ("dr", "region"), f"the DR region is the environment's own ({env.environment.region}): choose another"


def _load_balancers_have_what_they_need(env: Environment) -> Iterator[FieldFinding]:
    """A load balancer checks the droplets' health before it sends them traffic (a service without a public
    HTTP(S) port has none, whatever it declares: an environment may close a port its defaults balance)."""
    for name, service in env.services.items():
        if service.balancer is not None and service.health is None:
            msg = "its load balancer checks each droplet's health before sending it traffic: set `health: {path: …}`"
            yield ("services", name, "health"), msg


def _databases_name_what_they_need(env: Environment) -> Iterator[FieldFinding]:
    """A managed database trusts services that run droplets (its firewall admits their tag), and its pools name
    its own databases and users (a user per trusted service); the local provider has no cluster to make."""
    if env.databases and env.environment.provider == "local":
        yield ("databases",), "the local provider makes no managed database: run the database on a host"
    for name, cluster in env.databases.items():
        for index, source in enumerate(cluster.trusted_sources):
            if source not in env.services:
                known = ", ".join(sorted(env.services)) or "none"
                msg = f"{source!r} is not a service of {env.name} (services: {known}); a database trusts services"
                yield ("databases", name, "trusted_sources", index), msg
        databases = env.database_names(name)
        for index, pool in enumerate(cluster.pools):
            where = ("databases", name, "pools", index)
            if cluster.engine != "pg":
                yield (*where, "name"), "connection pools are PgBouncer's: only a `pg` cluster has them"
            if pool.database not in databases:
                yield (*where, "database"), f"{pool.database!r} is not a database of {name} ({', '.join(databases)})"
            if pool.user not in cluster.trusted_sources:
                msg = f"{pool.user!r} is no user of {name}: its users are its trusted_sources"
                yield (*where, "user"), msg
        if cluster.replica_size is not None and not cluster.read_replicas:
            yield ("databases", name, "replica_size"), "replica_size without read_replicas: set read_replicas: N"


RULES: tuple[FieldRule, ...] = (
    _backup_set_references,
    _prune_hosts_run_their_set,
    _status_host_backs_up,
    _port_sources,
    _no_duplicate_firewall_rules,
    _alert_channels,
    _monitoring_host_exists,
    _unique_host_names,
    _rpo_covers_schedule,
    _drift_checks_report_in_time,
    _production_is_protected,
    _protected_services_have_owners,
    _volume_protection_names_own_sets,
    _no_moving_versions,
    _paths_are_absolute,
    _local_provider_has_no_cloud,
    _ledger_is_not_a_backup_bucket,
    _monitoring_reaches_datacenter_hosts,
    _escalation_has_a_repository,
    _copy_is_elsewhere,
    _dr_overrides_name_services,
    _artifacts_have_a_registry,
    _load_balancers_have_what_they_need,
    _databases_name_what_they_need,
)


ADVICE: tuple[FieldRule, ...] = (_escalation_names_a_repository, _vault_backs_up_nothing, _dr_region_is_elsewhere)
