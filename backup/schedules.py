"""Schedules: systemd units, a cron line, the host's own environment file and the cloud-init document.

One rendering serves all three consumers: droplets get it through cloud-init ``user_data``, data-center
hosts through the data-center component's remote commands, and operators through
``seawall backup schedule``. Nothing here touches a host.
"""

from __future__ import annotations

import shlex
from typing import Any

import yaml

from seawall.hostfiles import (
    CREDENTIALS_FILE,
    HOST_ENVIRONMENTS,
    SEAWALL_BIN,
    UNIT_DIR,
    VAULT_CREDENTIALS_FILE,
    VERIFY_UNIT,
    RenderedFile,
)
from seawall.model.schema import Environment

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def host_environment(env: Environment, host: str) -> dict[str, Any]:
    """Given an environment and a host, return the standalone environment document the host keeps.

    It holds only what the host's backups need, so that changing another service never changes it. The
    status host's file also holds every set and every host that runs one: its scheduled
    ``backup status --deep`` checks the whole fleet.
    """
    sets = env.host_sets(host)
    # Managed databases are the cloud's: their connection details reach the hosts that use them as a file of
    # their own, and a host's file names no service a cluster could trust.
    exclude = {"services", "datacenter_hosts", "release", "monitoring", "availability", "incidents", "databases"}
    # The keys droplets are created with are the deployers' business: a new key changes no host's file.
    exclude_network = {"network": {"ssh_public_keys"}}
    document = env.model_dump(mode="json", by_alias=True, exclude={**dict.fromkeys(exclude, True), **exclude_network})
    watched = {host: sets}
    if host in (env.status_host(), env.vault_host()):
        for name in sorted(env.backup_sets):
            for other in env.hosts_of_set(name):
                watched.setdefault(other, env.host_sets(other))
    vault = env.vault_host()
    if vault is not None:
        # Every host's file names the vault (so it validates) and the copy (so that its prune keeps back what
        # the copy lacks); the vault's key and the copy's password are in no such file.
        watched.setdefault(vault, [])
    named = sorted({name for its_sets in watched.values() for name in its_sets})
    # The file names only the hosts above, so a prune_host or status_host elsewhere would not validate
    # there; the prune and status timers themselves are rendered for the designated hosts only. A prune host
    # the file names stays named: the file lists its hosts sorted, so "the first host of the set" there is not
    # the model's, and a prune (or the vault's reading of what a prune forgot) must find the real one.
    document["backup_sets"] = {
        name: {**document["backup_sets"][name], "prune_host": _named(env.prune_host(name), name, watched)}
        for name in named
    }
    document["backup"]["status_host"] = None
    document["datacenter_hosts"] = {
        name: {"address": "127.0.0.1", "ssh_user": "root", "roles": ["backup"], "backup_sets": its_sets}
        for name, its_sets in watched.items()
    }
    document["environment"]["predecessor"] = None
    document["environment"]["description"] = ""
    # Where escalation issues go, and which tiers are protected: the rule that a protected tier names its
    # escalation repository judges the host's file as it judges the environment.
    document["incidents"] = {"github_repository": env.incidents.github_repository}
    document["release"] = {"protected_tiers": list(env.release.protected_tiers)}
    return document


def _named(host: str, set_name: str, watched: dict[str, list[str]]) -> str | None:
    """The prune host when the host file names it as a host of the set, else None (it would not validate)."""
    return host if set_name in watched.get(host, []) else None


def _vault_jobs(env: Environment, host: str, common: list[str]) -> list[tuple[str, list[str], str]]:
    """The vault's copy, the copy's prune and the copy's drill, on the vault only: (calendar, argv, unit)."""
    copy = env.backup.copy_
    if copy is None or host != copy.vault or not env.backup_sets:
        return []
    return [
        (copy.schedule, [*common, "backup", "copy", env.name], "seawall-copy"),
        (
            copy.prune_schedule,
            [*common, "backup", "prune", env.name, "--from", "copy", "--scheduled"],
            "seawall-copy-prune",
        ),
        (copy.drill_schedule, [*common, "drill", env.name, "--from", "copy"], "seawall-copy-drill"),
    ]


def render_vault_units(
    env: Environment, host: str, seawall_bin: str = SEAWALL_BIN, environments: str = HOST_ENVIRONMENTS
) -> list[RenderedFile]:
    """Given a host, return the off-site copy's ``.service`` + ``.timer`` units when it is the vault: they read
    the vault's credentials beside the host's own."""
    files = []
    delay = int(env.backup.randomized_delay.total_seconds())
    timeout = int(env.backup.command_timeout.total_seconds())
    for calendar, argv, unit in _vault_jobs(env, host, [seawall_bin, "--environments", environments]):
        description = f"Seawall {unit.removeprefix('seawall-')} of {env.name} on the vault {host}"
        service = _service(description, argv, timeout, (CREDENTIALS_FILE, VAULT_CREDENTIALS_FILE))
        files.append(RenderedFile(f"{UNIT_DIR}/{unit}.service", service))
        files.append(RenderedFile(f"{UNIT_DIR}/{unit}.timer", _timer(description, unit, calendar, delay)))
    return files


