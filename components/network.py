"""Network: the environment's VPC in its region and its DNS domain."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do


@dataclass(frozen=True)
class NetworkArgs:
    env_name: str
    region: str
    vpc_cidr: str
    domain: str


class Network(pulumi.ComponentResource):
    """A VPC per environment and region, and the environment's domain."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = do.Vpc(
            f"{name}-vpc",
            name=f"{args.env_name}-{args.region}",
            region=args.region,
            ip_range=args.vpc_cidr,
            description=f"Seawall {args.env_name} private network",
            opts=child,
        )
        self.domain = do.Domain(f"{name}-domain", name=args.domain, opts=child)
        self.register_outputs({"vpc_id": self.vpc.id, "domain": self.domain.name})
