"""``python -m tests.lab up|down`` (``bash .ci/lab up|down``): the lab fleet for a person to look around.

``up`` boots the same four hosts the tests boot, deploys the lab environment with the graph's own host
steps, writes each set's data, runs one backup and one drill of every set, writes the fleet page from
the bucket, and leaves everything running; ``down`` stops it and removes every container, namespace,
mount and file it made. The fleet lives in ``/var/tmp/seawall-lab`` (``SEAWALL_LAB_DIR``).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from seawall.backup.schedules import timer_names
from tests.lab import deploy
from tests.lab.executor import Executor
from tests.lab.fleet import (
    ACCESS_KEY,
    DEPLOYER,
    LAB_NS,
    SECRET_KEY,
    in_lab,
    lab_unavailable,
    remove_everything,
    sh,
    start_lab,
)

FOLDER = Path(os.environ.get("SEAWALL_LAB_DIR", "/var/tmp/seawall-lab"))
DATA = {
    "dc-storage-1": "install -d /srv/storage/meta && echo meta > /srv/storage/meta/meta.db",
    "dc-build-1": "install -d /srv/flists && echo flist > /srv/flists/app.flist",
    "app-1": "install -d /srv/app && echo data > /srv/app/data.txt",
}


def up() -> int:
    """Boot, deploy, back up and drill once, write the page; print how to reach everything."""
    lab = start_lab(FOLDER / "fleet", deploy.lab_hosts())
    processes = [p.pid for p in lab.servers] + [h.process.pid for h in lab.hosts.values() if h.process]
    (lab.folder / "processes.json").write_text(json.dumps(processes))
    ready = deploy.prepare(FOLDER, lab)
    (FOLDER / "steps").mkdir(exist_ok=True)
    applied = Executor(FOLDER / "state.json", FOLDER / "steps", on_step=lambda n: print(f"  step {n}")).apply(
        ready.graph
    )
    if applied.failed:
        print(
            f"seawall lab: step {applied.failed[0].name} failed:\n{applied.failed[0].output[-3000:]}", file=sys.stderr
        )
        return 1
    for name, host in lab.hosts.items():
        lab.ssh(host, DATA.get(name, "true"))
        units = [t.removesuffix(".timer") + ".service" for t in timer_names(ready.env, name)]
        for kind in ("backup", "drill"):
            lab.ssh(host, "systemctl start " + " ".join(u for u in units if u.startswith(f"seawall-{kind}-")))
    page = FOLDER / "fleet.html"
    seawall = [str(Path(sys.executable).with_name("seawall")), "--environments", str(ready.environments)]
    keys = [f"SPACES_ACCESS_KEY_ID={ACCESS_KEY}", f"SPACES_SECRET_ACCESS_KEY={SECRET_KEY}"]
    sh(*in_lab("env", *keys, *seawall, "report", "lab", "--out", str(page)), check=False)
    print(f"seawall lab: up in {FOLDER} (namespace {LAB_NS}; the deploying machine is {DEPLOYER})")
    for host in lab.hosts.values():
        print(f"  {host.name:14} {host.address:12} ssh: {' '.join(lab.ssh_argv(host))}")
    print(f"  fleet page: {page}\n  stop it all: bash .ci/lab down")
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "down":
        remove_everything(FOLDER / "fleet")
        remove_everything(FOLDER)
        print(f"seawall lab: down; removed {FOLDER} and every lab namespace")
        return 0
    if command == "up":
        reason = lab_unavailable()
        if reason:
            print(f"seawall lab: {reason}", file=sys.stderr)
            return 2
        return up()
    print("usage: python -m tests.lab up|down", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
