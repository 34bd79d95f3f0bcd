"""The fleet page in a real browser: a fixture fleet with healthy sets, an RPO miss, a failed drill, a
parity violation and a frozen environment, rendered, opened in headless Chromium with name resolution
refused (the page must need no network), read back from the DOM and photographed at a desktop and a
phone width. The page's JSON is a golden file."""

from __future__ import annotations

import copy
import datetime as dt
import functools
import html
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from seawall.backup.actions.drift import read_fleet_drift
from seawall.cli.app import main
from seawall.deploy import verdicts_for
from seawall.guard import DeployRequest
from seawall.ledger import LedgerEntry, deployed_graph_path, outcomes
from seawall.model import load_environments, load_parity_rules
from seawall.opsdocs.fleet_page import EnvironmentInputs, fleet_data, render_page
from seawall.opsdocs.measured import Measured
from seawall.parity import compare_environments
from seawall.stacks.program import offline_renderer
from tests.conftest import PROJECT, patch_environment
from tests.unit.docs.fleet import ENVIRONMENTS, checked_fleet

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
GOLDEN = Path(__file__).resolve().parents[2] / "fixtures" / "fleet" / "fleet.json"
NOW = dt.datetime.fromisoformat("2026-12-05T12:00:00+01:00")  # a Saturday: mainnet is frozen
MiB = 1024**2
# devnet's hosts checked themselves (the real `seawall host verify`) against its deployed graph: store-1 is as
# deployed, dc-archive-1 was changed by hand, monitoring-1's last check is 6 hours old; web-1 (no bucket key)
# reports by its metric alone. mainnet has no deployed graph here.
DRIFT_CHECKS = {
    "store-1": ("2026-12-05T10:30:00+00:00", "clean"),
    "dc-archive-1": ("2026-12-05T10:40:00+00:00", "drift"),
    "monitoring-1": ("2026-12-05T05:00:00+00:00", "clean"),
}


@functools.cache
def _documents() -> tuple[dict, dict]:
    """The state document a real ``backup run`` and ``drill`` wrote, and the vault's record a real ``backup
    copy`` wrote (local repositories, real restic): the page is tested on what its writers write; only the
    times, sizes and hosts below are the test's own."""
    folder = Path(tempfile.mkdtemp(prefix="seawall-page-"))
    shutil.copytree(PROJECT / "environments", folder / "environments")
    environments = folder / "environments"
    steps = (("backup", "init", "local"), ("backup", "run", "local"), ("drill", "local"), ("backup", "copy", "local"))
    for step in steps:
        code = main(["--environments", str(environments), *step, "--set", "project-config"])
        assert code == 0, step
    state = json.loads((folder / "var/local/state/local/project-config/localhost.json").read_text())
    copied = json.loads((folder / "var/local/state/local/copy/copies/project-config.json").read_text())
    shutil.rmtree(folder)
    return state, copied


def _written() -> dict:
    return _documents()[0]


def _copied(last: str, newest: dict[str, str], vanished: int = 0) -> dict:
    """The real copy's record with this row's times and hosts (and, for an alarm, vanished snapshots)."""
    record = copy.deepcopy(_documents()[1])
    record["updated"] = record["last_copy"]["time"] = record["protection_checked"] = last
    record["newest"] = newest
    host = next(iter(newest))
    record["vanished"] = [
        {"id": f"{index:08x}" * 8, "host": host, "time": last, "detected": last, "in_copy": True}
        for index in range(vanished)
    ]
    return record


def _state(backup: str, run: str | None = None, drill: tuple[str, str, float] | None = None, sizes=()) -> dict:
    """The real run's document with this row's times, sizes and (for a failure) its result."""
    state = copy.deepcopy(_written())
    state["updated"] = backup
    state["last_run"].update({"time": backup, **({"result": run} if run else {})})
    state["last_snapshot"].update({"time": backup, "bytes": sizes[-1] if sizes else None})
    state["sizes"] = {f"s{index}": size for index, size in enumerate(sizes)}
    if drill:
        state["last_drill"].update({"time": drill[0], "result": drill[1], "rto_seconds": drill[2]})
    else:
        state.pop("last_drill", None)
    return state


