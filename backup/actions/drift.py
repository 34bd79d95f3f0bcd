"""The host's drift check: ``seawall host record`` (the deploy's last step) and ``seawall host verify`` (hourly).

Record writes what only the host can know at deploy time beside the manifest and, asked to, moves what no
deploy placed out of Seawall's folders into the quarantine (a re-apply clears the drift and loses nothing).
Verify compares the live host with both, changes nothing, and leaves its result where the fleet sees it:
textfile metrics for Prometheus and ``state/<env>/drift/<host>`` here and in the bucket.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seawall.backup.context import state_store
from seawall.backup.metrics import render_series, write_metrics
from seawall.backup.records import DRIFT, DRIFT_TIMES
from seawall.drift import FleetDrift, deployed
from seawall.errors import ConfigError
from seawall.files import resolve, write_atomically
from seawall.hostcheck import observe
from seawall.hostfiles import MANIFEST_FILE, QUARANTINE_DIR, RECORDED_FILE
from seawall.manifest import (
    KIND_MEANING,
    Drift,
    Manifest,
    ManifestError,
    compare,
    counts,
    extras,
    parse_manifest,
    parse_recorded,
    recorded_facts,
)
from seawall.model.schema import Environment

logger = logging.getLogger(__name__)
DRIFT_STATE = "drift"  # state/<env>/drift/<host>.json
METRICS_FILE = "seawall-drift"
MAX_FINDINGS = 2000  # what one result lists (the metric counts them all): the reader's limit too
HELP = {
    "host_drift": "Differences between the host and what the deploy placed, by kind ("
    + "; ".join(f"{kind}: {meaning}" for kind, meaning in KIND_MEANING.items())
    + ").",
    "host_drift_checked_timestamp_seconds": "When the host last compared itself with its manifest.",
}


@dataclass(frozen=True)
class Paths:
    """Where the manifest, the record and the quarantine are (a test points them into a folder)."""

    manifest: Path = Path(MANIFEST_FILE)
    recorded: Path = Path(RECORDED_FILE)
    quarantine: Path = Path(QUARANTINE_DIR)


def read_manifest(paths: Paths) -> Manifest:
    """Return the host's manifest, or raise ConfigError naming what is wrong and what to do."""
    try:
        return parse_manifest(paths.manifest.read_text(encoding="utf-8"))
    except OSError as exc:
        why = exc.strerror or str(exc)
    except (UnicodeDecodeError, ManifestError) as exc:
        why = str(exc)
    msg = f"{paths.manifest}: {why}; the deploy's manifest step writes it: deploy this host again"
    raise ConfigError([msg])


def record(paths: Paths = Paths(), quarantine: bool = False, now: dt.datetime | None = None) -> list[str]:
    """Write the host's deploy-time record beside its manifest; with ``quarantine``, first move every file no
    deploy placed out of the owned folders (kept under the quarantine, by time and path). Return what moved."""
    manifest = read_manifest(paths)
    moved = []
    if quarantine:
        observation = observe(manifest)
        stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%dT%H%M%SZ")
        for path in extras(manifest, observation.found):
            target = paths.quarantine / stamp / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            shutil.move(path, target)
            logger.warning("moved %s, which no deploy placed, to %s", path, target)
            moved.append(path)
    facts = recorded_facts(manifest, observe(manifest))
    write_atomically(paths.recorded, json.dumps(facts, indent=1, sort_keys=True) + "\n", mode=0o600)
    return moved


