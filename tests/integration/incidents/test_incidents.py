"""Incidents in a real git repository: reports from the template with Seawall's facts, every change a
commit, durations against the severity's targets, emergency deploys tied to open incidents, escalation,
and bad input that writes nothing. Times are frozen with --at."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import hint, patch_environment
from tests.unit.docs.fleet import ENVIRONMENTS

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "incidents" / "opened.md"
OPENED_AT = "2026-11-24T14:30:00+01:00"  # a Tuesday, in business hours (Europe/Brussels)


def git(folder: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The fixture fleet with a reports repository, a ledger and recorded state of mainnet."""
    shutil.copytree(ENVIRONMENTS, tmp_path / "environments")
    patch_environment(tmp_path / "environments", "defaults", {"backup": {"state_dir": "var/state"}})
    reports = tmp_path / "incident_reports"
    subprocess.run(["git", "init", "-q", "-b", "main", str(reports)], check=True)
    git(reports, "config", "user.name", "Ops Alice")
    git(reports, "config", "user.email", "alice@example.net")
    git(reports, "commit", "-q", "--allow-empty", "-m", "reports")
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    entries = [
        ("2026-11-13T10:00:00+00:00", "acme/ops#1", {"web": "2.0.2"}),  # older than 72 hours: left out
        ("2026-11-23T16:00:00+00:00", "acme/ops#2", {"web": "2.0.3", "store": "7.2.4"}),
    ]
    common = {"environment": "mainnet", "operator": "ops-alice", "identity": "ops-alice", "result": "succeeded"}
    lines = [
        json.dumps(
            {
                **common,
                "time": time,
                "issue": issue,
                "versions": versions,
                "model_hash": "0" * 16,
                "deploy_id": f"d{index}",
            }
        )
        for index, (time, issue, versions) in enumerate(entries)
    ]
    (ledger / "mainnet.jsonl").write_text("\n".join(lines) + "\n")
    state = tmp_path / "var" / "state" / "mainnet" / "store-data"
    state.mkdir(parents=True)
    (state / "store-1.json").write_text(
        json.dumps(
            {
                "updated": "2026-11-24T12:00:00+00:00",
                "last_snapshot": {"id": "c9d0e1f2", "time": "2026-11-24T12:00:00+00:00"},
                "last_drill": {"time": "2026-11-22T06:10:00+00:00", "result": "passed", "rto_seconds": 1500.0},
            }
        )
    )
    return tmp_path


def seawall(cli, project: Path, *args: str):
    return cli("--environments", project / "environments", *args)


def open_one(cli, project: Path, severity: str = "critical", at: str = OPENED_AT) -> tuple[str, Path]:
    title = "Store unreachable from web"
    result = seawall(
        cli,
        project,
        "incident",
        "new",
        "mainnet",
        "--severity",
        severity,
        "--title",
        title,
        "--service",
        "store",
        "--author",
        "ops-alice",
        "--at",
        at,
    )
    assert result.code == 0, result.err
    incident, path = result.out.split()
    return incident, Path(path)


def front(path: Path) -> dict:
    return yaml.safe_load(path.read_text().split("---\n")[1])


def test_a_new_incident_is_the_template_prefilled_with_what_seawall_knows_and_one_commit(project: Path, cli) -> None:
    incident, path = open_one(cli, project)
    assert incident == "INC-2026-001"
    assert path == project / "incident_reports" / "2026" / "2026-11-24-INC-2026-001-store-unreachable-from-web.md"
    if os.environ.get("SEAWALL_REGENERATE_GOLDEN"):
        GOLDEN.write_text(path.read_text())
    assert path.read_text() == GOLDEN.read_text(), "regenerate with SEAWALL_REGENERATE_GOLDEN=1 and review"
    text = path.read_text()
    assert "| 2026-11-23T16:00:00+00:00 | ops-alice | acme/ops#2 | succeeded | web 2.0.3, store 7.2.4 |" in text
    assert "acme/ops#1" not in text  # older than the 72 hours
    assert "| store-data | store-1 | 2026-11-24 12:00 | 2026-11-22 06:10 | passed | 25m |" in text
    assert "| escalate to | @example-org/data-circle |" in text
    assert "| acknowledge by | 2026-11-24T13:45:00+00:00 |" in text  # 15 minutes after 13:30 UTC
    assert "business hours (Europe/Brussels): the operations team (ops-alice)" in text
    assert git(project / "incident_reports", "log", "--format=%s").splitlines()[0] == (
        "INC-2026-001: open (Critical) Store unreachable from web"
    )
    second, _ = open_one(cli, project, "minor", "2026-11-24T15:00:00+01:00")
    assert second == "INC-2026-002"


