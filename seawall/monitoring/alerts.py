"""The alerts Seawall writes: each one's name, the model's ``alerting`` field that gives its severity, its
summary and description (Prometheus template text) and its runbook's file name.

Every alert is in ``ALERTS``; the Prometheus rules (``seawall.monitoring.prometheus``) take their severity
from the model's ``alerting`` entry of the same kind and their ``runbook_url`` from ``monitoring.runbook_url``,
and the ops documents write a runbook per alert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class AlertKind:
    """One alert Seawall writes: its name, the ``alerting`` field giving its severity, and its texts."""

    name: str
    severity_field: str
    summary: str
    description: str

    @property
    def runbook(self) -> str:
        """Return the runbook's file name (``seawall-backup-failed.md``)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "-", self.name).lower() + ".md"


ALERTS: dict[str, AlertKind] = {
    kind.name: kind
    for kind in (
        AlertKind(
            "HostDown",
            "host_down",
            "{{ $labels.host }} is down",
            "node_exporter on {{ $labels.host }} ({{ $labels.environment }}) has not answered a scrape for 2 minutes.",
        ),
        AlertKind(
            "HostHighCpu",
            "cpu",
            '{{ $labels.host }} CPU at {{ $value | printf "%.0f" }}%',
            "CPU use of {{ $labels.host }} ({{ $labels.service }}) is above its threshold.",
        ),
        AlertKind(
            "HostHighMemory",
            "memory",
            '{{ $labels.host }} memory at {{ $value | printf "%.0f" }}%',
            "Memory use of {{ $labels.host }} ({{ $labels.service }}) is above its threshold.",
        ),
        AlertKind(
            "HostDiskFull",
            "disk",
            '{{ $labels.host }} {{ $labels.mountpoint }} at {{ $value | printf "%.0f" }}%',
            "The file system at {{ $labels.mountpoint }} on {{ $labels.host }} is fuller than its threshold.",
        ),
        AlertKind(
            "HostDiskFillingUp",
            "disk_filling",
            "{{ $labels.host }} {{ $labels.mountpoint }} fills up soon",
            "At the rate of the last 6 hours, {{ $labels.mountpoint }} on {{ $labels.host }} is full within the "
            "model's disk_filling_hours.",
        ),
        AlertKind(
            "HostNetworkReceiveHigh",
            "network",
            '{{ $labels.host }} receives {{ $value | printf "%.0f" }} Mbit/s on {{ $labels.device }}',
            "Inbound traffic on {{ $labels.device }} of {{ $labels.host }} is above the model's receive_mbps.",
        ),
        AlertKind(
            "HostNetworkTransmitHigh",
            "network",
            '{{ $labels.host }} sends {{ $value | printf "%.0f" }} Mbit/s on {{ $labels.device }}',
            "Outbound traffic on {{ $labels.device }} of {{ $labels.host }} is above the model's transmit_mbps.",
        ),
        AlertKind(
            "HostNetworkErrors",
            "network_errors",
            "{{ $labels.host }} has network errors on {{ $labels.device }}",
            "Receive plus transmit errors on {{ $labels.device }} of {{ $labels.host }} are above the model's "
            "errors_per_second.",
        ),
        AlertKind(
            "HostClockSkew",
            "clock_skew",
            "{{ $labels.host }}'s clock is {{ $value | humanizeDuration }} off",
            "The clock of {{ $labels.host }} differs from the monitoring host's by more than the model's "
            "clock_skew_tolerance: its snapshot times, RPO and metric timestamps cannot be trusted.",
        ),
        AlertKind(
            "SeawallBackupFailed",
            "backup",
            "Backup of {{ $labels.set }} on {{ $labels.host }} failed",
            "The last `seawall backup run` of set {{ $labels.set }} on {{ $labels.host }} did not succeed "
            "completely; `journalctl -u seawall-backup-{{ $labels.set }}` on the host tells why.",
        ),
        AlertKind(
            "SeawallBackupRpoMissed",
            "backup_rpo",
            "{{ $labels.set }} on {{ $labels.host }} is older than its RPO",
            "The last successful backup of {{ $labels.set }} on {{ $labels.host }} is older than the set's RPO.",
        ),
        AlertKind(
            "SeawallBackupSilent",
            "backup_silent",
            "No backup of {{ $labels.set }} on {{ $labels.host }} reported",
            "No backup run of {{ $labels.set }} on {{ $labels.host }} has reported for longer than its schedule "
            "allows: the timer, the host or node_exporter's textfile collector is not working.",
        ),
        AlertKind(
            "SeawallDrillFailed",
            "drill",
            "Restore drill of {{ $labels.set }} on {{ $labels.host }} failed",
            "The last restore drill of {{ $labels.set }} on {{ $labels.host }} failed a step or a target; its "
            "report names the step.",
        ),
        AlertKind(
            "SeawallDrillOverdue",
            "drill_overdue",
            "Restore drill of {{ $labels.set }} on {{ $labels.host }} is overdue",
            "No restore drill of {{ $labels.set }} on {{ $labels.host }} has reported for longer than its drill "
            "schedule allows.",
        ),
        AlertKind(
            "SeawallDrillRtoAboveTarget",
            "drill_rto",
            "Restore of {{ $labels.set }} took longer than its RTO",
            "The last drill of {{ $labels.set }} on {{ $labels.host }} restored and verified in "
            "{{ $value | humanizeDuration }}, above the set's RTO.",
        ),
        AlertKind(
            "SeawallCheckFailing",
            "check",
            "Repository check of {{ $labels.set }} failed",
            "The drill's `restic check` slice of {{ $labels.set }} found the repository damaged or unreadable.",
        ),
        AlertKind(
            "SeawallRepositoryDisagrees",
            "repository_disagrees",
            "Repository of {{ $labels.set }} does not show what {{ $labels.backup_host }} recorded",
            "The scheduled `seawall backup status --deep` found {{ $labels.set }} on {{ $labels.backup_host }} "
            "{{ $labels.status }}: the repository's newest snapshot is not the one the host's last run "
            "recorded, or the repository cannot be read.",
        ),
        AlertKind(
            "SeawallStatusOverdue",
            "status_overdue",
            "The scheduled deep backup status of {{ $labels.environment }} is not running",
            "No scheduled `seawall backup status --deep` has reported for longer than "
            "`backup.deep_status_schedule` allows: disagreements between what the hosts recorded and the "
            "repositories go unseen until it runs again.",
        ),
        AlertKind(
            "SeawallCopyFailed",
            "copy_failed",
            "Off-site copy of {{ $labels.set }} in {{ $labels.environment }} failed",
            "The last `seawall backup copy` of set {{ $labels.set }} ({{ $labels.environment }}) on the vault "
            "{{ $labels.host }} did not copy it into its off-site copy: the copy's storage cannot be reached, a key "
            "or password is refused, or the copy has no repository. The next run copies what this one missed.",
        ),
        AlertKind(
            "SeawallCopyLate",
            "copy_late",
            "Off-site copy of {{ $labels.set }} in {{ $labels.environment }} is late",
            "The oldest of the hosts' newest snapshots of set {{ $labels.set }} ({{ $labels.environment }}) in the "
            "off-site copy is {{ $value | humanizeDuration }} old, above the set's RPO plus `backup.copy.delay`, or "
            "some host has none there: a lost region now loses more than the RPO.",
        ),
        AlertKind(
            "SeawallCopySilent",
            "copy_silent",
            "No off-site copy of {{ $labels.set }} in {{ $labels.environment }} reported",
            "No `seawall backup copy` of set {{ $labels.set }} ({{ $labels.environment }}) has reported for longer "
            "than `backup.copy.schedule` allows: the vault's copy timer, the vault or its node_exporter textfile "
            "collector is not working.",
        ),
        AlertKind(
            "SeawallSnapshotsVanished",
            "snapshots_vanished",
            "Snapshots of {{ $labels.set }} in {{ $labels.environment }} vanished from the primary",
            '{{ $value | printf "%.0f" }} snapshot(s) of set {{ $labels.set }} ({{ $labels.environment }}) are gone '
            "from the primary repository without a recorded prune: presume a backup host's key and the set's "
            "password were used to forget them. The off-site copy keeps what it received; the alarm stays until "
            "`seawall backup copy {{ $labels.environment }} --set {{ $labels.set }} --acknowledge --issue URL`.",
        ),
        AlertKind(
            "SeawallHostDrift",
            "host_drift",
            "{{ $labels.host }} no longer matches its deploy: {{ $labels.kind }} drift",
            "The drift check (`seawall host verify`) on {{ $labels.host }} ({{ $labels.environment }}) found "
            '{{ $value | printf "%.0f" }} difference(s) of kind {{ $labels.kind }} between the host and what the last '
            "deploy placed there. `seawall drift {{ $labels.environment }}` names each file, unit, ruleset or wheel; "
            "the runbook says how to see the quarantine and re-apply the host's steps.",
        ),
        AlertKind(
            "SeawallDriftCheckMissing",
            "drift_check_missing",
            "No drift check of {{ $labels.host }} reported",
            "No drift check (`seawall host verify`) of {{ $labels.host }} ({{ $labels.environment }}) has reported "
            "for longer than `drift.stale_after`, or none ever has, while its node_exporter answers: the host's "
            "seawall-host-verify.timer, the check itself or node_exporter's textfile collector is not working, and "
            "a change on the host goes unseen.",
        ),
    )
}
# Written by the vault's `seawall backup copy`: rendered only where the environment has ``backup.copy``.
COPY_ALERTS = ("SeawallCopyFailed", "SeawallCopyLate", "SeawallCopySilent", "SeawallSnapshotsVanished")
# Written by every host's `seawall host verify` (the drift check).
DRIFT_ALERTS = ("SeawallHostDrift", "SeawallDriftCheckMissing")
