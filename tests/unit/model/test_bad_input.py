"""Every bad environment file gets a clean error, at the file and line where the problem was written:
one test per class of the robustness run (#17). Values appended to qanet.yaml land on known lines."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from seawall.errors import ConfigError
from seawall.model import load_environments
from tests.conftest import SHIPPED

SECRET = "s3cr3t-V4lue-never-shown"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "environments"
    shutil.copytree(SHIPPED, target)
    return target


def problems(folder: Path, names: list[str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_environments(folder, names)
    return raised.value.problems


def append(folder: Path, name: str, text: str) -> int:
    """Append YAML to an environment file (its own sections of the same names dropped first); return the
    line number of the appended text's first line."""
    path = folder / f"{name}.yaml"
    sections = {line.split(":", 1)[0] for line in text.splitlines() if line and not line.startswith((" ", "#"))}
    kept, dropping = [], False
    for line in path.read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            dropping = line.split(":", 1)[0] in sections
        if not dropping:
            kept.append(line)
    before = "\n".join(kept).rstrip("\n")
    path.write_text(before + "\n" + text)
    return before.count("\n") + 2


def one(found: list[str], where: str, contains: str) -> str:
    hits = [p for p in found if p.startswith(where) and contains in p]
    assert hits, f"no problem at {where} containing {contains!r} in:\n" + "\n".join(found)
    return hits[0]


# --- Secrets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["password_env", "access_key_id_env", "secret_access_key_env", "healthcheck_url_env"])
def test_a_secret_pasted_where_a_variable_name_belongs_is_never_echoed(folder: Path, field: str) -> None:
    line = append(folder, "qanet", f"backup:\n  {field}: {SECRET}\n")
    found = problems(folder, ["qanet"])
    one(found, f"{folder / 'qanet.yaml'}:{line + 1}", f"backup.{field}: is not an environment variable name")
    assert SECRET not in "\n".join(found)


@pytest.mark.parametrize("tag", ["!!int", "!!float", "!!bool", "!!timestamp"])
def test_an_explicit_tag_on_a_secret_field_never_echoes_it_nor_escapes_as_a_traceback(folder: Path, tag: str) -> None:
    line = append(folder, "qanet", f"backup:\n  password_env: {tag} {SECRET}\n")
    found = problems(folder, ["qanet"])
    one(found, f"{folder / 'qanet.yaml'}:{line + 1}", "cannot be read as")
    assert SECRET not in "\n".join(found)


def test_a_literal_secret_in_defaults_is_an_error_once_even_when_every_environment_removes_it(folder: Path) -> None:
    defaults = folder / "defaults.yaml"
    text = defaults.read_text().replace("backup:\n", f"backup:\n  password: {SECRET}\n", 1)
    defaults.write_text(text)
    line = text.splitlines().index(f"  password: {SECRET}") + 1
    for name in ("devnet", "qanet", "testnet", "mainnet", "local"):
        append(folder, name, "backup:\n  password: null\n")
    found = problems(folder)
    hits = [p for p in found if "backup.password:" in p]
    assert hits == [one(found, f"{defaults}:{line}", "a secret must not be written")]
    assert SECRET not in "\n".join(found)


# --- Crashes and hangs ------------------------------------------------------------------------------


@pytest.mark.parametrize("calendar", ["*-02-30", "2025-06-01 04:00", "2019-*-* 00:00", "2199-*-* 00:00"])
def test_a_calendar_that_never_or_hardly_fires_is_an_error_at_its_line(folder: Path, calendar: str) -> None:
    line = append(folder, "qanet", f'backup_sets:\n  postgres:\n    schedule: "{calendar}"\n')
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 2}", "is not a repeating systemd calendar")


def test_a_huge_duration_is_an_error_not_an_overflow(folder: Path) -> None:
    line = append(folder, "qanet", "backup_sets:\n  postgres:\n    rpo: 999999999999d\n")
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 2}", "longer than a duration")


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_file_that_is_not_regular_is_never_read(folder: Path, kind: str) -> None:
    target = folder / "qanet.yaml"
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "device":
        target.symlink_to("/dev/zero")
    else:
        target.mkdir()
    found = problems(folder, ["qanet"])
    one(found, f"{target}:0", "not a regular file")


