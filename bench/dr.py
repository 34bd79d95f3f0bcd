"""The DR rehearsal's wall time in the lab against the sum of its parts run bare in the same run.

Boots the lab-dr fleet (tests/lab: the db droplet with Debian's PostgreSQL and a data-center host with files),
deploys it with the graph's host steps, backs up and drills each set, destroys both hosts, then:

- the rehearsal: ``seawall.dr.engine.rehearse`` over the lab's machines (``tests/lab/dr.py``), its wall time
  from the engine's own clock (boot to every set verified, before the tear-down);
- the same parts bare, on fresh containers again: booting the host (with the service's own install), the
  host steps (the lab's executor), ``restic restore --verify`` of each set's snapshot into a scratch folder
  on the host (restic alone, its keys from the host's credentials file), and the sets' checks there.

Prints both, their ratio and the target (at most 1.2x: what Seawall adds around the parts, the listing, the
in-place placement and hooks, the health check, is at most a fifth). Needs root and what the lab needs
(`bash .ci/setup`).
"""

from __future__ import annotations

import shlex
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seawall.backup.backends import set_backend  # noqa: E402
from seawall.dr.engine import Request, make_check_line, rehearse  # noqa: E402
from seawall.dr.report import report_json  # noqa: E402
from seawall.hostfiles import CREDENTIALS_FILE  # noqa: E402
from seawall.model.schema import Environment  # noqa: E402
from tests.lab.dr import (  # noqa: E402
    DB,
    DC,
    SPECS,
    LabMachines,
    deploy_dr_fleet,
    destroy_host,
    install_for,
    start_lab_waiting,
)
from tests.lab.fleet import Lab, lab_unavailable  # noqa: E402

TARGET = 1.2


def main() -> int:
    reason = lab_unavailable()
    if reason:
        print(f"bench/dr.py: {reason}", file=sys.stderr)
        return 2
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="seawall-bench-dr-"))
    lab = start_lab_waiting(folder / "fleet", list(SPECS.values()))
    try:
        _, env, graph, _, _ = deploy_dr_fleet(folder, lab)
        for host in (DB, DC):
            destroy_host(lab, host)
        machines = LabMachines(lab, graph, env, folder / "rehearsal", dict(SPECS), install_for)
        report = report_json(rehearse(env, Request([DB, DC], issue="bench/dr"), machines))
        if report["result"] != "passed":
            print(f"bench/dr.py: the rehearsal failed: {report['failures']}", file=sys.stderr)
            return 1
        parts = _bare_parts(env, machines, report)
    finally:
        lab.down()
        shutil.rmtree(folder, ignore_errors=True)
    wall, total = report["seconds"], sum(parts.values())
    for name, seconds in parts.items():
        print(f"  {name:40} {seconds:8.1f} s")
    print(f"rehearsal (seawall dr rehearse, lab)      {wall:8.1f} s")
    print(f"sum of its parts run bare                 {total:8.1f} s")
    print(f"ratio {wall / total:.2f}x (target <= {TARGET}x): {'met' if wall / total <= TARGET else 'MISSED'}")
    return 0


def _bare_parts(env: Environment, machines: LabMachines, report: dict[str, Any]) -> dict[str, float]:
    """Each part of the rehearsal, bare, on fresh containers: boot, host steps, restic restore --verify of
    each set's snapshot the rehearsal restored, and its checks."""
    parts: dict[str, float] = {}
    lab = machines.lab
    for host in report["hosts"]:
        name = host["host"]
        parts[f"{name}: boot"] = _timed(lambda n=name: machines.boot(n))
        parts[f"{name}: host steps"] = _timed(lambda n=name: machines.host_steps(n))
        for rehearsed in host["sets"]:
            set_name, snapshot = rehearsed["set"], rehearsed["snapshot"]["id"]
            location = set_backend(env, set_name, ROOT).location()
            restore = (
                f"set -a; . {CREDENTIALS_FILE}; set +a; export AWS_ACCESS_KEY_ID=$SPACES_ACCESS_KEY_ID "
                "AWS_SECRET_ACCESS_KEY=$SPACES_SECRET_ACCESS_KEY; rm -rf /var/tmp/bare; "
                f"restic --repo {shlex.quote(location)} --password-file /etc/seawall/restic-password "
                f"restore {snapshot} --target /var/tmp/bare --verify"
            )
            parts[f"{name}: restic restore --verify {set_name}"] = _timed(lambda r=restore, n=name: _ok(lab, n, r))
            backup_set = env.backup_sets[set_name]
            checks = [
                make_check_line(text.replace("{restore}", "/var/tmp/bare"), "/var/tmp/bare" + backup_set.paths[0])
                for text in backup_set.drill.checks
            ]
            parts[f"{name}: checks of {set_name}"] = _timed(lambda c=checks, n=name: [_ok(lab, n, x) for x in c])
        destroy_host(lab, name)
        machines.created.remove(name)
    return parts


def _ok(lab: Lab, host: str, command: str) -> None:
    lab.ssh(lab.hosts[host], command, timeout=1800)


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


if __name__ == "__main__":
    sys.exit(main())
