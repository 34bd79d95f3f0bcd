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

from seawall.errors import ConfigError
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
    name: Name = Field(description="The environment's name; it must be its file's name (`mainnet` in mainnet.yaml).")
    tier: Tier = Field(
        description="`production` refuses a stateful service without backup sets, alerts and droplet backups; "
        "`release.protected_tiers` says which tiers are protected."
    )
    provider: Literal["digitalocean", "local"] = Field(
        default="digitalocean",
        description="Where it runs: DigitalOcean droplets, or `local`: data-center hosts only, no VPC, no droplets.",
    )
    region: Region = Field(description="The DigitalOcean region slug of its droplets and VPC (`ams3`).")
    domain: Hostname = Field(description="The DNS zone of its names (`api.<domain>`, `api-1.vpc.<domain>`).")
    predecessor: Name | None = Field(
        default=None,
        description="The environment before it in the promotion chain: a protected tier gets only versions deployed "
        "successfully there.",
    )
    description: str = Field(default="", description="One line about the environment, for the documents.")


class Outbound(StrictModel):
    protocol: Literal["tcp", "udp", "icmp"] = Field(description="The protocol the droplets may send.")
    ports: PortRange = Field(default="all", description="`all`, a port (`443`) or a range (`8000-8100`).")
    to: Literal["public", "vpc"] = Field(
        default="public", description="`public`: any address; `vpc`: the VPC's range only."
    )


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
    vpc_cidr: VpcCidr = Field(
        description="The VPC's private IPv4 range (RFC 1918, /16 to /28); no two environments' ranges overlap."
    )
    admin_cidrs: list[Cidr] = Field(
        min_length=1, description="Where operators come from: the ranges a port `from: admin` admits."
    )
    datacenter_link: Literal["vpn", "none"] = Field(
        default="vpn",
        description="`vpn`: a VPN or peering routes the VPC to the data-center hosts, so Prometheus on a droplet "
        "scrapes them (admitted `from: vpc`); `none`: Prometheus must run in the data center to watch them.",
    )
    ssh_keys: list[SshKeyRef] = Field(
        default_factory=list, description="SSH keys put on every droplet: fingerprints or DigitalOcean key ids."
    )
    ssh_public_keys: list[SshPublicKey] = Field(
        default_factory=list,
        description="Public keys Seawall makes DigitalOcean SSH keys of; droplets get them by id, beside `ssh_keys`.",
    )
    outbound: list[Outbound] = Field(
        default_factory=lambda: [
            Outbound(protocol="tcp"),
            Outbound(protocol="udp"),
            Outbound(protocol="icmp"),
        ],
        description="What the droplets' firewall lets out, unless a service sets its own `outbound`.",
    )


class Port(StrictModel):
    port: PortNumber = Field(description="The port admitted, 1 to 65535.")
    protocol: Literal["tcp", "udp"] = Field(default="tcp", description="The port's protocol.")
    source: str = Field(
        alias="from",
        min_length=1,
        description="Who may connect: `public`, `admin` (`network.admin_cidrs`), `vpc` or a service's name.",
    )


class Volume(StrictModel):
    size_gb: int = Field(strict=True, ge=1, le=16384, description="The volume's size in GB, 1 to 16384.")
    mount: MountPoint = Field(description="Where it is mounted: a plain absolute path, never a system folder.")
    filesystem: Literal["ext4", "xfs"] = Field(default="ext4", description="The file system it is formatted with.")
    protected_by: list[Name] = Field(
        default_factory=list,
        description="Sets of the service that hold the volume's data another way (a dump written by a hook); "
        "the risk assessment calls a volume that no set backs up or protects unprotected.",
    )


class Health(StrictModel):
    path: str = Field(
        pattern=r"^/[^\s]*$",
        description="The health URL's path (`/healthz`); a public HTTP service gets an uptime check on it.",
    )
    port: PortNumber = Field(default=443, description="The port of the health URLs the documents list.")
    protocol: Literal["https", "http"] = Field(default="https", description="The scheme of those URLs.")


class Alerts(StrictModel):
    cpu: Percent = Field(
        description="CPU use in percent above which HostHighCpu (and a service's DigitalOcean alert) fires."
    )
    memory: Percent = Field(description="Memory use in percent above which HostHighMemory (and DigitalOcean's) fires.")
    disk: Percent = Field(
        description="How full a file system may be, in percent, before HostDiskFull (and DigitalOcean's) fires."
    )
    window: Literal["5m", "10m", "30m", "1h"] = Field(
        default="5m", description="How long a threshold must be crossed before its alert fires."
    )


class DropletBackups(StrictModel):
    enabled: bool = Field(default=True, description="Whether DigitalOcean backs up the droplets' disks.")
    plan: Literal["daily", "weekly"] = Field(default="daily", description="DigitalOcean's backup plan.")
    weekday: Literal["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] = Field(
        default="SUN", description="The day of a weekly plan's backup."
    )
    hour: Literal[0, 4, 8, 12, 16, 20] = Field(
        default=0, description="The start of the four-hour window of the backup, in UTC."
    )


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


# Releases as artifacts (#35): what a service runs, and the registry its images are pushed to and pulled from.
DIGEST_PATTERN = r"sha256:[0-9a-f]{64}"


