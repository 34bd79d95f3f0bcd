"""Managed database: a DigitalOcean database cluster in the VPC, its firewall, users, databases, pools, replicas
and metrics alerts; the connection details each trusted service's hosts get, as Pulumi secrets."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_digitalocean as do

from seawall.components.monitoring import LABELS, Notify

# DigitalOcean's database metrics alerts (MonitorAlert types of the DBaaS, by the cluster's id as entity).
DATABASE_METRICS = {
    "cpu": "v1/dbaas/alerts/cpu_alerts",
    "memory": "v1/dbaas/alerts/memory_utilization_alerts",
    "disk": "v1/dbaas/alerts/disk_utilization_alerts",
}
SCHEMES = {"pg": "postgresql", "mysql": "mysql"}


@dataclass(frozen=True)
class Pool:
    name: str
    database: str
    user: str
    mode: str
    size: int


@dataclass(frozen=True)
class ManagedDatabaseArgs:
    """Plain values: the program turns a ``databases:`` entry into these."""

    env_name: str
    tier: str
    cluster_name: str
    engine: str
    version: str
    size: str
    node_count: int
    region: str
    vpc_id: pulumi.Input[str]
    users: Sequence[str]  # one per trusted service, of its name
    databases: Sequence[str]
    pools: Sequence[Pool] = ()
    read_replicas: int = 0
    replica_size: str | None = None
    maintenance: tuple[str, str] | None = None  # (day, hour)
    thresholds: dict[str, int] = field(default_factory=dict)
    window: str = "5m"
    notify: dict[str, Notify] = field(default_factory=dict)  # by metric; empty: no alerts


def cluster_label(env_name: str, cluster_name: str) -> str:
    """Given an environment and a cluster, return the cluster's DigitalOcean name (unique in an account)."""
    return f"{env_name}-{cluster_name}"


class ManagedDatabase(pulumi.ComponentResource):
    """One database cluster in the VPC (its private network), with a user per trusted service whose password is
    a Pulumi secret, its databases, pools, read replicas and alerts. ``admit`` declares its firewall once the
    trusted services' tags exist: the firewall admits their droplets by tag, nothing else."""

    def __init__(self, name: str, args: ManagedDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:database:ManagedDatabase", name, None, opts)
        self.args, self.resource_name = args, name
        child = pulumi.ResourceOptions(parent=self)
        label = cluster_label(args.env_name, args.cluster_name)
        tags = [f"env:{args.env_name}", f"tier:{args.tier}", f"database:{args.cluster_name}"]
        maintenance = (
            [do.DatabaseClusterMaintenanceWindowArgs(day=args.maintenance[0], hour=args.maintenance[1])]
            if args.maintenance is not None
            else None
        )
        # Protected: deleting a cluster deletes its data and its point-in-time recovery with it.
        self.cluster = do.DatabaseCluster(
            f"{name}-cluster",
            name=label,
            engine=args.engine,
            version=args.version,
            size=args.size,
            node_count=args.node_count,
            region=args.region,
            private_network_uuid=args.vpc_id,
            maintenance_windows=maintenance,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.databases = [
            do.DatabaseDb(f"{name}-db-{db}", cluster_id=self.cluster.id, name=db, opts=child) for db in args.databases
        ]
        # The provider generates each password and keeps it as a secret output: it is never in the program.
        self.users = {
            user: do.DatabaseUser(f"{name}-user-{user}", cluster_id=self.cluster.id, name=user, opts=child)
            for user in args.users
        }
        after = pulumi.ResourceOptions(parent=self, depends_on=[*self.databases, *self.users.values()])
        self.pools = {
            pool.name: do.DatabaseConnectionPool(
                f"{name}-pool-{pool.name}",
                cluster_id=self.cluster.id,
                name=pool.name,
                db_name=pool.database,
                user=pool.user,
                mode=pool.mode,
                size=pool.size,
                opts=after,
            )
            for pool in args.pools
        }
        self.replicas = [
            do.DatabaseReplica(
                f"{name}-replica-{index}",
                cluster_id=self.cluster.id,
                name=f"{label}-replica-{index}",
                region=args.region,
                size=args.replica_size or args.size,
                private_network_uuid=args.vpc_id,
                tags=tags,
                opts=child,
            )
            for index in range(1, args.read_replicas + 1)
        ]
        self.alerts = [
            do.MonitorAlert(
                f"{name}-{metric}",
                type=DATABASE_METRICS[metric],
                compare="GreaterThan",
                value=threshold,
                window=args.window,
                entities=[self.cluster.id],
                enabled=True,
                description=f"[{args.notify[metric].severity}] {args.env_name} database {args.cluster_name} "
                f"{LABELS[metric]} above {threshold}%",
                alerts=do.MonitorAlertAlertsArgs(
                    emails=list(args.notify[metric].emails),
                    slacks=[do.MonitorAlertAlertsSlackArgs(channel=c, url=u) for c, u in args.notify[metric].slacks],
                ),
                opts=child,
            )
            for metric, threshold in sorted(args.thresholds.items())
            if metric in args.notify
        ]
        self.firewall: do.DatabaseFirewall | None = None
        self.register_outputs({"cluster_id": self.cluster.id, "private_host": self.cluster.private_host})

    def admit(self, tags: Sequence[str], depends_on: Sequence[pulumi.Resource]) -> do.DatabaseFirewall:
        """Given the trusted services' droplet tags and the resources that make them, declare the cluster's
        firewall: those droplets alone connect (a cluster without trusted sources admits any address)."""
        self.firewall = do.DatabaseFirewall(
            f"{self.resource_name}-firewall",
            cluster_id=self.cluster.id,
            rules=[do.DatabaseFirewallRuleArgs(type="tag", value=tag) for tag in sorted(tags)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        return self.firewall

    def connection_file(self, user: str) -> pulumi.Output[str]:
        """Given a trusted service's user, return its connection details as a secret env file: the cluster's
        private host, port, first database, the user and password, the URL, and a pool of that user's URL."""
        cluster, database = self.cluster, self.args.databases[0]
        password = self.users[user].password
        scheme = SCHEMES.get(self.args.engine, self.args.engine)
        pool = next((self.pools[p.name] for p in self.args.pools if p.user == user), None)
        text = pulumi.Output.format(
            "DATABASE_HOST={0}\nDATABASE_PORT={1}\nDATABASE_NAME={2}\nDATABASE_USER={3}\nDATABASE_PASSWORD={4}\n"
            "DATABASE_SSLMODE=require\nDATABASE_URL={5}://{3}:{4}@{0}:{1}/{2}?sslmode=require\n",
            cluster.private_host,
            cluster.port,
            database,
            user,
            password,
            scheme,
        )
        if pool is not None:
            text = pulumi.Output.concat(text, "DATABASE_POOL_URL=", pool.private_uri, "\n")
        return pulumi.Output.secret(text)