def _drill(set_name: str, host: str, finished: str, seconds: float, slice_text: str) -> dict:
    return {
        "schema": "seawall.drill/1",
        "set": set_name,
        "host": host,
        "finished": finished,
        "result": "passed",
        "rto": {"seconds": seconds, "target_seconds": 3600},
        "check": {"slice": slice_text, "ok": True},
    }


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("fleet") / "environments"
    shutil.copytree(ENVIRONMENTS, folder)
    # A difference parity.yaml does not allow: mainnet's monitoring runs another image.
    patch_environment(folder, "mainnet", {"services": {"monitoring": {"image": "debian-12-x64"}}})
    # Both keep an off-site copy: devnet's one set copied in time, the other with snapshots gone from its
    # primary; mainnet's vault has recorded no copy yet.
    where = {"kind": "s3", "endpoint": "https://fra1.digitaloceanspaces.com", "region": "fra1"}
    copied = {"repository": where, "vault": "dc-archive-1", "password_file": "/etc/seawall/restic-copy-password",
              "retention": {"keep_daily": 30}}  # fmt: skip
    for name in ("devnet", "mainnet"):
        patch_environment(folder, name, {"backup": {"copy": copied}})
    envs = load_environments(folder)
    rules, renderer = load_parity_rules(folder), offline_renderer()
    project = folder.parent / "project"
    drift = {
        "devnet": checked_fleet(envs["devnet"], project / "devnet", DRIFT_CHECKS),
        "mainnet": read_fleet_drift(envs["mainnet"], project, deployed_graph_path(project / "ledger", "mainnet")),
    }
    recorded = {
        "devnet": Measured(
            {
                ("store-data", "store-1"): _state(
                    "2026-12-05T09:00:00+00:00",
                    drill=("2026-11-29T06:20:00+00:00", "passed", 1500.0),
                    sizes=(40 * MiB, 42 * MiB, 45 * MiB, 47 * MiB),
                ),
                ("archive-etc", "dc-archive-1"): _state(
                    "2026-12-05T01:00:00+00:00", drill=("2026-11-28T09:10:00+00:00", "failed", 400.0)
                ),
            },
            copies={
                "store-data": (_copied("2026-12-05T09:40:00+00:00", {"store-1": "2026-12-05T09:00:00+00:00"}), None),
                "archive-etc": (
                    _copied("2026-12-05T09:40:00+00:00", {"dc-archive-1": "2026-12-05T01:00:00+00:00"}, vanished=2),
                    None,
                ),
            },
            drift=drift["devnet"],
        ),
        "mainnet": Measured(
            {
                ("store-data", "store-1"): _state("2026-12-05T00:00:00+00:00", sizes=(300 * MiB, 310 * MiB)),
                ("archive-etc", "dc-archive-1"): _state(
                    "2026-12-05T01:00:00+00:00", drill=("2026-11-28T09:10:00+00:00", "passed", 300.0)
                ),
            },
            drift=drift["mainnet"],
        ),
    }
    drills = {
        "devnet": [
            _drill("store-data", "store-1", f"2026-11-{day:02d}T06:20:00+00:00", seconds, f"{index % 4 + 1}/4")
            for index, (day, seconds) in enumerate(((8, 1300.0), (15, 1350.0), (22, 1420.0), (29, 1500.0)))
        ],
        "mainnet": [],
    }
    ledger = {
        "devnet": [
            LedgerEntry(
                "2026-12-01T10:00:00+00:00",
                "devnet",
                "ops-alice",
                "ops-alice",
                "https://github.com/example-org/ops/issues/12",
                {"web": "2.1.0"},
                "h",
                "succeeded",
                deploy_id="d1",
            )
        ],
        "mainnet": [],
    }
    inputs, chain = [], []
    for name, env in envs.items():
        before = env.environment.predecessor
        predecessor = envs[before] if before else None
        request = DeployRequest(name, NOW, identity="ops-alice", identity_source="git")
        verdicts = verdicts_for(env, predecessor, request, folder.parent / "ledger", None, rules, renderer)
        inputs.append(EnvironmentInputs(env, recorded[name], drills[name], outcomes(ledger[name]), verdicts))
        if predecessor is not None:
            chain.append(compare_environments(predecessor, env, rules, renderer))
    return fleet_data(inputs, chain, NOW)


def test_the_fleet_data_is_the_reviewed_golden_json(fleet: dict) -> None:
    text = json.dumps(fleet, indent=2, sort_keys=True) + "\n"
    if os.environ.get("SEAWALL_REGENERATE_GOLDEN"):
        GOLDEN.parent.mkdir(parents=True, exist_ok=True)
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text(), "regenerate with SEAWALL_REGENERATE_GOLDEN=1 and review the diff"
    devnet, mainnet = fleet["environments"]
    assert (devnet["status"], mainnet["status"]) == ("alarm", "alarm")
    assert mainnet["readiness"]["frozen"] is True
    assert mainnet["readiness"]["freeze_changes"] == "2026-12-06T00:00+01:00"
    # Drift, from what the hosts' own checks wrote: one row per host of the deployed graph.
    rows = {row["host"]: row for row in devnet["drift"]["hosts"]}
    assert {host: (row["status"], row["alarm"]) for host, row in rows.items()} == {
        "dc-archive-1": ("drift", True),
        "monitoring-1": ("silent", True),
        "store-1": ("ok", False),
        "web-1": ("metric-only", False),
    }
    assert [line.split(":")[0] for line in rows["dc-archive-1"]["differs"]] == [
        "content /etc/seawall/seawall.env",
        "mode /etc/systemd/system/seawall-host-verify.timer",
        "extra /etc/seawall/notes.txt",
    ]
    assert "host dc-archive-1: drift: content /etc/seawall/seawall.env" in " ".join(devnet["reasons"])
    assert mainnet["drift"]["hosts"] == []
    assert mainnet["drift"]["problem"].startswith("no deployed graph (ledger/mainnet.deployed.json)")


