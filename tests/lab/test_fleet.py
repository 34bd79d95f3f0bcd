"""The fleet in a box, end to end: the deploy's own host steps over SSH on booted Debian 12 hosts, then
backups, drills, prunes, the deep status, the firewall, monitoring with alert delivery, and the fleet
page and status read from the bucket by the deploying machine. The tests run in file order on one worker
(the lab is one fleet): the healthy fleet first, then one broken set."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from seawall.backup.schedules import timer_names
from seawall.build import sha256_of
from tests.lab.conftest import Deployed, on_host
from tests.lab.fleet import DEPLOYER, OUTSIDER, in_lab, sh

# One booted fleet per session: keep every lab test in this file (.ci/test distributes by file).
pytestmark = pytest.mark.integration

HOSTS = ("dc-storage-1", "dc-build-1", "app-1", "monitoring-1")
# What each host's sets back up: the data their services would have written.
DATA = {
    "dc-storage-1": "install -d /srv/storage/meta && echo meta > /srv/storage/meta/meta.db",
    "dc-build-1": "install -d /srv/flists && echo flist > /srv/flists/app.flist",
    "app-1": "install -d /srv/app && echo data > /srv/app/data.txt",
    "monitoring-1": "true",
}
WATCHED = (
    "/etc/seawall /etc/systemd/system /etc/nftables.d /etc/default /etc/prometheus /etc/alertmanager /opt/seawall/dist"
)
UNITS = "prometheus-node-exporter prometheus prometheus-alertmanager seawall-firewall"


def inventory(deployed: Deployed, host: str) -> str:
    """What Seawall placed on a host, as the host sees it: every file's path, mode, owner and hash, the
    loaded ruleset, and each service's invocation (a restart changes it)."""
    script = (
        f"for d in {WATCHED}; do [ -d $d ] && find $d -type f -printf '%p %m %u %g ' -exec sha256sum {{}} \\; ; done"
        " | sort; nft list ruleset | sha256sum;"
        f" for u in {UNITS}; do echo $u $(systemctl show -p InvocationID --value $u); done"
    )
    return on_host(deployed, host, script)


def test_the_firewall_refuses_to_lock_out_a_deployer_outside_admin_cidrs_and_changes_nothing(
    deployed: Deployed,
) -> None:
    refused = {run.name for run in deployed.refused.failed}
    assert refused, deployed.refused.runs
    assert refused <= {"dc-storage-1-firewall", "dc-build-1-firewall"}, deployed.refused.failed
    for run in deployed.refused.failed:
        assert "would lock out the deploying machine (10.213.2.1)" in run.output
        assert "network.admin_cidrs" in run.output
    # What the refused step left: no ruleset loaded, no staged file (the next deploy from the admin
    # network is what loaded it, below).
    assert {run.name for run in deployed.applies[0].runs} >= refused


def test_a_failed_step_runs_again_on_the_next_apply_and_a_second_apply_changes_nothing(deployed: Deployed) -> None:
    first, second = deployed.applies
    assert not first.failed, first.failed
    every = {name for name, r in deployed.graph.resources.items() if r.type.startswith("command:remote:")}
    assert {run.name for run in deployed.refused.runs} | set(first.ran) == every
    assert second.ran == []


def test_every_step_run_again_leaves_every_file_mode_owner_and_service_as_it_was(deployed: Deployed) -> None:
    before = {host: inventory(deployed, host) for host in HOSTS}
    # A fresh state: the engine would run every step again (a stack re-created over the same hosts).
    again = type(deployed.executor)(deployed.executor.state_file.with_name("fresh.json"), deployed.executor.log_folder)
    applied = again.apply(deployed.graph)
    applied.raise_on_failure()
    assert {host: inventory(deployed, host) for host in HOSTS} == before


def test_every_host_runs_the_deployed_wheel(deployed: Deployed) -> None:
    assert deployed.shipped.wheel is not None
    expected = sha256_of(deployed.shipped.wheel)[:16]
    for host in HOSTS:
        assert f"wheel sha256:{expected}" in on_host(deployed, host, "/opt/seawall/bin/seawall --version")