class Artifact(StrictModel):
    """A service's OCI image: built from a context with a Containerfile, or an upstream image pinned by digest."""

    context: str | None = Field(
        default=None,
        min_length=1,
        description="The build context: a folder (relative to the project's root, or absolute) or a git URL "
        "(`https://…/repo.git`), holding the Containerfile; buildah builds it (none: `upstream`).",
    )
    containerfile: str = Field(
        default="Containerfile",
        pattern=r"^[^/\s][^\s]*$",
        description="The Containerfile's path inside the context.",
    )
    upstream: str | None = Field(
        default=None,
        pattern=rf"^[^\s@]+@{DIGEST_PATTERN}$",
        description="An upstream image pinned by digest (`docker.io/library/postgres@sha256:…`): copied to the "
        "registry as it is, never built (none: `context`).",
    )
    name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]+([._/-][a-z0-9]+)*$",
        description="The image's name in the registry, under `registry.url` (none: the service's name).",
    )
    ports: list[PortNumber] = Field(
        default_factory=list,
        description="The ports the container serves on its host's network (podman's host network).",
    )
    volume_target: AbsPath | None = Field(
        default=None,
        description="Where the service's volume appears inside the container (none: the volume is not mounted).",
    )
    secrets: list[EnvVarName] = Field(
        default_factory=list,
        description="The container's environment variables, each from the deployer's secret of the same name: "
        "written to a 0600 file on the host (podman's `--env-file`), never on a command line.",
    )
    health_port: PortNumber | None = Field(
        default=None,
        description="The port a roll asks `health.path` on, over HTTP on the host's loopback, before it goes to the "
        "next host (none: the first of `ports`).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> Artifact:
        if (self.context is None) == (self.upstream is None):
            msg = "an artifact is built from a `context` or pinned `upstream`: name exactly one"
            raise ValueError(msg)
        return self

    @property
    def rollout_port(self) -> int | None:
        """Return the port the roll checks the health path on, or None when the container serves none."""
        return self.health_port if self.health_port is not None else (self.ports[0] if self.ports else None)


class Registry(StrictModel):
    """Where release images are pushed by `seawall release build` and pulled from by the hosts."""

    url: str = Field(
        pattern=r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)*$",
        description="The registry and the team's namespace (`registry.digitalocean.com/example-org`); an image is "
        "`<url>/<name>`.",
    )
    tls_verify: bool = Field(
        default=True, description="Whether HTTPS and its certificates are required (false only for a test registry)."
    )
    username_env: EnvVarName | None = Field(
        default=None, description="The variable holding the registry's user name (none: no login)."
    )
    password_env: EnvVarName | None = Field(
        default=None,
        description="The variable holding its password or token (DigitalOcean's API token for its registry); it "
        "reaches buildah, skopeo and podman in an auth file (0600), never a command line.",
    )


class Service(StrictModel):
    description: str = Field(default="", description="What the service is, for the documents.")
    role: Name | None = Field(
        default=None, description="The droplets' `role:` tag and the inventory's role (none: the service's name)."
    )
    owner: Owner | None = Field(
        default=None,
        description="Who runs it: a GitHub account or team, with or without `@`; required in protected tiers.",
    )
    circle_owner: Owner | None = Field(
        default=None,
        description="Whom its incidents escalate to: a GitHub account or team; required in protected tiers.",
    )
    units: list[SystemdUnit] = Field(default_factory=list, description="Its own systemd units on its droplets.")
    logs: list[str] = Field(
        default_factory=list, description="Where its logs are (commands or paths), for the documents."
    )
    upgrade_notes: str = Field(default="", description="What an upgrade must know, for the documents.")
    image: ImageSlug = Field(description="The droplets' DigitalOcean image slug (`ubuntu-24-04-x64`).")
    version: Version = Field(
        description="The release deployed: a semantic version or an image tag; never a branch above development."
    )
    size: SizeSlug = Field(description="The droplets' DigitalOcean size slug (`s-2vcpu-4gb`).")
    count: int = Field(strict=True, ge=1, le=100, description="How many droplets (`api-1`, `api-2`…), 1 to 100.")
    stateful: bool = Field(
        default=False, description="Whether it keeps data that must survive its droplets (a volume implies it)."
    )
    ports: list[Port] = Field(default_factory=list, description="What the droplets' firewall admits.")
    outbound: list[Outbound] | None = Field(
        default=None, description="What its droplets may send (none: `network.outbound`)."
    )
    volume: Volume | None = Field(default=None, description="A block-storage volume on each droplet.")
    health: Health | None = Field(default=None, description="Its health URL (none: no uptime check).")
    alerts: Alerts | None = Field(default=None, description="Its alert thresholds (none: `monitoring.host_alerts`).")
    droplet_backups: DropletBackups | None = Field(
        default=None, description="DigitalOcean's own backups of the droplets' disks (none: off)."
    )
    backup_sets: list[Name] = Field(default_factory=list, description="The backup sets its droplets run.")
    load_balancer: LoadBalancer | None = Field(
        default=None,
        description="Its load balancer; a public HTTP(S) service of more than one droplet gets one without asking.",
    )
    reserved_ip: bool | None = Field(
        default=None,
        description="Give each droplet a reserved IP that outlives it (none: stateful services have one).",
    )
    artifact: Artifact | None = Field(
        default=None,
        description="The OCI image it runs, by digest, as a systemd unit with podman (none: Seawall installs nothing "
        "of the service itself).",
    )

    @property
    def is_stateful(self) -> bool:
        """Return whether the service keeps data that must survive its droplets."""
        return self.stateful or self.volume is not None

    @property
    def public_port(self) -> int | None:
        """Return the HTTP port the service serves to the public (443 over 80), or None: only such a service
        gets the public name ``<service>.<domain>``."""
        public = sorted(port.port for port in self.ports if port.source == "public" and port.port in HTTP_PORTS)
        return public[-1] if public else None

    @property
    def balancer(self) -> LoadBalancer | None:
        """Return the service's load balancer: the one it declares (unless disabled), else one for a public
        HTTP(S) service of more than one droplet, else None."""
        declared = self.load_balancer
        if declared is not None:
            return declared if declared.enabled and self.public_port is not None else None
        return LoadBalancer() if self.public_port is not None and self.count > 1 else None

    @property
    def has_reserved_ip(self) -> bool:
        """Return whether each of the service's droplets gets a reserved IP (declared, else stateful)."""
        return self.reserved_ip if self.reserved_ip is not None else self.is_stateful


class DatacenterHost(StrictModel):
    description: str = Field(default="", description="What the host is, for the documents.")
    address: Hostname = Field(description="Where Seawall and Prometheus reach it: an IP address or a hostname.")
    ssh_user: str = Field(pattern=r"^[a-z_][a-z0-9_-]{0,31}$", description="The user the deploy's SSH steps log in as.")
    ssh_port: PortNumber = Field(default=22, description="The port of its SSH server.")
    roles: list[Name] = Field(min_length=1, description="What it does (at least one), a label of its metrics.")
    firewall: list[Port] = Field(
        default_factory=list, description="What its firewall admits (the deploy writes it; it survives a reboot)."
    )
    alerts: Alerts | None = Field(default=None, description="Its alert thresholds (none: `monitoring.host_alerts`).")
    backup_sets: list[Name] = Field(default_factory=list, description="The backup sets it runs.")
    containers: list[Name] = Field(
        default_factory=list,
        description="Services whose image (their `artifact`, at their version, by digest) it runs too, as their "
        "droplets do: a systemd unit with podman, taken after the service's last droplet in the roll.",
    )