def test_update_and_close_are_commits_with_the_timeline_and_durations_against_the_targets(project: Path, cli) -> None:
    incident, path = open_one(cli, project)
    path.write_text(path.read_text().replace("_What happened, who was affected", "The web tier lost its store"))
    git(project / "incident_reports", "commit", "-qam", "summary by hand")
    steps = [
        ("--role", "commander=ops-alice", "--at", "2026-11-24T14:50:00+01:00"),
        ("--status", "mitigated", "--note", "failed over to a fresh droplet", "--at", "2026-11-24T16:00:00+01:00"),
        ("--severity", "major", "--at", "2026-11-24T16:05:00+01:00"),
    ]
    for step in steps:
        result = seawall(cli, project, "incident", "update", incident, "--author", "ops-alice", *step)
        assert result.code == 0, result.err
    closed = seawall(
        cli,
        project,
        "incident",
        "close",
        incident,
        "--root-cause",
        "the store's volume filled up",
        "--resolution",
        "volume grown to 400 GB",
        "--author",
        "ops-alice",
        "--at",
        "2026-11-25T15:00:00+01:00",
    )
    assert closed.code == 0, closed.err
    # Major targets: acknowledge 1h, mitigate 4h, resolve 1d; opened 14:30, acknowledged 14:50 (the first answer).
    assert closed.out.splitlines()[:3] == [
        "time to acknowledge: 20m (target 1h): met",
        "time to mitigate: 1h30m (target 4h): met",
        "time to resolve: 1d30m (target 1d): missed by 30m",
    ]
    data = front(path)
    assert data["status"] == "closed"
    assert data["severity"] == "Major"
    assert [event["kind"] for event in data["timeline"]] == ["opened", "role", "status", "note", "severity", "closed"]
    assert data["roles"] == {"commander": "ops-alice"}
    text = path.read_text()
    assert "The web tier lost its store" in text, "an update replaced what was written by hand"
    assert "| 2026-11-24T15:05:00+00:00 | ops-alice | severity: severity Critical → Major |" in text
    assert "**Root cause:** the store's volume filled up" in text
    assert "| time to resolve | 1d30m | 1d | missed by 30m |" in text
    log = git(project / "incident_reports", "log", "--format=%s").splitlines()
    assert log[:5] == [f"{incident}: closed by ops-alice", *[f"{incident}: update by ops-alice"] * 3, "summary by hand"]
    assert git(project / "incident_reports", "status", "--porcelain") == ""


def test_list_is_stable_in_every_format(project: Path, cli) -> None:
    first, _ = open_one(cli, project)
    open_one(cli, project, "minor", "2026-11-24T15:00:00+01:00")
    seawall(
        cli,
        project,
        "incident",
        "close",
        first,
        "--root-cause",
        "a",
        "--resolution",
        "b",
        "--at",
        "2026-11-24T16:00:00+01:00",
    )
    rows = json.loads(seawall(cli, project, "incident", "list", "--format", "json").out)
    assert [(r["id"], r["severity"], r["status"]) for r in rows] == [
        ("INC-2026-001", "Critical", "closed"),
        ("INC-2026-002", "Minor", "open"),
    ]
    assert rows[0]["resolved"] == "2026-11-24T15:00:00+00:00"
    assert rows[1]["report"] == "incident_reports/2026/2026-11-24-INC-2026-002-store-unreachable-from-web.md"
    opened = json.loads(seawall(cli, project, "incident", "list", "--open", "--format", "json").out)
    assert [r["id"] for r in opened] == ["INC-2026-002"]
    markdown = seawall(cli, project, "incident", "list", "--format", "markdown").out.splitlines()
    assert markdown[0] == "| id | environment | severity | status | title | opened | resolved | report |"
    assert markdown[3].startswith("| INC-2026-002 | mainnet | Minor | open |")
    again = seawall(cli, project, "incident", "list", "--format", "json").out
    assert again == json.dumps(rows, indent=2, sort_keys=True) + "\n"


