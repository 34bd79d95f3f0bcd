"""What Seawall passes, checked against pulumi-digitalocean's own type signatures: each recorded resource's inputs
construct the provider's args class (and each nested block its own args class), so a misspelt or unknown input
fails here, not in front of DigitalOcean's API."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import pulumi_digitalocean as do
import pytest

from seawall.model import load_environment
from seawall.render import Graph, referenced, render
from seawall.stacks.program import OFFLINE
from tests.conftest import SHIPPED

# The nested blocks Seawall passes, by (resource type, input): the args class the provider takes for each.
NESTED: dict[tuple[str, str], Any] = {
    ("LoadBalancer", "forwardingRules"): do.LoadBalancerForwardingRuleArgs,
    ("LoadBalancer", "healthcheck"): do.LoadBalancerHealthcheckArgs,
    ("SpacesKey", "grants"): do.SpacesKeyGrantArgs,
    ("Firewall", "inboundRules"): do.FirewallInboundRuleArgs,
    ("Firewall", "outboundRules"): do.FirewallOutboundRuleArgs,
    ("MonitorAlert", "alerts"): do.MonitorAlertAlertsArgs,
    ("Droplet", "backupPolicy"): do.DropletBackupPolicyArgs,
    ("DatabaseCluster", "maintenanceWindows"): do.DatabaseClusterMaintenanceWindowArgs,
    ("DatabaseFirewall", "rules"): do.DatabaseFirewallRuleArgs,
}
CHECKED = ("LoadBalancer", "Certificate", "ReservedIp", "ReservedIpAssignment", "SshKey", "SpacesKey", "Firewall",
           "MonitorAlert", "DnsRecord", "Droplet", "DatabaseCluster", "DatabaseFirewall", "DatabaseUser", "DatabaseDb",
           "DatabaseConnectionPool", "DatabaseReplica")  # fmt: skip
# Only mainnet's database has a read replica (the others' types are in every environment).
MAINNET_ONLY = {"DatabaseReplica"}
pytestmark = pytest.mark.render  # renders under the mock engine


@cache
def graph(name: str) -> Graph:
    return render(load_environment(SHIPPED, name), OFFLINE)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _value(kind: str, key: str, value: Any) -> Any:
    """Given a recorded input, return it as the program passed it: a reference stands for the output's value, a
    nested block is its own args class."""
    if referenced(value) is not None:
        return "0"
    nested = NESTED.get((kind, key))
    if nested is not None and isinstance(value, list):
        return [nested(**{_snake(k): v for k, v in item.items()}) for item in value]
    if nested is not None and isinstance(value, dict):
        return nested(**{_snake(k): v for k, v in value.items()})
    if isinstance(value, list):
        return [_value(kind, key, item) for item in value]
    return value


@pytest.mark.parametrize("name", ["devnet", "qanet", "testnet", "mainnet"])
def test_every_input_seawall_passes_constructs_the_providers_args_class(name: str) -> None:
    seen = set()
    for record in graph(name).resources.values():
        module, _, kind = record.type.rpartition(":")
        if not module.startswith("digitalocean:") or kind not in CHECKED:
            continue
        args_class = getattr(do, f"{kind}Args")
        args_class(**{_snake(key): _value(kind, key, value) for key, value in record.inputs.items()})
        seen.add(kind)
    assert seen == set(CHECKED) - (set() if name == "mainnet" else MAINNET_ONLY)


def test_the_snake_case_names_are_the_providers() -> None:
    balancer = do.LoadBalancerArgs(disable_lets_encrypt_dns_records=True, size_unit=1, droplet_tag="t")
    assert (balancer.disable_lets_encrypt_dns_records, balancer.size_unit) == (True, 1)
    with pytest.raises(TypeError):
        do.LoadBalancerArgs(no_such_input=True)  # type: ignore[call-arg]
