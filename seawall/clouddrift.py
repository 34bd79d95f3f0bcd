"""``seawall drift ENV --cloud``: DigitalOcean's droplets, firewalls, DNS records, volumes, load balancers,
reserved IPs and managed databases against the graph.

Two parts. ``compare_cloud`` is pure: given the deployed graph's JSON (``ledger/ENV.deployed.json``) and
DigitalOcean's answers (the JSON of its list endpoints, ``CloudAnswers``), it returns every difference and
what it could not compare. The rest is a thin layer over DigitalOcean's official client, pydo: the token
(``DIGITALOCEAN_TOKEN``, read-only is enough), the endpoint, bounded paging, and each failure in one line.

Only those kinds, and only the fields Seawall sets, are compared; an input that is another resource's
output (a reference in the graph) is compared where DigitalOcean's answers hold that output (a droplet's
public and private addresses), and any other is named, never guessed.
``pulumi refresh``, the provider reading every resource it manages, is the complete answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from seawall.errors import CloudError, ToolMissing, UsageError
from seawall.logs import register_secret
from seawall.render import SECRET_MARK, UNKNOWN_MARK, referenced
from seawall.replacements import DROPLET, VOLUME

if TYPE_CHECKING:
    from seawall.model.schema import Environment

logger = logging.getLogger(__name__)

TOKEN_ENV = "DIGITALOCEAN_TOKEN"  # noqa: S105 - the variable's name, not a token
ENDPOINT_ENV = "SEAWALL_DIGITALOCEAN_ENDPOINT"
DEFAULT_ENDPOINT = "https://api.digitalocean.com"
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})  # plain http is accepted only there (a stand-in)
PER_PAGE = 200  # the API's largest page
MAX_PAGES = 50  # of each list: 10,000 resources of a kind, more than one environment holds
SCOPE = (
    "Compared: only DigitalOcean's droplets, firewalls, DNS records, volumes, load balancers, reserved IPs and "
    "managed databases, and only the fields Seawall sets; `pulumi refresh` is the complete answer."
)
INSTALL_PYDO = (
    "--cloud needs DigitalOcean's Python client pydo, which is not installed: "
    "pip install 'seawall[cloud]' (or pip install 'pydo>=0.44,<1') into Seawall's environment"
)
FIREWALL = "digitalocean:index/firewall:Firewall"
DNS_RECORD = "digitalocean:index/dnsRecord:DnsRecord"
DOMAIN = "digitalocean:index/domain:Domain"
VPC = "digitalocean:index/vpc:Vpc"
ATTACHMENT = "digitalocean:index/volumeAttachment:VolumeAttachment"
LOAD_BALANCER = "digitalocean:index/loadBalancer:LoadBalancer"
RESERVED_IP = "digitalocean:index/reservedIp:ReservedIp"
ASSIGNMENT = "digitalocean:index/reservedIpAssignment:ReservedIpAssignment"
DATABASE = "digitalocean:index/databaseCluster:DatabaseCluster"
DATABASE_FIREWALL = "digitalocean:index/databaseFirewall:DatabaseFirewall"
# The droplet outputs a DNS record may hold, and which of DigitalOcean's networks of the droplet each is.
DROPLET_ADDRESSES = {"ipv4Address": "public", "ipv4AddressPrivate": "private"}
# The records DigitalOcean keeps in every domain it serves: never drift.
PROVIDER_RECORDS = frozenset({("NS", "@"), ("SOA", "@")})


@dataclass(frozen=True)
class CloudDifference:
    """One difference: the kind and DigitalOcean name of the resource, the field, what the graph deployed and
    what DigitalOcean holds."""

    kind: str
    resource: str
    field: str
    deployed: str
    found: str

    def as_json(self) -> dict[str, str]:
        """Return the difference as JSON-ready data."""
        return asdict(self)

    def row(self) -> tuple[str, str, str, str]:
        """Return the difference as a table's row: resource, field, deployed, found."""
        return (f"{self.kind} {self.resource}", self.field, self.deployed, self.found)


@dataclass
class CloudComparison:
    """Every difference, and what could not be compared (and why)."""

    differences: list[CloudDifference] = field(default_factory=list)
    not_compared: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """Return the comparison as JSON-ready data, with what it covers."""
        return {
            "scope": SCOPE,
            "differences": [item.as_json() for item in self.differences],
            "not_compared": self.not_compared,
        }