def test_a_broken_parity_link_and_a_missing_or_broken_defaults_are_one_clear_error(folder: Path) -> None:
    (folder / "parity.yaml").unlink()
    (folder / "parity.yaml").symlink_to(folder / "nowhere.yaml")
    found = problems(folder, ["qanet"])
    one(found, f"{folder / 'parity.yaml'}:0", "the file is a broken link")
    (folder / "parity.yaml").unlink()
    (folder / "defaults.yaml").rename(folder.parent / "elsewhere.yaml")
    missing = problems(folder, ["qanet"])
    assert len(missing) == 1
    assert f"{folder / 'defaults.yaml'} for them to come from" in missing[0]
    (folder / "defaults.yaml").symlink_to(folder / "nowhere.yaml")
    broken = problems(folder, ["qanet", "devnet"])
    assert broken == [
        f"{folder / 'defaults.yaml'}:0: the file is a broken link; every environment builds on defaults.yaml"
    ]


def test_every_command_checks_environment_names_the_same_way(folder: Path, cli, tmp_path: Path) -> None:
    (tmp_path / "evil.jsonl").write_text('{"secret": "outside the project"}\n')
    result = cli("--environments", folder, "ledger", "../evil")
    assert result.code == 2
    assert "'../evil' is not an environment of" in result.err
    assert "outside the project" not in result.out + result.err


# --- Accepted but wrong -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "offset", "contains"),
    [
        ("services:\n  api:\n    count: yes\n", 2, "services.api.count: must be a whole number"),
        ("services:\n  api:\n    count: 1:30\n", 2, "services.api.count: must be a whole number"),
        (
            "services:\n  api:\n    alerts: {cpu: on, memory: 90, disk: 90}\n",
            2,
            "services.api.alerts.cpu: must be a whole number",
        ),
        ("services:\n  db:\n    volume: {size_gb: true}\n", 2, "services.db.volume.size_gb: must be a whole number"),
        ("services:\n  api:\n    version: 1.10\n", 2, "write the version in quotes"),
    ],
)
def test_yaml_1_1_coercions_are_refused(folder: Path, text: str, offset: int, contains: str) -> None:
    line = append(folder, "qanet", text)
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + offset}", contains)


def test_a_version_is_the_text_as_written(folder: Path) -> None:
    append(folder, "qanet", "services:\n  api:\n    version: 010\n")
    assert load_environments(folder, ["qanet"])["qanet"].services["api"].version == "010"


@pytest.mark.parametrize(
    ("cidr", "contains"),
    [
        ("10.10.0.0/16", "overlaps devnet's 10.10.0.0/16"),
        ("10.10.4.0/24", "overlaps devnet's 10.10.0.0/16"),
        ("8.8.8.0/24", "is not a private IPv4 range"),
        ("fd00::/64", "is not a private IPv4 range"),
        ("10.99.0.1/32", "DigitalOcean VPC ranges are /16 to /28"),
        ("10.0.0.0/8", "DigitalOcean VPC ranges are /16 to /28"),
    ],
)
def test_vpc_ranges_are_private_sized_and_disjoint(folder: Path, cidr: str, contains: str) -> None:
    text = (folder / "qanet.yaml").read_text().replace("vpc_cidr: 10.11.0.0/16", f"vpc_cidr: {cidr}")
    (folder / "qanet.yaml").write_text(text)
    line = text.splitlines().index(f"  vpc_cidr: {cidr}") + 1
    one(problems(folder), f"{folder / 'qanet.yaml'}:{line}", contains)


@pytest.mark.parametrize(
    ("ports", "contains"),
    [("99999", "ports are 1 to 65535"), ("0", "ports are 1 to 65535"), ("443-80", "runs backwards")],
)
def test_outbound_port_ranges_are_real_ranges(folder: Path, ports: str, contains: str) -> None:
    line = append(folder, "qanet", f'network:\n  outbound:\n    - {{protocol: tcp, ports: "{ports}"}}\n')
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 2}", contains)


def test_a_duplicate_firewall_rule_is_an_error(folder: Path) -> None:
    line = append(
        folder,
        "qanet",
        "services:\n  api:\n    ports:\n      - {port: 443, from: public}\n      - {port: 443, from: public}\n",
    )
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 4}", "the same rule as entry 0")


@pytest.mark.parametrize(
    ("schedule", "contains"),
    [
        ('"*-*-* 00:00 Mars/Olympus"', "is not a time zone systemd knows"),
        ('"Fri..Mon *-*-* 00:00"', "runs backwards"),
    ],
)
def test_calendars_systemd_refuses_are_refused(folder: Path, schedule: str, contains: str) -> None:
    line = append(folder, "qanet", f"backup_sets:\n  postgres:\n    schedule: {schedule}\n")
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 2}", contains)


