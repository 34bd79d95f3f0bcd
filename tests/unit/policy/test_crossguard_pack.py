"""The CrossGuard pack: its validate functions called with hand-built arguments (camelCase properties),
without starting the pack's server (the Pulumi CLI that would start it cannot be installed here)."""

from __future__ import annotations

from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from seawall.policies import RULES
from seawall.policy.pack import build_policies

OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def _policy(name: str):
    return next(policy for policy in build_policies() if policy.name == name)


def _resource_args(kind: str, name: str, props: dict) -> ResourceValidationArgs:
    return ResourceValidationArgs(kind, props, f"urn:pulumi:mainnet::seawall::{kind}::{name}", name, OPTIONS, None)


def _stack_resource(kind: str, name: str, props: dict) -> PolicyResource:
    return PolicyResource(
        kind, props, f"urn:pulumi:mainnet::seawall::{kind}::{name}", name, OPTIONS, None, None, [], {}
    )


def _violations(policy, args) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    policy.validate(args, lambda message, urn=None: found.append((message, urn)))
    return found


def test_the_pack_has_one_policy_per_rule_with_the_same_levels() -> None:
    policies = build_policies()
    assert [policy.name for policy in policies] == [rule.id for rule in RULES]
    for policy, rule in zip(policies, RULES, strict=True):
        expected = EnforcementLevel.MANDATORY if rule.enforcement == "mandatory" else EnforcementLevel.ADVISORY
        assert policy.enforcement_level == expected
        assert isinstance(policy, ResourceValidationPolicy if rule.check_resource else StackValidationPolicy)


def test_an_open_ssh_port_is_reported_with_its_urn() -> None:
    policy = _policy("no-world-ssh-or-database")
    props = {
        "name": "mainnet-api",
        "inboundRules": [{"protocol": "tcp", "portRange": "22", "sourceAddresses": ["0.0.0.0/0"]}],
    }
    args = _resource_args("digitalocean:index/firewall:Firewall", "api-firewall", props)
    ((message, urn),) = _violations(policy, args)
    assert "SSH port 22 is open to the whole internet" in message
    assert urn == args.urn
    props["inboundRules"][0]["sourceAddresses"] = ["203.0.113.0/24"]
    assert _violations(policy, _resource_args("digitalocean:index/firewall:Firewall", "api-firewall", props)) == []


def test_a_public_bucket_is_reported() -> None:
    policy = _policy("bucket-private-versioned-lifecycle")
    props = {
        "acl": "public-read",
        "versioning": {"enabled": True},
        "lifecycleRules": [
            {"enabled": True, "noncurrentVersionExpiration": {"days": 30}, "abortIncompleteMultipartUploadDays": 7}
        ],
    }
    found = _violations(policy, _resource_args("digitalocean:index/spacesBucket:SpacesBucket", "b", props))
    assert [message.split(".")[0] for message, _ in found] == ["the bucket's acl is 'public-read', not private"]


def test_a_droplet_without_a_firewall_is_reported_by_the_stack_policy() -> None:
    policy = _policy("droplet-behind-firewall")
    resources = [
        _stack_resource("digitalocean:index/droplet:Droplet", "api-1", {"tags": ["mainnet-api"]}),
        _stack_resource("digitalocean:index/droplet:Droplet", "stray-1", {"tags": ["stray"]}),
        _stack_resource("digitalocean:index/firewall:Firewall", "api-firewall", {"tags": ["mainnet-api"]}),
    ]
    found = _violations(policy, StackValidationArgs(resources))
    assert len(found) == 1
    assert found[0][0].startswith("stray-1: no firewall targets this droplet's tags")
    assert found[0][1] == resources[1].urn


def test_production_droplets_need_backups_but_staging_ones_do_not() -> None:
    policy = _policy("production-droplet-backups")
    kind = "digitalocean:index/droplet:Droplet"
    assert _violations(policy, _resource_args(kind, "api-1", {"tags": ["tier:production"], "backups": False}))
    assert not _violations(policy, _resource_args(kind, "api-1", {"tags": ["tier:staging"], "backups": False}))
    good = {"tags": ["tier:production"], "backups": True, "backupPolicy": {"plan": "daily", "hour": 4}}
    assert not _violations(policy, _resource_args(kind, "api-1", good))