def render_units(
    env: Environment, host: str, set_name: str, seawall_bin: str = SEAWALL_BIN, environments: str = HOST_ENVIRONMENTS
) -> list[RenderedFile]:
    """Given a host and one of its sets, return the backup and drill ``.service`` + ``.timer`` units."""
    backup_set = env.backup_sets[set_name]
    delay = int(env.backup.randomized_delay.total_seconds())
    timeout = int((backup_set.hooks.timeout + backup_set.rto).total_seconds()) + 6 * 3600
    common = [seawall_bin, "--environments", environments]
    jobs = [
        ("backup", [*common, "backup", "run", env.name, "--set", set_name, "--host", host], backup_set.schedule),
        ("drill", [*common, "drill", env.name, "--set", set_name, "--host", host], backup_set.drill.schedule),
    ]
    if host == env.prune_host(set_name):
        prune = [*common, "backup", "prune", env.name, "--set", set_name, "--scheduled"]
        jobs.append(("prune", prune, backup_set.prune_schedule))
    files = []
    for kind, argv, calendar in jobs:
        unit = f"seawall-{kind}-{set_name}"
        description = f"Seawall {kind} of {set_name} on {host} ({env.name})"
        files.append(RenderedFile(f"{UNIT_DIR}/{unit}.service", _service(description, argv, timeout)))
        files.append(RenderedFile(f"{UNIT_DIR}/{unit}.timer", _timer(description, unit, calendar, delay)))
    return files


def _service(
    description: str, argv: list[str], timeout: int, credentials: tuple[str, ...] = (CREDENTIALS_FILE,)
) -> str:
    environment = "".join(f"EnvironmentFile=-{path}\n" for path in credentials)
    return (
        "[Unit]\n"
        f"Description={description}\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={shlex.join(argv)}\n"
        f"{environment}"
        "Nice=10\n"
        # SIGTERM reaches seawall only; it stops restic with SIGINT, so restic removes its own lock.
        "KillMode=mixed\n"
        "TimeoutStopSec=60\n"
        "IOSchedulingClass=best-effort\n"
        "IOSchedulingPriority=7\n"
        f"TimeoutStartSec={timeout}\n"
        "PrivateTmp=true\n"
    )


def _timer(description: str, unit: str, calendar: str, delay: int) -> str:
    return (
        "[Unit]\n"
        f"Description=Timer: {description}\n"
        "\n[Timer]\n"
        f"OnCalendar={calendar}\n"
        "Persistent=true\n"
        f"RandomizedDelaySec={delay}\n"
        "AccuracySec=1min\n"
        f"Unit={unit}.service\n"
        "\n[Install]\n"
        "WantedBy=timers.target\n"
    )


def render_cron(env: Environment, host: str, seawall_bin: str = SEAWALL_BIN) -> str:
    """Given a host, return crontab lines equivalent to its timers, for hosts without systemd: the same
    commands (backup, drill, and prune on the set's prune host) with ``--host``, the credentials file
    loaded first, at the schedule's times (cron has no seconds and no randomized delay)."""
    lines = [
        f"# Seawall backups of {host} ({env.name}); systemd timers are preferred",
        "SHELL=/bin/sh",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ]
    load = f"set -a; [ ! -r {CREDENTIALS_FILE} ] || . {CREDENTIALS_FILE}; set +a;"
    for set_name in env.host_sets(host):
        backup_set = env.backup_sets[set_name]
        common = [seawall_bin, "--environments", HOST_ENVIRONMENTS]
        jobs = [
            (backup_set.schedule, [*common, "backup", "run", env.name, "--set", set_name, "--host", host]),
            (backup_set.drill.schedule, [*common, "drill", env.name, "--set", set_name, "--host", host]),
        ]
        if env.prune_host(set_name) == host:
            jobs.append(
                (backup_set.prune_schedule, [*common, "backup", "prune", env.name, "--set", set_name, "--scheduled"])
            )
        for calendar, argv in jobs:
            lines.append(f"{_cron_time(calendar)} root {load} exec {shlex.join(argv)}")
    for calendar, argv, _ in _status_job(env, host, [seawall_bin, "--environments", HOST_ENVIRONMENTS]):
        lines.append(f"{_cron_time(calendar)} root {load} exec {shlex.join(argv)} >/dev/null")
    verify = [seawall_bin, "--environments", HOST_ENVIRONMENTS, "host", "verify", env.name, "--host", host]
    lines.append(f"{_cron_time(env.drift.schedule)} root {load} exec {shlex.join(verify)} >/dev/null")
    return "\n".join(lines) + "\n"


def _cron_time(calendar: str) -> str:
    from seawall.model.calendar import parse_calendar

    parsed = parse_calendar(calendar)
    minutes = ",".join(str(m) for m in sorted(parsed.minutes))
    hours = "*" if len(parsed.hours) == 24 else ",".join(str(h) for h in sorted(parsed.hours))
    weekdays = "*" if len(parsed.weekdays) == 7 else ",".join(str((d + 1) % 7) for d in sorted(parsed.weekdays))
    return f"{minutes} {hours} * * {weekdays}"