def test_an_emergency_deploy_needs_an_open_critical_or_major_incident_and_links_both_ways(project: Path, cli) -> None:
    def freeze(incident: str) -> dict:
        result = seawall(
            cli,
            project,
            "guard",
            "mainnet",
            "--at",
            "2026-11-28T12:00:00+01:00",
            "--format",
            "json",
            "--emergency",
            "--incident",
            incident,
        )
        return {v["rule"]: v for v in json.loads(result.out)["verdicts"]}["freeze-window"]

    critical, path = open_one(cli, project)
    minor, _ = open_one(cli, project, "minor", "2026-11-24T15:00:00+01:00")
    assert freeze(critical)["allowed"] is True
    assert "only Critical and Major" in freeze(minor)["reason"]
    assert "not in the reports repository" in freeze("INC-2026-099")["reason"]

    recorded = seawall(
        cli,
        project,
        "ledger-record",
        "mainnet",
        "--result",
        "succeeded",
        "--deploy-id",
        "d-77",
        "--issue",
        "acme/ops#9",
        "--priority",
        "critical",
        "--operator",
        "ops-alice",
        "--emergency",
        "--incident",
        critical,
    )
    assert recorded.code == 0, recorded.err
    entry = json.loads((project / "ledger" / "mainnet.jsonl").read_text().splitlines()[-1])
    assert (entry["incident"], entry["emergency"], entry["priority"]) == (critical, True, "Critical")
    data = front(path)
    assert data["deploys"] == ["d-77"]
    assert "emergency deploy of mainnet succeeded (deploy d-77, issue acme/ops#9)" in data["timeline"][-1]["text"]

    seawall(
        cli,
        project,
        "incident",
        "close",
        critical,
        "--root-cause",
        "a",
        "--resolution",
        "b",
        "--at",
        "2026-11-24T16:00:00+01:00",
    )
    assert freeze(critical)["reason"] == f"incident {critical} is closed"


def test_the_hint_for_an_unknown_incident_opens_one_that_the_emergency_deploy_then_answers(project: Path, cli) -> None:
    def freeze(incident: str) -> dict:
        result = seawall(cli, project, "guard", "mainnet", "--at", "2026-11-28T12:00:00+01:00", "--format", "json",
                         "--emergency", "--incident", incident)  # fmt: skip
        return {v["rule"]: v for v in json.loads(result.out)["verdicts"]}["freeze-window"]

    unknown = freeze("INC-2026-099")
    assert unknown["allowed"] is False
    assert "open it with `seawall incident new mainnet --severity critical --title TITLE`" in unknown["reason"]
    opened = seawall(cli, project, *hint(unknown["reason"]))
    assert opened.code == 0, opened.err
    incident, path = opened.out.split()
    assert front(Path(path))["severity"] == "Critical"
    answered = freeze(incident)  # "give the id it prints to --incident"
    assert answered["allowed"] is True, answered
    assert f"bypassed for incident {incident}" in answered["reason"]


def test_escalation_writes_the_issue_to_the_circle_owner_and_files_it_with_gh(project: Path, cli, monkeypatch) -> None:
    incident, path = open_one(cli, project)
    printed = seawall(cli, project, "incident", "escalate", incident, "--at", "2026-11-24T14:40:00+01:00")
    assert printed.code == 0, printed.err
    body = path.with_name(path.stem + "-escalation.md")
    assert printed.out.splitlines()[1] == (
        f"gh issue create --title '[Critical] {incident} (mainnet): Store unreachable from web' "
        f"--body-file {body} --label Critical --repo example-org/incident-reports"
    )
    assert body.read_text().startswith(f"@example-org/data-circle: {incident} in mainnet needs you.")
    assert git(project / "incident_reports", "status", "--porcelain") == ""  # body and timeline committed

    # GitHub cannot be reached from here: a stand-in gh records its arguments and prints an issue address.
    fake = project / "bin" / "gh"
    fake.parent.mkdir()
    fake.write_text(
        '#!/bin/sh\nprintf "%s\\n" "$@" > "$(dirname "$0")/args"\necho https://github.com/acme/ops/issues/99\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    filed = seawall(cli, project, "incident", "escalate", incident, "--file", project / "issue.md")
    assert filed.code == 0, filed.err
    assert "filed: https://github.com/acme/ops/issues/99" in filed.out
    assert (fake.parent / "args").read_text().splitlines()[-4:] == [
        "--label", "Critical", "--repo", "example-org/incident-reports"
    ]  # fmt: skip
    assert front(path)["escalations"][-1] == "https://github.com/acme/ops/issues/99"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("incident", "update", "INC-2026-404", "--note", "x"), "no incident 'INC-2026-404'"),
        (("incident", "new", "mainnet", "--severity", "blocker", "--title", "x"), "'blocker' is not a severity"),
        (("incident", "new", "mainnet", "--severity", "major", "--title", "x", "--service", "nope"), "no service"),
        (("incident", "update", "INC-2026-001", "--role", "pilot=ops-alice"), "--role 'pilot=ops-alice'"),
        (("incident", "update", "INC-2026-001", "--role", "commander=mallory"), "may not be the incident's commander"),
        (
            ("incident", "new", "mainnet", "--severity", "major", "--title", "x", "--at", "2099-01-05T10:00:00+00:00"),
            "is in the future",
        ),
        (
            ("incident", "update", "INC-2026-001", "--status", "mitigated", "--at", "2026-11-24T12:00:00+01:00"),
            "is before INC-2026-001 was opened (2026-11-24T13:30:00+00:00)",
        ),
        (
            (
                "incident",
                "close",
                "INC-2026-001",
                "--root-cause",
                "a",
                "--resolution",
                "b",
                "--at",
                "2026-11-20T09:00Z",
            ),
            "is before INC-2026-001 was opened",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    project: Path, cli, args: tuple[str, ...], message: str
) -> None:
    open_one(cli, project)
    before = git(project / "incident_reports", "log", "--format=%H")
    files = sorted((project / "incident_reports").rglob("*.md"))
    result = seawall(cli, project, *args)
    assert result.code == 2
    assert message in result.err
    assert len(result.err.strip().splitlines()) <= 2
    assert "Traceback" not in result.err
    assert git(project / "incident_reports", "log", "--format=%H") == before
    assert sorted((project / "incident_reports").rglob("*.md")) == files