def verify(
    env: Environment, host: str, project_root: Path, paths: Paths = Paths(), now: dt.datetime | None = None
) -> dict[str, Any]:
    """Compare the host with its manifest and record; write the metrics and the result (here and in the
    bucket); return the result. A missing or unreadable manifest or record is drift of kind ``manifest``."""
    now = now or dt.datetime.now(dt.UTC)
    drift: list[Drift] = []
    problems: list[str] = []
    manifest: Manifest | None = None
    try:
        manifest = read_manifest(paths)
    except ConfigError as exc:
        drift.append(Drift("manifest", str(paths.manifest), "the deploy's manifest", "; ".join(exc.problems)))
    wheel = None
    if manifest is not None:
        if (manifest.environment, manifest.host) != (env.name, host):
            where = f"{manifest.host} of {manifest.environment}"
            drift.append(Drift("manifest", str(paths.manifest), f"{host} of {env.name}", where))
        try:
            recorded = parse_recorded(paths.recorded.read_text(encoding="utf-8"), manifest)
        except (OSError, UnicodeDecodeError, ManifestError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            drift.append(Drift("manifest", str(paths.recorded), "the host's deploy-time record", why))
            recorded = {}
        observation = observe(manifest)
        drift += compare(manifest, recorded, observation)
        problems = observation.problems
        wheel = observation.wheel
    result = {
        "environment": env.name,
        "host": host,
        "checked": now.isoformat(),
        "manifest": manifest.digest if manifest is not None else None,
        "wheel": wheel,
        "drift": [item.as_json() for item in drift[:MAX_FINDINGS]],
        "problems": problems,
    }
    _write_metrics(env, host, drift, now, resolve(project_root, env.backup.metrics_dir))
    state_store(env, project_root).write(result, DRIFT_STATE, host)
    return result


def _write_metrics(env: Environment, host: str, drift: list[Drift], now: dt.datetime, folder: Path) -> None:
    # The file's own environment and host, as every Seawall textfile has them: the monitoring host's scrape
    # keeps the target's and drops these copies (exported_*), a Prometheus of the team's own may keep them.
    labels = {"environment": env.name, "host": host}
    series: list[tuple[dict[str, str], dict[str, float | None]]] = [
        (labels | {"kind": kind}, {"host_drift": float(number)}) for kind, number in counts(drift).items()
    ]
    series.append((labels, {"host_drift_checked_timestamp_seconds": now.timestamp()}))
    try:
        write_metrics(folder, METRICS_FILE, render_series("seawall", series, HELP))
    except OSError as exc:
        logger.warning("could not write the drift metrics into %s: %s", folder, exc.strerror or exc)


def read_results(
    env: Environment, project_root: Path, hosts: list[str]
) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Given hosts, return each one's last drift result (this machine's, else the bucket's) and what made it
    untrusted (a wrong shape, too large, dated in the future), as data, never a traceback."""
    store = state_store(env, project_root)
    return {host: store.read_shared(DRIFT, DRIFT_TIMES, DRIFT_STATE, host) for host in hosts}


def read_fleet_drift(env: Environment, project_root: Path, graph: Path) -> FleetDrift:
    """Given an environment and where its deployed graph is kept, return what its last deploy placed and each
    host's last result, or why there is nothing to compare with (no graph, not a graph, no manifest in it)."""
    shown = graph.relative_to(project_root).as_posix() if graph.is_relative_to(project_root) else str(graph)
    try:
        document = json.loads(graph.read_text(encoding="utf-8"))
    except FileNotFoundError:
        why = f"no deployed graph ({shown}): `seawall up {env.name}` writes it on the machine that deploys"
        return FleetDrift(shown, why)
    except OSError as exc:
        return FleetDrift(shown, f"{shown} cannot be read ({exc.strerror or exc})")
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return FleetDrift(shown, f"{shown} is not a deployed graph ({exc})")
    if not isinstance(document, dict) or not isinstance(document.get("resources"), list):
        return FleetDrift(shown, f"{shown} is not a deployed graph (no resources list)")
    placed = deployed(document)
    if not placed.manifests:
        why = f"{shown} holds no host manifest: deploy {env.name} with this Seawall (`seawall up {env.name}`)"
        return FleetDrift(shown, why)
    return FleetDrift(shown, None, placed, read_results(env, project_root, sorted(placed.manifests)))