def _status_job(env: Environment, host: str, common: list[str]) -> list[tuple[str, list[str], str]]:
    """The scheduled deep status, on the status host only."""
    if host != env.status_host():
        return []
    argv = [*common, "backup", "status", env.name, "--deep", "--metrics", "--format", "json"]
    return [(env.backup.deep_status_schedule, argv, "status")]


def render_status_units(
    env: Environment, host: str, seawall_bin: str = SEAWALL_BIN, environments: str = HOST_ENVIRONMENTS
) -> list[RenderedFile]:
    """Given a host, return the deep status's ``.service`` + ``.timer`` when it is the status host."""
    files = []
    delay = int(env.backup.randomized_delay.total_seconds())
    timeout = int(env.backup.command_timeout.total_seconds())
    for calendar, argv, kind in _status_job(env, host, [seawall_bin, "--environments", environments]):
        unit = f"seawall-{kind}"
        description = f"Seawall deep backup status of {env.name} on {host}"
        files.append(RenderedFile(f"{UNIT_DIR}/{unit}.service", _service(description, argv, timeout)))
        files.append(RenderedFile(f"{UNIT_DIR}/{unit}.timer", _timer(description, unit, calendar, delay)))
    return files


def render_verify_units(
    env: Environment, host: str, seawall_bin: str = SEAWALL_BIN, environments: str = HOST_ENVIRONMENTS
) -> list[RenderedFile]:
    """Given a host, return its drift check's ``.service`` + ``.timer``: every host compares itself with the
    manifest the deploy left (``seawall host verify``), with the bucket's keys where it has them."""
    argv = [seawall_bin, "--environments", environments, "host", "verify", env.name, "--host", host]
    description = f"Seawall drift check of {host} ({env.name})"
    delay = int(env.backup.randomized_delay.total_seconds())
    service = _service(description, argv, 600)
    return [
        RenderedFile(f"{UNIT_DIR}/{VERIFY_UNIT}.service", service),
        RenderedFile(f"{UNIT_DIR}/{VERIFY_UNIT}.timer", _timer(description, VERIFY_UNIT, env.drift.schedule, delay)),
    ]


def render_host_files(
    env: Environment, host: str, seawall_bin: str = SEAWALL_BIN, environments: str = HOST_ENVIRONMENTS
) -> list[RenderedFile]:
    """Given a host, return every file Seawall places on it: its environment file and the units."""
    document = yaml.dump(host_environment(env, host), Dumper=_DUMPER, sort_keys=True)
    files = [RenderedFile(f"{environments}/{env.name}.yaml", document, "0640")]
    for set_name in env.host_sets(host):
        files += render_units(env, host, set_name, seawall_bin, environments)
    files += render_status_units(env, host, seawall_bin, environments)
    files += render_vault_units(env, host, seawall_bin, environments)
    return files + render_verify_units(env, host, seawall_bin, environments)


def init_commands(env: Environment, host: str, seawall_bin: str = SEAWALL_BIN) -> list[list[str]]:
    """Given a host, return the ``backup init`` commands of the sets whose repository it creates: those it
    prunes (one host per set, so that no two hosts ever create one repository at once; init leaves an
    existing repository as it is)."""
    return [
        [seawall_bin, "--environments", HOST_ENVIRONMENTS, "backup", "init", env.name, "--set", name]
        for name in env.host_sets(host)
        if env.prune_host(name) == host
    ]


def timer_names(env: Environment, host: str) -> list[str]:
    """Given a host, return the names of the timers to enable on it."""
    return (
        [
            f"seawall-{kind}-{name}.timer"
            for name in env.host_sets(host)
            for kind in ("backup", "drill", "prune")
            if kind != "prune" or env.prune_host(name) == host
        ]
        + [f"seawall-{kind}.timer" for _, _, kind in _status_job(env, host, [])]
        + [f"{unit}.timer" for _, _, unit in _vault_jobs(env, host, [])]
        + [f"{VERIFY_UNIT}.timer"]
    )


def render_bootstrap(volume: tuple[str, str, str] | None = None) -> str:
    """Given a droplet's volume (name, mount point, filesystem) or None, return its cloud-config.

    Only a bootstrap that never changes with the model: the packages Seawall needs and the volume's
    mount (``nofail``, so a boot before the attachment does not hang). Everything that changes with the
    model (Seawall, credentials, units) arrives over SSH, so no configuration change replaces a droplet.
    """
    document: dict[str, Any] = {"package_update": True, "packages": ["restic", "python3-venv"]}
    if volume is not None:
        name, mount, filesystem = volume
        device = f"/dev/disk/by-id/scsi-0DO_Volume_{name}"
        options = "defaults,nofail,discard,noatime,x-systemd.device-timeout=5min"
        document["mounts"] = [[device, mount, filesystem, options, "0", "2"]]
    return "#cloud-config\n" + yaml.dump(document, Dumper=_DUMPER, sort_keys=False, width=1000)