def test_a_closed_incident_a_dirty_missing_or_non_git_repository_are_refused(project: Path, cli) -> None:
    incident, _path = open_one(cli, project)
    seawall(cli, project, "incident", "close", incident, "--root-cause", "a", "--resolution", "b")
    closed = seawall(cli, project, "incident", "update", incident, "--note", "late")
    assert closed.code == 2
    assert f"{incident} is closed" in closed.err

    (project / "incident_reports" / "draft.txt").write_text("unsaved")
    dirty = seawall(cli, project, "incident", "new", "mainnet", "--severity", "major", "--title", "x")
    assert dirty.code == 2
    assert "uncommitted changes (draft.txt)" in dirty.err
    assert len(list((project / "incident_reports").rglob("*.md"))) == 1

    shutil.rmtree(project / "incident_reports")
    missing = seawall(cli, project, "incident", "new", "mainnet", "--severity", "major", "--title", "x")
    assert missing.code == 2
    assert "does not exist" in missing.err
    assert "git init" in missing.err
    (project / "incident_reports").mkdir()
    plain = seawall(cli, project, "incident", "new", "mainnet", "--severity", "major", "--title", "x")
    assert plain.code == 2
    assert "is not a git repository of its own" in plain.err
    assert list((project / "incident_reports").iterdir()) == []


def test_the_git_init_hints_of_a_missing_or_plain_reports_folder_work_when_followed(project: Path, cli) -> None:
    reports = project / "incident_reports"
    opening = ("incident", "new", "mainnet", "--severity", "major", "--title", "Disk filling", "--author", "ops-alice")
    shutil.rmtree(reports)
    missing = seawall(cli, project, *opening)
    assert missing.code == 2
    subprocess.run(["git", *hint(missing.err, "git")], check=True, capture_output=True)
    assert seawall(cli, project, *opening).code == 0, "the repository it said to create takes the report"
    shutil.rmtree(reports)
    reports.mkdir()
    plain = seawall(cli, project, *opening)
    assert plain.code == 2
    assert "is not a git repository of its own" in plain.err
    subprocess.run(["git", *hint(plain.err, "git")], check=True, capture_output=True)
    opened = seawall(cli, project, *opening)
    assert opened.code == 0, opened.err
    assert git(reports, "log", "--format=%s").strip()


# A stand-in for git (the real one does the work) that sleeps around `commit`, so that the test can send
# its signal to seawall while git commits: "before" the real commit, or "after" it has landed.
SLOW_GIT = """#!{python}
import os, subprocess, sys, time
commit = "commit" in sys.argv
if commit and os.environ["SLOW_GIT"] == "before":
    open(os.environ["SLOW_GIT_MARK"], "w").close()
    time.sleep(60)
code = subprocess.run(["{git}", *sys.argv[1:]]).returncode
if commit and os.environ["SLOW_GIT"] == "after":
    open(os.environ["SLOW_GIT_MARK"], "w").close()
    time.sleep(60)
sys.exit(code)
"""