class Hooks(StrictModel):
    before: list[HookCommand] = Field(default_factory=list, description="Commands run before each backup.")
    after: list[HookCommand] = Field(default_factory=list, description="Commands run after a successful backup.")
    on_error: list[HookCommand] = Field(default_factory=list, description="Commands run when a backup fails.")
    before_restore: list[HookCommand] = Field(
        default_factory=list, description="Commands run before an in-place restore."
    )
    after_restore: list[HookCommand] = Field(
        default_factory=list, description="Commands run after an in-place restore."
    )
    timeout: Duration = Field(default=dt.timedelta(minutes=30), description="How long each hook command may run.")
    pass_env: list[EnvVarName] = Field(
        default_factory=list,
        description="Variables of Seawall's environment the hooks and drill checks get; no other secret (the "
        "repository password, the storage keys) reaches them.",
    )


class Retention(StrictModel):
    keep_last: int | None = Field(strict=True, default=None, ge=1, description="Keep each host's newest N snapshots.")
    keep_hourly: int | None = Field(
        strict=True, default=None, ge=1, description="Keep each host's newest snapshot of each of its last N hours."
    )
    keep_daily: int | None = Field(
        strict=True, default=None, ge=1, description="Keep each host's newest snapshot of each of its last N days."
    )
    keep_weekly: int | None = Field(
        strict=True, default=None, ge=1, description="Keep each host's newest snapshot of each of its last N weeks."
    )
    keep_monthly: int | None = Field(
        strict=True, default=None, ge=1, description="Keep each host's newest snapshot of each of its last N months."
    )
    keep_yearly: int | None = Field(
        strict=True, default=None, ge=1, description="Keep each host's newest snapshot of each of its last N years."
    )
    keep_within: Duration | None = Field(
        default=None, description="Keep every snapshot within this of the host's newest one."
    )

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        if not any(value is not None for value in self.__dict__.values()):
            msg = "retention must keep something: set at least one keep_* rule"
            raise ValueError(msg)
        return self


class Drill(StrictModel):
    schedule: OnCalendar = Field(description="When the set's drill runs (systemd `OnCalendar`).")
    checks: list[DrillCheck] = Field(
        default_factory=list,
        description="The set's own checks of the restored data: commands with `{restore}` (the scratch folder) and "
        "`{path}` (the set's first path in it); one that fails fails the drill.",
    )
    read_data_slices: int = Field(
        strict=True,
        default=12,
        ge=1,
        le=1000,
        description="Each drill runs `restic check --read-data-subset k/N` on the next of N slices, so every pack "
        "is read over N drills.",
    )
    sample_files: int = Field(
        strict=True,
        default=200,
        ge=0,
        description="At most how many files of a drawn folder are compared by hash with what the repository holds.",
    )
    min_files: int = Field(
        strict=True, default=1, ge=0, description="A drill that restores fewer files than this fails."
    )
    min_bytes: int = Field(
        strict=True, default=0, ge=0, description="A drill that restores fewer bytes than this fails."
    )


class Repository(StrictModel):
    kind: Literal["s3", "local"] = Field(
        description="`s3`: a bucket (DigitalOcean Spaces or any S3); `local`: a folder."
    )
    endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(:\d+)?/?$",
        description="The S3 endpoint (`https://ams3.digitaloceanspaces.com`); required for `s3`.",
    )
    bucket: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="The bucket (none: `<bucket_prefix>-<env>-backups`, or `<bucket_prefix>-<env>-copy` for the copy).",
    )
    bucket_prefix: str = Field(
        default="seawall",
        pattern=r"^[a-z0-9][a-z0-9-]{0,40}$",
        description="The start of the bucket's name when `bucket` names none.",
    )
    region: str = Field(default="us-east-1", description="The S3 region (on Spaces, the region slug: `ams3`).")
    prefix: str = Field(
        default="restic",
        pattern=r"^[A-Za-z0-9._/-]*$",
        description="The folder in the bucket; in `backup.repository` and `backup.copy.repository` each set's "
        "repository is `<prefix>/<set>`.",
    )
    path: PathText | None = Field(
        default=None,
        description="A `local` repository's folder (required for `local`); in `backup.repository` and "
        "`backup.copy.repository` each set's is `<path>/<set>`.",
    )

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
    description: str = Field(default="", description="What the set holds, for the documents.")
    paths: list[PathText] = Field(min_length=1, description="What is backed up (absolute on real hosts).")
    exclude: list[PathText] = Field(default_factory=list, description="Patterns left out (restic's `--exclude`).")
    hooks: Hooks = Field(default_factory=Hooks, description="Commands run around its backups and restores.")
    schedule: OnCalendar = Field(
        description="When each of its hosts backs it up (systemd `OnCalendar`, plus `backup.randomized_delay`)."
    )
    retention: Retention = Field(description="The snapshots its prune keeps (restic's keep-rules, by host).")
    rpo: Duration = Field(
        description="How old its newest snapshot may be (SeawallBackupRpoMissed); at least the schedule's longest gap."
    )
    rto: Duration = Field(description="How long a restore and its checks may take; every drill measures it.")
    drill: Drill = Field(description="Its scheduled restore drill.")
    repository: Repository | None = Field(
        default=None, description="A repository of its own (none: `<prefix>/<set>` of `backup.repository`)."
    )
    prune_schedule: OnCalendar = Field(
        default="Sun *-*-* 03:00:00",
        description="When its retention-and-prune job runs (systemd `OnCalendar`), after a passing check only.",
    )
    prune_host: Name | None = Field(
        default=None, description="The one host that runs that job (none: the set's first host); it runs the set."
    )