@dataclass(frozen=True)
class CloudAnswers:
    """What DigitalOcean listed: the environment's droplets (by its tag), every firewall, volume and VPC, each
    domain's records (None: the domain is not there), and what was odd about the lists."""

    droplets: list[dict[str, Any]]
    firewalls: list[dict[str, Any]]
    volumes: list[dict[str, Any]]
    vpcs: list[dict[str, Any]]
    records: dict[str, list[dict[str, Any]] | None]
    problems: tuple[str, ...] = ()
    # (#31) None: not listed, so not compared (and said so); the databases' firewall rules by cluster name.
    load_balancers: list[dict[str, Any]] | None = None
    reserved_ips: list[dict[str, Any]] | None = None
    databases: list[dict[str, Any]] | None = None
    database_rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


# The pure comparison.


class _Graph:
    """The deployed graph's DigitalOcean resources, by logical name, with what each depends on."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.environment = str(document.get("environment", ""))
        self.resources = {
            str(item.get("name")): item for item in document.get("resources", []) if isinstance(item, dict)
        }
        self.dependencies = document.get("dependencies") or {}

    def of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        """Return every resource of one type: its logical name and inputs, by logical name."""
        found = [(name, item.get("inputs") or {}) for name, item in self.resources.items() if item.get("type") == kind]
        return sorted(found, key=lambda pair: pair[0])

    def needs(self, name: str, kind: str) -> list[dict[str, Any]]:
        """Return the inputs of every resource of one type that ``name`` depends on."""
        wanted = [self.resources.get(str(dep)) or {} for dep in self.dependencies.get(name, [])]
        return [item.get("inputs") or {} for item in wanted if item.get("type") == kind]

    def domains(self) -> list[str]:
        """Return the domains the graph declares."""
        return sorted({str(inputs["name"]) for _, inputs in self.of_type(DOMAIN) if inputs.get("name")})

    @property
    def tag(self) -> str:
        """Return the tag every droplet and volume of the environment carries."""
        return f"env:{self.environment}"


def graph_domains(document: Mapping[str, Any]) -> list[str]:
    """Given the deployed graph's JSON, return the domains it declares."""
    return _Graph(document).domains()


def compare_cloud(document: Mapping[str, Any], answers: CloudAnswers) -> CloudComparison:
    """Given the deployed graph's JSON and DigitalOcean's answers, return every difference (missing, changed,
    extra) of droplets, firewalls, DNS records and volumes, and what could not be compared."""
    graph = _Graph(document)
    result = CloudComparison(not_compared=list(answers.problems))
    kinds = (("droplets", _compare_droplets), ("firewalls", _compare_firewalls), ("DNS records", _compare_records))
    more = (
        ("load balancers", _compare_balancers),
        ("reserved IPs", _compare_reserved),
        ("databases", _compare_databases),
    )
    for kind, compare in (*kinds, ("volumes", _compare_volumes), *more):
        try:
            compare(graph, answers, result)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:  # an answer is data, not truth
            msg = f"DigitalOcean's answer about {kind} is not in the shape of its API ({type(exc).__name__}: {exc})"
            raise CloudError(msg) from None
    return result


def _known(value: Any) -> bool:
    return value is not None and value not in (UNKNOWN_MARK, SECRET_MARK) and referenced(value) is None


def _listed(values: Iterable[Any] | None) -> str:
    shown = sorted({str(value) for value in values or ()})
    return ", ".join(shown) if shown else "none"


def _missing(kind: str, name: str, where: str) -> CloudDifference:
    return CloudDifference(kind, name, "exists", "yes", f"no: {where}")


def _extra(kind: str, name: str, why: str) -> CloudDifference:
    return CloudDifference(kind, name, "exists", "no (not in the deployed graph)", f"yes: {why}")


def _by_name(items: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(item["name"]): item for item in items if item.get("name")}


def _slug(value: Any) -> str | None:
    return str(value.get("slug")) if isinstance(value, dict) and value.get("slug") else None


def _droplet_ipv4(droplet: Mapping[str, Any], kind: str) -> str | None:
    """Given DigitalOcean's droplet and ``public`` or ``private``, return that IPv4 address, or None."""
    networks = (droplet.get("networks") or {}).get("v4") or []
    return next((str(n.get("ip_address")) for n in networks if isinstance(n, dict) and n.get("type") == kind), None)


