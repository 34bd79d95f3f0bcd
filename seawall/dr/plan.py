"""The rehearsal's decisions as pure functions over recorded facts: no host, no restic, no clock.

Which hosts a rehearsal rebuilds, which snapshot of each set it restores (from the rows ``seawall snapshots
--format json`` prints, which name the drill that verified each one), the targets met or missed, the runbook
each failure points to, and the model of the temporary stack (the DR region and the sizes the model allows,
never the production names or a public port). ``tests/fixtures/dr/`` holds recorded cases.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from seawall.backup.client import parse_time
from seawall.backup.retention import SAFETY_TAG
from seawall.errors import UsageError
from seawall.model.schema import Environment, Port, Service, droplet_names

AUTO, LATEST, VERIFIED = "auto", "latest", "verified"
Row = dict[str, Any]  # one snapshot as `seawall snapshots --format json` prints it


def hosts_to_rebuild(env: Environment, chosen: Sequence[str] = ()) -> list[str]:
    """Given an environment and the hosts asked for (none: the default), return the hosts to rebuild: every
    droplet of a stateful service or with a backup set, and every data-center host with a backup set."""
    every: list[str] = []
    for name, service in env.services.items():
        if service.is_stateful or service.backup_sets:
            every += droplet_names(name, service)
    every += [name for name, host in env.datacenter_hosts.items() if host.backup_sets]
    if not chosen:
        return every
    unknown = [host for host in chosen if host not in every]
    if unknown:
        msg = (
            f"{', '.join(unknown)} {'is' if len(unknown) == 1 else 'are'} not a host of {env.name} that holds data "
            f"(rehearsable: {', '.join(every) or 'none'})"
        )
        raise UsageError(msg)
    return list(dict.fromkeys(chosen))


@dataclass(frozen=True)
class Choice:
    """The snapshots to try for one set, in order (the second is the newest verified one, tried when the
    first does not restore), why, and why there is none."""

    tries: list[Row] = field(default_factory=list)
    note: str = ""
    error: str | None = None


def choose_snapshots(
    rows: Sequence[Row], wanted: str, set_name: str, host: str, env_name: str, now: dt.datetime
) -> Choice:
    """Given the snapshot rows of a set, the rehearsal's pick (``auto``: the newest, then the newest verified
    one; ``latest``; ``verified``; or a time: the newest taken at or before it) and now, return the choice.
    A safety snapshot of an in-place restore and a snapshot dated in the future are never chosen."""
    own = sorted(
        (
            row
            for row in rows
            if row.get("host") == host
            and row.get("set_name") == set_name
            and SAFETY_TAG not in (row.get("tags") or [])
            and parse_time(str(row["time"])) <= now
        ),
        key=lambda row: parse_time(str(row["time"])),
    )
    if not own:
        run = f"seawall backup run {env_name} --set {set_name} --host {host}"
        return Choice(error=f"{host} has no snapshot of {set_name}: nothing to rebuild it from (run `{run}`)")
    newest, verified = own[-1], [row for row in own if row.get("verified_by")]
    if wanted == LATEST:
        return Choice([newest], f"the newest snapshot {newest['short_id']}")
    if wanted == VERIFIED and not verified:
        drill = f"seawall drill {env_name} --set {set_name} --host {host}"
        return Choice(error=f"no snapshot of {set_name} on {host} was verified by a drill (run `{drill}`)")
    if wanted == VERIFIED:
        return Choice([verified[-1]], f"the newest verified snapshot {verified[-1]['short_id']}")
    if wanted == AUTO:
        fallback = [verified[-1]] if verified and verified[-1]["id"] != newest["id"] else []
        return Choice([newest, *fallback], f"the newest snapshot {newest['short_id']}")
    cutoff = parse_time(wanted)
    before = [row for row in own if parse_time(str(row["time"])) <= cutoff]
    if not before:
        return Choice(error=f"{host} has no snapshot of {set_name} taken at or before {wanted}")
    return Choice([before[-1]], f"the newest snapshot at or before {wanted}: {before[-1]['short_id']}")


def check_pick(wanted: str) -> str:
    """Given ``--snapshot``, return it when it is ``auto``, ``latest``, ``verified`` or a time with its zone;
    else UsageError."""
    if wanted in (AUTO, LATEST, VERIFIED):
        return wanted
    try:
        if parse_time(wanted).tzinfo is None:
            raise ValueError(wanted)
    except ValueError:
        msg = f"--snapshot {wanted!r} is none of latest, verified or a time (2026-12-01T00:00:00Z)"
        raise UsageError(msg) from None
    return wanted


def judge_set(verified_after: float, age: float, rto_target: float, rpo_target: float) -> tuple[bool, bool]:
    """Given the seconds from the rehearsal's start to a set's data verified, its snapshot's age and the set's
    RTO and RPO targets, return whether each was met."""
    return verified_after <= rto_target, age <= rpo_target


RUNBOOKS = {
    "boot": "rebuild-host",
    "host-step": "rebuild-host",
    "health": "rebuild-host",
    "snapshot": "restore-backup-set",
    "restore": "restore-backup-set",
    "check": "restore-backup-set",
    "rto": "restore-backup-set",
    "rpo": "restore-backup-set",
    "recovery-target": "rebuild-host",
}


def runbook(env: Environment, kind: str) -> str:
    """Given a failure's kind, return the runbook to follow (``<monitoring.runbook_url>/<name>.md``)."""
    return f"{env.monitoring.runbook_url.rstrip('/')}/{RUNBOOKS[kind]}.md"


def stack_name(env: Environment, day: dt.date) -> str:
    """Given an environment and the day, return the rehearsal's temporary stack (``mainnet-dr-20261207``)."""
    return f"{env.name}-dr-{day:%Y%m%d}"


def rehearsal_environment(env: Environment, hosts: Sequence[str], day: dt.date) -> Environment:
    """Given an environment and the droplets to rebuild, return the model of its temporary stack: only those
    droplets' services, in the DR region, at the sizes ``dr.sizes`` allows, under a zone of its own (never
    the production names) and with no port open to the public. Data-center hosts are not droplets: the
    lab rehearses them; in production the team's spare machine is their rebuild."""
    region = env.dr.region
    if region is None:
        msg = f"{env.name} has no DR region: set dr.region in its model (another region than {env.environment.region})"
        raise UsageError(msg)
    dc = [host for host in hosts if host in env.datacenter_hosts]
    if dc:
        msg = (
            f"{', '.join(dc)} {'is a data-center host' if len(dc) == 1 else 'are data-center hosts'}: the temporary "
            "stack rebuilds droplets only; rehearse them with --host on droplets, or in the lab"
        )
        raise UsageError(msg)
    services: dict[str, Service] = {}
    for name, service in env.services.items():
        wanted = [droplet for droplet in droplet_names(name, service) if droplet in hosts]
        if wanted:
            services[name] = service.model_copy(
                update={
                    "count": max(int(droplet.rsplit("-", 1)[1]) for droplet in wanted),
                    "size": env.dr.sizes.get(name, service.size),
                    "ports": [_private(port) for port in service.ports],
                    "health": None,
                }
            )
    info = env.environment.model_copy(
        update={"region": region, "domain": f"{stack_name(env, day)}.{env.environment.domain}"}
    )
    return env.model_copy(update={"environment": info, "services": services, "datacenter_hosts": {}})


def _private(port: Port) -> Port:
    """A port the public may reach becomes one only the admins reach: a rehearsal is never exposed."""
    return port.model_copy(update={"source": "admin"}) if port.source == "public" else port