def test_a_host_that_missed_the_last_deploy_or_never_reported_is_an_alarm(tmp_path: Path) -> None:
    env = load_environments(ENVIRONMENTS, ["devnet"])["devnet"]
    checks = {"store-1": ("2026-12-05T10:30:00+00:00", "missed-deploy")}
    drift = checked_fleet(env, tmp_path, checks)
    data = fleet_data([EnvironmentInputs(env, Measured(drift=drift))], [], NOW)
    (devnet,) = data["environments"]
    rows = {row["host"]: row for row in devnet["drift"]["hosts"]}
    assert (rows["store-1"]["status"], rows["store-1"]["alarm"]) == ("missed-deploy", True)
    (why,) = rows["store-1"]["differs"]
    assert why.startswith("it holds manifest ")
    assert ", the last deploy placed " in why
    # dc-archive-1 holds the bucket's key, so its silence is an alarm; web-1 reports by its metric alone.
    assert (rows["dc-archive-1"]["status"], rows["dc-archive-1"]["alarm"]) == ("never-reported", True)
    assert (rows["web-1"]["status"], rows["web-1"]["alarm"]) == ("metric-only", False)
    assert devnet["status"] == "alarm"
    page = render_page(data)
    assert "MISSED-DEPLOY</span>" in page
    assert "NEVER-REPORTED</span>" in page


def test_the_page_needs_nothing_but_itself(fleet: dict) -> None:
    page = render_page(fleet)
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page.replace('href="https://github.com', ""))
    assert "@import" not in page
    assert "url(" not in page


@pytest.mark.integration
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_headless_chromium_shows_every_alarm_with_its_label_fetches_nothing_and_draws_a_page(
    fleet: dict, tmp_path: Path, record_property
) -> None:
    page = tmp_path / "fleet.html"
    page.write_text(render_page(fleet))
    netlog = tmp_path / "netlog.json"
    dom = _chromium(tmp_path, "--dump-dom", f"--log-net-log={netlog}", page.as_uri())
    # Every alarm is in the DOM with its text label, not only a colour.
    assert 'data-status="alarm">ALARM</span>' in dom.replace('class="chip alarm" ', "")
    assert "store-data on store-1: RPO missed: newest backup 11h old, RPO 5h" in dom
    assert "archive-etc on dc-archive-1: last drill failed" in dom
    (link,) = fleet["parity"]["links"]
    assert len(link["violations"]) == 2
    assert f"2 violations</span>, {link['allowed']} allowed" in dom
    assert "debian-12-x64" in dom
    assert "frozen; the freeze window opens 2026-12-06T00:00+01:00" in dom
    assert 'data-status="alarm">\n        <th scope="row">dc-archive-1</th>' in dom.replace("\r", "")
    assert "mode /etc/systemd/system/seawall-host-verify.timer: 0644 → 0666" in dom
    assert "Not compared: no deployed graph (ledger/mainnet.deployed.json)" in dom
    assert dom.count("<svg") >= 2, "the RTO and size trends are drawn"
    # The page started no request at all (a page with one external image, the control, is caught).
    assert _page_requests(netlog) == []
    control = tmp_path / "control.html"
    control.write_text('<html><body><img src="https://example.com/x.png" alt=""></body></html>')
    control_log = tmp_path / "control-netlog.json"
    _chromium(tmp_path, "--dump-dom", f"--log-net-log={control_log}", control.as_uri())
    assert _page_requests(control_log) == ["https://example.com/x.png"]
    shots = []
    for width, height in ((1280, 800), (390, 844)):
        shot = tmp_path / f"fleet-{width}x{height}.png"
        _chromium(tmp_path, f"--window-size={width},{height}", f"--screenshot={shot}", page.as_uri())
        assert _colours(shot) > 8, f"{shot} is blank"
        shots.append(shot)
    # Kept in pytest's temp folder (its last three runs stay) and listed at the end of the run.
    for shot in shots:
        record_property("artifact", str(shot))