def test_a_production_droplet_open_on_443_to_the_internet_is_reported_and_one_behind_its_balancer_is_not() -> None:
    policy = _policy("production-http-behind-load-balancer")
    droplet = _stack_resource(
        "digitalocean:index/droplet:Droplet", "api-1", {"tags": ["mainnet-api", "tier:production"]}
    )
    direct = {"protocol": "tcp", "portRange": "443", "sourceAddresses": ["0.0.0.0/0", "::/0"]}
    balanced = {"protocol": "tcp", "portRange": "443", "sourceLoadBalancerUids": ["lb-1"]}
    kind = "digitalocean:index/firewall:Firewall"
    for rule, expected in ((direct, 1), (balanced, 0)):
        firewall = _stack_resource(
            kind, "api-firewall", {"name": "mainnet-api", "tags": ["mainnet-api"], "inboundRules": [rule]}
        )
        found = _violations(policy, StackValidationArgs([droplet, firewall]))
        assert len(found) == expected
    found = _violations(policy, StackValidationArgs([droplet, _stack_resource(kind, "api-firewall", {
        "name": "mainnet-api", "tags": ["mainnet-api"], "inboundRules": [direct]})]))  # fmt: skip
    assert found[0][0].startswith("api-firewall: production droplets of mainnet-api are open on 443 to the internet")
    assert found[0][1] == "urn:pulumi:mainnet::seawall::digitalocean:index/firewall:Firewall::api-firewall"


def test_a_load_balancer_without_https_or_redirect_is_reported() -> None:
    policy = _policy("load-balancer-https")
    kind = "digitalocean:index/loadBalancer:LoadBalancer"
    good = {
        "forwardingRules": [
            {"entryPort": 443, "entryProtocol": "https", "certificateName": "mainnet-api"},
            {"entryPort": 80, "entryProtocol": "http"},
        ],
        "redirectHttpToHttps": True,
        "healthcheck": {"path": "/healthz", "port": 443, "protocol": "https"},
    }
    assert _violations(policy, _resource_args(kind, "api-lb-balancer", good)) == []
    plain = {**good, "forwardingRules": [{"entryPort": 80, "entryProtocol": "http"}], "redirectHttpToHttps": False}
    found = [
        message.split(".")[0] for message, _ in _violations(policy, _resource_args(kind, "api-lb-balancer", plain))
    ]
    assert found == ["no HTTPS forwarding rule with a certificate", "HTTP is forwarded instead of redirected to HTTPS"]


CLUSTER = "digitalocean:index/databaseCluster:DatabaseCluster"
DATABASE_FIREWALL = "digitalocean:index/databaseFirewall:DatabaseFirewall"


def test_a_database_without_trusted_sources_or_open_to_the_internet_is_reported() -> None:
    policy = _policy("database-private-trusted-sources")
    cluster = _stack_resource(
        CLUSTER, "index-database-cluster", {"name": "mainnet-index", "privateNetworkUuid": "vpc-1", "nodeCount": 2}
    )
    tagged = {"clusterId": "c-1", "rules": [{"type": "tag", "value": "mainnet-api"}]}
    firewall = _stack_resource(DATABASE_FIREWALL, "index-database-firewall", tagged)
    assert _violations(policy, StackValidationArgs([cluster, firewall])) == []
    (found,) = _violations(policy, StackValidationArgs([cluster]))
    assert found[0].startswith("index-database-cluster: database mainnet-index has no trusted sources")
    assert found[1] == f"urn:pulumi:mainnet::seawall::{CLUSTER}::index-database-cluster"
    world = _stack_resource(
        DATABASE_FIREWALL, "index-database-firewall", {"rules": [{"type": "ip_addr", "value": "0.0.0.0/0"}]}
    )
    (found,) = _violations(policy, StackValidationArgs([cluster, world]))
    assert "database mainnet-index trusts the whole internet" in found[0]
    public = _stack_resource(CLUSTER, "index-database-cluster", {"name": "mainnet-index", "nodeCount": 2})
    (found,) = _violations(policy, StackValidationArgs([public, firewall]))
    assert "database mainnet-index is in no VPC" in found[0]


def test_a_production_database_without_a_standby_is_reported_and_a_staging_one_is_not() -> None:
    policy = _policy("production-database-standby")
    props = {"name": "mainnet-index", "nodeCount": 1, "tags": ["env:mainnet", "tier:production"]}
    ((message, urn),) = _violations(policy, _resource_args(CLUSTER, "index-database-cluster", props))
    assert message.startswith("database mainnet-index has 1 node(s): production needs a standby")
    assert urn is None or urn.endswith("::index-database-cluster")
    assert _violations(policy, _resource_args(CLUSTER, "index-database-cluster", {**props, "nodeCount": 2})) == []
    staging = {**props, "tags": ["env:testnet", "tier:staging"]}
    assert _violations(policy, _resource_args(CLUSTER, "index-database-cluster", staging)) == []