@pytest.mark.parametrize(
    ("command", "when"),
    [
        (("new", "mainnet", "--severity", "major", "--title", "Disk filling", "--author", "ops-alice"), "before"),
        (("update", "INC-2026-001", "--note", "disk at 91%", "--author", "ops-alice"), "before"),
        (("update", "INC-2026-001", "--note", "disk at 91%", "--author", "ops-alice"), "after"),
    ],
)
def test_a_signal_while_git_commits_leaves_the_reports_repository_clean(
    project: Path, cli, tmp_path: Path, command: tuple[str, ...], when: str
) -> None:
    import signal
    import sys
    import time

    open_one(cli, project)
    reports = project / "incident_reports"
    texts = {path: path.read_text() for path in reports.rglob("*.md")}
    commits = git(reports, "log", "--format=%H").splitlines()
    bin_dir = tmp_path / "slow-git"
    bin_dir.mkdir()
    (bin_dir / "git").write_text(SLOW_GIT.format(python=sys.executable, git=shutil.which("git")))
    (bin_dir / "git").chmod(0o755)
    mark = tmp_path / "committing"
    process = subprocess.Popen(
        [sys.executable, "-m", "seawall", "--environments", str(project / "environments"), "incident", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "SLOW_GIT": when, "SLOW_GIT_MARK": str(mark)},
    )
    deadline = time.monotonic() + 60
    while not mark.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.exists(), process.communicate()
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 143, err
    assert "interrupted by SIGTERM" in err
    assert "Traceback" not in err
    assert git(reports, "status", "--porcelain", "--untracked-files=all") == ""
    assert not (reports / ".git" / "index.lock").exists()
    now = {path: path.read_text() for path in reports.rglob("*.md")}
    if when == "before":  # nothing written, nothing committed
        assert now == texts
        assert git(reports, "log", "--format=%H").splitlines() == commits
    else:  # the commit landed before the signal: kept, whole
        assert git(reports, "log", "--format=%H").splitlines()[1:] == commits
        assert "disk at 91%" in git(reports, "show", "HEAD")
        assert now != texts


def test_clones_of_the_team_repository_do_not_give_out_one_id_twice(project: Path, cli, tmp_path_factory) -> None:
    reports = project / "incident_reports"
    team = tmp_path_factory.mktemp("team") / "reports.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(team)], check=True)
    git(reports, "remote", "add", "origin", str(team))
    git(reports, "push", "-q", "-u", "origin", "main")
    other = tmp_path_factory.mktemp("other")
    for folder in ("environments", "ledger", "var"):
        shutil.copytree(project / folder, other / folder)
    subprocess.run(["git", "clone", "-q", str(team), str(other / "incident_reports")], check=True)
    git(other / "incident_reports", "config", "user.name", "Ops Bob")
    git(other / "incident_reports", "config", "user.email", "bob@example.net")

    assert open_one(cli, project)[0] == "INC-2026-001"
    git(reports, "push", "-q")
    # The other clone has not pulled: it fetches before giving out an id.
    assert open_one(cli, other, severity="major")[0] == "INC-2026-002"

    # Offline (the team's repository unreachable): still opens, from what was last fetched, and says so.
    git(other / "incident_reports", "remote", "set-url", "origin", str(tmp_path_factory.mktemp("gone") / "x.git"))
    offline = seawall(cli, other, "incident", "new", "mainnet", "--severity", "minor", "--title", "Slow page")
    assert offline.code == 0, offline.err
    assert offline.out.split()[0] == "INC-2026-003"
    assert "could not fetch origin/main" in offline.err
    assert "may already be taken in another clone" in offline.err


def test_two_reports_with_one_id_are_named_and_never_updated_blindly(project: Path, cli) -> None:
    incident, path = open_one(cli, project)
    reports = project / "incident_reports"
    twin = path.with_name(path.name.replace("store-unreachable-from-web", "web-errors"))
    twin.write_text(path.read_text())
    git(reports, "add", ".")
    git(reports, "commit", "-q", "-m", "a report from another clone")
    texts = {report: report.read_text() for report in (path, twin)}
    head = git(reports, "rev-parse", "HEAD")

    update = seawall(cli, project, "incident", "update", incident, "--note", "which one?")
    assert update.code == 2
    assert f"{incident} names 2 reports" in update.err
    assert path.name in update.err
    assert twin.name in update.err
    assert "Traceback" not in update.err
    assert {report: report.read_text() for report in (path, twin)} == texts
    assert git(reports, "rev-parse", "HEAD") == head

    guard = seawall(
        cli, project, "guard", "mainnet", "--at", "2026-11-28T12:00:00+01:00", "--emergency", "--incident", incident
    )
    assert guard.code == 2
    assert f"{incident} names 2 reports" in guard.err

    listed = seawall(cli, project, "incident", "list", "--format", "json")
    assert listed.code == 0
    assert [row["id"] for row in json.loads(listed.out)] == [incident, incident]
    assert f"{incident}: two clones gave out the same id" in listed.err