class OffsiteCopy(StrictModel):
    """The second copy of every set, elsewhere: another region's bucket or the data center's own object
    storage. The vault host alone runs ``restic copy`` into it, with a key that reads the primary bucket
    and writes the copy's (restic gives both repositories of one copy the same S3 keys); backup hosts
    never hold that key or the copy's password, so a stolen backup-host key cannot delete the copy."""

    repository: Repository = Field(
        description="Where the copy is (each set's is `<prefix>/<set>` or `<path>/<set>` in it): never a primary's "
        "bucket, its endpoint and region, nor a folder inside or around the primary's."
    )
    vault: Name = Field(
        description="The host (a droplet or data-center host) that alone runs `seawall backup copy` and holds the "
        "copy's key and password."
    )
    password_env: EnvVarName | None = Field(
        default=None, description="The variable of the copy's own repository password (not the primary's)."
    )
    password_file: PathText | None = Field(
        default=None, description="The file of the copy's own repository password (not the primary's)."
    )
    access_key_id_env: EnvVarName = Field(
        default="VAULT_ACCESS_KEY_ID",
        description="The variable of the vault's key id: it reads the primary's bucket and writes the copy's (restic "
        "gives both the same keys); never a backup host's variable.",
    )
    secret_access_key_env: EnvVarName = Field(
        default="VAULT_SECRET_ACCESS_KEY",
        description="The variable of the vault key's secret.",
    )
    schedule: OnCalendar = Field(default="*-*-* *:40:00", description="When the vault copies (systemd `OnCalendar`).")
    delay: Duration = Field(
        default=dt.timedelta(hours=2),
        description="The copy is late (SeawallCopyLate) when its newest snapshot of a host is older than the set's "
        "`rpo` plus this.",
    )
    retention: Retention = Field(
        description="The copy's own keep-rules; its bucket keeps a removed object's old version for the longest of "
        "them (or `backup.noncurrent_version_days` if longer)."
    )
    prune_schedule: OnCalendar = Field(
        default="Sun *-*-* 09:00:00", description="When the vault checks, then prunes, the copy."
    )
    drill_schedule: OnCalendar = Field(default="Sat *-*-* 13:00:00", description="When the vault drills the copy.")
    object_lock: bool = Field(
        default=False,
        description="Where the storage supports S3 Object Lock, lock every copied object (COMPLIANCE mode) for the "
        "copy's longest keep-rule, so that not even the vault's key can delete it before then.",
    )

    @model_validator(mode="after")
    def _has_a_password_source(self) -> OffsiteCopy:
        if not (self.password_env or self.password_file):
            msg = "the copy's repository password needs a source: set password_env or password_file"
            raise ValueError(msg)
        return self


class BackupConfig(StrictModel):
    repository: Repository = Field(
        description="The environment's repository: each set's is `<prefix>/<set>` of its bucket (or `<path>/<set>`) "
        "unless the set names its own."
    )
    password_env: EnvVarName | None = Field(
        default=None, description="The variable of the repository password (this or `password_file` is required)."
    )
    password_file: PathText | None = Field(default=None, description="The file of the repository password.")
    access_key_id_env: EnvVarName = Field(
        default="SPACES_ACCESS_KEY_ID", description="The variable of the backup hosts' storage key id."
    )
    secret_access_key_env: EnvVarName = Field(
        default="SPACES_SECRET_ACCESS_KEY",
        description="The variable of that key's secret.",
    )
    healthcheck_url_env: EnvVarName | None = Field(
        default=None,
        description="The variable of a healthchecks-style URL that `backup run` tells of its start and result.",
    )
    state_dir: PathText = Field(
        default="/var/lib/seawall",
        description="Where runs and drills record their state (relative: to the project folder).",
    )
    metrics_dir: PathText = Field(
        default="/var/lib/prometheus/node-exporter",
        description="Where Seawall writes its `.prom` metrics, read by node_exporter's textfile collector.",
    )
    reports_dir: PathText = Field(
        default="/var/lib/seawall/reports/drills", description="Where drills write their JSON and Markdown reports."
    )
    restic_binary: PathText = Field(default="restic", description="The restic command: a name on PATH or a path.")
    command_timeout: Duration = Field(
        default=dt.timedelta(hours=6), description="How long one restic command may run before it is stopped."
    )
    lock_wait: Duration = Field(
        default=dt.timedelta(seconds=30),
        description="The wait before trying a locked repository again, times the attempt's number (±25%).",
    )
    lock_attempts: int = Field(
        strict=True, default=6, ge=1, le=100, description="How many times a command tries a locked repository."
    )
    stale_lock_after: Duration = Field(
        default=dt.timedelta(hours=2),
        description="A lock older than this, or left by a dead process of this host, is stale and removed.",
    )
    clock_skew_tolerance: Duration = Field(
        default=dt.timedelta(minutes=10),
        description="A snapshot or record dated later than now plus this is an alarm; HostClockSkew fires above it.",
    )
    safety_snapshot_keep: Duration = Field(
        default=dt.timedelta(days=30),
        description="How long prune keeps the safety snapshot taken before an in-place restore.",
    )
    randomized_delay: Duration = Field(
        default=dt.timedelta(minutes=15),
        description="The random delay of every timer (systemd `RandomizedDelaySec`); the silence alerts allow for it.",
    )
    deep_status_schedule: OnCalendar = Field(
        default="*-*-* 05:30:00",
        description="When the status host runs `seawall backup status --deep --metrics`: every repository listed "
        "once and compared with what the hosts recorded (SeawallRepositoryDisagrees).",
    )
    status_host: Name | None = Field(
        default=None,
        description="The host that runs it (none: the prune host of the first set by name); it must back up a set.",
    )
    noncurrent_version_days: int = Field(
        strict=True,
        default=30,
        ge=1,
        description="Days the versioned bucket keeps a removed or overwritten object's old version.",
    )
    abort_multipart_days: int = Field(
        strict=True, default=7, ge=1, description="Days after which the bucket aborts an unfinished multipart upload."
    )
    copy_: OffsiteCopy | None = Field(
        default=None, alias="copy", description="The off-site copy of every set, made by the vault (none: no copy)."
    )
    host_keys: Literal["scoped", "config"] = Field(
        default="scoped",
        description="The backup hosts' storage key: `scoped`, a Spaces key the program creates with read-write on "
        "the environment's bucket alone (where the repository is Spaces); `config`, the stack's "
        "spacesAccessKeyId/spacesSecretAccessKey secrets.",
    )

    @model_validator(mode="after")
    def _has_a_password_source(self) -> BackupConfig:
        if not (self.password_env or self.password_file):
            msg = "the repository password needs a source: set password_env or password_file"
            raise ValueError(msg)
        return self