def _compare_droplets(graph: _Graph, answers: CloudAnswers, result: CloudComparison) -> None:
    live = _by_name(answers.droplets)
    vpcs = {str(vpc.get("id")): str(vpc.get("name")) for vpc in answers.vpcs}
    declared = set()
    for logical, inputs in graph.of_type(DROPLET):
        name = str(inputs.get("name", logical))
        declared.add(name)
        droplet = live.get(name)
        if droplet is None:
            result.differences.append(_missing("droplet", name, f"no droplet of that name is tagged {graph.tag}"))
            continue
        image = _slug(droplet.get("image"))
        if image is None:
            image_id = (droplet.get("image") or {}).get("id")
            result.not_compared.append(f"droplet {name}: image (DigitalOcean names it by id {image_id}, no slug)")
        checks = [
            ("size", inputs.get("size"), droplet.get("size_slug")),
            ("region", inputs.get("region"), _slug(droplet.get("region"))),
            ("image", inputs.get("image"), image if image is not None else inputs.get("image")),
            ("tags", _listed(inputs.get("tags")), _listed(droplet.get("tags"))),
            ("backups", _on(inputs.get("backups")), _on("backups" in (droplet.get("features") or []))),
        ]
        for what, deployed, found in checks:
            if str(deployed) != str(found):
                result.differences.append(CloudDifference("droplet", name, what, str(deployed), str(found)))
        _compare_vpc(graph, logical, name, inputs, droplet, vpcs, result)
    for name in sorted(set(live) - declared):
        result.differences.append(_extra("droplet", name, f"tagged {graph.tag}"))


def _on(value: Any) -> str:
    return "on" if value else "off"


def _compare_vpc(
    graph: _Graph,
    logical: str,
    name: str,
    inputs: Mapping[str, Any],
    droplet: Mapping[str, Any],
    vpcs: Mapping[str, str],
    result: CloudComparison,
) -> None:
    """The droplet's VPC: the graph knows the VPC's name (its id is an output), DigitalOcean the droplet's id."""
    found_id = str(droplet.get("vpc_uuid") or "")
    found = vpcs.get(found_id, found_id or "none")
    declared = [str(vpc.get("name")) for vpc in graph.needs(logical, VPC) if vpc.get("name")]
    if declared:
        if found != declared[0]:
            result.differences.append(CloudDifference("droplet", name, "vpc", declared[0], found))
    elif _known(inputs.get("vpcUuid")):
        if found_id != str(inputs["vpcUuid"]):
            result.differences.append(CloudDifference("droplet", name, "vpc", str(inputs["vpcUuid"]), found))
    elif inputs.get("vpcUuid") is not None:
        result.not_compared.append(f"droplet {name}: vpc (not known offline)")


def _rule_text(protocol: Any, ports: Any, target: Mapping[str, Any], way: str) -> str:
    """One firewall rule as text, the same for the graph's and DigitalOcean's spelling: ``tcp 22 from
    203.0.113.0/24``. DigitalOcean answers ``0`` for all ports (and for ICMP, which has none)."""
    protocol = str(protocol or "")
    ports = str(ports or "")
    if protocol == "icmp":
        ports = ""
    elif ports in ("0", "all", "1-65535", ""):
        ports = "all ports"
    parts = [f"{way} {label} {_listed(values)}" for label, values in target.items() if values]
    return " ".join(part for part in (protocol, ports, *parts) if part)


def _graph_rule(rule: Mapping[str, Any], prefix: str, way: str) -> str:
    target = {
        "addresses": rule.get(f"{prefix}Addresses"),
        "tags": rule.get(f"{prefix}Tags"),
        "droplets": rule.get(f"{prefix}DropletIds"),
        "load balancers": _by_id(rule.get(f"{prefix}LoadBalancerUids")),
        "kubernetes": rule.get(f"{prefix}KubernetesIds"),
    }
    return _rule_text(rule.get("protocol"), rule.get("portRange"), target, way)


def _by_id(uids: Any) -> list[str] | None:
    """Given a rule's load balancers, return how many it admits: the graph holds each as a reference to the
    balancer's id (not known offline), DigitalOcean as the id, so only their number is compared."""
    return [f"{len(uids)} by id"] if isinstance(uids, list) and uids else None


def _live_rule(rule: Mapping[str, Any], key: str, way: str) -> str:
    side = rule.get(key) or {}
    target = {
        "addresses": side.get("addresses"),
        "tags": side.get("tags"),
        "droplets": side.get("droplet_ids"),
        "load balancers": _by_id(side.get("load_balancer_uids")),
        "kubernetes": side.get("kubernetes_ids"),
    }
    return _rule_text(rule.get("protocol"), rule.get("ports"), target, way)


# Each direction: its name, the graph's key and prefix, DigitalOcean's key and side, and the word before a target.
_DIRECTIONS = (
    ("inbound rule", "inboundRules", "source", "inbound_rules", "sources", "from"),
    ("outbound rule", "outboundRules", "destination", "outbound_rules", "destinations", "to"),
)