def test_the_hint_for_two_reports_with_one_id_names_a_free_id_that_ends_the_ambiguity(project: Path, cli) -> None:
    import re

    incident, path = open_one(cli, project)
    reports = project / "incident_reports"
    twin = path.with_name(path.name.replace("store-unreachable-from-web", "web-errors"))
    twin.write_text(path.read_text().replace("Store unreachable from web", "Web errors"))
    git(reports, "add", ".")
    git(reports, "commit", "-q", "-m", "a report from another clone")
    update = seawall(cli, project, "incident", "update", incident, "--note", "which one?")
    assert update.code == 2

    listed = seawall(cli, project, *hint(update.err))
    assert listed.code == 0, listed.err
    kept, other = (str(p.relative_to(reports)) for p in (path, twin))
    assert f"{incident}: two clones gave out the same id ({kept}, {other}): {kept} keeps it" in listed.err
    given = re.search(
        rf"give {re.escape(other)} the id (INC-\d{{4}}-\d{{3}}), in its file name and its front", listed.err
    )
    assert given, listed.err
    free = given.group(1)
    assert free == "INC-2026-002"
    renamed = twin.with_name(twin.name.replace(incident, free))  # what it says: the file name and the front matter
    git(reports, "mv", str(twin), str(renamed))
    renamed.write_text(renamed.read_text().replace(f"id: {incident}\n", f"id: {free}\n", 1))
    git(reports, "commit", "-qam", f"{free}: the id {incident} was given out twice")

    again = seawall(cli, project, "incident", "list", "--format", "json")
    assert "two clones" not in again.err
    assert [(row["id"], row["title"]) for row in json.loads(again.out)] == [
        (incident, "Store unreachable from web"),
        (free, "Web errors"),
    ]
    for each in (incident, free):
        assert seawall(cli, project, "incident", "update", each, "--note", "one report each").code == 0


@pytest.mark.parametrize("obstacle", ["folder", "link to nowhere", "link out of the repository"])
def test_a_report_whose_place_is_taken_is_one_error_and_nothing_is_written(project: Path, cli, obstacle: str) -> None:
    incident, path = open_one(cli, project)
    reports = project / "incident_reports"
    taken = path.with_name(path.stem + "-escalation.md")  # where the escalation body goes
    if obstacle == "folder":
        taken.mkdir()
        (taken / "keep").write_text("someone's folder\n")
    elif obstacle == "link to nowhere":
        taken.symlink_to("/proc/seawall-nowhere/escalation.md")
    else:
        outside = project / "outside.md"
        outside.write_text("not the reports repository's\n")
        taken.symlink_to(outside)
    git(reports, "add", ".")
    git(reports, "commit", "-q", "-m", f"a {obstacle} where the body goes")
    text, head = path.read_text(), git(reports, "rev-parse", "HEAD")

    result = seawall(cli, project, "incident", "escalate", incident, "--at", "2026-11-24T14:40:00+01:00")
    assert result.code == 2
    assert f"{taken.relative_to(reports)} is in the way" in result.err
    assert "Traceback" not in result.err
    assert path.read_text() == text
    assert git(reports, "rev-parse", "HEAD") == head
    assert git(reports, "status", "--porcelain", "--untracked-files=all") == ""
    if obstacle == "link out of the repository":
        assert (project / "outside.md").read_text() == "not the reports repository's\n"


def test_when_one_file_cannot_be_written_every_file_is_put_back_and_nothing_committed(project: Path, cli) -> None:
    from seawall.incidents.report import write_and_commit
    from seawall.incidents.reports_repo import ReportsError, ReportsRepository

    _, path = open_one(cli, project)
    reports = project / "incident_reports"
    # A folder that is a link to nowhere: a file inside it cannot be written, not even by root.
    (reports / "2026" / "nowhere").symlink_to("/proc/seawall-nowhere")
    git(reports, "add", ".")
    git(reports, "commit", "-q", "-m", "a link to nowhere")
    text, head = path.read_text(), git(reports, "rev-parse", "HEAD")
    files = {  # written in this order: the first two are, the third fails
        path: text + "changed\n",
        reports / "2026" / "new.md": "new\n",
        reports / "2026" / "nowhere" / "body.md": "body\n",
    }
    with pytest.raises(ReportsError) as raised:
        write_and_commit(ReportsRepository(reports), files, "never committed")
    assert "nothing was committed" in str(raised.value)
    assert path.read_text() == text
    assert not (reports / "2026" / "new.md").exists()
    assert git(reports, "rev-parse", "HEAD") == head
    assert git(reports, "status", "--porcelain", "--untracked-files=all") == ""