class Channel(StrictModel):
    email: Email | None = Field(default=None, description="An e-mail address (a channel is an e-mail or a Slack one).")
    slack: SlackChannel | None = Field(default=None, description="A Slack channel (`#ops-alerts`).")
    slack_url_config: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9]*$",
        description="The stack's Pulumi config secret holding the Slack channel's webhook URL (required with `slack`).",
    )

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
    channels: list[Name] = Field(min_length=1, description="The `alerting.channels` the severity's alerts go to.")
    hours: Literal["always", "business", "on-call"] = Field(
        default="always",
        description="When they are sent: `always`; `business`: in business hours only; `on-call`: in business or "
        "on-call hours (`availability`).",
    )


class Smtp(StrictModel):
    smarthost: str = Field(
        default="localhost:25",
        pattern=r"^[A-Za-z0-9.-]+:\d{1,5}$",
        description="The mail relay Alertmanager sends e-mail through, `host:port`.",
    )
    sender: Email | None = Field(default=None, description="The e-mails' From address (none: `alertmanager@<domain>`).")
    require_tls: bool = Field(default=False, description="Whether Alertmanager requires STARTTLS of the relay.")


class Alerting(StrictModel):
    channels: dict[Name, Channel] = Field(min_length=1, description="Where alerts can go, by name.")
    routes: dict[Severity, Route] = Field(description="Where and when each severity's alerts go; every severity.")
    smtp: Smtp = Field(default_factory=Smtp, description="How Alertmanager sends e-mail.")
    cpu: Severity = Field(
        default="Major", description="The severity of HostHighCpu and a service's DigitalOcean CPU alert."
    )
    memory: Severity = Field(
        default="Major", description="The severity of HostHighMemory and a service's DigitalOcean memory alert."
    )
    disk: Severity = Field(
        default="Critical", description="The severity of HostDiskFull and a service's DigitalOcean disk alert."
    )
    uptime: Severity = Field(
        default="Critical", description="The severity of a public service's DigitalOcean uptime check."
    )
    backup: Severity = Field(
        default="Critical",
        description="The severity of SeawallBackupFailed: a set's last run on a host did not succeed completely.",
    )
    host_down: Severity = Field(
        default="Critical",
        description="The severity of HostDown: node_exporter has not answered a scrape for 2 minutes.",
    )
    disk_filling: Severity = Field(
        default="Major",
        description="The severity of HostDiskFillingUp: a file system full within `monitoring.disk_filling_hours`.",
    )
    network: Severity = Field(
        default="Minor", description="The severity of HostNetworkReceiveHigh and HostNetworkTransmitHigh."
    )
    network_errors: Severity = Field(default="Major", description="The severity of HostNetworkErrors.")
    clock_skew: Severity = Field(
        default="Major",
        description="The severity of HostClockSkew: a host's clock off by more than `backup.clock_skew_tolerance`.",
    )
    backup_rpo: Severity = Field(
        default="Critical",
        description="The severity of SeawallBackupRpoMissed: a set's last good backup older than its `rpo`.",
    )
    backup_silent: Severity = Field(
        default="Major", description="The severity of SeawallBackupSilent: no run of a set reported in time."
    )
    drill: Severity = Field(default="Major", description="The severity of SeawallDrillFailed.")
    drill_overdue: Severity = Field(
        default="Major", description="The severity of SeawallDrillOverdue: no drill reported in time."
    )
    drill_rto: Severity = Field(
        default="Major",
        description="The severity of SeawallDrillRtoAboveTarget: a drill's measured RTO above the set's `rto`.",
    )
    dr_rehearsal: Severity = Field(
        default="Major",
        description="The severity of SeawallDrRehearsalFailed and SeawallDrRehearsalOverdue: the last DR rehearsal "
        "failed, or is older than `dr.rehearsal_interval`.",
    )
    check: Severity = Field(
        default="Critical",
        description="The severity of SeawallCheckFailing: a drill's `restic check` slice found damage.",
    )
    repository_disagrees: Severity = Field(
        default="Major",
        description="The severity of SeawallRepositoryDisagrees: the deep status found a repository unlike the record.",
    )
    status_overdue: Severity = Field(
        default="Major",
        description="The severity of SeawallStatusOverdue: the scheduled deep status has not reported in time.",
    )
    copy_failed: Severity = Field(
        default="Major", description="The severity of SeawallCopyFailed: the vault's last copy of a set failed."
    )
    copy_late: Severity = Field(
        default="Major",
        description="The severity of SeawallCopyLate: the off-site copy older than `rpo` plus `backup.copy.delay`.",
    )
    copy_silent: Severity = Field(
        default="Major", description="The severity of SeawallCopySilent: no copy of a set reported in time."
    )
    snapshots_vanished: Severity = Field(
        default="Critical",
        description="The severity of SeawallSnapshotsVanished: snapshots gone from a primary without a prune.",
    )
    host_drift: Severity = Field(
        default="Major",
        description="The severity of SeawallHostDrift: a host no longer matches what its deploy placed.",
    )
    drift_check_missing: Severity = Field(
        default="Major", description="The severity of SeawallDriftCheckMissing: a host's drift check stopped reporting."
    )

    @model_validator(mode="after")
    def _routes_every_severity(self) -> Alerting:
        missing = [severity for severity in SEVERITIES if severity not in self.routes]
        if missing:
            msg = f"routes must cover every severity; missing: {', '.join(missing)}"
            raise ValueError(msg)
        return self


class Window(StrictModel):
    """Hours of some days of the week, in the availability's time zone."""

    days: list[Weekday] = Field(min_length=1, description="The days it covers (`monday` … `sunday`).")
    start: ClockTime = Field(description="When it opens each of those days, `HH:MM`.")
    end: ClockTime = Field(description="When it closes, `HH:MM` (up to `24:00`), after `start`.")

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

    timezone: TimeZone | None = Field(default=None, description="An IANA time zone (none: `release.timezone`).")
    business: Window = Field(default_factory=_business, description="Business hours.")
    on_call: Window = Field(
        default_factory=_on_call, description="On-call hours, besides business hours, for routes with `hours: on-call`."
    )


