"""The small fixture fleet of the ops documents' tests: its environments and what its hosts recorded."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from seawall.backup.actions.drift import Paths, read_fleet_drift, record, verify
from seawall.components._scripts import manifest_script
from seawall.drift import FleetDrift
from seawall.hostcheck import seen
from seawall.hostfiles import MANIFEST_STEP, RenderedFile, step_name
from seawall.ledger import LedgerEntry, deployed_graph_path, outcomes
from seawall.manifest import Manifest, build_manifest
from seawall.model import load_environments
from seawall.model.schema import Environment
from seawall.opsdocs.generate import render_documents
from seawall.opsdocs.measured import Measured
from seawall.render import render
from seawall.stacks.program import OFFLINE

FLEET = Path(__file__).resolve().parents[2] / "fixtures" / "docs" / "fleet"
ENVIRONMENTS = FLEET / "environments"
GOLDEN = FLEET / "golden"


def fleet() -> dict[str, Environment]:
    """Return the fixture fleet's environments, in promotion order."""
    return load_environments(ENVIRONMENTS)


# The fixture fleet's drift checks (host → when it checked, and what was done to it before): devnet's are
# compared with its deployed graph, mainnet has none here.
DRIFT_CHECKS = {
    "devnet": {
        "dc-archive-1": ("2026-11-30T07:40:00+00:00", "drift"),
        "monitoring-1": ("2026-11-30T07:30:00+00:00", "clean"),
    }
}


def recorded() -> dict[str, Measured]:
    """Return what the fixture fleet's hosts and deploys recorded (recorded.json), and each host's drift check
    as the real ``seawall host verify`` wrote it (``DRIFT_CHECKS``)."""
    data = json.loads((FLEET / "recorded.json").read_text())
    envs = fleet()
    measured = {}
    with tempfile.TemporaryDirectory(prefix="seawall-drift-") as folder:
        for env_name, item in data.items():
            states = {tuple(key.split("/")): state for key, state in item["states"].items()}
            entries = [LedgerEntry(**entry) for entry in item["ledger"]]
            root, checks = Path(folder) / env_name, DRIFT_CHECKS.get(env_name)
            drift = (
                checked_fleet(envs[env_name], root, checks)
                if checks
                else read_fleet_drift(envs[env_name], root, deployed_graph_path(root / "ledger", env_name))
            )
            measured[env_name] = Measured(states, outcomes(entries), ["this machine's state"], drift=drift)  # type: ignore[arg-type]
    return measured


# A drift check of the fixture fleet -------------------------------------------------------------------------

# What each host of a checked fleet holds from its deploy: two files in Seawall's own folders.
PLACED = (
    ("etc/seawall/seawall.env", "SEAWALL_ENVIRONMENT={env}", "0640"),
    ("etc/systemd/system/seawall-host-verify.timer", "[Timer]\nOnCalendar=hourly", "0644"),
)


def checked_fleet(env: Environment, folder: Path, checks: Mapping[str, tuple[str, str]]) -> FleetDrift:
    """Given an environment, a folder and what to check (host → (time, what was done to the host since its
    deploy: ``clean``, ``drift`` (a file's content and another's mode changed, a file added in Seawall's
    folder) or ``missed-deploy`` (the last deploy placed a manifest the host never got))), deploy each host
    into ``folder/hosts/HOST`` (its files, its manifest over them, recorded by the real ``seawall host
    record``), run the real ``seawall host verify`` of each checked host at its time, keep the deployed graph
    as ``seawall up`` does (the rendered graph, each manifest step writing its host's manifest), and return
    the fleet's drift as ``seawall drift`` reads it. Hosts not in ``checks`` never reported.

    The checks ran in folders standing in for each host's root: their results name paths as the host does
    (the folder's prefix taken out), so the same checks give the same documents."""
    local = env.backup.model_copy(update={"state_dir": "var/state", "metrics_dir": "var/metrics"})
    env = env.model_copy(update={"backup": local})
    graph = render(env, OFFLINE).as_json()
    steps = {item["name"]: item for item in graph["resources"]}
    for host in sorted(
        h for h in (n.removesuffix(f"-{MANIFEST_STEP}") for n in steps) if step_name(h, MANIFEST_STEP) in steps
    ):
        root = folder / "hosts" / host
        manifest, paths = _deploy(env.name, host, root)
        when, change = checks.get(host, ("", "never"))
        if change == "missed-deploy":
            deployed = _manifest(env.name, host, root, "SEAWALL_ENVIRONMENT={env}\nSEAWALL_NEW=1")
        else:
            deployed = manifest
        steps[step_name(host, MANIFEST_STEP)]["inputs"]["create"] = manifest_script(deployed)
        if change == "never":
            continue
        if change == "drift":
            (root / PLACED[0][0]).write_text("SEAWALL_ENVIRONMENT=changed-by-hand\n")
            os.chmod(root / PLACED[1][0], 0o666)
            (root / "etc/seawall/notes.txt").write_text("left here by hand\n")
        verify(env, host, folder, paths, dt.datetime.fromisoformat(when))
        result = folder / "var/state" / env.name / "drift" / f"{host}.json"
        result.write_text(result.read_text().replace(str(root), ""))
    target = deployed_graph_path(folder / "ledger", env.name)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(graph, indent=2, sort_keys=True) + "\n")
    return read_fleet_drift(env, folder, target)


def _deploy(env_name: str, host: str, root: Path) -> tuple[Manifest, Paths]:
    """Place a host's files under root, write its manifest beside them and record it (the deploy's last step)."""
    for relative, content, mode in PLACED:
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content.format(env=env_name) + "\n")
        os.chmod(path, int(mode, 8))
    manifest = _manifest(env_name, host, root, PLACED[0][1])
    paths = Paths(root / "var/manifest.json", root / "var/manifest.recorded.json", root / "var/drift-quarantine")
    paths.manifest.parent.mkdir(parents=True, exist_ok=True)
    paths.manifest.write_text(manifest.to_text())
    record(paths)
    return manifest, paths


def _manifest(env_name: str, host: str, root: Path, first: str) -> Manifest:
    """The manifest of a host's files (the first one's content as given), owned as the test's files are."""
    contents = [first, *(content for _, content, _ in PLACED[1:])]
    files = [
        RenderedFile(str(root / relative), content.format(env=env_name), mode)
        for (relative, _, mode), content in zip(PLACED, contents, strict=True)
    ]
    manifest = build_manifest(env_name, host, files, [], [], False, "/opt/seawall/dist/seawall.whl")
    owner = seen(files[0].path).owner or "root:root"
    return dataclasses.replace(
        manifest,
        files=tuple(dataclasses.replace(f, owner=owner) for f in manifest.files),
        owned=(f"{root}/etc/seawall/**", f"{root}/etc/systemd/system/seawall-*"),
    )


def golden_documents() -> dict[str, str]:
    """Return the fixture fleet's documents with its recorded state, from the shipped templates."""
    return render_documents(fleet(), recorded(), project_templates=None)