def test_a_rebuilt_wheel_of_the_same_version_replaces_the_installed_one(deployed: Deployed, tmp_path: Path) -> None:
    """A rebuild need not change the version: the install step (a host that has Seawall installs the lock,
    then the wheel again) installs the new bytes, and the shipped wheel again after it."""
    import base64
    import shutil
    import zipfile

    from seawall.components._scripts import Delivery, install_script
    from seawall.hostfiles import DIST

    shipped = deployed.shipped.wheel
    assert shipped is not None
    rebuilt = tmp_path / shipped.name
    shutil.copy(shipped, rebuilt)
    with zipfile.ZipFile(rebuilt, "a") as wheel:
        wheel.writestr("seawall/_rebuilt.txt", "another build of the same version\n")

    def install(wheel: Path) -> str:
        delivery = Delivery(deployed.shipped.identity, wheel.name, str(wheel), sha256_of(wheel),
                            str(deployed.shipped.lock), sha256_of(deployed.shipped.lock))  # fmt: skip
        encoded = base64.b64encode(wheel.read_bytes()).decode()
        on_host(deployed, "dc-build-1", f"base64 -d > {DIST}/{wheel.name}", stdin=encoded)
        return on_host(deployed, "dc-build-1", "bash -s", stdin=install_script(delivery, "root"))

    added = "/opt/seawall/lib/python3*/site-packages/seawall/_rebuilt.txt"
    try:
        assert f"wheel sha256:{sha256_of(rebuilt)[:16]}" in install(rebuilt)
        assert on_host(deployed, "dc-build-1", f"ls {added}").strip().endswith("seawall/_rebuilt.txt")
    finally:
        assert f"wheel sha256:{sha256_of(shipped)[:16]}" in install(shipped)
    assert on_host(deployed, "dc-build-1", f"ls {added}", check=False) == "", "the shipped wheel's files only"


def test_hosts_install_only_what_hosts_run_and_a_deployers_command_says_so(deployed: Deployed) -> None:
    import re as regex

    # Every pin of the host lock that applies on Linux (a universal lock also pins Windows-only packages).
    lock = (Path(__file__).parents[2] / "requirements.lock").read_text()
    locked = {m.group(1) for m in regex.finditer(r"^([a-z0-9_.-]+)==\S+( ;[^\\]*)?", lock, regex.M)
              if "win32" not in (m.group(2) or "")}  # fmt: skip
    for host in HOSTS:
        # What pip freeze --all lists, from the environment's own metadata (it holds no pip: the system's ran).
        listing = "import importlib.metadata as m; print('\\n'.join(d.metadata['Name'] for d in m.distributions()))"
        frozen = on_host(deployed, host, f'/opt/seawall/bin/python -c "{listing}"')
        names = {line.strip().lower().replace("_", "-").replace(".", "-") for line in frozen.splitlines() if line}
        assert not [name for name in names if name.startswith(("pulumi", "grpc", "opentelemetry", "debugpy"))], names
        assert names - {"seawall"} == {name.replace(".", "-") for name in locked}, names ^ locked
    preview = deployed.lab.ssh(
        deployed.lab.hosts["app-1"],
        "/opt/seawall/bin/seawall --environments /etc/seawall/environments preview lab",
        check=False,
    )
    assert preview.returncode == 2
    assert preview.stderr.strip().startswith(
        "seawall: error: this command needs pulumi, one of the deploying machine's"
    )
    assert len(preview.stderr.strip().splitlines()) == 1


def test_packages_come_without_recommends_and_nothing_is_half_installed(deployed: Deployed) -> None:
    for host in HOSTS:
        states = on_host(deployed, host, "dpkg-query -W -f='${db:Status-Abbrev} ${Package}\\n'")
        assert [line for line in states.splitlines() if not line.startswith("ii ")] == []
        # Prometheus recommends prometheus-node-exporter-collectors; restic nothing we installed.
        assert "prometheus-node-exporter-collectors" not in states