def _compare_firewalls(graph: _Graph, answers: CloudAnswers, result: CloudComparison) -> None:
    live = _by_name(answers.firewalls)
    declared = set()
    for _, inputs in graph.of_type(FIREWALL):
        name = str(inputs.get("name"))
        declared.add(name)
        firewall = live.get(name)
        if firewall is None:
            result.differences.append(_missing("firewall", name, "no firewall of that name"))
            continue
        if any(rule.get("sourceLoadBalancerUids") for rule in inputs.get("inboundRules") or []):
            result.not_compared.append(f"firewall {name}: which load balancer it admits (its id, not known offline)")
        for what, graph_key, prefix, live_key, side, way in _DIRECTIONS:
            deployed = {_graph_rule(rule, prefix, way) for rule in inputs.get(graph_key) or []}
            found = {_live_rule(rule, side, way) for rule in firewall.get(live_key) or [] if isinstance(rule, dict)}
            for rule in sorted(deployed - found):
                result.differences.append(CloudDifference("firewall", name, what, rule, "absent"))
            for rule in sorted(found - deployed):
                result.differences.append(CloudDifference("firewall", name, what, "absent", rule))
        tags, found_tags = _listed(inputs.get("tags")), _listed(firewall.get("tags"))
        if tags != found_tags:
            result.differences.append(CloudDifference("firewall", name, "droplet tags", tags, found_tags))
        if firewall.get("droplet_ids") and not inputs.get("dropletIds"):
            ids = _listed(firewall.get("droplet_ids"))
            result.differences.append(CloudDifference("firewall", name, "droplets", "none (by tag only)", ids))
        if firewall.get("status") == "failed":
            result.differences.append(CloudDifference("firewall", name, "status", "succeeded", "failed"))
    _extra_firewalls(graph, answers, live, declared, result)


def _extra_firewalls(
    graph: _Graph,
    answers: CloudAnswers,
    live: Mapping[str, Mapping[str, Any]],
    declared: set[str],
    result: CloudComparison,
) -> None:
    """A firewall the graph does not declare counts when it applies to the environment's droplets (by one of
    their tags or by id)."""
    tags = {str(tag) for _, inputs in graph.of_type(DROPLET) for tag in inputs.get("tags") or []}
    ids = {droplet.get("id") for droplet in answers.droplets}
    for name in sorted(set(live) - declared):
        firewall = live[name]
        by_tag = tags & {str(tag) for tag in firewall.get("tags") or []}
        by_id = ids & set(firewall.get("droplet_ids") or [])
        if by_tag or by_id:
            why = f"applies to tags {_listed(by_tag)}" if by_tag else f"applies to droplets {_listed(by_id)}"
            result.differences.append(_extra("firewall", name, why))


def _record_name(name: Any) -> str:
    return str(name or "@")


def _value(text: Any) -> str:
    return str(text).rstrip(".").lower()


def _compare_records(graph: _Graph, answers: CloudAnswers, result: CloudComparison) -> None:
    for domain in graph.domains():
        records = answers.records.get(domain)
        if records is None:
            result.differences.append(_missing("domain", domain, "DigitalOcean serves no such domain"))
            continue
        expected = _expected_records(graph, domain, answers, result)
        live: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for record in records:
            live.setdefault((str(record.get("type")), _record_name(record.get("name"))), []).append(record)
        for (kind, name), (values, unknown, ttls) in sorted(expected.items()):
            label = _record_label(kind, name, domain)
            _compare_record_set(label, values, unknown, ttls, live.get((kind, name), []), result)
        for kind, name in sorted(set(live) - set(expected) - PROVIDER_RECORDS):
            label = _record_label(kind, name, domain)
            shown = _listed(_value(record.get("data")) for record in live[(kind, name)])
            result.differences.append(_extra("dns", label, shown))


def _record_label(kind: str, name: str, domain: str) -> str:
    return f"{kind} {domain}" if name == "@" else f"{kind} {name}.{domain}"


def _expected_records(
    graph: _Graph, domain: str, answers: CloudAnswers, result: CloudComparison
) -> dict[tuple[str, str], tuple[set[str], int, set[str]]]:
    """Given a domain, return each (type, name) the graph declares in it: the values known, how many are not
    known, and the TTLs. A record that holds a droplet's address (a reference to its public or private
    address) is compared with the address DigitalOcean's droplet answer gives."""
    droplets = _by_name(answers.droplets)
    expected: dict[tuple[str, str], tuple[set[str], int, set[str]]] = {}
    for logical, inputs in graph.of_type(DNS_RECORD):
        if str(inputs.get("domain")) != domain:
            continue
        key = (str(inputs.get("type")), _record_name(inputs.get("name")))
        values, unknown, ttls = expected.get(key, (set(), 0, set()))
        value, why = _record_value(graph, logical, inputs, droplets)
        if value is None:
            result.not_compared.append(f"dns {_record_label(*key, domain)}: its value ({why})")
            unknown += 1
        else:
            values.add(value)
        if inputs.get("ttl") is not None:
            ttls.add(str(inputs["ttl"]))
        expected[key] = (values, unknown, ttls)
    return expected


