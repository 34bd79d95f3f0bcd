"""The lab's deploy: the shipped environments plus ``lab.yaml``, the program rendered with the build the
hosts get and the lab's secrets, and the bucket Pulumi's BackupBucket would make.

The graph comes from the same ``stacks.program.build(env, shipped)`` a real ``pulumi up`` runs, under
Pulumi's mock engine; only the cloud's answers (a droplet's addresses) are the lab's.
"""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seawall.backup.schedules import render_bootstrap
from seawall.build import Build, build_wheel
from seawall.model import load_environment
from seawall.model.schema import Environment
from seawall.render import FakeCloud, Graph, Program, render
from tests.lab.fleet import (
    ACCESS_KEY,
    COPY_PASSWORD,
    DEPLOYER,
    RESTIC_PASSWORD,
    ROOT,
    SECRET_KEY,
    VAULT_KEY,
    VAULT_SECRET,
    WEBHOOK_PORT,
    Lab,
    in_lab,
    sh,
)

# The lab's hosts: name, address, SSH user (dc-storage-1 keeps the shipped non-root ``seawall``).
DATACENTER = {"dc-storage-1": ("10.213.2.10", "seawall"), "dc-build-1": ("10.213.2.11", "root")}
DROPLETS = {"app-1": "10.213.1.11", "monitoring-1": "10.213.1.12"}
DC_OBJECTS = "dc-objects.lab.example.net"  # the copy's endpoint in lab.yaml


def lab_hosts() -> list[tuple[str, str, str, str | None]]:
    """The hosts to boot: (name, address, SSH user, user_data for a droplet or None)."""
    hosts: list[tuple[str, str, str, str | None]] = [(n, a, u, None) for n, (a, u) in DATACENTER.items()]
    # Every lab droplet has no volume: its user_data is the bootstrap without a mount.
    return hosts + [(name, address, "root", render_bootstrap(None)) for name, address in DROPLETS.items()]


@dataclass
class Prepared:
    """What a deploy of the lab starts from: the environment files, the model, the build and the graph."""

    environments: Path
    env: Environment
    shipped: Build
    graph: Graph


def prepare(folder: Path, lab: Lab) -> Prepared:
    """Copy the environments, build the wheel, render the graph, and make what the cloud would before the
    host steps run: the DNS records (every host's /etc/hosts, the DNS stand-in) and the bucket."""
    environments = environments_folder(folder)
    env = load(environments)
    shipped = build(folder)
    graph = render_lab(env, lab, shipped)
    write_dns(lab, graph, env)
    make_bucket(env)
    return Prepared(environments, env, shipped, graph)


def write_dns(lab: Lab, graph: Graph, env: Environment) -> None:
    """The stand-in for DigitalOcean's DNS: every A record of the graph in every host's /etc/hosts."""
    records = [
        f"{record.inputs['value']} {record.inputs['name']}.{env.environment.domain}"
        for record in graph.resources.values()
        if record.type.endswith(":DnsRecord") and record.inputs.get("type") == "A" and "value" in record.inputs
    ]
    # The data center's object storage (the off-site copy's endpoint) is the lab's SeaweedFS under a name of
    # its own: a second place by name, one server in fact.
    records.append(f"{DEPLOYER} {DC_OBJECTS}")
    for host in lab.hosts.values():
        with (host.root / "etc/hosts").open("a") as hosts:
            hosts.write("# the lab's DNS stand-in: the graph's records\n" + "\n".join(records) + "\n")


class LabCloud(FakeCloud):
    """The mock engine's answers, with each droplet at its lab address (public and private alike). Those
    addresses are real, so the graph records them as values (the DNS stand-in and the SSH steps use them);
    the other outputs (ids, URNs) stay references."""

    known_outputs = frozenset({"ipv4Address", "ipv4AddressPrivate"})

    def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
        identity, state = super().new_resource(args)
        if args.typ.endswith(":Droplet"):
            host = str(args.inputs.get("name", "")).removeprefix("lab-")
            state["ipv4Address"] = state["ipv4AddressPrivate"] = DROPLETS[host]
        return identity, state


def environments_folder(folder: Path) -> Path:
    """Given a folder, copy the shipped environments and ``lab.yaml`` into it; return it."""
    target = folder / "environments"
    shutil.copytree(ROOT / "environments", target)
    shutil.copy(ROOT / "tests/lab/lab.yaml", target / "lab.yaml")
    return target


def secrets(lab: Lab) -> dict[str, str]:
    """The stack's secret configuration in the lab: test values, and the webhook receiver's paths."""
    hook = f"http://{DEPLOYER}:{WEBHOOK_PORT}"
    return {
        "resticPassword": RESTIC_PASSWORD,
        "spacesAccessKeyId": ACCESS_KEY,
        "spacesSecretAccessKey": SECRET_KEY,
        "copyResticPassword": COPY_PASSWORD,
        "vaultAccessKeyId": VAULT_KEY,
        "vaultSecretAccessKey": VAULT_SECRET,
        "sshPrivateKey": lab.key.read_text(),
        "slackCriticalUrl": f"{hook}/critical",
        "slackMajorUrl": f"{hook}/major",
        "slackMinorUrl": f"{hook}/minor",
    }


def build(folder: Path) -> Build:
    """Build the wheel the hosts get, as ``pulumi up`` does (``stacks/__main__.py``)."""
    return build_wheel(ROOT, folder / "dist")


def render_lab(env: Environment, lab: Lab, shipped: Build) -> Graph:
    """Render the lab environment's graph with the build and the lab's secrets and addresses."""
    from seawall.stacks import program

    config = program.SECRET_CONFIG + program.VAULT_CONFIG
    return render(env, Program(lambda e: program.build(e, shipped), config), secrets(lab), LabCloud())


def load(environments: Path) -> Environment:
    return load_environment(environments, "lab")


def make_bucket(env: Environment) -> None:
    """Make the environment's bucket as Pulumi's BackupBucket would (private, versioned, lifecycle rules),
    and the off-site copy's as the data center's operators would (versioned for the copy's longest
    keep-rule, objects locked where the model asks), from the deploying machine, with the deployer's key."""
    from seawall.backup.storage import bucket_spec, copy_bucket_spec

    copy = copy_bucket_spec(env)
    specs = [bucket_spec(env), *([copy] if copy is not None else [])]
    script = (
        "import boto3\n"
        "from seawall.backup.storage import ensure_bucket, BucketSpec\n"
        f"c=boto3.client('s3',endpoint_url={env.backup.repository.endpoint!r},region_name='us-east-1',"
        f"aws_access_key_id={ACCESS_KEY!r},aws_secret_access_key={SECRET_KEY!r})\n"
        + "".join(f"ensure_bucket(c, BucketSpec(**{spec.__dict__!r}))\n" for spec in specs)
    )
    sh(*in_lab(sys.executable, "-c", script), timeout=120)