def _chromium(workdir: Path, *args: str) -> str:
    profile = workdir / f"profile-{len(list(workdir.glob('profile-*')))}"
    argv = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        # No name resolves: the page cannot reach anything but itself (and neither can the browser).
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _page_requests(netlog: Path) -> list[str]:
    """The URLs of requests the page started (the browser's own carry no initiator origin)."""
    log = json.loads(netlog.read_text())
    names = {value: key for key, value in log["constants"]["logEventTypes"].items()}
    starts = [event.get("params", {}) for event in log["events"] if names.get(event["type"]) == "URL_REQUEST_START_JOB"]
    return [params["url"] for params in starts if "url" in params and params.get("initiator") != "not an origin"]


def _colours(png: Path) -> int:
    """The number of distinct colours of a screenshot (a blank one has one or two)."""
    import zlib

    data = png.read_bytes()
    chunks, offset = b"", 8
    while offset < len(data):
        length = int.from_bytes(data[offset : offset + 4], "big")
        kind = data[offset + 4 : offset + 8]
        if kind == b"IDAT":
            chunks += data[offset + 8 : offset + 8 + length]
        offset += 12 + length
    raw = zlib.decompress(chunks)
    return len({raw[i : i + 3] for i in range(1, min(len(raw), 400_000), 97)})


LAYOUT_PROBE = """<!doctype html><html><body style="margin:0">
<iframe id="page" width="WIDTH" height="HEIGHT" style="border:0" srcdoc="PAGE"></iframe>
<script>
document.getElementById("page").addEventListener("load", (event) => {
  const doc = event.target.contentDocument;
  const width = doc.documentElement.clientWidth;
  const wide = [...doc.querySelectorAll("body *")]
    .filter((e) => e.getBoundingClientRect().right > width + 1 && !e.closest("svg"))
    .map((e) => e.tagName.toLowerCase() + (typeof e.className === "string" && e.className ? "." + e.className : ""));
  // A header row hidden for the eye (kept for screen readers) is clipped on purpose.
  const hidden = (e) => e.closest("thead") && getComputedStyle(e.closest("thead")).position === "absolute";
  const cut = [...doc.querySelectorAll("caption, th, td")]
    .filter((e) => !hidden(e) && e.scrollWidth > e.clientWidth + 1);
  document.body.setAttribute("data-layout", JSON.stringify({
    width, scroll: doc.documentElement.scrollWidth, wide: [...new Set(wide)].slice(0, 10),
    cut: cut.map((e) => `${e.tagName.toLowerCase()}: ${e.textContent.trim().slice(0, 40)}`).slice(0, 10),
    scrolled: [...doc.querySelectorAll(".table-wrap")].filter((e) => e.scrollWidth > e.clientWidth + 1).length,
  }));
});
</script></body></html>"""


def _layout(tmp_path: Path, page: str, width: int, height: int) -> dict:
    """Lay the page out in Chromium in a frame of the given size (headless windows are never narrower than
    500 px; a frame's media queries see its own width) and return what overflows: the page's width, the
    elements that reach past it, cells and captions cut, table wrappers that scroll sideways. The
    measuring script lives in the frame's parent; the page itself has none."""
    probe = tmp_path / f"layout-{width}.html"
    framed = LAYOUT_PROBE.replace("WIDTH", str(width)).replace("HEIGHT", str(height))
    probe.write_text(framed.replace("PAGE", html.escape(page, quote=True)))
    dom = _chromium(tmp_path, "--window-size=1280,900", "--dump-dom", probe.as_uri())
    found = re.search(r'data-layout="([^"]*)"', dom)
    assert found, "the layout probe did not run"
    return json.loads(html.unescape(found.group(1)))


@pytest.mark.parametrize(("width", "height"), [(1280, 800), (390, 844)])
def test_the_page_reads_without_sideways_scrolling_at_desktop_and_phone_width(
    fleet: dict, tmp_path: Path, width: int, height: int
) -> None:
    layout = _layout(tmp_path, render_page(fleet), width, height)
    assert layout["scroll"] <= layout["width"], layout
    assert layout["wide"] == [], layout
    assert layout["scrolled"] == 0, layout
    assert layout["cut"] == [], layout


def test_an_empty_trends_or_coverage_section_says_why(fleet: dict) -> None:
    few = copy.deepcopy(fleet)
    devnet, mainnet = few["environments"][0], few["environments"][1]
    for trend in devnet["trends"]:
        trend["rto"], trend["sizes"] = trend["rto"][:1], trend["sizes"][:1]
    mainnet["trends"], mainnet["coverage"] = [], []
    page = render_page(few)
    trend = devnet["trends"][0]
    assert f"{trend['set']} on {trend['host']}: no RTO trend yet (1 drill recorded, a trend needs 2)" in page
    assert "no size trend yet (1 run recorded, a trend needs 2)" in page
    assert "No trend yet: a trend needs at least two drills or two backup runs" in page
    assert "No drill has read a slice of a repository here yet" in page
    assert "<svg" not in page.split('id="title-mainnet"')[1].split("</section>")[0]