def test_timers_are_listed_units_verify_and_nothing_seawall_placed_has_failed(deployed: Deployed) -> None:
    for host in HOSTS:
        listed = on_host(deployed, host, "systemctl list-timers --all --no-legend --plain")
        for timer in timer_names(deployed.env, host):
            assert timer in listed, (host, timer)
        units = " ".join(f"/etc/systemd/system/{t.removesuffix('.timer')}.{k}" for t in timer_names(deployed.env, host)
                         for k in ("service", "timer"))  # fmt: skip
        verify = deployed.lab.ssh(deployed.lab.hosts[host], f"systemd-analyze verify {units}", check=False)
        assert verify.returncode == 0, (host, verify.stderr)
        assert verify.stderr.strip() == "", (host, verify.stderr)
        failed = on_host(deployed, host, "systemctl --failed --no-legend --plain").split("\n")
        booted = deployed.lab.hosts[host].failed_at_boot
        for unit, journal in booted.items():
            # Failed before any step ran (the stock image at boot, on a loaded machine): named, not blamed.
            warnings.warn(f"{host}: {unit} had failed at boot, before the deploy:\n{journal[-1500:]}", stacklevel=1)
        after = [line for line in failed if line.split() and line.split()[0] not in booted]
        assert after == [], (host, after)


def test_each_backup_drill_and_prune_service_succeeds_against_the_lab_s3(deployed: Deployed) -> None:
    for host in HOSTS:
        on_host(deployed, host, DATA[host])
    for kind in ("backup", "drill", "prune"):
        for host in HOSTS:
            services = [t.removesuffix(".timer") + ".service" for t in timer_names(deployed.env, host)]
            chosen = [s for s in services if s.startswith(f"seawall-{kind}-")]
            result = deployed.lab.ssh(deployed.lab.hosts[host], f"systemctl start {' '.join(chosen)}", check=False)
            journal = on_host(deployed, host, f"journalctl --no-pager -n 40 -u 'seawall-{kind}-*'")
            assert result.returncode == 0, (host, kind, result.stderr, journal)


def test_the_vault_copies_every_set_and_no_backup_host_holds_its_key_or_the_copys_password(
    deployed: Deployed,
) -> None:
    from tests.lab.fleet import COPY_PASSWORD, VAULT_SECRET

    copy = deployed.env.backup.copy_
    assert copy is not None
    vault = copy.vault
    for unit in ("seawall-copy", "seawall-copy-drill", "seawall-copy-prune"):
        result = deployed.lab.ssh(deployed.lab.hosts[vault], f"systemctl start {unit}.service", check=False)
        journal = on_host(deployed, vault, f"journalctl --no-pager -n 60 -u {unit}.service")
        assert result.returncode == 0, (unit, result.stderr, journal)
    seawall = "/opt/seawall/bin/seawall --environments /etc/seawall/environments"
    load = "set -a; . /etc/seawall/credentials.env; . /etc/seawall/vault.env; set +a"
    listed = json.loads(on_host(deployed, vault, f"{load}; {seawall} snapshots lab --from copy --format json"))
    copied = {(row["set_name"], row["host"]) for row in listed["snapshots"]}
    assert copied == {(s, h) for s in deployed.env.backup_sets for h in deployed.env.hosts_of_set(s)}
    for host in HOSTS:
        found = deployed.lab.ssh(
            deployed.lab.hosts[host], f"grep -rlF -e {VAULT_SECRET} -e {COPY_PASSWORD} /etc /opt/seawall", check=False
        ).stdout.split()
        if host == vault:
            assert sorted(found) == sorted(["/etc/seawall/vault.env", copy.password_file or ""]), found
        else:
            assert found == [], (host, found)


def test_the_status_host_deep_status_sees_every_host_ok(deployed: Deployed) -> None:

    host = deployed.env.status_host()
    assert host is not None
    on_host(deployed, host, "systemctl start seawall-status.service")
    rows = _status_rows(on_host(deployed, host, "journalctl --no-pager -o cat -u seawall-status.service"))
    seen = {(row["set_name"], row["host"]) for row in rows}
    expected = {(s, h) for s in deployed.env.backup_sets for h in deployed.env.hosts_of_set(s)}
    assert seen == expected
    assert {row["status"] for row in rows} == {"ok"}, rows
    copies = _status_document(on_host(deployed, host, "journalctl --no-pager -o cat -u seawall-status.service"))
    assert {row["set_name"]: row["status"] for row in copies["copies"]} == dict.fromkeys(deployed.env.backup_sets, "ok")


