"""What a host installs: the host lock (requirements.lock, the default dependencies) against the deployer's
full lock (requirements-deploy.lock: the host's packages plus the Pulumi SDKs, the policy pack, Jinja2 and
pygal, which is what every host installed before), on a booted Debian 12 host of the lab fleet.

Boots one data-center host (tests/lab: systemd-nspawn, the lab's package index stand-in with the wheels of
both locks), then alternates, RUNS times each, the install step's own work for each lock: a fresh
``python3 -m venv`` and ``pip install --require-hashes --no-deps -r LOCK`` from the index, timed on the host,
and the size of the environment (``du``). Prints the medians side by side and their ratios (targets: the
host's /opt/seawall at most 40 MB, its install at most 0.3x the full lock's). Needs root and what the lab
needs (`bash .ci/setup`).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab.fleet import CACHE, lab_fleet, lab_unavailable, sh  # noqa: E402

RUNS = 3
LOCKS = {"host (requirements.lock)": "requirements.lock", "full (requirements-deploy.lock)": "requirements-deploy.lock"}
INSTALL = (
    "set -eu; rm -rf /opt/bench; start=$(date +%s.%N); python3 -m venv /opt/bench; "
    "/opt/bench/bin/pip install -q --disable-pip-version-check --require-hashes --no-deps -r /root/{lock}; "
    'end=$(date +%s.%N); echo "$start $end $(du -sm /opt/bench | cut -f1)"'
)


def main() -> int:
    reason = lab_unavailable()
    if reason:
        print(f"bench/host_install.py needs the lab fleet: {reason}", file=sys.stderr)
        return 2
    locks = [str(ROOT / name) for name in LOCKS.values()]
    sh("bash", str(ROOT / "tests/lab/build-cache.sh"), str(CACHE), *locks, timeout=1800)
    with lab_fleet(Path("/var/tmp/seawall-bench-host-install"), [("dc-bench-1", "10.213.2.10", "root", None)]) as lab:
        host = lab.hosts["dc-bench-1"]
        apt = "DEBIAN_FRONTEND=noninteractive apt-get -q update && apt-get -q -y install python3-venv"
        lab.ssh(host, apt, timeout=900)
        for name in LOCKS.values():
            lab.ssh(host, f"cat > /root/{name}", stdin=(ROOT / name).read_text())
        seconds: dict[str, list[float]] = {label: [] for label in LOCKS}
        sizes: dict[str, int] = {}
        for _ in range(RUNS):
            for label, name in LOCKS.items():
                start, end, size = lab.ssh(host, INSTALL.format(lock=name), timeout=1800).stdout.split()
                seconds[label].append(float(end) - float(start))
                sizes[label] = int(size)
    host_label, full_label = LOCKS
    medians = {label: statistics.median(values) for label, values in seconds.items()}
    for label in LOCKS:
        print(f"{label:34} install {medians[label]:6.1f} s   /opt/seawall {sizes[label]:4d} MB")
    print(f"ratio host / full                  install {medians[host_label] / medians[full_label]:6.2f}x "
          f"  size {sizes[host_label] / sizes[full_label]:5.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