class NetworkThresholds(StrictModel):
    receive_mbps: int = Field(
        strict=True, default=800, ge=1, description="Mbit/s received above which HostNetworkReceiveHigh fires."
    )
    transmit_mbps: int = Field(
        strict=True, default=800, ge=1, description="Mbit/s sent above which HostNetworkTransmitHigh fires."
    )
    errors_per_second: float = Field(
        default=1.0, gt=0, description="Receive plus transmit errors per second above which HostNetworkErrors fires."
    )


def _host_alerts() -> Alerts:
    return Alerts(cpu=90, memory=90, disk=85, window="10m")


class Monitoring(StrictModel):
    """Prometheus and Alertmanager of the environment: where they run and what they watch."""

    host: Name | None = Field(
        default=None,
        description="The service (its droplets) or data-center host that runs them (none: a Prometheus of your own).",
    )
    scrape_interval: Duration = Field(default=dt.timedelta(seconds=30), description="Prometheus's scrape interval.")
    evaluation_interval: Duration = Field(
        default=dt.timedelta(seconds=30), description="How often Prometheus evaluates the alert rules."
    )
    node_exporter_port: PortNumber = Field(default=9100, description="The port node_exporter answers on, every host.")
    prometheus_port: PortNumber = Field(default=9090, description="Prometheus's port on the monitoring host.")
    alertmanager_port: PortNumber = Field(default=9093, description="Alertmanager's port on the monitoring host.")
    prometheus_dir: AbsPath = Field(
        default="/etc/prometheus", description="Where the rendered Prometheus files go on the monitoring host."
    )
    alertmanager_dir: AbsPath = Field(
        default="/etc/alertmanager", description="Where the rendered Alertmanager file goes on the monitoring host."
    )
    webhook_dir: AbsPath = Field(
        default="/etc/alertmanager/webhooks",
        description="Where each Slack channel's webhook URL is kept, `<channel>.url` (never in the configuration).",
    )
    host_alerts: Alerts = Field(
        default_factory=_host_alerts, description="The thresholds of every host without `alerts` of its own."
    )
    disk_filling_hours: int = Field(
        strict=True,
        default=24,
        ge=1,
        le=24 * 30,
        description="HostDiskFillingUp fires when, at the last 6 hours' rate, a file system is full within this "
        "many hours.",
    )
    network: NetworkThresholds = Field(default_factory=NetworkThresholds, description="The network alerts' thresholds.")
    runbook_url: RunbookUrl = Field(
        default="docs/ops/runbooks",
        description="Where the runbooks are read: each alert's `runbook_url` is `<this>/<alert-name>.md`.",
    )
    group_wait: Duration = Field(
        default=dt.timedelta(seconds=30), description="Alertmanager's wait before a new group's first message."
    )
    group_interval: Duration = Field(
        default=dt.timedelta(minutes=5), description="Alertmanager's wait before telling of a group's new alerts."
    )
    repeat_interval: Duration = Field(
        default=dt.timedelta(hours=4), description="Alertmanager's wait before repeating a message still true."
    )


class DriftCheck(StrictModel):
    """Each host's hourly look at itself against what the deploy placed there (``seawall host verify``)."""

    schedule: OnCalendar = Field(
        default="hourly",
        description="When each host checks itself (systemd `OnCalendar`, plus `backup.randomized_delay`).",
    )
    stale_after: Duration = Field(
        default=dt.timedelta(hours=3),
        description="A host whose last check is older has stopped reporting (`seawall drift` says so, "
        "SeawallDriftCheckMissing fires); longer than the schedule's longest gap plus `backup.randomized_delay`.",
    )


class SeverityTargets(StrictModel):
    """What a severity means and how fast the team answers it."""

    impact: str = Field(min_length=1, description="What an incident of this severity is, in a phrase.")
    acknowledge_within: Duration = Field(description="How soon after it opens someone answers it.")
    update_every: Duration = Field(description="How often its report is updated while it is open.")
    mitigate_within: Duration = Field(description="How soon after it opens its impact is mitigated.")
    resolve_within: Duration = Field(description="How soon after it opens it is resolved.")


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
    """Who may hold each role of the incident response team (empty: `release.operators`)."""

    commander: list[str] = Field(
        default_factory=list, description="Who may command an incident (empty: `release.operators`)."
    )
    communications: list[str] = Field(
        default_factory=list, description="Who may handle an incident's communications (empty: `release.operators`)."
    )
    scribe: list[str] = Field(
        default_factory=list, description="Who may keep an incident's timeline (empty: `release.operators`)."
    )


class Incidents(StrictModel):
    """Incident reports: where they are kept, what each severity means, who responds."""

    repository: str = Field(
        default="incident_reports",
        min_length=1,
        description="The reports' git working tree, relative to the project folder (the parent of environments/) "
        "unless absolute.",
    )
    github_repository: str | None = Field(
        default=None,
        pattern=r"^[\w.-]+/[\w.-]+$",
        description="The `owner/repo` escalation issues are filed in (`gh issue create --repo`; none: gh's own "
        "default); a protected tier requires it.",
    )
    severities: dict[Severity, SeverityTargets] = Field(
        default_factory=_severity_targets, description="What each severity means and its targets; every severity."
    )
    roles: IncidentRoles = Field(default_factory=IncidentRoles, description="Who may hold each response role.")
    on_call: list[str] = Field(
        default_factory=list, description="Who answers in on-call hours (empty: `release.operators`)."
    )
    labels: dict[Severity, str] = Field(
        default_factory=lambda: {s: str(s) for s in SEVERITIES},
        description="The priority label of each severity on escalation issues; every severity.",
    )
    changes_within: Duration = Field(
        default=dt.timedelta(hours=72), description="How far back a new report lists the environment's deploys."
    )

    @model_validator(mode="after")
    def _covers_every_severity(self) -> Incidents:
        for field in ("severities", "labels"):
            missing = [s for s in SEVERITIES if s not in getattr(self, field)]
            if missing:
                msg = f"{field} must cover every severity; missing: {', '.join(missing)}"
                raise ValueError(msg)
        return self


class Freeze(StrictModel):
    environments: list[Name] = Field(
        default_factory=list, description="The environments no release reaches during the weekly freeze."
    )
    starts: WeekTime = Field(
        default="Thu 00:00", description="When the freeze starts each week, in `release.timezone`."
    )
    ends: WeekTime = Field(default="Sun 00:00", description="When it ends (Sunday opens the team's week).")