def test_the_firewall_admits_exactly_the_declared_sources(deployed: Deployed) -> None:
    lab = deployed.lab
    host = lab.hosts["dc-storage-1"]
    assert lab.ssh(host, "true", check=False).returncode == 0  # from the admin network
    outsider = sh(*lab.ssh_argv(host, source=OUTSIDER), "--", "true", check=False, timeout=60)
    assert outsider.returncode == 255
    assert "timed out" in outsider.stderr
    probe = (
        "import socket,sys; s=socket.socket(); s.settimeout(3); s.bind((sys.argv[1],0)); s.connect((sys.argv[2],9100))"
    )
    # node_exporter from the VPC (the monitoring droplet) is admitted; from the admin network it is not.
    on_host(deployed, "monitoring-1", f"python3 -c '{probe}' 10.213.1.12 {host.address}")
    refused = sh(*in_lab(sys.executable, "-c", probe, DEPLOYER, host.address), check=False, timeout=30)
    assert refused.returncode != 0
    assert "timed out" in refused.stderr


def test_the_firewall_timers_and_exporter_come_back_after_a_reboot(deployed: Deployed) -> None:
    host = "dc-storage-1"
    deployed.lab.reboot(deployed.lab.hosts[host])
    assert "table inet seawall" in on_host(deployed, host, "nft list ruleset")
    assert on_host(deployed, host, "systemctl is-active prometheus-node-exporter").strip() == "active"
    for timer in timer_names(deployed.env, host):
        assert on_host(deployed, host, f"systemctl is-active {timer}").strip() == "active", timer
    assert on_host(deployed, host, "systemctl --failed --no-legend --plain").strip() == ""


def test_prometheus_scrapes_every_host_and_seawalls_textfile_metrics(deployed: Deployed) -> None:
    def targets() -> dict[str, str]:
        data = json.loads(_prometheus(deployed, "/api/v1/targets"))["data"]["activeTargets"]
        return {t["labels"].get("host", t["labels"]["job"]): t["health"] for t in data if t["labels"]["job"] == "node"}

    _eventually(lambda: set(targets().values()) == {"up"} and set(targets()) == set(HOSTS), lambda: targets())
    query = "/api/v1/query?query=seawall_backup_success"
    _eventually(
        lambda: (
            {(s["metric"]["host"], s["metric"]["set"]) for s in _result(deployed, query)}
            >= {(h, s) for s in deployed.env.backup_sets for h in deployed.env.hosts_of_set(s)}
        ),
        lambda: _result(deployed, query),
    )
    # The healthy fleet has fired nothing Alertmanager delivered but the DR rehearsal's overdue alert: this fleet
    # was never rehearsed (tests/lab/test_dr.py rehearses a fleet of its own), which the alert says from the first
    # evaluation on.
    delivered = [json.loads(line) for line in deployed.lab.webhook_log.read_text().splitlines()]
    assert [d for d in delivered if "SeawallDrRehearsalOverdue" not in json.dumps(d)] == []


