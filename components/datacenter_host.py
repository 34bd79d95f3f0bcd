"""Data-center host: Seawall, restic, the backup units and the host firewall, applied over SSH.

The steps are the ones every droplet gets too (``components._host``), plus the nftables firewall that
the data center has no cloud firewall for, loaded at every boot by its own unit.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_command import remote

from seawall.components._host import HostConfig, Roll, configure_host
from seawall.components._scripts import Delivery


@dataclass(frozen=True)
class DatacenterHostArgs:
    address: str
    ssh_user: str
    ssh_port: int
    ssh_private_key: pulumi.Input[str]
    delivery: Delivery
    config: HostConfig
    roll: Roll | None = None  # where its services' images come in the roll (after their droplets)


class DatacenterHost(pulumi.ComponentResource):
    """An on-premises host brought to the same set-up as the droplets, over SSH."""

    def __init__(self, name: str, args: DatacenterHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:datacenter_host:DatacenterHost", name, None, opts)
        connection = remote.ConnectionArgs(
            host=args.address, user=args.ssh_user, port=args.ssh_port, private_key=args.ssh_private_key
        )
        self.steps = configure_host(
            name, connection, args.ssh_user, args.delivery, args.config, self, ssh_port=args.ssh_port, roll=args.roll
        )
        self.register_outputs({"address": args.address})