def test_the_rpo_rule_counts_the_night_the_clocks_go_back(folder: Path) -> None:
    line = append(
        folder,
        "qanet",
        'backup_sets:\n  monitoring-config:\n    schedule: "*-*-* 02:00 Europe/Brussels"\n    rpo: 24h\n',
    )
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 3}", "(1d1h)")


def test_a_drill_schedule_that_never_fires_is_an_error(folder: Path) -> None:
    line = append(folder, "qanet", 'backup_sets:\n  postgres:\n    drill:\n      schedule: "*-02-31 05:00"\n')
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 3}", "is not a repeating systemd calendar")


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
CORPUS = [
    "daily", "hourly", "weekly", "Mon..Fri 09:00", "Fri..Mon 09:00", "*-*-* 00/6:00:00", "Sun *-*-* 03:00:00",
    "*-*-* 25:00", "Funday 04:00", "*-13-01", "*-*-* 00:00 UTC", "*-*-* 00:00 Europe/Brussels", "Mon,Wed 12:30",
]  # fmt: skip


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
@pytest.mark.parametrize("expression", CORPUS)
def test_the_calendar_parser_agrees_with_systemd_on_a_shared_corpus(expression: str) -> None:
    from seawall.model.calendar import CalendarError, parse_calendar

    systemd = subprocess.run([SYSTEMD_ANALYZE or "", "calendar", expression], capture_output=True, check=False)
    try:
        parse_calendar(expression)
        ours = True
    except CalendarError:
        ours = False
    assert ours == (systemd.returncode == 0), expression


@pytest.mark.parametrize(
    ("hook", "contains"),
    [('"pg_dump db | gzip"', "which only a shell understands"), ('"echo \'unclosed"', "cannot be split into words")],
)
def test_hooks_with_shell_syntax_are_refused(folder: Path, hook: str, contains: str) -> None:
    line = append(folder, "qanet", f"backup_sets:\n  postgres:\n    hooks:\n      before: [{hook}]\n")
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 3}", contains)


def test_unknown_references_are_errors(folder: Path, tmp_path: Path) -> None:
    text = (folder / "qanet.yaml").read_text()
    (folder / "qanet.yaml").write_text("replace: [servces]\n" + text)
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:1", "replace: 'servces' is not a top-level key")
    (folder / "qanet.yaml").write_text(text)
    parity = (folder / "parity.yaml").read_text()
    bad = parity.replace("field: services.*.size", "field: services.*.sise").replace(
        "[devnet, qanet]", "[devnet, qanett]"
    )
    (folder / "parity.yaml").write_text(bad)
    found = problems(folder)
    lines = bad.splitlines()
    one(found, f"{folder / 'parity.yaml'}:{lines.index('  - field: services.*.sise') + 1}", "is no field of the model")
    one(
        found,
        f"{folder / 'parity.yaml'}:{next(i for i, text in enumerate(lines) if 'qanett' in text) + 1}",
        "'qanett' is not an environment",
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="no environment files"):
        load_environments(empty)


def test_editor_droppings_are_not_environments(folder: Path) -> None:
    for dropping in (".#devnet.yaml", "devnet.yaml~", ".devnet.yaml.swp", "#qanet.yaml#"):
        (folder / dropping).write_text("garbage: [\n")
    assert "devnet" in load_environments(folder)


# --- Messages ---------------------------------------------------------------------------------------


def test_cross_environment_errors_name_their_line(folder: Path) -> None:
    text = (folder / "qanet.yaml").read_text().replace("predecessor: devnet", "predecessor: devnett")
    (folder / "qanet.yaml").write_text(text)
    line = text.splitlines().index("  predecessor: devnett") + 1
    one(problems(folder), f"{folder / 'qanet.yaml'}:{line}", "'devnett' is not an environment")


def test_a_bad_value_in_defaults_is_blamed_on_defaults_once(folder: Path) -> None:
    defaults = folder / "defaults.yaml"
    text = defaults.read_text().replace("    count: 2\n", "    count: many\n", 1)
    defaults.write_text(text)
    line = text.splitlines().index("    count: many") + 1
    found = problems(folder)
    hits = [p for p in found if "services.api.count" in p]
    assert hits == [f"{defaults}:{line}: services.api.count: must be a whole number"]


def test_an_empty_environment_file_is_named(folder: Path) -> None:
    (folder / "devnet.yaml").write_text("# nothing yet\n")
    one(problems(folder, ["devnet"]), f"{folder / 'devnet.yaml'}:1", "the file is empty")