def test_every_host_checks_itself_and_a_healthy_fleet_reports_no_drift(deployed: Deployed, tmp_path: Path) -> None:
    for host in HOSTS:
        verify = f"/opt/seawall/bin/seawall --environments /etc/seawall/environments host verify lab --host {host}"
        status = _verify(deployed, host)
        assert status == 0, (host, status, on_host(deployed, host, f"{verify} --format json", check=False))
        assert on_host(deployed, host, "cat /var/lib/prometheus/node-exporter/seawall-drift.prom").count(" 0\n") >= 9
    report = _drift(deployed, tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
    statuses = {entry["host"]: entry["status"] for entry in json.loads(report.stdout)["hosts"]}
    assert statuses == dict.fromkeys(HOSTS, "ok")


def test_a_hand_edit_a_flushed_rule_and_an_extra_file_are_reported_alerted_and_cleared_by_a_reapply(
    deployed: Deployed, tmp_path: Path
) -> None:
    unit = "/etc/systemd/system/seawall-backup-app-data.service"
    on_host(deployed, "app-1", f"echo 'Environment=EDITED=1' >> {unit} && systemctl daemon-reload")
    # The rule that admits ICMP (neither SSH nor node_exporter, which the test needs), found by its handle.
    handle = (
        "import json, subprocess\n"
        "listing = subprocess.run(['nft', '-j', '-a', 'list', 'chain', 'inet', 'seawall', 'input'],"
        " capture_output=True, text=True, check=True).stdout\n"
        "rules = [item['rule'] for item in json.loads(listing)['nftables'] if 'rule' in item]\n"
        "print(next(rule['handle'] for rule in rules if 'l4proto' in json.dumps(rule)))\n"
    )
    rule = deployed.lab.ssh(deployed.lab.hosts["dc-build-1"], "python3 -", stdin=handle).stdout.strip()
    on_host(deployed, "dc-build-1", f"nft delete rule inet seawall input handle {int(rule)}")
    on_host(deployed, "dc-storage-1", "echo 'notes left by hand' > /etc/seawall/notes.txt")
    for host in ("app-1", "dc-build-1", "dc-storage-1"):
        assert _verify(deployed, host) == 1, host
    report = _drift(deployed, tmp_path)
    assert report.returncode == 1, report.stderr
    hosts = {entry["host"]: entry for entry in json.loads(report.stdout)["hosts"]}
    found = {host: {(f["kind"], f["subject"]) for f in entry["findings"]} for host, entry in hosts.items()}
    assert found == {
        "app-1": {("content", unit)},
        "dc-build-1": {("firewall", "table inet seawall")},
        "dc-storage-1": {("extra", "/etc/seawall/notes.txt")},
        "monitoring-1": set(),
    }
    assert {host: entry["status"] for host, entry in hosts.items()} == {
        "app-1": "drift", "dc-build-1": "drift", "dc-storage-1": "drift", "monitoring-1": "ok"
    }  # fmt: skip

    def delivered() -> set[str]:
        lines = [json.loads(line) for line in deployed.lab.webhook_log.read_text().splitlines()]
        return {host for d in lines if "SeawallHostDrift" in json.dumps(d) for host in HOSTS if host in json.dumps(d)}

    _eventually(lambda: delivered() >= {"app-1", "dc-build-1", "dc-storage-1"}, delivered, seconds=180)
    # A re-apply of the steps (a fresh stack over the same hosts runs every one) clears every kind.
    again = type(deployed.executor)(
        deployed.executor.state_file.with_name("reapply.json"), deployed.executor.log_folder
    )
    again.apply(deployed.graph).raise_on_failure()
    for host in HOSTS:
        assert _verify(deployed, host) == 0, host
    cleared = _drift(deployed, tmp_path)
    assert cleared.returncode == 0, cleared.stdout
    kept = on_host(deployed, "dc-storage-1", "cat /var/lib/seawall/drift-quarantine/*/etc/seawall/notes.txt")
    assert kept == "notes left by hand\n"  # moved aside by the manifest step, never deleted
    assert "Environment=EDITED=1" not in on_host(deployed, "app-1", f"cat {unit}")


def test_a_set_failing_on_one_host_fires_the_backup_alert_delivered_by_severity(deployed: Deployed) -> None:
    on_host(deployed, "dc-build-1", "rm -rf /srv/flists")
    failed = deployed.lab.ssh(
        deployed.lab.hosts["dc-build-1"], "systemctl start seawall-backup-flists.service", check=False
    )
    assert failed.returncode != 0

    def delivered() -> list[dict]:
        lines = deployed.lab.webhook_log.read_text().splitlines()
        return [json.loads(line) for line in lines]

    _eventually(lambda: any("SeawallBackupFailed" in json.dumps(d) for d in delivered()), delivered, seconds=120)
    backup = [d for d in delivered() if "SeawallBackupFailed" in json.dumps(d)]
    assert {d["path"] for d in backup} == {"/critical"}  # the backup alert is Critical, routed at any hour
    assert "flists" in json.dumps(backup) or "SeawallBackupFailed" in backup[0]["body"]["text"]


def test_status_and_the_fleet_page_from_the_deploying_machine_name_the_one_broken_set(deployed: Deployed) -> None:
    seawall = [str(Path(sys.executable).with_name("seawall")), "--environments", str(deployed.environments)]
    env = _deployer_env()
    status = sh(*in_lab("env", *env, *seawall, "backup", "status", "lab", "--format", "json"), check=False)
    assert status.returncode == 1, status.stderr
    rows = json.loads(status.stdout)["rows"]
    assert len(rows) == sum(len(deployed.env.hosts_of_set(s)) for s in deployed.env.backup_sets)
    bad = [(r["set_name"], r["host"], r["status"]) for r in rows if r["status"] != "ok"]
    assert bad == [("flists", "dc-build-1", "run-failed")], [
        (r["set_name"], r["host"], r["status"], r["detail"]) for r in rows
    ]
    page = sh(*in_lab("env", *env, *seawall, "report", "lab", "--format", "json"), check=False)
    assert page.returncode == 0, page.stderr
    data = json.loads(page.stdout)
    backups = [row for item in data["environments"] for row in item["backups"]]
    assert {(r["set"], r["host"]) for r in backups if r["status"] == "alarm"} == {("flists", "dc-build-1")}
    assert {r["status"] for r in backups if (r["set"], r["host"]) != ("flists", "dc-build-1")} <= {"ok", "warning"}
    assert all(r["last_run"] == "ok" for r in backups if (r["set"], r["host"]) != ("flists", "dc-build-1"))


# -- helpers -----------------------------------------------------------------------------------------------


def _deployer_env() -> list[str]:
    """The deploying machine holds the bucket's keys (it reads the fleet's recorded state with them)."""
    from tests.lab.fleet import ACCESS_KEY, SECRET_KEY

    return [f"SPACES_ACCESS_KEY_ID={ACCESS_KEY}", f"SPACES_SECRET_ACCESS_KEY={SECRET_KEY}"]


def _verify(deployed: Deployed, host: str) -> int:
    """Run the host's drift check as its timer does (the unit) and return its exit status. The lab's quirk: a
    unit started again seconds after a run whose control group nspawn could not remove ("Failed to kill control
    group ... Input/output error") fails to start with 219/CGROUP before Seawall runs; that start is retried."""
    unit = "seawall-host-verify.service"
    for _ in range(5):
        deployed.lab.ssh(deployed.lab.hosts[host], f"systemctl start {unit}", check=False)
        status = int(on_host(deployed, host, f"systemctl show -p ExecMainStatus --value {unit}").strip() or -1)
        if status != 219:
            return status
        time.sleep(3)
    return status


def _drift(deployed: Deployed, folder: Path) -> subprocess.CompletedProcess:
    """`seawall drift lab` from the deploying machine, with the bucket's keys and the graph the lab deployed
    (and the wheel it shipped), as `seawall up` leaves them in the ledger."""
    graph = folder / "lab.deployed.json"
    document = {**deployed.graph.as_json(), "shipped": {"wheel_sha256": sha256_of(deployed.shipped.wheel)}}
    graph.write_text(json.dumps(document))
    seawall = [str(Path(sys.executable).with_name("seawall")), "--environments", str(deployed.environments)]
    argv = [*seawall, "drift", "lab", "--graph", str(graph), "--format", "json"]
    return sh(*in_lab("env", *_deployer_env(), *argv), check=False)


def _status_rows(journal: str) -> list[dict]:
    """The rows of the last JSON document the deep status printed to its journal."""
    return _status_document(journal)["rows"]


def _status_document(journal: str) -> dict:
    """The last JSON document the deep status printed to its journal."""
    text = journal[journal.rfind('{\n  "') :] if '{\n  "' in journal else journal[journal.find("{") :]
    return json.JSONDecoder().raw_decode(text)[0]


def _prometheus(deployed: Deployed, path: str) -> str:
    url = f"http://127.0.0.1:9090{path}"
    script = f"import urllib.request; print(urllib.request.urlopen('{url}', timeout=10).read().decode())"
    return on_host(deployed, "monitoring-1", f"python3 -c {json.dumps(script)}")


def _result(deployed: Deployed, path: str) -> list[dict]:
    return json.loads(_prometheus(deployed, re.sub(r"\s", "", path)))["data"]["result"]


def _eventually(condition, describe, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(2)
    pytest.fail(f"not within {seconds:.0f} s: {describe()}")
