"""Reserved IP: an address of the region that outlives the droplet it is assigned to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do


@dataclass(frozen=True)
class ReservedAddressArgs:
    region: str
    droplet_id: pulumi.Input[int]


class ReservedAddress(pulumi.ComponentResource):
    """A reserved IP and its assignment to one droplet: a rebuilt or replaced droplet gets the same address back
    (only the assignment is replaced with it), so DNS and the firewalls that name it never change."""

    def __init__(self, name: str, args: ReservedAddressArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:reserved_ip:ReservedAddress", name, None, opts)
        # Protected: deleting it gives the address back to DigitalOcean, and nobody gets that one again.
        self.address = do.ReservedIp(
            f"{name}-ip", region=args.region, opts=pulumi.ResourceOptions(parent=self, protect=True)
        )
        self.assignment = do.ReservedIpAssignment(
            f"{name}-assignment",
            droplet_id=args.droplet_id,
            ip_address=self.address.ip_address,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.ip_address: pulumi.Output[str] = self.address.ip_address
        self.register_outputs({"ip_address": self.address.ip_address})
