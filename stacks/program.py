"""The program: a function of a validated environment that composes the components.

``stacks/__main__.py`` (under the Pulumi CLI) and the offline engine (``seawall.render``) call the same
``build(env)``. Secrets come from the stack's Pulumi config; nothing else is read here.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pulumi

from seawall.backup.schedules import init_commands, render_bootstrap, render_host_files, timer_names
from seawall.backup.storage import bucket_spec, copy_bucket_spec
from seawall.build import Build, build_wheel, checkout_root, sha256_of, source_identity
from seawall.components._host import ContainerConfig, HostConfig, HostSecrets, Roll, VaultSecrets
from seawall.components._scripts import Container, Delivery, Exporter, FirewallRule, MonitoringServer, content_hash
from seawall.components.backup_bucket import BackupBucket, BackupBucketArgs
from seawall.components.database import ManagedDatabase, ManagedDatabaseArgs, Pool
from seawall.components.datacenter_host import DatacenterHost, DatacenterHostArgs
from seawall.components.load_balancer import ForwardingRule, HealthCheck, ServiceLoadBalancerArgs
from seawall.components.monitoring import Notify, ServiceMonitoringArgs
from seawall.components.network import Network, NetworkArgs
from seawall.components.project import EnvironmentProject, EnvironmentProjectArgs
from seawall.components.service_fleet import (
    ANYWHERE,
    BackupPolicy,
    InboundRule,
    OutboundRule,
    ServiceFleet,
    ServiceFleetArgs,
    VolumeSpec,
    service_tag,
)
from seawall.components.spaces_key import BucketKey, BucketKeyArgs
from seawall.components.ssh_keys import SshKeys, SshKeysArgs
from seawall.hostfiles import (
    COPY_PASSWORD_FILE,
    PASSWORD_FILE,
    REGISTRY_AUTH_FILE,
    RenderedFile,
    container_env_file,
    database_env_file,
)
from seawall.model import load_environment
from seawall.model.schema import (
    HTTP_PORTS,
    Environment,
    Port,
    Service,
    droplet_names,
    model_hash,
)
from seawall.monitoring.alertmanager import slack_url_file
from seawall.monitoring.files import (
    EXPORTER_SETTINGS,
    exporter_settings,
    install_path,
    monitoring_hosts,
    render_monitoring,
    server_settings,
)
from seawall.releases import ReleaseEntry, read_releases, releases_of
from seawall.stacks.offline import OFFLINE as OFFLINE
from seawall.stacks.offline import SECRET_CONFIG as SECRET_CONFIG
from seawall.stacks.offline import VAULT_CONFIG as VAULT_CONFIG
from seawall.stacks.offline import offline_renderer as offline_renderer
from seawall.stacks.release import check_release, record_start, record_success_step, release_request

# The DigitalOcean provider's own: the API token, and the Spaces keys it manages the bucket with.
PROVIDER_SECRETS = ("digitalocean:token", "digitalocean:spacesAccessId", "digitalocean:spacesSecretKey")


def environments_folder(environ: Mapping[str, str]) -> Path:
    """Given the process environment, return the folder of environment files the program reads:
    ``SEAWALL_ENVIRONMENTS`` (which ``seawall up --environments`` sets), else the checkout's own."""
    return Path(environ.get("SEAWALL_ENVIRONMENTS") or checkout_root() / "environments").resolve()