def _record_value(
    graph: _Graph, logical: str, inputs: Mapping[str, Any], droplets: Mapping[str, Mapping[str, Any]]
) -> tuple[str | None, str]:
    """Given a DNS record of the graph, return the value DigitalOcean should hold, or None and why it is not
    known. A graph recorded before references holds a stand-in of its droplet's public address."""
    target = referenced(inputs.get("value"))
    owners = graph.needs(logical, DROPLET)
    if target is not None and target[1] in DROPLET_ADDRESSES:
        owner = str((graph.resources.get(target[0], {}).get("inputs") or {}).get("name", target[0]))
        kind = DROPLET_ADDRESSES[target[1]]
    elif target is None and owners:
        owner, kind = str(owners[0].get("name")), "public"
    elif target is None and _known(inputs.get("value")):
        return _value(inputs["value"]), ""
    else:
        return None, "another resource's output, not known offline; its type, name and TTL are compared"
    address = _droplet_ipv4(droplets[owner], kind) if owner in droplets else None
    return address, f"the {kind} address of {owner}, which is missing"


def _compare_record_set(
    label: str,
    values: set[str],
    unknown: int,
    ttls: set[str],
    live: list[Mapping[str, Any]],
    result: CloudComparison,
) -> None:
    """One name's records of one type: all of them exist, with the values known, and no others."""
    if not live:
        result.differences.append(_missing("dns", label, "no record of that type and name"))
        return
    found = {_value(record.get("data")) for record in live}
    count = len(values) + unknown
    if (unknown == 0 and found != values) or not values <= found or len(live) != count:
        deployed = _listed(values) + (f" and {unknown} not known offline" if unknown else "")
        if not values:
            deployed = f"{count} record{'s' if count != 1 else ''}, not known offline"
        result.differences.append(CloudDifference("dns", label, "value", deployed, _listed(found)))
    found_ttls = {str(record.get("ttl")) for record in live}
    if ttls and found_ttls != ttls:
        result.differences.append(CloudDifference("dns", label, "ttl", _listed(ttls), _listed(found_ttls)))


def _compare_volumes(graph: _Graph, answers: CloudAnswers, result: CloudComparison) -> None:
    live = _by_name(answers.volumes)
    droplet_names = {droplet.get("id"): str(droplet.get("name")) for droplet in answers.droplets}
    declared = set()
    for logical, inputs in graph.of_type(VOLUME):
        name = str(inputs.get("name", logical))
        declared.add(name)
        volume = live.get(name)
        if volume is None:
            result.differences.append(_missing("volume", name, "no volume of that name"))
            continue
        checks = [
            ("size", f"{inputs.get('size')} GB", f"{volume.get('size_gigabytes')} GB"),
            ("region", inputs.get("region"), _slug(volume.get("region"))),
            ("tags", _listed(inputs.get("tags")), _listed(volume.get("tags"))),
        ]
        if inputs.get("initialFilesystemType"):
            checks.append(("filesystem", inputs["initialFilesystemType"], volume.get("filesystem_type") or "none"))
        attached = {droplet_names.get(i, f"droplet {i}") for i in volume.get("droplet_ids") or []}
        for attachment, _ in graph.of_type(ATTACHMENT):
            if any(v.get("name") == name for v in graph.needs(attachment, VOLUME)):
                owners = [str(d.get("name")) for d in graph.needs(attachment, DROPLET)]
                checks.append(("attached to", _listed(owners), _listed(attached)))
        for what, deployed, found in checks:
            if str(deployed) != str(found):
                result.differences.append(CloudDifference("volume", name, what, str(deployed), str(found)))
    for name in sorted(set(live) - declared):
        if graph.tag in (live[name].get("tags") or []):
            result.differences.append(_extra("volume", name, f"tagged {graph.tag}"))


def _unlisted(graph: _Graph, kind: str, what: str, result: CloudComparison) -> None:
    """Note that DigitalOcean's list of ``what`` was not read, when the graph declares one."""
    if graph.of_type(kind):
        result.not_compared.append(f"{what}: DigitalOcean's list was not read")


