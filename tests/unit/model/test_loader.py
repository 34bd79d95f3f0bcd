"""The loader: shipped files validate; bad files report every error at once, with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.errors import ConfigError
from seawall.model import list_environments, load_environments, load_parity_rules
from seawall.model.loader import merge
from tests.conftest import SHIPPED


def test_every_shipped_environment_validates() -> None:
    envs = load_environments(SHIPPED)
    assert set(envs) == {"devnet", "qanet", "testnet", "mainnet", "local"}
    assert list_environments(SHIPPED)[:4] == ["devnet", "qanet", "testnet", "mainnet"]
    assert len(load_parity_rules(SHIPPED).allowed) > 0


def test_the_example_fleet_is_realistic() -> None:
    mainnet = load_environments(SHIPPED, ["mainnet"])["mainnet"]
    assert len(mainnet.services) >= 4
    assert len(mainnet.datacenter_hosts) >= 2
    vault = mainnet.backup.copy_.vault if mainnet.backup.copy_ else None
    assert all(host.backup_sets for name, host in mainnet.datacenter_hosts.items() if name != vault)
    assert vault is not None
    assert not mainnet.datacenter_hosts[vault].backup_sets  # the vault backs up nothing
    assert mainnet.services["db"].volume is not None
    assert mainnet.services["api"].health is not None


def test_environment_files_override_defaults(environments: Path) -> None:
    envs = load_environments(environments, ["mainnet", "devnet"])
    assert envs["mainnet"].services["api"].count == 3
    assert envs["devnet"].services["api"].count == 1
    assert envs["mainnet"].services["api"].image == "ubuntu-24-04-x64"
    assert envs["mainnet"].services["db"].volume is not None
    assert envs["mainnet"].services["db"].volume.mount == "/var/lib/postgresql"
    assert envs["mainnet"].services["db"].volume.size_gb == 500


def test_merge_joins_mappings_replaces_lists_and_null_removes() -> None:
    base = {"a": {"x": 1, "y": [1, 2]}, "b": 1, "c": {"d": 1}}
    merged = merge(base, {"a": {"y": [3]}, "b": None, "c": {"e": 2}})
    assert merged == {"a": {"x": 1, "y": [3]}, "c": {"d": 1, "e": 2}}
    assert base["a"]["y"] == [1, 2]


def _break_mainnet(directory: Path) -> None:
    path = directory / "mainnet.yaml"
    text = path.read_text()
    text = text.replace("network:\n  vpc_cidr: 10.20.0.0/16", "network:\n  vpc_cidr: 10.20.0.1/16\n  colour: blue")
    text = text.replace("    version: 1.8.1\n", "    version: 1.8.1\n    backup_sets: [api-config, nosuch]\n")
    text += "\nbackup:\n  password: hunter2-do-not-print\n"
    path.write_text(text)


def test_a_broken_file_reports_all_four_errors_with_lines(environments: Path) -> None:
    _break_mainnet(environments)
    with pytest.raises(ConfigError) as caught:
        load_environments(environments, ["mainnet"])
    problems = caught.value.problems
    lines = (environments / "mainnet.yaml").read_text().splitlines()
    expected = {
        "network.vpc_cidr": "vpc_cidr: 10.20.0.1/16",
        "network.colour": "colour: blue",
        "services.api.backup_sets.1": "backup_sets: [api-config, nosuch]",
        "backup.password": "password: hunter2",
    }
    assert len(problems) == 4
    for field, text in expected.items():
        (problem,) = [p for p in problems if f": {field}: " in p]
        where = problem.split(": ")[0]
        line = int(where.rsplit(":", 1)[1])
        assert where.startswith(str(environments / "mainnet.yaml"))
        assert text in lines[line - 1]
    assert all("hunter2" not in problem for problem in problems)


def test_the_cli_exits_2_on_a_broken_file_and_never_echoes_the_secret(environments: Path, cli) -> None:
    _break_mainnet(environments)
    result = cli("--environments", environments, "validate", "mainnet")
    assert result.code == 2
    assert "4 configuration errors" in result.err
    assert "Traceback" not in result.err + result.out
    assert "hunter2" not in result.err + result.out


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("a: 1\na: 2\n", "duplicate key 'a'"),
        ("a: !!python/object:os.system {}\n", "unsupported value"),
        ("a: [1, 2\n", "not valid YAML"),
        ("a: &x [1]\nb:\n  <<: *x\n", "merge keys"),
        ("- 1\n- 2\n", "must be a mapping"),
    ],
)
def test_unsafe_or_broken_yaml_is_a_clean_error(environments: Path, text: str, fragment: str) -> None:
    (environments / "qanet.yaml").write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_environments(environments, ["qanet"])
    assert fragment in str(caught.value)


def test_an_alias_bomb_is_refused(environments: Path) -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 10)
        lines.append(f"a{level}: &a{level} [{refs}]")
    (environments / "qanet.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_environments(environments, ["qanet"])
    assert "alias bomb" in str(caught.value)


def test_an_oversized_file_is_refused(environments: Path) -> None:
    (environments / "qanet.yaml").write_text("# " + "x" * (1024 * 1024) + "\n")
    with pytest.raises(ConfigError) as caught:
        load_environments(environments, ["qanet"])
    assert "limit is" in str(caught.value)


def test_an_unknown_environment_names_the_known_ones(environments: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_environments(environments, ["prodnet"])
    assert "known: devnet, qanet, testnet, mainnet, local" in str(caught.value)


def test_a_promotion_cycle_is_an_error(environments: Path) -> None:
    text = (environments / "devnet.yaml").read_text()
    (environments / "devnet.yaml").write_text(
        text.replace("  tier: development\n", "  tier: development\n  predecessor: mainnet\n")
    )
    with pytest.raises(ConfigError) as caught:
        load_environments(environments)
    assert "cycle" in str(caught.value)


def test_parity_rules_need_a_reason(environments: Path) -> None:
    (environments / "parity.yaml").write_text("allowed:\n  - field: services.*.size\n")
    with pytest.raises(ConfigError) as caught:
        load_parity_rules(environments)
    assert "parity.yaml:2: allowed.0.reason: required field is missing" in str(caught.value)


def test_the_hosts_of_a_set_are_indexed_once_and_follow_a_copy_with_other_services() -> None:
    mainnet = load_environments(SHIPPED, ["mainnet"])["mainnet"]
    assert mainnet.hosts_of_set("api-config") == ["api-1", "api-2", "api-3"]
    assert mainnet.hosts_of_set("dc-etc") == ["dc-storage-1", "dc-build-1"]
    assert mainnet.hosts_of_set("no-such-set") == []
    mainnet.hosts_of_set("api-config").append("not-a-host")  # a copy: the index is not changed through it
    assert mainnet.hosts_of_set("api-config") == ["api-1", "api-2", "api-3"]
    fewer = mainnet.model_copy(update={"services": {k: v for k, v in mainnet.services.items() if k != "api"}})
    assert fewer.hosts_of_set("api-config") == []
    more = mainnet.model_copy(
        update={"services": {**mainnet.services, "api": mainnet.services["api"].model_copy(update={"count": 4})}}
    )
    assert more.hosts_of_set("api-config") == ["api-1", "api-2", "api-3", "api-4"]
    # The index is no field: the model dumps, compares and copies as before.
    assert mainnet == load_environments(SHIPPED, ["mainnet"])["mainnet"]
    assert "hosts_by_set" not in mainnet.model_dump_json()