def run_stack(environments: Path, stack: str, now: dt.datetime | None = None) -> dict[str, Any]:
    """What ``pulumi up`` / ``pulumi preview`` run (``stacks/__main__.py``): load the stack's environment
    from ``environments``, hold the release rules (a refusal during an update fails it before any
    resource is registered), record the start in the ledger, build the wheel the hosts get, declare
    everything, and record the success in a final step that depends on every resource."""
    env = load_environment(environments, stack)
    request = release_request(pulumi.Config("seawall"))
    dry_run = pulumi.runtime.is_dry_run()
    check_release(env.name, environments, request, now or dt.datetime.now(dt.UTC), dry_run)
    if not dry_run:
        record_start(env.name, environments, request)
    root = checkout_root()
    components: list[pulumi.Resource] = []
    shipped = build_wheel(root, root / "dist")
    outputs = build(env, shipped, components, read_releases(environments.parent / "ledger"))
    if not dry_run:
        wheel = sha256_of(shipped.wheel) if shipped.wheel is not None else None
        record_success_step(env.name, environments, request, components, wheel)
    return outputs


def run_dr_stack(environments: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """What ``pulumi up`` of a DR rehearsal's temporary stack runs (``seawall dr rehearse``): the environment
    ``SEAWALL_DR_OF`` names, rebuilt as ``seawall.dr.plan.rehearsal_environment`` of the droplets
    ``SEAWALL_DR_HOSTS`` names (the DR region, the sizes the model allows, never the production names or a
    public port). No release rule holds: it deploys no release and changes nothing of the environment's."""
    import shlex

    from seawall.dr.plan import rehearsal_environment

    env = load_environment(environments, environ["SEAWALL_DR_OF"])
    day = dt.date.fromisoformat(environ["SEAWALL_DR_DAY"])
    rehearsed = rehearsal_environment(env, shlex.split(environ.get("SEAWALL_DR_HOSTS", "")), day)
    root = checkout_root()
    return build(rehearsed, build_wheel(root, root / "dist"))


def build(
    env: Environment,
    shipped: Build | None = None,
    components: list[pulumi.Resource] | None = None,
    releases: Sequence[ReleaseEntry] = (),
) -> dict[str, Any]:
    """Given a validated environment, the build to ship to hosts (None in an offline render: the checkout's
    source identity stands in) and the release ledger (each artifact's image by digest), declare its resources
    and return the stack outputs; the top-level components are added to ``components`` when given."""
    config = pulumi.Config()
    delivery = _delivery(shipped or offline_build())
    vault = _vault_secrets(env, config)
    ssh_key = config.require_secret("sshPrivateKey")
    info = env.environment
    network = Network("network", NetworkArgs(env.name, info.region, env.network.vpc_cidr, info.domain))
    bucket = BackupBucket(
        "backup-storage",
        BackupBucketArgs(
            bucket_spec(env),
            env.backup.repository.region if env.backup.repository.region != "us-east-1" else info.region,
        ),
    )
    host_key = _host_key(env, bucket)
    secrets = HostSecrets(
        restic_password=config.require_secret("resticPassword"),
        access_key_id=host_key.access_key if host_key else config.require_secret("spacesAccessKeyId"),
        secret_access_key=host_key.secret_key if host_key else config.require_secret("spacesSecretAccessKey"),
        password_file=env.backup.password_file or PASSWORD_FILE,
        access_key_id_env=env.backup.access_key_id_env,
        secret_access_key_env=env.backup.secret_access_key_env,
    )
    ssh_keys = (
        SshKeys(
            "ssh-keys",
            SshKeysArgs(env.name, [(key.name, key.public_key or "") for key in env.network.ssh_public_keys]),
        )
        if env.network.ssh_public_keys
        else None
    )
    copy_spec = copy_bucket_spec(env)
    copy_repository = env.backup.copy_.repository if env.backup.copy_ is not None else None
    copy_bucket = None
    if copy_spec is not None and copy_repository is not None and _is_spaces(copy_repository.endpoint):
        # Spaces in another region: the deployers make it as they make the primary; another S3 storage (the data
        # center's) is made by the vault's first copy (`seawall backup init --from copy`).
        copy_bucket = BackupBucket("copy-storage", BackupBucketArgs(copy_spec, copy_repository.region))
    exporter = Exporter(RenderedFile(EXPORTER_SETTINGS, exporter_settings(env)), env.backup.metrics_dir)
    server = _monitoring_server(env, config)
    monitors = set(monitoring_hosts(env))
    key_ids = ssh_keys.ids if ssh_keys is not None else []
    databases = {name: _managed_database(env, name, network, config) for name in sorted(env.databases)}
    fleets = {}
    for name, service in sorted(env.services.items()):
        args = _fleet_args(
            env,
            name,
            service,
            network,
            secrets,
            ssh_key,
            config,
            delivery,
            exporter,
            server,
            monitors,
            vault,
            _containers(env, name, service, releases, config),
        )
        files = _database_files(env, name, databases)
        hosts_of = [replace(host, databases=files) for host in args.hosts] if files else args.hosts
        fleets[name] = ServiceFleet(name, replace(args, ssh_key_ids=key_ids, hosts=hosts_of))
    for name, database in databases.items():
        # The database firewall admits the trusted services' droplets by tag, once their tags exist.
        trusted = env.databases[name].trusted_sources
        database.admit([service_tag(env.name, s) for s in trusted], [fleets[s].tag for s in trusted if s in fleets])
    hosts = []
    for host_name, host in sorted(env.datacenter_hosts.items()):
        containers = [
            item for name in host.containers for item in _containers(env, name, env.services[name], releases, config)
        ]
        # After the last droplet of each service it runs; the service's later hosts wait for this one.
        rolls = [fleets[name].roll for name in host.containers if name in fleets]
        roll = Roll([step for each in rolls for step in each.last])
        hosts.append(
            DatacenterHost(
                host_name,
                DatacenterHostArgs(
                    address=host.address,
                    ssh_user=host.ssh_user,
                    ssh_port=host.ssh_port,
                    ssh_private_key=ssh_key,
                    delivery=delivery,
                    config=HostConfig(
                        render_host_files(env, host_name),
                        timer_names(env, host_name),
                        secrets,
                        [
                            FirewallRule(port.protocol, port.port, _addresses(env, port))
                            for port in host.firewall
                            if port.source not in env.services
                        ],
                        exporter,
                        server if host_name in monitors else None,
                        init_commands(env, host_name),
                        vault if host_name == env.vault_host() else None,
                        env.name,
                        firewall_from=[
                            (port.protocol, port.port, _fleet_addresses(fleets[port.source]))
                            for port in host.firewall
                            if port.source in fleets
                        ],
                        containers=containers,
                        registry_auth=_registry_auth(env) if containers else None,
                    ),
                    roll=roll,
                ),
            )
        )
        for each in rolls:
            each.last = roll.last
    resources: list[pulumi.Input[str]] = [network.domain.domain_urn, bucket.bucket.bucket_urn]
    resources += [copy_bucket.bucket.bucket_urn] if copy_bucket is not None else []
    for fleet in fleets.values():
        resources += [droplet.droplet_urn for droplet in fleet.droplets]
        resources += [volume.volume_urn for volume in fleet.volumes]
        resources += [fleet.load_balancer.balancer.load_balancer_urn] if fleet.load_balancer is not None else []
        resources += [address.address.reserved_ip_urn for address in fleet.addresses]
    resources += [database.cluster.cluster_urn for database in databases.values()]
    project = EnvironmentProject("project", EnvironmentProjectArgs(env.name, info.tier, info.description, resources))
    if components is not None:
        extra = [item for item in (copy_bucket, host_key, ssh_keys) if item is not None]
        components += [network, bucket, *extra, *databases.values(), *fleets.values(), *hosts, project]
    return {
        "environment": env.name,
        "model_hash": model_hash(env),
        "vpc_id": network.vpc.id,
        "bucket_name": bucket.bucket.name,
        "droplet_ips": {name: [d.ipv4_address for d in fleet.droplets] for name, fleet in fleets.items()},
        "reserved_ips": {
            name: [a.ip_address for a in fleet.addresses] for name, fleet in fleets.items() if fleet.addresses
        },
        "load_balancer_ips": {
            name: fleet.load_balancer.balancer.ip for name, fleet in fleets.items() if fleet.load_balancer is not None
        },
        "databases": {name: database.cluster.private_host for name, database in databases.items()},
        "dns_names": {name: _dns_names(env, name, service) for name, service in sorted(env.services.items())},
        "versions": {name: service.version for name, service in sorted(env.services.items())},
    }


def _managed_database(env: Environment, name: str, network: Network, config: pulumi.Config) -> ManagedDatabase:
    """Given a ``databases:`` entry, declare its cluster and what it holds (its firewall comes with the fleets)."""
    cluster = env.databases[name]
    alerts = cluster.alerts or env.monitoring.host_alerts
    notify = _notify(env, config)
    return ManagedDatabase(
        f"{name}-database",
        ManagedDatabaseArgs(
            env_name=env.name,
            tier=env.environment.tier,
            cluster_name=name,
            engine=cluster.engine,
            version=cluster.version,
            size=cluster.size,
            node_count=cluster.node_count,
            region=env.environment.region,
            vpc_id=network.vpc.id,
            users=list(cluster.trusted_sources),
            databases=env.database_names(name),
            pools=[Pool(p.name, p.database, p.user, p.mode, p.size) for p in cluster.pools],
            read_replicas=cluster.read_replicas,
            replica_size=cluster.replica_size,
            maintenance=(cluster.maintenance.day, cluster.maintenance.hour) if cluster.maintenance else None,
            thresholds={"cpu": alerts.cpu, "memory": alerts.memory, "disk": alerts.disk},
            window=alerts.window,
            notify={metric: notify[metric] for metric in ("cpu", "memory", "disk")},
        ),
    )


def _database_files(
    env: Environment, service_name: str, databases: dict[str, ManagedDatabase]
) -> list[tuple[str, str, pulumi.Input[str], pulumi.Output[str]]]:
    """Given a service, return the secret files of the managed databases that trust it: (step, path, content,
    trigger), the trigger a hash of the content (a new password rewrites the file)."""
    files: list[tuple[str, str, pulumi.Input[str], pulumi.Output[str]]] = []
    for cluster in env.databases_trusting(service_name):
        content = databases[cluster].connection_file(service_name)
        files.append((f"database-{cluster}", database_env_file(cluster), content, content.apply(content_hash)))
    return files


def _vault_secrets(env: Environment, config: pulumi.Config) -> VaultSecrets | None:
    """Given an environment, return the vault's secrets from the stack's configuration (None without a copy)."""
    copy = env.backup.copy_
    if copy is None:
        return None
    return VaultSecrets(
        copy_password=config.require_secret("copyResticPassword"),
        access_key_id=config.require_secret("vaultAccessKeyId"),
        secret_access_key=config.require_secret("vaultSecretAccessKey"),
        password_file=copy.password_file or COPY_PASSWORD_FILE,
        access_key_id_env=copy.access_key_id_env,
        secret_access_key_env=copy.secret_access_key_env,
    )


def _host_key(env: Environment, bucket: BackupBucket) -> BucketKey | None:
    """Given an environment and its bucket, return the backup hosts' Spaces key scoped to that bucket, or None
    where the hosts hold the stack's configured key (``backup.host_keys: config``, or storage other than Spaces,
    whose keys the provider cannot make)."""
    if env.backup.host_keys != "scoped" or not _is_spaces(env.backup.repository.endpoint):
        return None
    return BucketKey("backup-hosts-key", BucketKeyArgs(env.name, [env.bucket_name], [bucket.bucket]))


def _is_spaces(endpoint: str | None) -> bool:
    """Given an S3 endpoint, return whether it is DigitalOcean Spaces (whose buckets the provider manages)."""
    from urllib.parse import urlsplit

    return (urlsplit(endpoint or "").hostname or "").endswith(".digitaloceanspaces.com")


def _fleet_args(
    env: Environment,
    name: str,
    service: Service,
    network: Network,
    secrets: HostSecrets,
    ssh_key: pulumi.Output[str],
    config: pulumi.Config,
    delivery: Delivery,
    exporter: Exporter,
    server: MonitoringServer,
    monitors: set[str],
    vault: VaultSecrets | None,
    containers: Sequence[ContainerConfig] = (),
) -> ServiceFleetArgs:
    volume = None
    user_data = []
    hosts = []
    for droplet in droplet_names(name, service):
        if service.volume is not None:
            volume = (f"{env.name}-{droplet}", service.volume.mount, service.volume.filesystem)
        user_data.append(render_bootstrap(volume))
        hosts.append(
            HostConfig(
                render_host_files(env, droplet),
                timer_names(env, droplet),
                secrets if service.backup_sets or droplet == env.vault_host() else None,
                exporter=exporter,
                monitoring=server if droplet in monitors else None,
                commands=init_commands(env, droplet),
                vault=vault if droplet == env.vault_host() else None,
                environment=env.name,
                containers=containers,
                registry_auth=_registry_auth(env) if containers else None,
            )
        )
    backups = service.droplet_backups
    policy = BackupPolicy(backups.plan, backups.weekday, backups.hour) if backups and backups.enabled else None
    outbound = service.outbound if service.outbound is not None else env.network.outbound
    monitoring = _monitoring_args(env, name, service, config)
    return ServiceFleetArgs(
        env_name=env.name,
        tier=env.environment.tier,
        service_name=name,
        role=service.role or name,
        version=service.version,
        image=service.image,
        size=service.size,
        droplets=droplet_names(name, service),
        volume=(
            VolumeSpec(service.volume.size_gb, service.volume.filesystem, service.volume.mount, service.is_stateful)
            if service.volume is not None
            else None
        ),
        droplet_backups=policy,
        region=env.environment.region,
        vpc_id=network.vpc.id,
        vpc_cidr=env.network.vpc_cidr,
        domain=network.domain.name,
        ssh_keys=env.network.ssh_keys,
        inbound=_inbound_rules(env, service.ports, _balanced_ports(service)),
        outbound=[OutboundRule(rule.protocol, str(rule.ports), rule.to == "public") for rule in outbound],
        user_data=user_data,
        monitoring=monitoring,
        hosts=hosts,
        delivery=delivery,
        ssh_private_key=ssh_key,
        public_dns=service.public_port is not None,
        load_balancer=_load_balancer_args(env, name, service, network, monitoring),
        reserved_ips=service.has_reserved_ip,
    )


def _balanced_ports(service: Service) -> set[int]:
    """Given a service, return the ports its droplets admit from its load balancer alone (none without one): its
    public HTTP(S) ports and the health check's port."""
    if service.balancer is None:
        return set()
    public = {port.port for port in service.ports if port.source == "public" and port.port in HTTP_PORTS}
    return public | ({service.health.port} if service.health is not None else set())


def _load_balancer_args(
    env: Environment, name: str, service: Service, network: Network, monitoring: ServiceMonitoringArgs | None
) -> ServiceLoadBalancerArgs | None:
    balancer, health, hostname = service.balancer, service.health, env.public_dns_name(name)
    if balancer is None or health is None or hostname is None:
        return None
    served = sorted(port.port for port in service.ports if port.source == "public" and port.port in HTTP_PORTS)
    # TLS ends at the balancer (443 with the managed certificate); it reaches the droplets on the port they serve.
    target = 443 if 443 in served else served[-1]
    forwarding = [ForwardingRule(443, "https", target, HTTP_PORTS[target])]
    if balancer.redirect_http_to_https or 80 in served:
        # Port 80 is answered by the balancer (the redirect) and, without it, forwarded as HTTP.
        forwarding.append(
            ForwardingRule(80, "http", 80 if 80 in served else target, "http" if 80 in served else HTTP_PORTS[target])
        )
    return ServiceLoadBalancerArgs(
        env_name=env.name,
        service_name=name,
        region=env.environment.region,
        vpc_id=network.vpc.id,
        domain=network.domain.name,
        hostname=hostname,
        droplet_tag=service_tag(env.name, name),
        forwarding=forwarding,
        health=HealthCheck(
            health.port,
            health.protocol,
            health.path,
            balancer.check_interval_seconds,
            balancer.healthy_threshold,
            balancer.unhealthy_threshold,
        ),
        size_unit=balancer.size_unit,
        redirect_http_to_https=balancer.redirect_http_to_https,
        notify=monitoring.notify["uptime"] if monitoring is not None else None,
        window=monitoring.window if monitoring is not None else "5m",
    )


def _containers(
    env: Environment, name: str, service: Service, releases: Sequence[ReleaseEntry], config: pulumi.Config
) -> list[ContainerConfig]:
    """Given a service, return the container its hosts run: its release's image by digest (an offline render
    without the release ledger names it by tag; a deploy is refused before it without a release), its
    secrets from the stack's config (one secret per variable name), and the health URL its roll waits for."""
    artifact, registry = service.artifact, env.registry
    if artifact is None or registry is None:
        return []
    found = releases_of(releases, name, service.version)
    reference = found[0].reference if found else f"{registry.url}/{artifact.name or name}:{service.version}"
    port = artifact.rollout_port
    health = f"http://127.0.0.1:{port}{service.health.path}" if service.health is not None and port else None
    volume = (service.volume.mount, artifact.volume_target) if service.volume and artifact.volume_target else None
    secrets = None
    if artifact.secrets:
        values = [config.require_secret(variable) for variable in artifact.secrets]
        secrets = pulumi.Output.all(*values).apply(
            lambda found: "".join(f"{var}={value}\n" for var, value in zip(artifact.secrets, found, strict=True))
        )
    container = Container(
        name,
        reference,
        tuple(artifact.ports),
        volume,
        container_env_file(name) if artifact.secrets else None,
        health,
        registry.tls_verify,
        REGISTRY_AUTH_FILE if _registry_auth(env) is not None else None,
    )
    return [ContainerConfig(container, secrets)]


def _registry_auth(env: Environment) -> pulumi.Output[str] | None:
    """Given an environment, return the hosts' login to its registry (the auth file's text, from the variables
    ``registry.username_env``/``password_env`` name in the deployer's environment), None without one."""
    from seawall.release.oci import ReleaseError, auth_file_text

    if env.registry is None:
        return None
    try:
        text = auth_file_text(env.registry, os.environ)
    except ReleaseError:
        return None  # the hosts' pull then fails and says so, before any host stops its image
    return pulumi.Output.secret(text) if text is not None else None


def _monitoring_server(env: Environment, config: pulumi.Config) -> MonitoringServer:
    files = {
        relative: RenderedFile(install_path(env, relative), text) for relative, text in render_monitoring(env).items()
    }
    webhooks = [
        (slack_url_file(env, name), config.require_secret(channel.slack_url_config))
        for name, channel in sorted(env.alerting.channels.items())
        if channel.slack and channel.slack_url_config
    ]
    return MonitoringServer(
        prometheus=[file for relative, file in files.items() if relative.startswith("prometheus/")],
        alertmanager=[file for relative, file in files.items() if relative.startswith("alertmanager/")],
        webhooks=webhooks,
        settings=[RenderedFile(path, text) for path, text in server_settings(env).items()],
    )


@functools.cache
def offline_build() -> Build:
    """Return the build an offline render stands in with: the checkout's source identity, no wheel."""
    root = checkout_root()
    return Build(source_identity(root), root / "requirements.lock")


def _delivery(shipped: Build) -> Delivery:
    wheel = shipped.wheel
    return Delivery(
        identity=shipped.identity,
        wheel_name=shipped.wheel_name,
        wheel_path=str(wheel) if wheel is not None else None,
        wheel_sha256=sha256_of(wheel) if wheel is not None else shipped.identity,
        lock_path=str(shipped.lock),
        lock_sha256=sha256_of(shipped.lock),
    )


def _fleet_addresses(fleet: ServiceFleet) -> list[pulumi.Output[str]]:
    """Given a service's fleet, return the addresses a data-center host admits it by: its droplets' reserved IPs,
    which a rebuilt droplet keeps (else their public addresses, which a rebuild changes: the next deploy follows)."""
    if fleet.addresses:
        return [address.ip_address for address in fleet.addresses]
    return [droplet.ipv4_address for droplet in fleet.droplets]


def _addresses(env: Environment, port: Port) -> list[str]:
    if port.source == "public":
        return list(ANYWHERE)
    if port.source == "admin":
        return list(env.network.admin_cidrs)
    if port.source == "vpc":
        return [env.network.vpc_cidr]
    return []


def _inbound_rules(env: Environment, ports: list[Port], balanced: Collection[int] = ()) -> list[InboundRule]:
    """Given a service's ports and those its load balancer alone reaches, return its firewall's inbound rules:
    a balanced port admits the balancer instead of the internet (its other sources stay)."""
    grouped: dict[tuple[str, int], tuple[list[str], list[str]]] = {}
    for port in ports:
        addresses, tags = grouped.setdefault((port.protocol, port.port), ([], []))
        if port.source in env.services:
            tags.append(service_tag(env.name, port.source))
        elif not (port.source == "public" and port.port in balanced):
            addresses.extend(_addresses(env, port))
    for port_number in balanced:
        grouped.setdefault(("tcp", port_number), ([], []))
    return [
        InboundRule(protocol, port, sorted(set(addresses)), sorted(set(tags)), protocol == "tcp" and port in balanced)
        for (protocol, port), (addresses, tags) in sorted(grouped.items())
    ]


def _monitoring_args(
    env: Environment, name: str, service: Service, config: pulumi.Config
) -> ServiceMonitoringArgs | None:
    if service.alerts is None:
        return None
    notify = _notify(env, config)
    public = service.public_port
    target = None
    if public is not None and service.health is not None:
        target = f"{HTTP_PORTS[public]}://{env.public_dns_name(name)}{service.health.path}"
    thresholds = {"cpu": service.alerts.cpu, "memory": service.alerts.memory, "disk": service.alerts.disk}
    return ServiceMonitoringArgs(
        env_name=env.name,
        service_name=name,
        tag_name=service_tag(env.name, name),
        thresholds=thresholds,
        window=service.alerts.window,
        notify=notify,
        uptime_target=target,
    )


def _notify(env: Environment, config: pulumi.Config) -> dict[str, Notify]:
    """Given an environment, return where each DigitalOcean alert goes (cpu, memory, disk, uptime): its
    severity's route's e-mail addresses and Slack channels."""
    alerting = env.alerting
    notify: dict[str, Notify] = {}
    for metric in ("cpu", "memory", "disk", "uptime"):
        severity = getattr(alerting, metric)
        channels = [alerting.channels[channel] for channel in alerting.routes[severity].channels]
        notify[metric] = Notify(
            severity,
            [channel.email for channel in channels if channel.email],
            [
                (channel.slack, config.require_secret(channel.slack_url_config))
                for channel in channels
                if channel.slack and channel.slack_url_config
            ],
        )
    return notify


def _dns_names(env: Environment, name: str, service: Service) -> list[str]:
    public = env.public_dns_name(name)
    return [
        *([public] if public else []),
        *(env.droplet_dns_name(droplet) for droplet in droplet_names(name, service)),
    ]
