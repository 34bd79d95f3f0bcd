"""``seawall parity``: the gate's exit codes and what each format shows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import PROJECT, patch_environment

pytestmark = pytest.mark.render  # renders under the mock engine

ENVIRONMENTS = PROJECT / "environments"


def test_the_shipped_chain_passes_and_says_so(cli) -> None:
    result = cli("--environments", ENVIRONMENTS, "parity", "--chain")
    assert result.code == 0
    assert "chain devnet → qanet → testnet → mainnet: in parity" in result.out
    assert "0 violations" in result.out


def test_the_chain_json_has_one_report_per_pair(cli) -> None:
    report = json.loads(cli("--environments", ENVIRONMENTS, "parity", "--chain", "--format", "json").out)
    assert report["schema"] == "seawall.parity-chain/1"
    assert report["chain"] == ["devnet", "qanet", "testnet", "mainnet"]
    assert [(p["a"], p["b"]) for p in report["pairs"]] == [
        ("devnet", "qanet"),
        ("qanet", "testnet"),
        ("testnet", "mainnet"),
    ]
    assert report["summary"]["violations"] == 0
    assert report["stale_allowances"] == []


def _copy_of_mainnet_with_an_extra_port(environments: Path) -> None:
    copy = (environments / "mainnet.yaml").read_text().replace("name: mainnet", "name: mainnet-copy")
    (environments / "mainnet-copy.yaml").write_text(
        copy.replace("domain: mainnet.example.net", "domain: copy.example.net").replace("10.20.0.0/16", "10.99.0.0/16")
    )
    ports = [
        {"port": 443, "from": "public"},
        {"port": 22, "from": "admin"},
        {"port": 9100, "from": "monitoring"},
        {"port": 8443, "from": "public"},
    ]
    patch_environment(environments, "mainnet-copy", {"services": {"api": {"ports": ports}}})


def test_an_extra_port_fails_the_gate_and_names_service_firewall_and_port(environments: Path, cli) -> None:
    _copy_of_mainnet_with_an_extra_port(environments)
    result = cli("--environments", environments, "parity", "testnet", "mainnet-copy")
    assert result.code == 1
    lines = [line for line in result.out.splitlines() if "8443" in line]
    assert any("api-firewall" in line and "violation" in line for line in lines)
    assert any("services.api" in line for line in lines)
    assert "│ api " in result.out


def test_markdown_is_a_pasteable_table(environments: Path, cli) -> None:
    _copy_of_mainnet_with_an_extra_port(environments)
    result = cli("--environments", environments, "parity", "testnet", "mainnet-copy", "--format", "markdown")
    assert result.code == 1
    assert result.out.startswith("### Parity testnet → mainnet-copy")
    assert "| api | **violation** | api-firewall | inboundRules.tcp/8443.portRange | - | 8443 |" in result.out


def test_allowed_resource_rows_are_hidden_unless_asked(cli) -> None:
    short = cli("--environments", ENVIRONMENTS, "parity", "testnet", "mainnet")
    full = cli("--environments", ENVIRONMENTS, "parity", "testnet", "mainnet", "--all")
    assert "--all shows them" in short.out
    assert "tags.4" not in short.out
    assert "tags.4" in full.out


def test_usage_errors_exit_2(cli) -> None:
    assert cli("--environments", ENVIRONMENTS, "parity", "testnet").code == 2
    assert cli("--environments", ENVIRONMENTS, "parity", "testnet", "mainnet", "--chain").code == 2
    assert cli("--environments", ENVIRONMENTS, "parity", "testnet", "prodnet").code == 2


def test_a_violation_says_what_differs_and_which_parity_entry_would_allow_it(environments: Path, cli) -> None:
    _copy_of_mainnet_with_an_extra_port(environments)
    report = json.loads(
        cli("--environments", environments, "parity", "testnet", "mainnet-copy", "--format", "json").out
    )
    rows = [d for d in report["differences"] + report["model"] if d["kind"] != "allowed"]
    assert rows
    assert all("an allowed entry with field services.*.ports" in d["reason"] for d in rows)
    assert any(d["resource"] == "api-firewall" and "follows from services.api.ports" in d["reason"] for d in rows)


def test_a_pair_never_calls_an_allowance_stale_only_the_chain_does(environments: Path, cli) -> None:
    rules = (environments / "parity.yaml").read_text()
    unused = "  - field: services.*.health.path\n    reason: Health endpoints may move\n"
    (environments / "parity.yaml").write_text(rules.replace("allowed:\n", "allowed:\n" + unused, 1))
    pair = cli("--environments", environments, "parity", "testnet", "mainnet")
    assert pair.code == 0
    assert "stale" not in pair.err
    chain = cli("--environments", environments, "parity", "--chain")
    assert "stale allowance (no pair of the chain uses it): services.*.health.path" in chain.err
    assert "environment.tier" not in chain.err