def test_errors_under_a_replaced_key_point_at_the_replacing_file(folder: Path) -> None:
    text = "replace: [services]\n" + (folder / "qanet.yaml").read_text()
    (folder / "qanet.yaml").write_text(text)
    line = text.splitlines().index("  api: {size: s-1vcpu-2gb, count: 1}") + 1
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line}", "services.api.image: required field is missing")


def test_an_unclosed_quote_is_reported_where_it_opened(folder: Path) -> None:
    line = append(folder, "qanet", "environment:\n  description: 'never closed\n\nnetwork:\n  vpc_cidr: 10.11.0.0/16\n")
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 1}", "never closed")


def test_bad_bytes_and_control_characters_are_reported_at_their_line(folder: Path) -> None:
    path = folder / "qanet.yaml"
    raw = path.read_bytes()
    path.write_bytes(raw + b"environment:\n  description: caf\xe9\n")
    line = raw.count(b"\n") + 2
    one(problems(folder, ["qanet"]), f"{path}:{line}", "not UTF-8 text")
    path.write_bytes(raw + b"environment:\n  description: bell\x07\n")
    one(problems(folder, ["qanet"]), f"{path}:{line}", "is not allowed in YAML")


def test_every_problem_at_once(folder: Path) -> None:
    append(folder, "qanet", "services:\n  api:\n    count: 0\n    count: 3\n    size: huge\n")
    (folder / "parity.yaml").write_text((folder / "parity.yaml").read_text() + "  - bogus: entry\n")
    found = problems(folder)
    assert any("duplicate key 'count'" in p for p in found)
    assert any("services.api.count: must be at least 1" in p for p in found)
    assert any("services.api.size:" in p for p in found)
    assert any(p.startswith(str(folder / "parity.yaml")) for p in found)


def test_plain_words_escaped_keys_and_line_separators(folder: Path) -> None:
    line = append(folder, "qanet", "services:\n  api: a text\n  db:\n    si\u200bze: s-1vcpu-1gb\n")
    found = problems(folder, ["qanet"])
    one(found, f"{folder / 'qanet.yaml'}:{line + 1}", "services.api: must be a mapping")
    one(found, f"{folder / 'qanet.yaml'}:{line + 3}", "services.db.si\\u200bze: unknown key")
    assert all("instance of" not in p for p in found)
    fine = folder / "devnet.yaml"
    fine.write_text("# a comment with a line separator\u2028in it\n" + fine.read_text())
    assert "devnet" in load_environments(folder, ["devnet"])
    assert yaml.safe_load("a: 1") == {"a": 1}


def test_a_status_host_that_backs_up_nothing_is_refused(folder: Path) -> None:
    line = append(folder, "devnet", "backup:\n  status_host: faucet-1\n")
    found = problems(folder, ["devnet"])
    one(found, f"{folder / 'devnet.yaml'}:{line + 1}", "status_host 'faucet-1' backs up no set")


def test_prometheus_on_a_droplet_must_reach_the_data_center_hosts(folder: Path) -> None:
    line = append(folder, "qanet", "network:\n  vpc_cidr: 10.11.0.0/16\n  datacenter_link: none\n")
    assert problems(folder, ["qanet"]) == [
        f"{folder / 'qanet.yaml'}:{line + 2}: network.datacenter_link: Prometheus runs on the monitoring droplets, "
        "which cannot reach the data-center hosts without a link: route the VPC to the data center "
        "(datacenter_link: vpn) or run monitoring there"
    ]


def test_a_data_center_host_must_admit_node_exporter_from_the_vpc(folder: Path) -> None:
    text = "datacenter_hosts:\n  dc-storage-1:\n    firewall:\n      - {port: 22, from: admin}\n"
    line = append(folder, "qanet", text)
    found = problems(folder, ["qanet"])
    assert found == [
        f"{folder / 'qanet.yaml'}:{line + 2}: datacenter_hosts.dc-storage-1.firewall: Prometheus on the monitoring "
        "droplets scrapes node_exporter here over the VPC link: add {port: 9100, from: vpc}"
    ]


# --- The model's last gaps (#28) ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Devnet.yaml", "dev_net.yaml", "mainnet.yml", "2net.yaml"])
def test_a_misnamed_environment_file_is_an_error_on_every_command(folder: Path, name: str, cli) -> None:
    (folder / name).write_text((folder / "devnet.yaml").read_text())
    found = problems(folder, ["qanet"])
    assert found == [one(found, f"{folder / name}:0", "rename")]
    for command in (["validate"], ["preview", "qanet"], ["audit", "qanet"]):
        result = cli("--environments", folder, *command)
        assert result.code == 2, command
        assert f"{folder / name}:0" in result.err


