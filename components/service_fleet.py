"""Service fleet: one service's droplets, volumes, firewall, DNS records, monitoring, and where the model asks for
them its load balancer and reserved IPs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do
from pulumi_command import remote

from seawall.components._host import HostConfig, Roll, configure_host
from seawall.components._scripts import Delivery
from seawall.components.load_balancer import ServiceLoadBalancer, ServiceLoadBalancerArgs
from seawall.components.monitoring import ServiceMonitoring, ServiceMonitoringArgs
from seawall.components.reserved_ip import ReservedAddress, ReservedAddressArgs
from seawall.replacements import DROPLET, IGNORED_CHANGES

ANYWHERE = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class InboundRule:
    """One inbound allowance: protocol, port, source networks and source service tags, or the service's load
    balancer alone (its public HTTP(S) ports and health check port)."""

    protocol: str
    port: int
    addresses: Sequence[str]
    tags: Sequence[str]
    load_balancer: bool = False


@dataclass(frozen=True)
class OutboundRule:
    """One outbound allowance: protocol, ports (``all``, ``443``, ``1000-2000``) and whether it reaches
    the internet or only the VPC."""

    protocol: str
    ports: str
    public: bool


@dataclass(frozen=True)
class VolumeSpec:
    """Each droplet's block volume: its size, file system and mount, and whether Pulumi protects it."""

    size_gb: int
    filesystem: str
    mount: str
    protect: bool


@dataclass(frozen=True)
class BackupPolicy:
    """DigitalOcean's own droplet backups: plan, weekday and hour."""

    plan: str
    weekday: str
    hour: int


@dataclass(frozen=True)
class ServiceFleetArgs:
    """Plain values: the program turns the model's service into these (``stacks/program.py``)."""

    env_name: str
    tier: str
    service_name: str
    role: str
    version: str
    image: str
    size: str
    droplets: Sequence[str]  # the model's names (``api-1``…); the droplet is ``<env>-<name>``
    volume: VolumeSpec | None
    droplet_backups: BackupPolicy | None
    region: str
    vpc_id: pulumi.Input[str]
    vpc_cidr: str
    domain: pulumi.Input[str]
    ssh_keys: Sequence[str]
    inbound: Sequence[InboundRule]
    outbound: Sequence[OutboundRule]
    user_data: Sequence[str]
    monitoring: ServiceMonitoringArgs | None
    hosts: Sequence[HostConfig]
    delivery: Delivery
    ssh_private_key: pulumi.Input[str]
    public_dns: bool
    load_balancer: ServiceLoadBalancerArgs | None = None  # the public name then points at the balancer
    reserved_ips: bool = False  # each droplet's public name points at its reserved IP
    ssh_key_ids: Sequence[pulumi.Input[str]] = ()  # the environment's SshKey resources, beside ``ssh_keys``


def service_tag(env_name: str, service_name: str) -> str:
    """Given an environment and service, return the tag that firewalls and alerts target."""
    return f"{env_name}-{service_name}"


def version_tag(version: str) -> str:
    """Given a version, return it as a DigitalOcean tag (letters, digits, colons, dashes, underscores)."""
    return "version:" + "".join(c if c.isalnum() or c in ":-_" else "-" for c in version)


