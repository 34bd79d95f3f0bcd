"""The environment model: what one environment is, validated.

Field-level checks live on the types (``seawall.model.types``); rules that span fields live in
``seawall.model.rules`` so that each finding keeps its own field path.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from seawall.model.types import (
    SEVERITIES,
    WEEKDAYS,
    AbsPath,
    Cidr,
    ClockTime,
    DrillCheck,
    Duration,
    Email,
    EnvVarName,
    HookCommand,
    Hostname,
    ImageSlug,
    MountPoint,
    Name,
    OnCalendar,
    Owner,
    PathText,
    Percent,
    PortNumber,
    PortRange,
    Reason,
    Region,
    RunbookUrl,
    Severity,
    SizeSlug,
    SlackChannel,
    SshKeyRef,
    SystemdUnit,
    Tier,
    TimeZone,
    Version,
    VpcCidr,
    Weekday,
    WeekTime,
)

PUBLIC_SOURCES = ("public", "admin", "vpc")


class StrictModel(BaseModel):
    """Every model refuses unknown keys and is immutable once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


class EnvironmentInfo(StrictModel):
    name: Name
    tier: Tier
    provider: Literal["digitalocean", "local"] = "digitalocean"
    region: Region
    domain: Hostname
    predecessor: Name | None = None
    description: str = ""


class Outbound(StrictModel):
    protocol: Literal["tcp", "udp", "icmp"]
    ports: PortRange = "all"
    to: Literal["public", "vpc"] = "public"


class SshPublicKey(StrictModel):
    """A public key that becomes a ``digitalocean.SshKey`` the environment's droplets are created with (by id)."""

    name: Name = Field(description="The key's name; the DigitalOcean key is ``<env>-<name>``.")
    public_key: str | None = Field(
        default=None,
        pattern=r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/=]+( [^\n]*)?$",
        description="The OpenSSH public key line (``ssh-ed25519 AAAA… comment``); the loader fills it from ``file``.",
    )
    file: PathText | None = Field(
        default=None,
        description="A file holding the public key line, relative to the environments folder unless absolute.",
    )

    @model_validator(mode="after")
    def _has_a_key(self) -> SshPublicKey:
        if self.public_key is None:
            msg = "an SSH public key needs its key: set public_key, or file to a file that holds it"
            raise ValueError(msg)
        return self


class Network(StrictModel):
    vpc_cidr: VpcCidr
    admin_cidrs: list[Cidr] = Field(min_length=1)
    # How the data center reaches the VPC: "vpn" (a site-to-site VPN or peering routes the VPC range to the
    # data-center hosts, so Prometheus on a droplet scrapes them at their address, admitted `from: vpc`),
    # or "none" (then Prometheus must run in the data center to watch its hosts).
    datacenter_link: Literal["vpn", "none"] = "vpn"
    ssh_keys: list[SshKeyRef] = Field(default_factory=list)
    ssh_public_keys: list[SshPublicKey] = Field(
        default_factory=list,
        description="Public keys Seawall makes DigitalOcean SSH keys of; droplets get them by id, beside ``ssh_keys``.",
    )
    outbound: list[Outbound] = Field(
        default_factory=lambda: [
            Outbound(protocol="tcp"),
            Outbound(protocol="udp"),
            Outbound(protocol="icmp"),
        ]
    )


class Port(StrictModel):
    port: PortNumber
    protocol: Literal["tcp", "udp"] = "tcp"
    source: str = Field(alias="from", min_length=1)


class Volume(StrictModel):
    size_gb: int = Field(strict=True, ge=1, le=16384)
    mount: MountPoint
    filesystem: Literal["ext4", "xfs"] = "ext4"
    # Sets of the service that hold this volume's data another way (a dump written by a hook), when none
    # backs up a path inside the mount; the risk assessment calls a volume in neither unprotected.
    protected_by: list[Name] = Field(default_factory=list)


class Health(StrictModel):
    path: str = Field(pattern=r"^/[^\s]*$")
    port: PortNumber = 443
    protocol: Literal["https", "http"] = "https"


class Alerts(StrictModel):
    cpu: Percent
    memory: Percent
    disk: Percent
    window: Literal["5m", "10m", "30m", "1h"] = "5m"