def _compare_balancers(graph: _Graph, answers: CloudAnswers, result: CloudComparison) -> None:
    """Each balancer by name: region, size, droplet tag, the HTTP redirect, forwarding and health check; its
    certificate and VPC are other resources' ids (not known offline), said so."""
    if answers.load_balancers is None:
        _unlisted(graph, LOAD_BALANCER, "load balancers", result)
        return
    live = _by_name(answers.load_balancers)
    for _, inputs in graph.of_type(LOAD_BALANCER):
        name = str(inputs.get("name"))
        balancer = live.get(name)
        if balancer is None:
            result.differences.append(_missing("load balancer", name, "no load balancer of that name"))
            continue
        health = inputs.get("healthcheck") or {}
        found_health = balancer.get("health_check") or {}
        deployed_rules = {
            f"{r.get('entryProtocol')} {r.get('entryPort')} to {r.get('targetProtocol')} {r.get('targetPort')}"
            for r in inputs.get("forwardingRules") or []
        }
        found_rules = {
            f"{r.get('entry_protocol')} {r.get('entry_port')} to {r.get('target_protocol')} {r.get('target_port')}"
            for r in balancer.get("forwarding_rules") or []
            if isinstance(r, dict)
        }
        region = balancer.get("region")
        checks = [
            ("region", inputs.get("region"), _slug(region) if isinstance(region, dict) else region),
            ("size unit", inputs.get("sizeUnit"), balancer.get("size_unit")),
            ("droplet tag", inputs.get("dropletTag"), balancer.get("tag") or "none"),
            ("redirect HTTP", _on(inputs.get("redirectHttpToHttps")), _on(balancer.get("redirect_http_to_https"))),
            ("forwarding", _listed(deployed_rules), _listed(found_rules)),
            (
                "health check",
                f"{health.get('protocol')} {health.get('port')} {health.get('path')}",
                f"{found_health.get('protocol')} {found_health.get('port')} {found_health.get('path')}",
            ),
        ]
        for what, deployed, found in checks:
            if str(deployed) != str(found):
                result.differences.append(CloudDifference("load balancer", name, what, str(deployed), str(found)))
        result.not_compared.append(f"load balancer {name}: its certificate and VPC (their ids, not known offline)")


def _compare_reserved(graph: _Graph, answers: CloudAnswers, result: CloudComparison) -> None:
    """Each assignment's droplet holds a reserved IP of the region; the address is an output (not known offline):
    only that one is assigned is compared, said so."""
    if answers.reserved_ips is None:
        _unlisted(graph, RESERVED_IP, "reserved IPs", result)
        return
    held: dict[str, list[Mapping[str, Any]]] = {}
    for address in answers.reserved_ips:
        droplet = address.get("droplet") or {}
        if isinstance(droplet, dict) and droplet.get("name"):
            held.setdefault(str(droplet["name"]), []).append(address)
    for logical, _ in graph.of_type(ASSIGNMENT):
        for droplet in graph.needs(logical, DROPLET):
            name = str(droplet.get("name"))
            region = str(droplet.get("region"))
            mine = held.get(name, [])
            if not mine:
                result.differences.append(_missing("reserved ip", name, "no reserved IP is assigned to the droplet"))
            elif all(_slug(a.get("region")) != region for a in mine):
                found = _listed(_slug(a.get("region")) for a in mine)
                result.differences.append(CloudDifference("reserved ip", name, "region", region, found))
    if graph.of_type(ASSIGNMENT):
        result.not_compared.append("reserved IPs: their addresses (outputs, not known offline; each one's droplet is)")


def _compare_databases(graph: _Graph, answers: CloudAnswers, result: CloudComparison) -> None:
    """Each cluster by name: engine, version, size, node count, region, tags and its trusted sources (the
    firewall's rules); its VPC is the network's id (not known offline), said so."""
    if answers.databases is None:
        _unlisted(graph, DATABASE, "managed databases", result)
        return
    live = _by_name(answers.databases)
    firewalls = dict(graph.of_type(DATABASE_FIREWALL))
    for logical, inputs in graph.of_type(DATABASE):
        name = str(inputs.get("name"))
        cluster = live.get(name)
        if cluster is None:
            result.differences.append(_missing("database", name, "no database cluster of that name"))
            continue
        checks = [
            ("engine", inputs.get("engine"), cluster.get("engine")),
            ("version", inputs.get("version"), cluster.get("version")),
            ("size", inputs.get("size"), cluster.get("size")),
            ("nodes", inputs.get("nodeCount"), cluster.get("num_nodes")),
            ("region", inputs.get("region"), cluster.get("region")),
            ("tags", _listed(inputs.get("tags")), _listed(cluster.get("tags"))),
        ]
        rules = (firewalls.get(logical.removesuffix("-cluster") + "-firewall") or {}).get("rules") or []
        if name in answers.database_rules:
            deployed = _listed(f"{rule.get('type')} {rule.get('value')}" for rule in rules)
            found = _listed(f"{rule.get('type')} {rule.get('value')}" for rule in answers.database_rules[name])
            checks.append(("trusted sources", deployed, found))
        else:
            result.not_compared.append(f"database {name}: its trusted sources (its firewall was not read)")
        for what, deployed_value, found_value in checks:
            if str(deployed_value) != str(found_value):
                result.differences.append(
                    CloudDifference("database", name, what, str(deployed_value), str(found_value))
                )
        result.not_compared.append(f"database {name}: its VPC (the network's id, not known offline)")


