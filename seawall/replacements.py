"""Which changes replace a resource, and the plan between two graphs: create, update, replace, delete.

One table, here only, lists the inputs of every resource type Seawall declares whose change makes the
provider replace the resource (the DigitalOcean provider's ``ForceNew`` fields, pulumi-command's
``triggers``); ``IGNORED_CHANGES`` lists the inputs Seawall declares with ``ignore_changes`` (the
components read it from here), which never cause anything after creation. ``seawall preview --against``
prints the plan; ``seawall up`` refuses to replace a stateful service's droplet, any volume, any reserved IP
(its address is given back for good) or any managed database cluster (its data and point-in-time recovery go
with it) unless ``--allow-replace NAME`` names it. ``stateful_changes`` says what
each such resource is and which backup sets hold its data, so that both commands name them as such, with the
flags ``up`` will demand.

An input that is another resource's output is a reference (``{"ref": "network-vpc.id"}``): it changes when
it names another output. Graphs recorded before references held the offline engine's stand-in value
there instead, which counts as the same input (so the first plan after the change replaces nothing).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from seawall.model.schema import Environment, Volume
from seawall.render import referenced, stand_in_outputs

DROPLET = "digitalocean:index/droplet:Droplet"
VOLUME = "digitalocean:index/volume:Volume"
RESERVED_IP = "digitalocean:index/reservedIp:ReservedIp"
DATABASE_CLUSTER = "digitalocean:index/databaseCluster:DatabaseCluster"

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
    # A balancer is made again in another region, VPC, network or type (and gets another address); its name,
    # size, rules, health check and droplet tag change in place.
    "digitalocean:index/loadBalancer:LoadBalancer": frozenset({"region", "vpcUuid", "network", "networkStack", "type"}),
    # A certificate changes nothing in place: any change issues another one (the balancer names it by name).
    "digitalocean:index/certificate:Certificate": frozenset(
        {"name", "type", "domains", "privateKey", "leafCertificate", "certificateChain"}
    ),
    RESERVED_IP: frozenset({"region", "ipAddress"}),
    "digitalocean:index/reservedIpAssignment:ReservedIpAssignment": frozenset({"dropletId", "ipAddress"}),
    "digitalocean:index/sshKey:SshKey": frozenset({"publicKey"}),
    # Its name and grants change in place; the key pair stays the one the hosts hold.
    "digitalocean:index/spacesKey:SpacesKey": frozenset(),
    # A cluster is made again (empty: its data and point-in-time recovery go with the old one) for another name,
    # engine, VPC or project; its size, node count, region (a migration), version (an upgrade), maintenance window
    # and tags change in place.
    DATABASE_CLUSTER: frozenset({"name", "engine", "privateNetworkUuid", "projectId"}),
    # Firewall rules change in place; another cluster is another firewall.
    "digitalocean:index/databaseFirewall:DatabaseFirewall": frozenset({"clusterId"}),
    # A user of another name or cluster is another user (with another password the hosts get anew).
    "digitalocean:index/databaseUser:DatabaseUser": frozenset({"clusterId", "name"}),
    "digitalocean:index/databaseDb:DatabaseDb": frozenset({"clusterId", "name"}),
    # The provider updates nothing of a pool in place.
    "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool": frozenset(
        {"clusterId", "name", "user", "mode", "size", "dbName"}
    ),
    # A replica resizes in place; anything else makes another one.
    "digitalocean:index/databaseReplica:DatabaseReplica": frozenset(
        {"clusterId", "name", "region", "privateNetworkUuid", "tags"}
    ),
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
    same = _Same(after)
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
            plan.changes += _compare(name, old, new, same)
    return plan


class _Same:
    """Whether an input is unchanged: equal, or a stand-in value an earlier graph recorded where the new
    graph (``after``) records the reference it stood in for."""

    def __init__(self, after: Mapping[str, Mapping[str, Any]]) -> None:
        self.after = after

    def __call__(self, old: Any, new: Any) -> bool:
        if old == new:
            return True
        target = referenced(new)
        if target is not None and old is not None and referenced(old) is None:
            stand_in = self._stand_in(*target)
            return stand_in is not None and str(old) == str(stand_in)
        if isinstance(old, dict) and isinstance(new, dict):
            return old.keys() == new.keys() and all(self(old[key], new[key]) for key in old)
        if isinstance(old, list) and isinstance(new, list):
            return len(old) == len(new) and all(self(a, b) for a, b in zip(old, new, strict=True))
        return False

    def _stand_in(self, name: str, output: str) -> Any:
        item = self.after.get(name)
        if item is None:
            return None
        return stand_in_outputs(name, str(item.get("type", "")), dict(item.get("inputs") or {})).get(output)


def _compare(name: str, old: Mapping[str, Any], new: Mapping[str, Any], same: _Same) -> list[Change]:
    kind = str(new["type"])
    if kind != old["type"]:
        return [Change(name, kind, "replace", ("type",))]
    ignored = set(IGNORED_CHANGES.get(kind, ()))
    old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
    changed = sorted(k for k in set(old_inputs) | set(new_inputs) if not same(old_inputs.get(k), new_inputs.get(k)))
    changed = [k for k in changed if k not in ignored]
    if not changed:
        return []
    replacing = tuple(k for k in changed if k in REPLACED_BY.get(kind, frozenset()))
    if replacing:
        return [Change(name, kind, "replace", replacing)]
    return [Change(name, kind, "update", tuple(changed))]


def gated(plan: Plan, stateful_droplets: Iterable[str], allowed: Iterable[str]) -> list[Change]:
    """Given a plan, the stateful services' droplets and the names ``--allow-replace`` gave, return the
    replacements that are refused: a stateful droplet, any volume, reserved IP or database cluster not named."""
    stateful, allowed = set(stateful_droplets), set(allowed)
    return [
        change
        for change in plan.of("replace") + plan.of("delete")
        if change.name not in allowed
        and (
            (change.type == DROPLET and change.name in stateful)
            or change.type in (VOLUME, RESERVED_IP, DATABASE_CLUSTER)
        )
    ]


# The kinds whose resources the components declare protected (``protect=True``): the engine refuses to replace or
# delete them, whatever ``--allow-replace`` says, until the stack's record of each is unprotected.
PROTECTED_KINDS = frozenset({"reserved ip", "database"})


@dataclass(frozen=True)
class StatefulChange:
    """A replaced or deleted droplet of a stateful service, volume, reserved IP or database cluster: what it is and
    what data it holds (a reserved IP holds its address)."""

    change: Change
    kind: str  # droplet, volume, reserved ip or database
    service: str | None  # None: a volume of a service the model no longer declares
    what: str
    holds: str
    backup_sets: tuple[str, ...] = ()


def stateful_changes(env: Environment, plan: Plan) -> list[StatefulChange]:
    """Given an environment and a plan, return every replacement or deletion ``seawall up`` refuses
    unless ``--allow-replace`` names it: a stateful service's droplet (``db-1``), any volume, reserved IP or
    database cluster."""
    found = []
    for change in plan.of("replace") + plan.of("delete"):
        if change.type == VOLUME:
            found.append(_volume_change(env, change))
        elif change.type == RESERVED_IP:
            found.append(_address_change(env, change))
        elif change.type == DATABASE_CLUSTER:
            found.append(_database_change(env, change))
        elif change.type == DROPLET:
            service = _owner(env, change.name, r"-\d+")
            if service is not None and env.services[service].is_stateful:
                found.append(_droplet_change(env, change, service))
    return found


def allow_replace_names(changes: Iterable[StatefulChange]) -> list[str]:
    """Given stateful changes, return the names ``seawall up`` needs, each once, in plan order."""
    return list(dict.fromkeys(item.change.name for item in changes))


def _owner(env: Environment, name: str, suffix: str) -> str | None:
    """Given a resource name, return the service whose ``<service>-<index><suffix>`` it is, or None."""
    for service in sorted(env.services, key=len, reverse=True):
        if re.fullmatch(re.escape(service) + suffix, name):
            return service
    return None


def _sets_text(env: Environment, sets: Iterable[str]) -> str:
    return "; ".join(f"{name}: {', '.join(env.backup_sets[name].paths)}" for name in sets)


def _droplet_change(env: Environment, change: Change, name: str) -> StatefulChange:
    service = env.services[name]
    what = f"the droplet of {name}, a stateful service" + (f": {service.description}" if service.description else "")
    sets = tuple(s for s in service.backup_sets if s in env.backup_sets)
    holds = f"backed up by {_sets_text(env, sets)}" if sets else "no backup set holds its data: it is lost with it"
    return StatefulChange(change, "droplet", name, what, holds, sets)


def _volume_change(env: Environment, change: Change) -> StatefulChange:
    name = _owner(env, change.name, r"-\d+-volume")
    service = env.services[name] if name is not None else None
    if service is None or service.volume is None:
        what = "a volume of a service this model no longer declares"
        return StatefulChange(change, "volume", None, what, "whatever it holds is lost with it")
    droplet = change.name.removesuffix("-volume")
    volume = service.volume
    what = f"the volume of {droplet} (service {name}), {volume.size_gb} GB at {volume.mount}"
    sets = tuple(s for s in service.backup_sets if s in env.backup_sets and _holds(env, s, volume))
    holds = f"backed up by {_sets_text(env, sets)}" if sets else "no backup set holds its data: it is lost with it"
    return StatefulChange(change, "volume", name, what, holds, sets)


def _address_change(env: Environment, change: Change) -> StatefulChange:
    """Given a replaced or deleted reserved IP (``db-1-address-ip``), return what it is: an address DigitalOcean
    never gives out again, named in DNS and in the firewalls of whoever admits the droplet by it."""
    droplet = change.name.removesuffix("-address-ip")
    service = _owner(env, droplet, r"-\d+")
    what = f"the reserved IP of {droplet}" + (f" (service {service})" if service else " (a service no longer declared)")
    holds = (
        "its address is given back for good: DNS moves to a new one, and every firewall that admits it by address must"
    )
    return StatefulChange(change, "reserved ip", service, what, holds)


def _database_change(env: Environment, change: Change) -> StatefulChange:
    """Given a replaced or deleted database cluster (``index-database-cluster``), return what it is: a managed
    database whose data, backups and point-in-time recovery go with it (no backup set of Seawall's holds them)."""
    name = change.name.removesuffix("-database-cluster")
    cluster = env.databases.get(name)
    if cluster is None:
        what = f"the managed database {name}, which this model no longer declares"
    else:
        what = f"the managed database {name} ({cluster.engine} {cluster.version}, {cluster.node_count} node(s))"
        what += f": {cluster.description}" if cluster.description else ""
    holds = (
        "its data, DigitalOcean's backups of it and its point-in-time recovery are deleted with it: a new cluster "
        "starts empty (restore it from a backup first: docs/databases.md)"
    )
    return StatefulChange(change, "database", None, what, holds)


def _holds(env: Environment, set_name: str, volume: Volume) -> bool:
    """Given a set of the volume's service, return whether it holds the volume's data: a path inside the
    mount, or the set named in ``protected_by`` (a dump its hook writes)."""
    mount = PurePosixPath(volume.mount)
    inside = any(PurePosixPath(path).is_relative_to(mount) for path in env.backup_sets[set_name].paths)
    return inside or set_name in volume.protected_by


def resources_by_name(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Given a ``seawall preview --format json`` document, return its resources by logical name."""
    return {str(item["name"]): item for item in document.get("resources", [])}