def _production_only() -> list[Tier]:
    return ["production"]


class LedgerStorage(StrictModel):
    """Where the deploy ledger's shared copy lives (``ledger/<env>.jsonl``): a bucket of its own, written
    with a key only deployers hold. Backup hosts hold their environment bucket's key, never this one, so
    a host cannot forge the promotion evidence of any environment."""

    endpoint: str = Field(pattern=r"^https?://[^\s/]+(:\d+)?/?$", description="The S3 endpoint of its bucket.")
    region: str = Field(default="us-east-1", description="The S3 region of its bucket.")
    bucket: str = Field(
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
        description="Its own bucket, never an environment's backup bucket.",
    )
    access_key_id_env: EnvVarName = Field(
        default="LEDGER_ACCESS_KEY_ID", description="The variable of the deployers' key id (no backup host holds it)."
    )
    secret_access_key_env: EnvVarName = Field(
        default="LEDGER_SECRET_ACCESS_KEY",
        description="The variable of that key's secret.",
    )


class Release(StrictModel):
    timezone: TimeZone = Field(
        default="UTC", description="The team's IANA time zone: of the freeze, and of `availability` by default."
    )
    freeze: Freeze = Field(default_factory=Freeze, description="The weekly window without releases.")
    operators: list[str] = Field(
        default_factory=list,
        description="Who may deploy to a protected tier (`seawall up --operator`); the incident responders by default.",
    )
    protected_tiers: list[Tier] = Field(
        default_factory=_production_only,
        description="Tiers that need a named operator, promotion from the predecessor, service owners and an "
        "escalation repository.",
    )
    require_issue: bool = Field(
        default=True, description="Whether deploys, manual prunes and restores need `--issue URL`."
    )
    ledger: LedgerStorage | None = Field(
        default=None,
        description="The deploy ledger's shared copy (none: each deployer's local ledger only, which promotion reads).",
    )


class DisasterRecovery(StrictModel):
    """The disaster-recovery rehearsal (``seawall dr rehearse``): where it rebuilds hosts, what it may change
    there, how often it must run and the recovery target it is measured against. A rehearsal never takes the
    production DNS names and never exposes a port to the public: those are not overrides it allows."""

    region: Region | None = Field(
        default=None,
        description="The DigitalOcean region of the rehearsal's temporary stack `<env>-dr-<date>` (none: the "
        "environment cannot be rehearsed in production, only in the lab).",
    )
    sizes: dict[Name, SizeSlug] = Field(
        default_factory=dict,
        description="Droplet sizes the rehearsal may give a service instead of the model's (smaller machines for "
        "a rehearsal), by service name.",
    )
    rehearsal_interval: Duration = Field(
        default=dt.timedelta(days=31),
        description="How old the last rehearsal may be before SeawallDrRehearsalOverdue fires and the DR plan "
        "calls it overdue.",
    )
    recovery_target: Duration = Field(
        default=dt.timedelta(hours=4),
        description="The environment's recovery time: from the rehearsal's start to every set's data verified on "
        "the rebuilt hosts.",
    )


# Where an Environment keeps its index of the hosts of each backup set (``Environment._hosts_by_set``).
_HOSTS_BY_SET = "_seawall_hosts_by_set"


# Managed databases (#31): DigitalOcean database clusters in the VPC, reached by the services that trust them.


class DatabaseMaintenance(StrictModel):
    """When DigitalOcean may apply the cluster's updates (a failover to the standby, a restart without one)."""

    day: Weekday = Field(description="The weekday of the window.")
    hour: ClockTime = Field(description="When the window starts, in UTC (`04:00`).")


class ConnectionPool(StrictModel):
    """A PgBouncer pool of the cluster: the services connect to it instead of the cluster's own port."""

    name: Name = Field(description="The pool's name, unique in its cluster.")
    database: Name = Field(description="The database it connects to: one of the cluster's `databases`.")
    user: Name = Field(description="The user it connects as: one of the cluster's `trusted_sources`.")
    mode: Literal["transaction", "session", "statement"] = Field(
        default="transaction", description="When a server connection is given back to the pool."
    )
    size: int = Field(strict=True, ge=1, le=500, description="How many server connections the pool holds.")


class ManagedDatabase(StrictModel):
    """A DigitalOcean managed database cluster in the environment's VPC: admitted only from the droplets of the
    services it trusts (by tag), a user per such service, its connection details on their hosts as a secret file."""

    description: str = Field(default="", description="What the database holds, for the documents.")
    engine: Literal["pg", "mysql"] = Field(description="`pg` (PostgreSQL) or `mysql`.")
    version: str = Field(pattern=r"^[0-9]{1,2}$", description='The engine\'s major version (`16`); quote it (`"16"`).')
    size: str = Field(
        pattern=r"^db-[a-z0-9-]{1,40}$", description="The nodes' DigitalOcean database size slug (`db-s-2vcpu-4gb`)."
    )
    node_count: int = Field(
        strict=True, default=1, ge=1, le=3, description="The primary and its standby nodes: 2 or 3 fail over."
    )
    read_replicas: int = Field(
        strict=True, default=0, ge=0, le=5, description="Read-only replicas in the region, `<name>-replica-1`…"
    )
    replica_size: str | None = Field(
        default=None,
        pattern=r"^db-[a-z0-9-]{1,40}$",
        description="The read replicas' size slug (none: the cluster's `size`).",
    )
    maintenance: DatabaseMaintenance | None = Field(
        default=None, description="Its maintenance window (none: DigitalOcean picks one)."
    )
    trusted_sources: list[Name] = Field(
        min_length=1,
        description="The services whose droplets may connect (its database firewall admits their tag); each gets "
        "a user of its own name and the connection details on its hosts.",
    )
    databases: list[Name] = Field(
        default_factory=list, description="The databases created in the cluster (none: one of the cluster's name)."
    )
    pools: list[ConnectionPool] = Field(default_factory=list, description="Its connection pools (PostgreSQL only).")
    alerts: Alerts | None = Field(
        default=None, description="Its CPU, memory and disk alert thresholds (none: `monitoring.host_alerts`)."
    )


