"""Which changes replace a resource, and the plan between two graphs: create, update, replace, delete.

One table, here only, lists the inputs of every resource type Seawall declares whose change makes the
provider replace the resource (the DigitalOcean provider's ``ForceNew`` fields, pulumi-command's
``triggers``); ``IGNORED_CHANGES`` lists the inputs Seawall declares with ``ignore_changes`` (the
components read it from here), which never cause anything after creation. ``seawall preview --against``
prints the plan; ``seawall up`` refuses to replace a stateful service's droplet or any volume unless
``--allow-replace NAME`` names it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

DROPLET = "digitalocean:index/droplet:Droplet"
VOLUME = "digitalocean:index/volume:Volume"

REPLACED_BY: Mapping[str, frozenset[str]] = {
    DROPLET: frozenset({"image", "region", "sshKeys", "userData", "vpcUuid", "monitoring", "privateNetworking"}),
    VOLUME: frozenset(
        {
            "region",
            "name",
            "description",
            "snapshotId",
            "initialFilesystemType",
            "initialFilesystemLabel",
            "filesystemType",
        }
    ),
    "digitalocean:index/volumeAttachment:VolumeAttachment": frozenset({"dropletId", "volumeId"}),
    "digitalocean:index/vpc:Vpc": frozenset({"region", "ipRange"}),
    "digitalocean:index/domain:Domain": frozenset({"name", "ipAddress"}),
    "digitalocean:index/dnsRecord:DnsRecord": frozenset({"domain", "type"}),
    "digitalocean:index/spacesBucket:SpacesBucket": frozenset({"name", "region"}),
    "digitalocean:index/tag:Tag": frozenset({"name"}),
    "digitalocean:index/uptimeAlert:UptimeAlert": frozenset({"checkId"}),
    "digitalocean:index/firewall:Firewall": frozenset(),
    "digitalocean:index/monitorAlert:MonitorAlert": frozenset(),
    "digitalocean:index/uptimeCheck:UptimeCheck": frozenset(),
    "digitalocean:index/project:Project": frozenset(),
    "command:remote:Command": frozenset({"triggers"}),
    "command:remote:CopyToRemote": frozenset({"triggers", "remotePath"}),
    "command:local:Command": frozenset({"triggers"}),
}
# userData: a bootstrap that never changes; sshKeys: DigitalOcean injects them only when it creates a
# droplet, and a changed list would replace every droplet: a key rotation changes authorized_keys on the
# hosts instead (docs/ops/runbooks/rotate-ssh-key.md), and new droplets get the new list.
IGNORED_CHANGES: Mapping[str, tuple[str, ...]] = {DROPLET: ("userData", "sshKeys")}


@dataclass(frozen=True)
class Change:
    """One resource's planned change and the inputs that cause it."""

    name: str
    type: str
    action: str
    inputs: tuple[str, ...] = ()


@dataclass
class Plan:
    """Every change between the deployed graph and the new one (unchanged resources left out)."""

    changes: list[Change] = field(default_factory=list)

    def of(self, action: str) -> list[Change]:
        """Given an action, return the changes of that kind."""
        return [change for change in self.changes if change.action == action]


def plan_changes(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]) -> Plan:
    """Given two graphs' resources by logical name (``type``, ``custom``, ``inputs``), return the plan."""
    plan = Plan()
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if new is not None and not new.get("custom", True):
            continue  # components hold nothing themselves
        if old is None and new is not None:
            plan.changes.append(Change(name, str(new["type"]), "create"))
        elif new is None and old is not None:
            if old.get("custom", True):
                plan.changes.append(Change(name, str(old["type"]), "delete"))
        elif old is not None and new is not None:
            plan.changes += _compare(name, old, new)
    return plan


def _compare(name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    kind = str(new["type"])
    if kind != old["type"]:
        return [Change(name, kind, "replace", ("type",))]
    ignored = set(IGNORED_CHANGES.get(kind, ()))
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    changed = sorted(k for k in set(old_inputs) | set(new_inputs) if old_inputs.get(k) != new_inputs.get(k))
    changed = [k for k in changed if k not in ignored]
    if not changed:
        return []
    replacing = tuple(k for k in changed if k in REPLACED_BY.get(kind, frozenset()))
    if replacing:
        return [Change(name, kind, "replace", replacing)]
    return [Change(name, kind, "update", tuple(changed))]


def gated(plan: Plan, stateful_droplets: Iterable[str], allowed: Iterable[str]) -> list[Change]:
    """Given a plan, the stateful services' droplets and the names ``--allow-replace`` gave, return the
    replacements that are refused: a stateful droplet or any volume not named."""
    stateful, allowed = set(stateful_droplets), set(allowed)
    return [
        change
        for change in plan.of("replace") + plan.of("delete")
        if change.name not in allowed
        and ((change.type == DROPLET and change.name in stateful) or change.type == VOLUME)
    ]


def graph_resources(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Given a ``seawall preview --format json`` document, return its resources by logical name."""
    return {str(item["name"]): item for item in document.get("resources", [])}
