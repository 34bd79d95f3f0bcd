"""Load balancer: a service's public HTTP(S) front, TLS with a DigitalOcean-managed certificate, DNS and alerts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from seawall.components.monitoring import Notify

# DigitalOcean's load balancer metric the balancer's alert watches (percent of requests answered 5xx).
ERROR_RATE = "v1/insights/lbaas/increase_in_http_error_rate_percentage_5xx"


@dataclass(frozen=True)
class ForwardingRule:
    """What the balancer listens on and where it sends it on the droplets."""

    entry_port: int
    entry_protocol: str  # https (terminated with the certificate) or http
    target_port: int
    target_protocol: str


@dataclass(frozen=True)
class HealthCheck:
    """How the balancer decides that a droplet gets traffic: the service's ``health``."""

    port: int
    protocol: str
    path: str
    check_interval_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int


@dataclass(frozen=True)
class ServiceLoadBalancerArgs:
    """Plain values: the program turns a service's ports, ``health`` and ``load_balancer`` into these."""

    env_name: str
    service_name: str
    region: str
    vpc_id: pulumi.Input[str]
    domain: pulumi.Input[str]
    hostname: str  # the service's public name (``api.<domain>``), the certificate's one domain
    droplet_tag: str
    forwarding: Sequence[ForwardingRule]
    health: HealthCheck
    size_unit: int
    redirect_http_to_https: bool
    notify: Notify | None = None  # where the balancer's error-rate alert goes; None: no alert
    error_rate_percent: int = 5
    window: str = "5m"


def certificate_name(env_name: str, service_name: str) -> str:
    """Given an environment and service, return the name of its balancer's certificate (unique in an account)."""
    return f"{env_name}-{service_name}"


class ServiceLoadBalancer(pulumi.ComponentResource):
    """A regional load balancer in the VPC in front of one service's droplets (by tag), terminating TLS with a
    Let's Encrypt certificate DigitalOcean manages and renews, and the service's public name pointing at it."""

    def __init__(self, name: str, args: ServiceLoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:load_balancer:ServiceLoadBalancer", name, None, opts)
        # The droplets are attached by tag: whatever the component waits for (the Tag) the balancer waits for.
        child = pulumi.ResourceOptions(parent=self, depends_on=opts.depends_on if opts else None)
        label = certificate_name(args.env_name, args.service_name)
        self.certificate = do.Certificate(
            f"{name}-certificate", name=label, type="lets_encrypt", domains=[args.hostname], opts=child
        )
        health = args.health
        self.balancer = do.LoadBalancer(
            f"{name}-balancer",
            name=label,
            region=args.region,
            vpc_uuid=args.vpc_id,
            size_unit=args.size_unit,
            droplet_tag=args.droplet_tag,
            redirect_http_to_https=args.redirect_http_to_https,
            # Seawall declares the service's public record itself (below), pointing at this balancer.
            disable_lets_encrypt_dns_records=True,
            forwarding_rules=[
                do.LoadBalancerForwardingRuleArgs(
                    entry_port=rule.entry_port,
                    entry_protocol=rule.entry_protocol,
                    target_port=rule.target_port,
                    target_protocol=rule.target_protocol,
                    certificate_name=self.certificate.name if rule.entry_protocol == "https" else None,
                )
                for rule in args.forwarding
            ],
            healthcheck=do.LoadBalancerHealthcheckArgs(
                port=health.port,
                protocol=health.protocol,
                path=health.path,
                check_interval_seconds=health.check_interval_seconds,
                healthy_threshold=health.healthy_threshold,
                unhealthy_threshold=health.unhealthy_threshold,
            ),
            opts=child,
        )
        self.dns = do.DnsRecord(
            f"{name}-dns",
            domain=args.domain,
            type="A",
            name=args.service_name,
            value=self.balancer.ip,
            ttl=300,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.alerts = [self._error_rate(name, args, args.notify)] if args.notify is not None else []
        self.register_outputs({"ip": self.balancer.ip, "load_balancer_urn": self.balancer.load_balancer_urn})

    def _error_rate(self, name: str, args: ServiceLoadBalancerArgs, notify: Notify) -> do.MonitorAlert:
        label = f"{args.env_name} {args.service_name}"
        return do.MonitorAlert(
            f"{name}-errors",
            type=ERROR_RATE,
            compare="GreaterThan",
            value=args.error_rate_percent,
            window=args.window,
            entities=[self.balancer.id],
            enabled=True,
            description=f"[{notify.severity}] {label} load balancer 5xx above {args.error_rate_percent}%",
            alerts=do.MonitorAlertAlertsArgs(
                emails=list(notify.emails),
                slacks=[do.MonitorAlertAlertsSlackArgs(channel=c, url=u) for c, u in notify.slacks],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