def update_process(project: Path, incident: str, *args: str) -> subprocess.Popen[str]:
    """The real `seawall incident update`, in a process of its own."""
    import sys

    argv = [sys.executable, "-m", "seawall", "--environments", str(project / "environments"), "incident", "update"]
    return subprocess.Popen(
        [*argv, incident, "--author", "ops-alice", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_ten_updates_of_one_incident_at_once_are_each_kept_or_refused_never_lost(project: Path, cli) -> None:
    incident, path = open_one(cli, project)
    reports = project / "incident_reports"
    before = git(reports, "log", "--format=%H").splitlines()
    processes = {f"note {index}": update_process(project, incident, "--note", f"note {index}") for index in range(10)}
    ended = {note: (process, process.communicate(timeout=300)[1]) for note, process in processes.items()}

    kept = sorted(note for note, (process, _) in ended.items() if process.returncode == 0)
    for note, (process, err) in ended.items():
        assert process.returncode in (0, 2), (note, err)
        assert "Traceback" not in err
        if process.returncode == 2:  # refused, and why: never another failure passed off as one
            assert "another incident command holds the lock" in err, (note, err)
    notes = sorted(event["text"] for event in front(path)["timeline"] if event["kind"] == "note")
    assert notes == kept, "an update that exited 0 lost its note, or a refused one wrote it"
    log = git(reports, "log", "--format=%H").splitlines()
    assert len(log) == len(before) + len(kept)
    history = git(reports, "log", "-p", "-n", str(len(kept)))
    assert all(f"text: {note}\n" in history for note in kept)
    assert git(reports, "status", "--porcelain", "--untracked-files=all") == ""
    assert len(kept) == 10, "an update was refused although the others take a few seconds in all: it waits 30 s"


def hold_the_lock(reports: Path):
    """Take the incident commands' lock as another `seawall incident` would; return the open file."""
    import fcntl

    common = git(reports, "rev-parse", "--git-common-dir").strip()
    lock = (reports / common / "seawall-incidents.lock").open("a")
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    return lock


def test_an_incident_command_waits_for_the_lock_and_is_refused_with_exit_2_when_it_stays_taken(
    project: Path, cli, monkeypatch
) -> None:
    import threading

    from seawall.incidents import reports_repo

    incident, path = open_one(cli, project)
    reports = project / "incident_reports"
    text, head = path.read_text(), git(reports, "rev-parse", "HEAD")
    monkeypatch.setattr(reports_repo, "LOCK_WAIT_SECONDS", 0.5)

    lock = hold_the_lock(reports)
    for args in (
        ("incident", "update", incident, "--note", "waited"),
        ("incident", "new", "mainnet", "--severity", "minor", "--title", "Slow page"),
        ("incident", "close", incident, "--root-cause", "a", "--resolution", "b"),
        ("incident", "escalate", incident),
    ):
        refused = seawall(cli, project, *args)
        assert refused.code == 2, args
        assert "another incident command holds the lock on the incident reports repository" in refused.err
        assert "run this command again" in refused.err
        assert "Traceback" not in refused.err
        assert path.read_text() == text
        assert git(reports, "rev-parse", "HEAD") == head
        assert git(reports, "status", "--porcelain", "--untracked-files=all") == ""

    monkeypatch.setattr(reports_repo, "LOCK_WAIT_SECONDS", 30.0)
    threading.Timer(1.0, lock.close).start()  # the other command ends: this one has waited for it
    waited = seawall(cli, project, "incident", "update", incident, "--note", "waited")
    assert waited.code == 0, waited.err
    assert front(path)["timeline"][-1]["text"] == "waited"


@pytest.mark.parametrize(
    ("steps", "status"),
    [
        ((), "open"),
        ((("--status", "acknowledged"),), "acknowledged"),
        ((("--status", "mitigated"),), "mitigated"),
        ((("--status", "acknowledged"), ("--status", "mitigated")), "mitigated"),
        ((("--status", "mitigated"), ("--status", "acknowledged")), "acknowledged"),  # the mitigation did not hold
        ((("--note", "looking at the store"),), "acknowledged"),  # the first answer acknowledges
    ],
)
def test_list_and_the_report_show_the_status_the_updates_gave(
    project: Path, cli, steps: tuple[tuple[str, ...], ...], status: str
) -> None:
    incident, path = open_one(cli, project)
    for step in steps:
        result = seawall(cli, project, "incident", "update", incident, *step)
        assert result.code == 0, result.err
    rows = json.loads(seawall(cli, project, "incident", "list", "--format", "json").out)
    assert [(row["id"], row["status"]) for row in rows] == [(incident, status)]
    assert front(path)["status"] == status
    assert f"| status | {status} |" in path.read_text()
    table = seawall(cli, project, "incident", "list", "--format", "markdown").out
    assert f"| {incident} | mainnet | Critical | {status} |" in table


def test_list_shows_the_status_of_a_report_an_earlier_seawall_left_open(project: Path, cli) -> None:
    incident, path = open_one(cli, project)
    seawall(cli, project, "incident", "update", incident, "--status", "mitigated", "--at", "2026-11-24T15:00:00+01:00")
    reports = project / "incident_reports"
    # What Seawall 0.x wrote: the status event and the time, but the front matter's status still open.
    path.write_text(path.read_text().replace("status: mitigated\n", "status: open\n", 1))
    git(reports, "commit", "-qa", "--allow-empty", "-m", "a report from an earlier seawall")
    rows = json.loads(seawall(cli, project, "incident", "list", "--format", "json").out)
    assert [row["status"] for row in rows] == ["mitigated"]


def test_a_detached_head_is_refused_with_what_to_do_and_nothing_is_committed(project: Path, cli) -> None:
    incident, path = open_one(cli, project)
    reports = project / "incident_reports"
    git(reports, "checkout", "-q", "--detach")
    head, files = git(reports, "rev-parse", "HEAD"), sorted(reports.rglob("*.md"))
    text = path.read_text()
    for args in (
        ("incident", "new", "mainnet", "--severity", "major", "--title", "Disk filling"),
        ("incident", "update", incident, "--note", "on no branch"),
    ):
        result = seawall(cli, project, *args)
        assert result.code == 2, args
        assert f"the incident reports repository {reports} is on a detached HEAD" in result.err
        assert f"git -C {reports} switch main" in result.err
        assert "Traceback" not in result.err
        assert git(reports, "rev-parse", "HEAD") == head
        assert sorted(reports.rglob("*.md")) == files
        assert path.read_text() == text
    subprocess.run(["git", *hint(result.err, "git")], check=True, capture_output=True)  # what it says
    assert seawall(cli, project, "incident", "update", incident, "--note", "on main").code == 0
    assert git(reports, "branch", "--contains", "HEAD").strip() == "* main"


def test_an_unmerged_index_is_refused_with_what_to_do_and_nothing_is_written(project: Path, cli) -> None:
    incident, path = open_one(cli, project)
    reports = project / "incident_reports"
    git(reports, "switch", "-q", "-c", "other")
    path.write_text(path.read_text().replace("Store unreachable from web", "Store down (other clone)"))
    git(reports, "commit", "-qam", "edited in another clone")
    git(reports, "switch", "-q", "main")
    path.write_text(path.read_text().replace("Store unreachable from web", "Store down (this clone)"))
    git(reports, "commit", "-qam", "edited here")
    merged = subprocess.run(["git", "-C", str(reports), "merge", "-q", "other"], capture_output=True, text=True)
    assert merged.returncode != 0  # a conflict
    head, text = git(reports, "rev-parse", "HEAD"), path.read_text()
    shown = str(path.relative_to(reports))
    for args in (
        ("incident", "update", incident, "--note", "in the middle of a merge"),
        ("incident", "new", "mainnet", "--severity", "major", "--title", "Disk filling"),
        ("incident", "list"),
        # Not "not in the reports repository: open it", which would have a second report opened.
        ("guard", "mainnet", "--at", "2026-11-28T12:00:00+01:00", "--emergency", "--incident", incident),
    ):
        result = seawall(cli, project, *args)
        assert result.code == 2, args
        assert f"{reports} has unmerged files ({shown})" in result.err
        assert "Resolve the conflict and commit it, or abort it (`git -C" in result.err
        assert "Traceback" not in result.err
        assert git(reports, "rev-parse", "HEAD") == head
        assert path.read_text() == text
    subprocess.run(["git", *hint(result.err, "git")], check=True)  # abort the merge, as it says
    assert seawall(cli, project, "incident", "update", incident, "--note", "after the merge").code == 0
    assert "Store down (this clone)" in path.read_text()