class DropletBackups(StrictModel):
    enabled: bool = True
    plan: Literal["daily", "weekly"] = "daily"
    weekday: Literal["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] = "SUN"
    hour: Literal[0, 4, 8, 12, 16, 20] = 0


class LoadBalancer(StrictModel):
    """A DigitalOcean load balancer in front of a service's droplets, terminating TLS with a managed certificate."""

    enabled: bool = Field(
        default=True, description="False: no load balancer, even for a public service of many droplets."
    )
    size_unit: int = Field(strict=True, default=1, ge=1, le=200, description="The balancer's size in units (1-200).")
    redirect_http_to_https: bool = Field(default=True, description="Answer HTTP on port 80 with a redirect to HTTPS.")
    check_interval_seconds: int = Field(
        strict=True, default=10, ge=3, le=300, description="Seconds between two health checks of each droplet."
    )
    unhealthy_threshold: int = Field(
        strict=True, default=3, ge=2, le=10, description="Failed health checks before a droplet leaves the pool."
    )
    healthy_threshold: int = Field(
        strict=True, default=5, ge=2, le=10, description="Passed health checks before a droplet rejoins the pool."
    )


class Service(StrictModel):
    description: str = ""
    role: Name | None = None
    # Who runs it and whom it escalates to (GitHub accounts or teams); required in protected tiers.
    owner: Owner | None = None
    circle_owner: Owner | None = None
    # Its own systemd units on its droplets, where its logs are, and what an upgrade must know.
    units: list[SystemdUnit] = Field(default_factory=list)
    logs: list[str] = Field(default_factory=list)
    upgrade_notes: str = ""
    image: ImageSlug
    version: Version
    size: SizeSlug
    count: int = Field(strict=True, ge=1, le=100)
    stateful: bool = False
    ports: list[Port] = Field(default_factory=list)
    outbound: list[Outbound] | None = None
    volume: Volume | None = None
    health: Health | None = None
    alerts: Alerts | None = None
    droplet_backups: DropletBackups | None = None
    backup_sets: list[Name] = Field(default_factory=list)
    load_balancer: LoadBalancer | None = Field(
        default=None,
        description="Its load balancer; a public HTTP(S) service of more than one droplet gets one without asking.",
    )
    reserved_ip: bool | None = Field(
        default=None,
        description="Give each droplet a reserved IP that outlives it (default: stateful services have one).",
    )

    @property
    def is_stateful(self) -> bool:
        """Return whether the service keeps data that must survive its droplets."""
        return self.stateful or self.volume is not None


class DatacenterHost(StrictModel):
    description: str = ""
    address: Hostname
    ssh_user: str = Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$")
    ssh_port: PortNumber = 22
    roles: list[Name] = Field(min_length=1)
    firewall: list[Port] = Field(default_factory=list)
    alerts: Alerts | None = None
    backup_sets: list[Name] = Field(default_factory=list)


class Hooks(StrictModel):
    before: list[HookCommand] = Field(default_factory=list)
    after: list[HookCommand] = Field(default_factory=list)
    on_error: list[HookCommand] = Field(default_factory=list)
    before_restore: list[HookCommand] = Field(default_factory=list)
    after_restore: list[HookCommand] = Field(default_factory=list)
    timeout: Duration = dt.timedelta(minutes=30)
    # Variables of Seawall's environment the hooks and drill checks get; nothing else that could be a
    # secret (the repository password, the Spaces keys) reaches them.
    pass_env: list[EnvVarName] = Field(default_factory=list)


class Retention(StrictModel):
    keep_last: int | None = Field(strict=True, default=None, ge=1)
    keep_hourly: int | None = Field(strict=True, default=None, ge=1)
    keep_daily: int | None = Field(strict=True, default=None, ge=1)
    keep_weekly: int | None = Field(strict=True, default=None, ge=1)
    keep_monthly: int | None = Field(strict=True, default=None, ge=1)
    keep_yearly: int | None = Field(strict=True, default=None, ge=1)
    keep_within: Duration | None = None

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        if not any(value is not None for value in self.__dict__.values()):
            msg = "retention must keep something: set at least one keep_* rule"
            raise ValueError(msg)
        return self


class Drill(StrictModel):
    schedule: OnCalendar
    checks: list[DrillCheck] = Field(default_factory=list)
    read_data_slices: int = Field(strict=True, default=12, ge=1, le=1000)
    sample_files: int = Field(strict=True, default=200, ge=0)
    min_files: int = Field(strict=True, default=1, ge=0)
    min_bytes: int = Field(strict=True, default=0, ge=0)


class Repository(StrictModel):
    kind: Literal["s3", "local"]
    endpoint: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    bucket: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    bucket_prefix: str = Field(default="seawall", pattern=r"^[a-z0-9][a-z0-9-]{0,40}$")
    region: str = "us-east-1"
    prefix: str = Field(default="restic", pattern=r"^[A-Za-z0-9._/-]*$")
    path: PathText | None = None

    @model_validator(mode="after")
    def _has_its_location(self) -> Repository:
        if self.kind == "s3" and self.endpoint is None:
            msg = "an s3 repository needs an endpoint"
            raise ValueError(msg)
        if self.kind == "local" and not self.path:
            msg = "a local repository needs a path"
            raise ValueError(msg)
        return self


class BackupSet(StrictModel):
    description: str = ""
    paths: list[PathText] = Field(min_length=1)
    exclude: list[PathText] = Field(default_factory=list)
    hooks: Hooks = Field(default_factory=Hooks)
    schedule: OnCalendar
    retention: Retention
    rpo: Duration
    rto: Duration
    drill: Drill
    repository: Repository | None = None
    prune_schedule: OnCalendar = "Sun *-*-* 03:00:00"
    prune_host: Name | None = None


class OffsiteCopy(StrictModel):
    """The second copy of every set, elsewhere: another region's bucket or the data center's own object
    storage. The vault host alone runs ``restic copy`` into it, with a key that reads the primary bucket
    and writes the copy's (restic gives both repositories of one copy the same S3 keys); backup hosts
    never hold that key or the copy's password, so a stolen backup-host key cannot delete the copy."""

    repository: Repository
    vault: Name
    password_env: EnvVarName | None = None
    password_file: PathText | None = None
    access_key_id_env: EnvVarName = "VAULT_ACCESS_KEY_ID"
    secret_access_key_env: EnvVarName = "VAULT_SECRET_ACCESS_KEY"  # noqa: S105 - a variable's name
    schedule: OnCalendar = "*-*-* *:40:00"
    # How much later than the primary's newest snapshot the copy's may be before it is late (alerts).
    delay: Duration = dt.timedelta(hours=2)
    retention: Retention
    prune_schedule: OnCalendar = "Sun *-*-* 09:00:00"
    drill_schedule: OnCalendar = "Sat *-*-* 13:00:00"
    # Where the storage supports S3 Object Lock: lock every copied object (COMPLIANCE mode) for the
    # copy's longest keep-rule, so that not even the vault's key can delete it before then.
    object_lock: bool = False

    @model_validator(mode="after")
    def _has_a_password_source(self) -> OffsiteCopy:
        if not (self.password_env or self.password_file):
            msg = "the copy's repository password needs a source: set password_env or password_file"
            raise ValueError(msg)
        return self


class BackupConfig(StrictModel):
    repository: Repository
    password_env: EnvVarName | None = None
    password_file: PathText | None = None
    access_key_id_env: EnvVarName = "SPACES_ACCESS_KEY_ID"
    secret_access_key_env: EnvVarName = "SPACES_SECRET_ACCESS_KEY"  # noqa: S105 - a variable name
    healthcheck_url_env: EnvVarName | None = None
    state_dir: PathText = "/var/lib/seawall"
    metrics_dir: PathText = "/var/lib/prometheus/node-exporter"
    reports_dir: PathText = "/var/lib/seawall/reports/drills"
    restic_binary: PathText = "restic"
    command_timeout: Duration = dt.timedelta(hours=6)
    lock_wait: Duration = dt.timedelta(seconds=30)
    lock_attempts: int = Field(strict=True, default=6, ge=1, le=100)
    stale_lock_after: Duration = dt.timedelta(hours=2)
    clock_skew_tolerance: Duration = dt.timedelta(minutes=10)
    safety_snapshot_keep: Duration = dt.timedelta(days=30)
    randomized_delay: Duration = dt.timedelta(minutes=15)
    # `seawall backup status --deep --metrics` on one host of the environment (the status host): every
    # repository listed once and compared with what the hosts recorded; a disagreement alerts.
    deep_status_schedule: OnCalendar = "*-*-* 05:30:00"
    status_host: Name | None = None
    noncurrent_version_days: int = Field(strict=True, default=30, ge=1)
    abort_multipart_days: int = Field(strict=True, default=7, ge=1)
    copy_: OffsiteCopy | None = Field(default=None, alias="copy")
    host_keys: Literal["scoped", "config"] = Field(
        default="scoped",
        description=(
            "The backup hosts' storage key: ``scoped``, a Spaces key the program creates with read-write on the "
            "environment's bucket alone (where the repository is Spaces); ``config``, the stack's "
            "spacesAccessKeyId/spacesSecretAccessKey secrets."
        ),
    )

    @model_validator(mode="after")
    def _has_a_password_source(self) -> BackupConfig:
        if not (self.password_env or self.password_file):
            msg = "the repository password needs a source: set password_env or password_file"
            raise ValueError(msg)
        return self


class Channel(StrictModel):
    email: Email | None = None
    slack: SlackChannel | None = None
    slack_url_config: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9]*$")

    @model_validator(mode="after")
    def _is_one_kind(self) -> Channel:
        if (self.email is None) == (self.slack is None):
            msg = "a channel is either an email or a slack channel"
            raise ValueError(msg)
        if self.slack is not None and self.slack_url_config is None:
            msg = "a slack channel needs slack_url_config: the Pulumi config secret with its webhook URL"
            raise ValueError(msg)
        return self


