"""``seawall preview``: the tree for people, byte-identical JSON for machines, clean errors."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import PROJECT

pytestmark = pytest.mark.render  # renders under the mock engine

ENVIRONMENTS = PROJECT / "environments"


def test_preview_lists_every_kind_of_resource_of_mainnet(cli) -> None:
    result = cli("--environments", ENVIRONMENTS, "preview", "mainnet")
    assert result.code == 0
    for expected in [
        "network-vpc",
        "project-project",
        "api-3 Droplet",
        "db-1-volume Volume",
        "db-firewall Firewall",
        "api-1-dns DnsRecord",
        "api-monitoring-cpu MonitorAlert",
        "api-monitoring-uptime UptimeCheck",
        "backup-storage-bucket SpacesBucket",
        "dc-storage-1-backup-units Command",
        "dc-storage-1-firewall Command",
    ]:
        assert expected in result.out, expected
    assert "digitalocean:index/droplet:Droplet" in result.out


def test_preview_json_is_identical_across_runs(cli) -> None:
    first = cli("--environments", ENVIRONMENTS, "preview", "mainnet", "--format", "json")
    second = cli("--environments", ENVIRONMENTS, "preview", "mainnet", "--format", "json")
    assert first.code == second.code == 0
    assert first.out == second.out
    graph = json.loads(first.out)
    droplets = [r for r in graph["resources"] if r["type"] == "digitalocean:index/droplet:Droplet"]
    assert len(droplets) == 6


def test_a_program_error_is_one_clear_message_with_exit_2_and_the_next_render_works(cli, monkeypatch) -> None:
    import seawall.stacks.program

    real_build = seawall.stacks.program.build

    def broken_build(env):  # a bug inside the program, half-way through declaring resources
        real_build(env)
        raise ValueError("boom in the program")

    monkeypatch.setattr(seawall.stacks.program, "build", broken_build)
    result = cli("--environments", ENVIRONMENTS, "preview", "devnet")
    assert result.code == 2
    assert "rendering devnet failed: ValueError: boom in the program" in result.err
    assert "Traceback" not in result.err
    monkeypatch.setattr(seawall.stacks.program, "build", real_build)
    again = cli("--environments", ENVIRONMENTS, "preview", "devnet", "--format", "json")
    assert again.code == 0
    assert json.loads(again.out)["environment"] == "devnet"


def test_a_live_preview_without_the_pulumi_cli_says_how_to_install_it(cli, monkeypatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = cli("--environments", ENVIRONMENTS, "preview", "devnet", "--live")
    assert result.code == 2
    assert "the Pulumi CLI is not installed" in result.err
    assert "https://www.pulumi.com/docs/install/" in result.err


def test_preview_against_names_each_stateful_replacement_its_data_and_the_flags_up_requires(
    environments, cli, tmp_path
) -> None:
    from tests.conftest import patch_environment

    earlier = cli("--environments", environments, "preview", "qanet", "--format", "json")
    (tmp_path / "before.json").write_text(earlier.out)
    patch_environment(
        environments,
        "defaults",
        {"services": {"db": {"image": "ubuntu-26-04-x64", "volume": {"filesystem": "xfs"}},
                      "api": {"image": "ubuntu-26-04-x64"}}},
    )  # fmt: skip
    shown = cli("--environments", environments, "preview", "qanet", "--against", tmp_path / "before.json")
    assert shown.code == 0, shown.err
    out = shown.out
    assert "stateful replacements (2)" in out
    assert "db-1 (replace: image): the droplet of db, a stateful service: PostgreSQL primary holding the " in out
    assert "db-1-volume (replace: initialFilesystemType): the volume of db-1 (service db), 20 GB at " in out
    # The backup set that holds its data (named in protected_by: a dump its hook writes), and its paths.
    assert "/var/lib/postgresql; backed up by postgres: /var/backups/postgres" in out
    # One line, never wrapped, to copy: exactly what `up` will demand, and nothing for the stateless api.
    assert "`seawall up qanet` will refuse these unless run with: --allow-replace db-1 --allow-replace db-1-volume" in (
        shown.out.splitlines()
    )
    assert "--allow-replace api-1" not in shown.out
    as_json = cli(
        "--environments", environments, "preview", "qanet", "--against", tmp_path / "before.json", "--format", "json"
    )
    document = json.loads(as_json.out)
    assert document["allow_replace"] == ["db-1", "db-1-volume"]
    stateful = {item["name"]: item for item in document["stateful"]}
    assert stateful["db-1-volume"]["service"] == "db"
    assert stateful["db-1-volume"]["kind"] == "volume"
    assert stateful["db-1-volume"]["backup_sets"] == ["postgres"]


def test_preview_against_says_so_when_nothing_stateful_is_replaced(environments, cli, tmp_path) -> None:
    from tests.conftest import patch_environment

    earlier = cli("--environments", environments, "preview", "qanet", "--format", "json")
    (tmp_path / "before.json").write_text(earlier.out)
    patch_environment(environments, "defaults", {"services": {"api": {"image": "ubuntu-26-04-x64"}}})
    shown = cli("--environments", environments, "preview", "qanet", "--against", tmp_path / "before.json")
    assert shown.code == 0, shown.err
    assert "no stateful droplet or volume is replaced: `seawall up qanet` needs no --allow-replace" in shown.out


def test_preview_against_sees_a_reference_that_names_another_output(environments, cli, tmp_path) -> None:
    earlier = json.loads(cli("--environments", environments, "preview", "qanet", "--format", "json").out)
    for resource in earlier["resources"]:
        if resource["name"] == "api-1-dns-vpc":  # the VPC name held the droplet's public address
            assert resource["inputs"]["value"] == {"ref": "api-1.ipv4AddressPrivate"}
            resource["inputs"]["value"] = {"ref": "api-1.ipv4Address"}
    (tmp_path / "before.json").write_text(json.dumps(earlier))
    shown = cli("--environments", environments, "preview", "qanet", "--against", tmp_path / "before.json")
    assert shown.code == 0, shown.err
    assert re.search(r"update\s+│\s+api-1-dns-vpc\s+│\s+DnsRecord\s+│\s+value", shown.out), shown.out
    as_json = cli(
        "--environments", environments, "preview", "qanet", "--against", tmp_path / "before.json", "--format", "json"
    )
    changes = json.loads(as_json.out)["changes"]
    assert [(c["name"], c["action"], c["inputs"]) for c in changes] == [("api-1-dns-vpc", "update", ["value"])]


def test_the_header_counts_the_resources_the_table_totals(cli) -> None:
    from tests.conftest import SHIPPED

    shown = cli("--environments", SHIPPED, "preview", "mainnet")
    assert shown.code == 0, shown.err
    header = re.search(r"mainnet \((\d+) resources in (\d+) components\)", shown.out)
    total = re.search(r"total\s*│\s*(\d+)", shown.out)
    assert header
    assert total
    assert header.group(1) == total.group(1)


def test_preview_against_names_a_replaced_reserved_ip_and_the_flag_up_requires(environments, cli, tmp_path) -> None:
    earlier = json.loads(cli("--environments", environments, "preview", "qanet", "--format", "json").out)
    for resource in earlier["resources"]:
        if resource["name"] == "db-1-address-ip":
            resource["inputs"]["region"] = "fra1"  # as deployed, before the environment moved
    (tmp_path / "before.json").write_text(json.dumps(earlier))
    shown = cli("--environments", environments, "preview", "qanet", "--against", tmp_path / "before.json")
    assert shown.code == 0, shown.err
    assert (
        "db-1-address-ip (replace: region): the reserved IP of db-1 (service db); its address is given back"
        in shown.out
    )
    assert (
        "`seawall up qanet` will refuse these unless run with: --allow-replace db-1-address-ip"
        in shown.out.splitlines()
    )
    assert "protected in the stack: db-1-address-ip;" in shown.out


def test_preview_against_names_a_replaced_database_cluster_and_the_flag_up_requires(
    environments, cli, tmp_path
) -> None:
    earlier = json.loads(cli("--environments", environments, "preview", "mainnet", "--format", "json").out)
    for resource in earlier["resources"]:
        if resource["name"] == "index-database-cluster":
            resource["inputs"]["name"] = "mainnet-chain-index"  # as deployed, before it was renamed
    (tmp_path / "before.json").write_text(json.dumps(earlier))
    shown = cli("--environments", environments, "preview", "mainnet", "--against", tmp_path / "before.json")
    assert shown.code == 0, shown.err
    assert "index-database-cluster (replace: name): the managed database index (pg 16, 2 node(s))" in shown.out
    assert (
        "`seawall up mainnet` will refuse these unless run with: --allow-replace index-database-cluster"
        in shown.out.splitlines()
    )
    assert "protected in the stack: index-database-cluster; Pulumi refuses to replace them until" in shown.out
    as_json = cli("--environments", environments, "preview", "mainnet", "--against", tmp_path / "before.json",
                  "--format", "json")  # fmt: skip
    assert json.loads(as_json.out)["allow_replace"] == ["index-database-cluster"]