class ServiceFleet(pulumi.ComponentResource):
    """``count`` droplets of one service with their volumes, a default-deny firewall, DNS and alerts."""

    def __init__(self, name: str, args: ServiceFleetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:service_fleet:ServiceFleet", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        tag_name = service_tag(args.env_name, args.service_name)
        self.tag = do.Tag(f"{name}-tag", name=tag_name, opts=child)
        # The tag's name is known now; depending on the Tag resource orders creation without an Output.
        tagged = pulumi.ResourceOptions(parent=self, depends_on=[self.tag])
        tags = [
            tag_name,
            f"env:{args.env_name}",
            f"service:{args.service_name}",
            f"role:{args.role}",
            f"tier:{args.tier}",
            version_tag(args.version),
        ]
        self.droplets: list[do.Droplet] = []
        self.volumes: list[do.Volume] = []
        self.attachments: list[do.VolumeAttachment] = []
        self.addresses: list[ReservedAddress] = []
        # The service's image goes to one droplet at a time, each after the one before answered; the data-center
        # hosts that run it too take it after the last droplet (``roll``).
        self.roll = roll = Roll()
        for index, host in enumerate(args.droplets, start=1):
            droplet = self._droplet(name, index, f"{args.env_name}-{host}", args, tags, tagged)
            self.droplets.append(droplet)
            public: pulumi.Output[str] = droplet.ipv4_address
            if args.reserved_ips:
                address = ReservedAddress(
                    f"{name}-{index}-address", ReservedAddressArgs(args.region, droplet.id.apply(int)), opts=child
                )
                self.addresses.append(address)
                public = address.ip_address
            self._dns(f"{name}-{index}-dns", host, public, args, child)
            # The name on the VPC (Prometheus scrapes node_exporter there, never over the internet).
            vpc_name = f"{host}.vpc"
            self._dns(f"{name}-{index}-dns-vpc", vpc_name, droplet.ipv4_address_private, args, child)
            if args.public_dns and args.load_balancer is None:
                self._dns(f"{name}-{index}-dns-public", args.service_name, public, args, child)
            connection = remote.ConnectionArgs(host=droplet.ipv4_address, user="root", private_key=args.ssh_private_key)
            # The same SSH steps as a data-center host; after the volume is attached, so that the mount exists.
            attached = [self.attachments[-1]] if args.volume is not None else []
            configure_host(
                f"{name}-{index}", connection, "root", args.delivery, args.hosts[index - 1], self, attached, roll=roll
            )
        self.load_balancer = (
            ServiceLoadBalancer(f"{name}-lb", args.load_balancer, opts=tagged) if args.load_balancer else None
        )
        self.firewall = self._firewall(name, args, tagged)
        self.monitoring = (
            ServiceMonitoring(f"{name}-monitoring", args.monitoring, opts=tagged) if args.monitoring else None
        )
        self.register_outputs(
            {
                "ipv4_addresses": [droplet.ipv4_address for droplet in self.droplets],
                "reserved_ips": [address.ip_address for address in self.addresses],
                "droplet_urns": [droplet.droplet_urn for droplet in self.droplets],
            }
        )

    def _droplet(
        self, name: str, index: int, physical: str, args: ServiceFleetArgs, tags: list, child: pulumi.ResourceOptions
    ) -> do.Droplet:
        backups = args.droplet_backups
        droplet = do.Droplet(
            f"{name}-{index}",
            name=physical,
            image=args.image,
            size=args.size,
            region=args.region,
            vpc_uuid=args.vpc_id,
            ssh_keys=[*args.ssh_key_ids, *args.ssh_keys],
            tags=tags,
            monitoring=True,
            ipv6=True,
            graceful_shutdown=True,
            backups=backups is not None,
            backup_policy=(
                do.DropletBackupPolicyArgs(plan=backups.plan, weekday=backups.weekday, hour=backups.hour)
                if backups is not None
                else None
            ),
            # A bootstrap that never changes with the model (cloud-init runs it once); ignored all the same,
            # because the provider replaces a droplet whose user_data changes.
            user_data=args.user_data[index - 1],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=child.depends_on, ignore_changes=list(IGNORED_CHANGES[DROPLET])
            ),
        )
        if args.volume is not None:
            volume = do.Volume(
                f"{name}-{index}-volume",
                name=physical,
                region=args.region,
                size=args.volume.size_gb,
                initial_filesystem_type=args.volume.filesystem,
                description=f"{physical} data at {args.volume.mount}",
                tags=[f"env:{args.env_name}", f"service:{args.service_name}"],
                opts=pulumi.ResourceOptions(parent=self, protect=args.volume.protect),
            )
            self.volumes.append(volume)
            self.attachments.append(
                do.VolumeAttachment(
                    f"{name}-{index}-volume-attachment",
                    droplet_id=droplet.id.apply(int),
                    volume_id=volume.id,
                    opts=child,
                )
            )
        return droplet

    def _dns(
        self,
        name: str,
        record: str,
        address: pulumi.Output[str],
        args: ServiceFleetArgs,
        child: pulumi.ResourceOptions,
    ) -> None:
        do.DnsRecord(name, domain=args.domain, type="A", name=record, value=address, ttl=300, opts=child)

    def _firewall(self, name: str, args: ServiceFleetArgs, child: pulumi.ResourceOptions) -> do.Firewall:
        balancer = [self.load_balancer.balancer.id] if self.load_balancer is not None else None
        inbound = [
            do.FirewallInboundRuleArgs(
                protocol=rule.protocol,
                port_range=str(rule.port),
                source_addresses=list(rule.addresses) or None,
                source_tags=list(rule.tags) or None,
                source_load_balancer_uids=balancer if rule.load_balancer else None,
            )
            for rule in args.inbound
        ]
        outbound = [
            do.FirewallOutboundRuleArgs(
                protocol=rule.protocol,
                port_range=None if rule.protocol == "icmp" else ("1-65535" if rule.ports == "all" else rule.ports),
                destination_addresses=list(ANYWHERE) if rule.public else [args.vpc_cidr],
            )
            for rule in args.outbound
        ]
        tag_name = service_tag(args.env_name, args.service_name)
        return do.Firewall(
            f"{name}-firewall",
            name=tag_name,
            tags=[tag_name],
            inbound_rules=inbound,
            outbound_rules=outbound,
            opts=child,
        )