class Environment(StrictModel):
    """One environment, merged from defaults.yaml and its own file."""

    environment: EnvironmentInfo = Field(description="What the environment is and where it sits.")
    network: Network = Field(description="The VPC, the admins' ranges, SSH keys and outbound rules.")
    services: dict[Name, Service] = Field(
        default_factory=dict, description="The services, by name: each one a fleet of droplets."
    )
    datacenter_hosts: dict[Name, DatacenterHost] = Field(
        default_factory=dict, description="The team's own machines, by name, reached over SSH."
    )
    backup: BackupConfig = Field(description="The repository, its credentials and how restic is run.")
    backup_sets: dict[Name, BackupSet] = Field(
        default_factory=dict, description="What is backed up, by name, how often, kept how long, drilled when."
    )
    alerting: Alerting = Field(description="Alert channels, routes by severity and each alert's severity.")
    availability: Availability = Field(default_factory=Availability, description="When the team answers.")
    monitoring: Monitoring = Field(default_factory=Monitoring, description="Prometheus and Alertmanager.")
    release: Release = Field(default_factory=Release, description="The release rules every deploy passes.")
    incidents: Incidents = Field(default_factory=Incidents, description="Incident reports and escalation.")
    drift: DriftCheck = Field(default_factory=DriftCheck, description="Each host's check against its deploy.")
    dr: DisasterRecovery = Field(
        default_factory=DisasterRecovery, description="The disaster-recovery rehearsal: DR region, overrides, interval."
    )
    databases: dict[Name, ManagedDatabase] = Field(
        default_factory=dict, description="Managed database clusters, by name, in the VPC (none: no cluster)."
    )
    registry: Registry | None = Field(
        default=None, description="The registry of the services' images (none: no service has an artifact)."
    )

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

    def prune_host(self, set_name: str) -> str:
        """Given a backup set, return the host that runs its retention-and-prune job: the set's ``prune_host``,
        or the first host that runs the set (the others only back up)."""
        chosen = self.backup_sets[set_name].prune_host
        return chosen if chosen is not None else self.hosts_of_set(set_name)[0]

    def status_host(self) -> str | None:
        """Return the host that runs the scheduled ``backup status --deep``: the one named by
        ``backup.status_host``, or the prune host of the first set (it has every set's credentials); None
        without backup sets."""
        if self.backup.status_host is not None:
            return self.backup.status_host
        return self.prune_host(sorted(self.backup_sets)[0]) if self.backup_sets else None

    def vault_host(self) -> str | None:
        """Return the host that makes the off-site copy, or None without a copy."""
        return self.backup.copy_.vault if self.backup.copy_ is not None else None

    def host_sets(self, host: str) -> list[str]:
        """Given a host (droplet or data-center host), return its backup sets; a name that is no host of the
        environment is a ConfigError that lists the hosts."""
        if host in self.datacenter_hosts:
            return list(self.datacenter_hosts[host].backup_sets)
        service_name, _, index = host.rpartition("-")
        service = self.services.get(service_name)
        if service is None or not index.isdigit() or not 1 <= int(index) <= service.count:
            droplets = [droplet for name, svc in self.services.items() for droplet in droplet_names(name, svc)]
            known = sorted(self.datacenter_hosts) + droplets
            msg = f"{host!r} is not a host of {self.name} (known: {', '.join(known)})"
            raise ConfigError([msg])
        return list(service.backup_sets)

    def database_names(self, cluster: str) -> list[str]:
        """Given a managed database cluster, return the databases it holds (declared, else one of its name)."""
        return list(self.databases[cluster].databases) or [cluster]

    def databases_trusting(self, service_name: str) -> list[str]:
        """Given a service, return the managed database clusters that trust it, by name."""
        return sorted(name for name, cluster in self.databases.items() if service_name in cluster.trusted_sources)

    # The one place DNS names are derived: the program creates these records, the monitoring scrapes the VPC
    # names, the documents list them.
    def droplet_dns_name(self, droplet: str) -> str:
        """Given a droplet name, return its public name (``api-1.<domain>``)."""
        return f"{droplet}.{self.environment.domain}"

    def private_dns_name(self, droplet: str) -> str:
        """Given a droplet name, return its name on the VPC (``api-1.vpc.<domain>``, the private address)."""
        return f"{droplet}.vpc.{self.environment.domain}"

    def public_dns_name(self, service_name: str) -> str | None:
        """Given a service, return its public name (``api.<domain>``) when it serves HTTP to the public."""
        return (
            f"{service_name}.{self.environment.domain}" if self.services[service_name].public_port is not None else None
        )

    def dns_names(self, service_name: str, droplet: str) -> list[str]:
        """Given a droplet of a service, return every DNS name Seawall gives it: its own, its VPC name, and its
        service's public name when there is one."""
        public = self.public_dns_name(service_name)
        return [self.droplet_dns_name(droplet), self.private_dns_name(droplet), *([public] if public else [])]


def model_hash(env: Environment) -> str:
    """Given an environment, return a stable hash of its validated model."""
    document = json.dumps(env.model_dump(mode="json", by_alias=True), sort_keys=True)
    return hashlib.sha256(document.encode()).hexdigest()[:16]


def droplet_names(service_name: str, service: Service) -> list[str]:
    """Given a service, return the names of its droplets (``api-1``, ``api-2``…)."""
    return [f"{service_name}-{index}" for index in range(1, service.count + 1)]


# The HTTP ports a service may serve the public on, and their schemes (``Service.public_port``).
HTTP_PORTS = {80: "http", 443: "https"}


class Allowance(StrictModel):
    field: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9_*.-]+$",
        description="A model path that may differ between environments (`services.*.size`; `*` is one level).",
    )
    reason: Reason = Field(description="Why it may differ.")


class EnvironmentOnly(StrictModel):
    item: str = Field(
        min_length=1,
        pattern=r"^[A-Za-z0-9_*.-]+$",
        description="A model path that exists in some environments only (`services.faucet`).",
    )
    environments: list[Name] = Field(min_length=1, description="The environments that have it.")
    reason: Reason = Field(description="Why only they have it.")


class ParityRules(StrictModel):
    """environments/parity.yaml: the only differences allowed between environments."""

    allowed: list[Allowance] = Field(
        default_factory=list, description="The fields allowed to differ between environments."
    )
    environment_only: list[EnvironmentOnly] = Field(
        default_factory=list, description="The items only some environments have."
    )
