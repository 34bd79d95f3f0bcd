"""SSH keys and the backup hosts' Spaces key under Pulumi's mock engine, in every shipped environment."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest

from seawall.errors import ConfigError
from seawall.model import load_environment
from seawall.render import Graph, Program, render
from seawall.stacks.program import OFFLINE, SECRET_CONFIG, VAULT_CONFIG, build
from tests.conftest import SHIPPED, patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine

ENVIRONMENTS = ["devnet", "qanet", "testnet", "mainnet"]
DROPLET = "digitalocean:index/droplet:Droplet"


@cache
def graph(name: str) -> Graph:
    return render(load_environment(SHIPPED, name), OFFLINE)


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_models_public_key_file_becomes_an_ssh_key_every_droplet_gets_by_id(name: str) -> None:
    resources = graph(name).resources
    key = resources["ssh-keys-deploy"].inputs
    assert key["name"] == f"{name}-deploy"
    assert (
        key["publicKey"]
        == (SHIPPED / load_environment(SHIPPED, name).network.ssh_public_keys[0].file).read_text().strip()
    )
    assert key["publicKey"].startswith("ssh-ed25519 ")
    droplets = [record for record in resources.values() if record.type == DROPLET]
    assert droplets
    for droplet in droplets:
        assert droplet.inputs["sshKeys"][0] == {"ref": "ssh-keys-deploy.id"}, droplet.name
        assert droplet.inputs["sshKeys"][1:] == load_environment(SHIPPED, name).network.ssh_keys


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_the_backup_hosts_key_is_scoped_to_the_environments_bucket(name: str) -> None:
    key = graph(name).resources["backup-hosts-key-key"]
    assert key.inputs["grants"] == [{"bucket": f"seawall-{name}-backups", "permission": "readwrite"}]
    assert key.inputs["name"] == f"seawall-{name}-backup-hosts"
    assert "backup-storage-bucket" in graph(name).dependencies["backup-hosts-key-key"]


def _held(env_name: str, environments: Path) -> tuple[dict[str, str], dict[str, str]]:
    secrets = {key: f"value-of-{key}-0123456789" for key in (*SECRET_CONFIG, *VAULT_CONFIG)}
    rendered = render(load_environment(environments, env_name), Program(build, SECRET_CONFIG + VAULT_CONFIG), secrets)
    held = {name: json.dumps(r.inputs) for name, r in rendered.resources.items() if r.type.startswith("command:")}
    return held, secrets


def test_backup_hosts_hold_the_scoped_key_never_the_configured_one(environments: Path) -> None:
    held, secrets = _held("testnet", environments)
    # The key's secret is the cloud's (the fake cloud's stand-in is the placeholder, masked): the file is a secret.
    assert json.loads(held["db-1-s3-credentials"])["stdin"] == "[secret]"
    for name, text in held.items():
        assert secrets["spacesAccessKeyId"] not in text, name
        assert secrets["spacesSecretAccessKey"] not in text, name
    patch_environment(environments, "testnet", {"backup": {"host_keys": "config"}})
    held, secrets = _held("testnet", environments)
    assert f"SPACES_ACCESS_KEY_ID={secrets['spacesAccessKeyId']}" in held["db-1-s3-credentials"]
    assert "backup-hosts-key" not in render(load_environment(environments, "testnet"), OFFLINE).resources


def test_storage_other_than_spaces_keeps_the_configured_key(environments: Path) -> None:
    patch_environment(environments, "defaults", {"backup": {"repository": {"endpoint": "https://s3.example.net"}}})
    resources = render(load_environment(environments, "qanet"), OFFLINE).resources
    assert not [name for name in resources if name.startswith("backup-hosts-key")]


def test_a_key_given_inline_needs_no_file_and_a_missing_file_is_named_with_its_line(environments: Path) -> None:
    line = (SHIPPED / "keys" / "qa-deploy.pub").read_text().strip()
    patch_environment(environments, "qanet", {"network": {"ssh_public_keys": [{"name": "ops", "public_key": line}]}})
    resources = render(load_environment(environments, "qanet"), OFFLINE).resources
    assert resources["ssh-keys-ops"].inputs["publicKey"] == line
    patch_environment(
        environments, "qanet", {"network": {"ssh_public_keys": [{"name": "ops", "file": "keys/gone.pub"}]}}
    )
    with pytest.raises(ConfigError) as raised:
        load_environment(environments, "qanet")
    text = str(raised.value)
    assert "qanet.yaml:" in text
    assert "network.ssh_public_keys.0.file: cannot read the public key" in text
    (environments / "keys" / "bad.pub").write_text("not a key\n")
    patch_environment(
        environments, "qanet", {"network": {"ssh_public_keys": [{"name": "ops", "file": "keys/bad.pub"}]}}
    )
    with pytest.raises(ConfigError, match=r"network\.ssh_public_keys\.0\.public_key"):
        load_environment(environments, "qanet")