# The thin layer over pydo.


@dataclass(frozen=True)
class CloudAccess:
    """A client of DigitalOcean's API, where it points, and the options every request takes."""

    client: Any
    endpoint: str
    options: Mapping[str, Any] = field(default_factory=dict)


def cloud_access(environ: Mapping[str, str]) -> CloudAccess:
    """Given the process environment, return a client of DigitalOcean's API with the token in
    ``DIGITALOCEAN_TOKEN`` (masked from now on) at ``SEAWALL_DIGITALOCEAN_ENDPOINT`` (default: DigitalOcean's),
    or raise UsageError (no token, a bad endpoint) or ToolMissing (no pydo) saying what to do."""
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        msg = (
            f"--cloud reads DigitalOcean's API with a token in {TOKEN_ENV}, which is not set: export {TOKEN_ENV} "
            "(a read-only token is enough; never on the command line)"
        )
        raise UsageError(msg)
    register_secret(token)
    endpoint, plain = _endpoint(environ.get(ENDPOINT_ENV) or DEFAULT_ENDPOINT)
    try:
        import pydo
    except ImportError:
        raise ToolMissing(INSTALL_PYDO) from None
    # azure-core logs every request and response at INFO in several lines each: `-v` shows Seawall's own line.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    # A person waits: one quick retry of a refused connection, three of a busy API (azure-core's policy,
    # which also honours Retry-After); a request never hangs.
    client = pydo.Client(
        token=token,
        endpoint=endpoint,
        retry_total=3,
        retry_connect=1,
        retry_backoff_factor=0.5,
        connection_timeout=10,
        read_timeout=60,
    )
    return CloudAccess(client, endpoint, {"enforce_https": False} if plain else {})


def _endpoint(url: str) -> tuple[str, bool]:
    """Given the endpoint, return it as scheme://host[:port] and whether it is plain http (loopback only)."""
    parts = urlsplit(url.strip())
    loopback = (parts.hostname or "") in LOOPBACK
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise UsageError(f"{ENDPOINT_ENV}={url!r} is not an API address (https://host[:port])")
    if parts.scheme == "http" and not loopback:
        msg = (
            f"{ENDPOINT_ENV}={url!r}: DigitalOcean's API is reached over https only (plain http only on this "
            "machine, 127.0.0.1, for a stand-in), so that the token never crosses a network in clear"
        )
        raise UsageError(msg)
    return f"{parts.scheme}://{parts.netloc}", parts.scheme == "http"


def cloud_differences(env: Environment, document: Mapping[str, Any], access: CloudAccess) -> CloudComparison:
    """Given the environment, its deployed graph's JSON and a client of DigitalOcean's API, list the
    environment's droplets, firewalls, DNS records and volumes and return how they differ from the graph."""
    logger.info("listing %s's DigitalOcean resources at %s", env.name, access.endpoint)
    return compare_cloud(document, fetch_answers(access, env.name, graph_domains(document)))