class Route(StrictModel):
    channels: list[Name] = Field(min_length=1)
    # always: at any time; business: in business hours only; on-call: in business or on-call hours.
    hours: Literal["always", "business", "on-call"] = "always"


class Smtp(StrictModel):
    smarthost: str = Field(default="localhost:25", pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$")
    sender: Email | None = None
    require_tls: bool = False


class Alerting(StrictModel):
    channels: dict[Name, Channel] = Field(min_length=1)
    routes: dict[Severity, Route]
    smtp: Smtp = Field(default_factory=Smtp)
    cpu: Severity = "Major"
    memory: Severity = "Major"
    disk: Severity = "Critical"
    uptime: Severity = "Critical"
    backup: Severity = "Critical"
    host_down: Severity = "Critical"
    disk_filling: Severity = "Major"
    network: Severity = "Minor"
    network_errors: Severity = "Major"
    clock_skew: Severity = "Major"
    backup_rpo: Severity = "Critical"
    backup_silent: Severity = "Major"
    drill: Severity = "Major"
    drill_overdue: Severity = "Major"
    drill_rto: Severity = "Major"
    check: Severity = "Critical"
    repository_disagrees: Severity = "Major"
    status_overdue: Severity = "Major"
    copy_failed: Severity = "Major"
    copy_late: Severity = "Major"
    copy_silent: Severity = "Major"
    snapshots_vanished: Severity = "Critical"
    # The drift check (``drift``): a host that no longer matches its deploy, a host that stopped checking.
    host_drift: Severity = "Major"
    drift_check_missing: Severity = "Major"

    @model_validator(mode="after")
    def _routes_every_severity(self) -> Alerting:
        missing = [severity for severity in SEVERITIES if severity not in self.routes]
        if missing:
            msg = f"routes must cover every severity; missing: {', '.join(missing)}"
            raise ValueError(msg)
        return self


class Window(StrictModel):
    """Hours of some days of the week, in the availability's time zone."""

    days: list[Weekday] = Field(min_length=1)
    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _is_forward(self) -> Window:
        if self.end <= self.start:
            msg = f"the window ends ({self.end}) before it starts ({self.start}); split a window that spans midnight"
            raise ValueError(msg)
        return self


def _business() -> Window:
    return Window(days=[day for day in WEEKDAYS if day != "saturday"], start="09:00", end="17:00")


def _on_call() -> Window:
    return Window(days=["saturday", "sunday"], start="09:00", end="18:00")


class Availability(StrictModel):
    """When the team answers: business hours, and on-call hours for Critical alerts (the release time
    zone unless ``timezone`` is set)."""

    timezone: TimeZone | None = None
    business: Window = Field(default_factory=_business)
    on_call: Window = Field(default_factory=_on_call)


class NetworkThresholds(StrictModel):
    receive_mbps: int = Field(strict=True, default=800, ge=1)
    transmit_mbps: int = Field(strict=True, default=800, ge=1)
    errors_per_second: float = Field(default=1.0, gt=0)


def _host_alerts() -> Alerts:
    return Alerts(cpu=90, memory=90, disk=85, window="10m")


class Monitoring(StrictModel):
    """Prometheus and Alertmanager of the environment: where they run and what they watch."""

    # The service (its droplets) or data-center host that runs them; none: a Prometheus of your own.
    host: Name | None = None
    scrape_interval: Duration = dt.timedelta(seconds=30)
    evaluation_interval: Duration = dt.timedelta(seconds=30)
    node_exporter_port: PortNumber = 9100
    prometheus_port: PortNumber = 9090
    alertmanager_port: PortNumber = 9093
    prometheus_dir: AbsPath = "/etc/prometheus"
    alertmanager_dir: AbsPath = "/etc/alertmanager"
    webhook_dir: AbsPath = "/etc/alertmanager/webhooks"
    host_alerts: Alerts = Field(default_factory=_host_alerts)
    disk_filling_hours: int = Field(strict=True, default=24, ge=1, le=24 * 30)
    network: NetworkThresholds = Field(default_factory=NetworkThresholds)
    runbook_url: RunbookUrl = "docs/ops/runbooks"
    group_wait: Duration = dt.timedelta(seconds=30)
    group_interval: Duration = dt.timedelta(minutes=5)
    repeat_interval: Duration = dt.timedelta(hours=4)


class DriftCheck(StrictModel):
    """Each host's hourly look at itself against what the deploy placed there (``seawall host verify``)."""

    # When each host checks itself (systemd OnCalendar), with the backups' randomized delay.
    schedule: OnCalendar = "hourly"
    # A host whose last check is older than this has stopped reporting: `seawall drift` says so and
    # SeawallDriftCheckMissing fires. At least the schedule's longest gap plus the randomized delay.
    stale_after: Duration = dt.timedelta(hours=3)


class SeverityTargets(StrictModel):
    """What a severity means and how fast the team answers it."""

    impact: str = Field(min_length=1)
    acknowledge_within: Duration
    update_every: Duration
    mitigate_within: Duration
    resolve_within: Duration


def _severity_targets() -> dict[Severity, SeverityTargets]:
    return {
        "Critical": SeverityTargets(
            impact="production down, data at risk or many users affected, no workaround",
            acknowledge_within=dt.timedelta(minutes=15),
            update_every=dt.timedelta(minutes=30),
            mitigate_within=dt.timedelta(hours=1),
            resolve_within=dt.timedelta(hours=4),
        ),
        "Major": SeverityTargets(
            impact="a service degraded, or a non-production environment down; a workaround exists",
            acknowledge_within=dt.timedelta(hours=1),
            update_every=dt.timedelta(hours=2),
            mitigate_within=dt.timedelta(hours=4),
            resolve_within=dt.timedelta(days=1),
        ),
        "Minor": SeverityTargets(
            impact="little or no user impact; can wait for business hours",
            acknowledge_within=dt.timedelta(days=1),
            update_every=dt.timedelta(days=1),
            mitigate_within=dt.timedelta(days=3),
            resolve_within=dt.timedelta(weeks=1),
        ),
    }


class IncidentRoles(StrictModel):
    """Who may hold each role of the incident response team (empty: any operator)."""

    commander: list[str] = Field(default_factory=list)
    communications: list[str] = Field(default_factory=list)
    scribe: list[str] = Field(default_factory=list)


class Incidents(StrictModel):
    """Incident reports: where they are kept, what each severity means, who responds."""

    # A git working tree, relative to the project folder (the parent of environments/) unless absolute.
    repository: str = Field(default="incident_reports", min_length=1)
    # owner/repo where escalation issues are filed (`gh issue create --repo`); none: gh's own default.
    github_repository: str | None = Field(default=None, pattern=r"^[\w.-]+/[\w.-]+$")
    severities: dict[Severity, SeverityTargets] = Field(default_factory=_severity_targets)
    roles: IncidentRoles = Field(default_factory=IncidentRoles)
    # Who answers in on-call hours (empty: release.operators).
    on_call: list[str] = Field(default_factory=list)
    # The priority label of each severity on GitHub issues.
    labels: dict[Severity, str] = Field(default_factory=lambda: {s: str(s) for s in SEVERITIES})
    # How far back a new report lists the environment's changes.
    changes_within: Duration = dt.timedelta(hours=72)

    @model_validator(mode="after")
    def _covers_every_severity(self) -> Incidents:
        for field in ("severities", "labels"):
            missing = [s for s in SEVERITIES if s not in getattr(self, field)]
            if missing:
                msg = f"{field} must cover every severity; missing: {', '.join(missing)}"
                raise ValueError(msg)
        return self


class Freeze(StrictModel):
    environments: list[Name] = Field(default_factory=list)
    starts: WeekTime = "Thu 00:00"
    ends: WeekTime = "Sun 00:00"


def _production_only() -> list[Tier]:
    return ["production"]


class LedgerStorage(StrictModel):
    """Where the deploy ledger's shared copy lives (``ledger/<env>.jsonl``): a bucket of its own, written
    with a key only deployers hold. Backup hosts hold their environment bucket's key, never this one, so
    a host cannot forge the promotion evidence of any environment."""

    endpoint: str = Field(pattern=r"^https?://[^\s/]+(:\d+)?/?$")
    region: str = "us-east-1"
    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    access_key_id_env: EnvVarName = "LEDGER_ACCESS_KEY_ID"
    secret_access_key_env: EnvVarName = "LEDGER_SECRET_ACCESS_KEY"  # noqa: S105 - a variable's name


class Release(StrictModel):
    timezone: TimeZone = "UTC"
    freeze: Freeze = Field(default_factory=Freeze)
    operators: list[str] = Field(default_factory=list)
    protected_tiers: list[Tier] = Field(default_factory=_production_only)
    require_issue: bool = True
    # The ledger's shared copy; none: each deployer's local ledger only (promotion then reads that).
    ledger: LedgerStorage | None = None


# Where an Environment keeps its index of the hosts of each backup set (``Environment._hosts_by_set``).
_HOSTS_BY_SET = "_seawall_hosts_by_set"


class Environment(StrictModel):
    """One environment, merged from defaults.yaml and its own file."""

    environment: EnvironmentInfo
    network: Network
    services: dict[Name, Service] = Field(default_factory=dict)
    datacenter_hosts: dict[Name, DatacenterHost] = Field(default_factory=dict)
    backup: BackupConfig
    backup_sets: dict[Name, BackupSet] = Field(default_factory=dict)
    alerting: Alerting
    availability: Availability = Field(default_factory=Availability)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    release: Release = Field(default_factory=Release)
    incidents: Incidents = Field(default_factory=Incidents)
    drift: DriftCheck = Field(default_factory=DriftCheck)

    @property
    def name(self) -> str:
        """Return the environment's name."""
        return self.environment.name

    @property
    def bucket_name(self) -> str:
        """Return the environment's backup bucket (named, or ``<prefix>-<env>-backups``)."""
        repository = self.backup.repository
        return repository.bucket or f"{repository.bucket_prefix}-{self.name}-backups"

    def repository_for(self, set_name: str) -> Repository:
        """Given a backup set name, return its repository (the set's own or one per set in the bucket)."""
        own = self.backup_sets[set_name].repository
        if own is not None:
            return own
        base = self.backup.repository
        if base.kind == "local":
            return base.model_copy(update={"path": f"{base.path}/{set_name}"})
        prefix = "/".join(part for part in (base.prefix.strip("/"), set_name) if part)
        return base.model_copy(update={"prefix": prefix, "bucket": self.bucket_name})

    @property
    def copy_bucket_name(self) -> str | None:
        """Return the off-site copy's bucket (named, or ``<prefix>-<env>-copy``), None without an S3 copy."""
        copy = self.backup.copy_
        if copy is None or copy.repository.kind != "s3":
            return None
        return copy.repository.bucket or f"{copy.repository.bucket_prefix}-{self.name}-copy"

    def copy_repository_for(self, set_name: str) -> Repository | None:
        """Given a backup set name, return its off-site copy's repository (one per set, as in the primary), or
        None when the environment has no copy."""
        copy = self.backup.copy_
        if copy is None:
            return None
        base = copy.repository
        if base.kind == "local":
            return base.model_copy(update={"path": f"{base.path}/{set_name}"})
        prefix = "/".join(part for part in (base.prefix.strip("/"), set_name) if part)
        return base.model_copy(update={"prefix": prefix, "bucket": self.copy_bucket_name})

    def hosts_of_set(self, set_name: str) -> list[str]:
        """Given a backup set name, return every host (droplet or data-center host) that runs it."""
        return list(self._hosts_by_set().get(set_name, ()))

    def _hosts_by_set(self) -> dict[str, list[str]]:
        """Return each backup set's hosts, droplets first, indexed once per services and hosts mappings.

        The model is frozen, so the index is kept in the instance's ``__dict__`` beside the fields it is
        made from (pydantic dumps, compares and hashes fields only), and it holds those very mappings: a
        ``model_copy`` with other services or hosts carries the old index along and rebuilds it here."""
        index = self.__dict__.get(_HOSTS_BY_SET)
        if index is None or index[0] is not self.services or index[1] is not self.datacenter_hosts:
            hosts: dict[str, list[str]] = {}
            for service_name, service in self.services.items():
                droplets = droplet_names(service_name, service)
                for set_name in dict.fromkeys(service.backup_sets):
                    hosts.setdefault(set_name, []).extend(droplets)
            for name, host in self.datacenter_hosts.items():
                for set_name in dict.fromkeys(host.backup_sets):
                    hosts.setdefault(set_name, []).append(name)
            index = (self.services, self.datacenter_hosts, hosts)
            self.__dict__[_HOSTS_BY_SET] = index
        return index[2]


def model_hash(env: Environment) -> str:
    """Given an environment, return a stable hash of its validated model."""
    document = json.dumps(env.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def droplet_names(service_name: str, service: Service) -> list[str]:
    """Given a service, return the names of its droplets (``api-1``, ``api-2``…)."""
    return [f"{service_name}-{index}" for index in range(1, service.count + 1)]


# The one place DNS names are derived: the program creates these records, the monitoring scrapes the VPC
# names, the documents list them.
HTTP_PORTS = {80: "http", 443: "https"}


def public_port(service: Service) -> int | None:
    """Given a service, return the HTTP port it serves to the public (443 over 80), or None: only such a
    service gets the public name ``<service>.<domain>``."""
    public = sorted(port.port for port in service.ports if port.source == "public" and port.port in HTTP_PORTS)
    return public[-1] if public else None


def load_balancer_of(service: Service) -> LoadBalancer | None:
    """Given a service, return its load balancer: the one it declares (unless disabled), else one for a public
    HTTP(S) service of more than one droplet, else None."""
    declared = service.load_balancer
    if declared is not None:
        return declared if declared.enabled and public_port(service) is not None else None
    return LoadBalancer() if public_port(service) is not None and service.count > 1 else None


def has_reserved_ip(service: Service) -> bool:
    """Given a service, return whether each of its droplets gets a reserved IP (declared, else stateful)."""
    return service.reserved_ip if service.reserved_ip is not None else service.is_stateful


def droplet_dns_name(env: Environment, droplet: str) -> str:
    """Given a droplet name, return its public name (``api-1.<domain>``)."""
    return f"{droplet}.{env.environment.domain}"


def private_dns_name(env: Environment, droplet: str) -> str:
    """Given a droplet name, return its name on the VPC (``api-1.vpc.<domain>``, the private address)."""
    return f"{droplet}.vpc.{env.environment.domain}"


def public_dns_name(env: Environment, service_name: str, service: Service) -> str | None:
    """Given a service, return its public name (``api.<domain>``) when it serves HTTP to the public."""
    return f"{service_name}.{env.environment.domain}" if public_port(service) is not None else None


def dns_names(env: Environment, service_name: str, droplet: str) -> list[str]:
    """Given a droplet, return every DNS name Seawall gives it: its own, its VPC name, and its service's
    public name when there is one."""
    public = public_dns_name(env, service_name, env.services[service_name])
    return [droplet_dns_name(env, droplet), private_dns_name(env, droplet), *([public] if public else [])]


class Allowance(StrictModel):
    field: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_*.-]+$")
    reason: Reason


class EnvironmentOnly(StrictModel):
    item: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_*.-]+$")
    environments: list[Name] = Field(min_length=1)
    reason: Reason


class ParityRules(StrictModel):
    """environments/parity.yaml: the only differences allowed between environments."""

    allowed: list[Allowance] = Field(default_factory=list)
    environment_only: list[EnvironmentOnly] = Field(default_factory=list)