def test_preview_and_audit_of_one_environment_see_its_vpc_overlap_another(folder: Path, cli) -> None:
    text = (folder / "qanet.yaml").read_text()
    (folder / "qanet.yaml").write_text(text.replace("10.11.0.0/16", "10.10.128.0/17"))
    line = text.splitlines().index("  vpc_cidr: 10.11.0.0/16") + 1
    found = problems(folder, ["qanet"])
    assert found == [one(found, f"{folder / 'qanet.yaml'}:{line}", "overlaps devnet's 10.10.0.0/16")]
    assert load_environments(folder, ["mainnet"])  # an environment that overlaps nothing is not blamed
    for command in ("preview", "audit"):
        result = cli("--environments", folder, command, "qanet")
        assert result.code == 2
        assert "overlaps devnet's" in result.err


@pytest.mark.parametrize(
    ("address", "contains"),
    [("10.0.0.300", "is not an IP address"), ("192.0.2", "is not an IP address"), ("1.2.3.4.5", "not an IP")],
)
def test_an_address_that_is_not_an_address_is_refused(folder: Path, address: str, contains: str) -> None:
    line = append(folder, "qanet", f"datacenter_hosts:\n  dc-storage-1:\n    address: {address}\n")
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 2}", contains)


@pytest.mark.parametrize("mount", ["/", "/etc", "/usr", "/var/lib", "/srv/../etc", "/srv//data", "/srv/data/"])
def test_a_volume_mounted_over_the_system_or_at_an_odd_path_is_refused(folder: Path, mount: str) -> None:
    line = append(folder, "qanet", f"services:\n  db:\n    volume: {{size_gb: 20, mount: '{mount}'}}\n")
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 2}", "services.db.volume.mount")


def test_a_volume_in_a_folder_of_its_own_is_accepted(folder: Path) -> None:
    append(folder, "qanet", "services:\n  db:\n    volume: {size_gb: 20, mount: /var/log}\n")
    assert load_environments(folder, ["qanet"])["qanet"].services["db"].volume.mount == "/var/log"


@pytest.mark.parametrize("path", ["/srv/fl\\tists", "/srv/a\\nb", "/srv/\\e[31m"])
def test_control_characters_in_backup_paths_are_refused(folder: Path, path: str) -> None:
    defaults = folder / "defaults.yaml"
    text = defaults.read_text()
    defaults.write_text(text.replace("paths: [/srv/flists]", f'paths: ["{path}"]', 1))
    line = text.splitlines().index("    paths: [/srv/flists]") + 1
    one(problems(folder, ["qanet"]), f"{defaults}:{line}", "holds a control character")


def test_a_misspelt_placeholder_in_a_drill_check_is_refused(folder: Path) -> None:
    defaults = folder / "defaults.yaml"
    text = defaults.read_text()
    defaults.write_text(text.replace("{restore}/srv/storage", "{restor}/srv/storage", 1))
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "{restore}/srv/storage" in t)
    found = one(problems(folder, ["qanet"]), f"{defaults}:{line}", "{restor} is not a placeholder")
    assert "{restore} and {path}" in found


def test_an_unquoted_outbound_port_is_a_port(folder: Path) -> None:
    append(folder, "qanet", "services:\n  api:\n    outbound: [{protocol: tcp, ports: 443, to: public}]\n")
    assert [rule.ports for rule in load_environments(folder, ["qanet"])["qanet"].services["api"].outbound] == ["443"]
    line = append(folder, "qanet", "services:\n  api:\n    outbound: [{protocol: tcp, ports: 70000, to: public}]\n")
    one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 2}", "ports are 1 to 65535")


def test_a_stray_quote_is_blamed_on_its_own_line_not_where_parsing_stopped(folder: Path) -> None:
    text = (
        "environment:\n"
        "  description: 'the quote that never closes on its line\n"  # runs on to the next quote
        "  domain: qanet.example.net\n"
        "  tier: 'staging'\n"
    )
    line = append(folder, "qanet", text)
    found = one(problems(folder, ["qanet"]), f"{folder / 'qanet.yaml'}:{line + 1}", "runs on to line")
    assert f"line {line + 3}" in found


def test_an_empty_defaults_file_is_one_error_naming_it(folder: Path) -> None:
    for text in ("", "# emptied by mistake\n"):
        (folder / "defaults.yaml").write_text(text)
        assert problems(folder) == [one(problems(folder), f"{folder / 'defaults.yaml'}:1", "the file is empty")]