def fetch_answers(access: CloudAccess, env_name: str, domains: Iterable[str]) -> CloudAnswers:
    """Given a client, the environment and its domains, return what DigitalOcean lists (every page)."""
    api = access.client
    problems: list[str] = []
    droplets = _every_page(access, "droplets", "droplets", api.droplets.list, problems, tag_name=f"env:{env_name}")
    firewalls = _every_page(access, "firewalls", "firewalls", api.firewalls.list, problems)
    volumes = _every_page(access, "volumes", "volumes", api.volumes.list, problems)
    vpcs = _every_page(access, "VPCs", "vpcs", api.vpcs.list, problems)
    records = {domain: _domain_records(access, domain, problems) for domain in domains}
    balancers = _every_page(access, "load balancers", "load_balancers", api.load_balancers.list, problems)
    reserved = _every_page(access, "reserved IPs", "reserved_ips", api.reserved_ips.list, problems)
    # The clusters' list is one answer (no pages); each cluster's firewall is a request of its own.
    answer = _request(access, "database clusters", api.databases.list_clusters, tag_name=f"env:{env_name}")
    databases = answer.get("databases") if isinstance(answer, dict) else None
    databases = _items({"databases": databases or []}, "database clusters", "databases")
    rules = {}
    for cluster in databases:
        call = api.databases.list_firewall_rules
        listed = _request(access, f"{cluster.get('name')}'s trusted sources", call, database_cluster_uuid=cluster["id"])
        rules[str(cluster.get("name"))] = _items(listed, f"{cluster.get('name')}'s trusted sources", "rules")
    return CloudAnswers(
        droplets, firewalls, volumes, vpcs, records, tuple(problems), balancers, reserved, databases, rules
    )


def _domain_records(access: CloudAccess, domain: str, problems: list[str]) -> list[dict[str, Any]] | None:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        call = access.client.domains.list_records
        return _every_page(access, f"{domain}'s records", "domain_records", call, problems, domain_name=domain)
    except CloudError as exc:
        if isinstance(exc.__cause__, ResourceNotFoundError):
            return None
        raise


def _every_page(
    access: CloudAccess,
    what: str,
    key: str,
    call: Callable[..., Any],
    problems: list[str],
    **params: Any,
) -> list[dict[str, Any]]:
    """Given a list endpoint, return every item of every page (``links.pages.next`` says there is another),
    at most MAX_PAGES; note where ``meta.total`` disagrees with what was listed."""
    items: list[dict[str, Any]] = []
    for page in range(1, MAX_PAGES + 1):
        answer = _request(access, what, call, page=page, per_page=PER_PAGE, **params)
        batch = _items(answer, what, key)
        items += batch
        pages = (answer.get("links") or {}).get("pages") or {}
        if not batch or not (isinstance(pages, dict) and pages.get("next")):
            break
    else:
        msg = f"DigitalOcean lists more than {MAX_PAGES} pages of {what}; compare them with `pulumi refresh`"
        raise CloudError(msg)
    total = (answer.get("meta") or {}).get("total")
    if isinstance(total, int) and total != len(items):
        problems.append(f"{what}: DigitalOcean counted {total} but listed {len(items)} (changed while listed?)")
    return items


def _items(answer: Any, what: str, key: str) -> list[dict[str, Any]]:
    """Given an answer, return its list of objects, or raise CloudError: an answer is data, not truth."""
    items = answer.get(key) if isinstance(answer, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise CloudError(f"DigitalOcean's answer listing {what} holds no list of {key}: not its API's answer")
    return items


def _request(access: CloudAccess, what: str, call: Callable[..., Any], **params: Any) -> Any:
    """Make one request; every failure becomes one CloudError line (the token is masked in any case)."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, HttpResponseError

    try:
        return call(**params, **access.options)
    except ClientAuthenticationError as exc:
        msg = f"DigitalOcean refused the token in {TOKEN_ENV} ({_said(exc)}): export a valid token (read-only will do)"
        raise CloudError(msg) from exc
    except HttpResponseError as exc:
        if exc.status_code == 403:
            msg = f"the token in {TOKEN_ENV} may not list {what} ({_said(exc)}): give it read access to {what}"
        else:
            msg = f"DigitalOcean answered listing {what} with {_said(exc)}; try again later"
        raise CloudError(msg) from exc
    except AzureError as exc:
        reason = " ".join(str(exc.message or exc).split())[:300]
        msg = f"cannot reach DigitalOcean's API at {access.endpoint} ({reason}); check the network"
        hint = f" and {ENDPOINT_ENV}" if access.endpoint != DEFAULT_ENDPOINT else ""
        raise CloudError(msg + hint) from exc
    except ValueError as exc:  # an answer that is not JSON
        raise CloudError(f"DigitalOcean's answer listing {what} is not JSON ({exc})") from exc


def _said(exc: Any) -> str:
    """Given an HTTP error, return its status and the API's own message (``{"id", "message"}``), short."""
    message = ""
    try:
        body = exc.response.json()
        message = str(body.get("message") or body.get("id") or "") if isinstance(body, dict) else ""
    except Exception:  # a body that is not JSON says nothing more
        message = ""
    status = f"{exc.status_code} {exc.reason or ''}".strip()
    text = " ".join(message.split())[:200]
    return f"{status}: {text}" if text else status
