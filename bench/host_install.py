"""What a host installs now (the host lock, requirements.lock: the default dependencies, installed as the install
step does) against what it installed before (the full lock, requirements-deploy.lock: the host's packages plus
the Pulumi SDKs, the policy pack, Jinja2 and pygal, into a venv with pip), on a booted Debian 12 lab host.

Boots one data-center host (tests/lab: systemd-nspawn, the lab's package index stand-in with the wheels of
both locks), then alternates, RUNS times each, the two installs (``VARIANTS``) from the index, timed on the
host, and the size of the environment (``du``). Prints the medians side by side and their ratios (targets: the
host's /opt/seawall at most 40 MB, its install at most 0.3x the full lock's). The host lock is installed without
byte-compiling (``--no-compile``), so the size is printed twice: as installed, and after the host commands'
first runs (``FIRST_RUNS``), when Python has compiled what they import. Needs root and what the lab needs
(`bash .ci/setup`).
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab.fleet import CACHE, lab_fleet, lab_unavailable, sh  # noqa: E402

RUNS = 3
# Before: a venv with pip and setuptools, the full lock, into /opt/bench. Now: the install step's own script
# (components/_scripts.install_script) into /opt/seawall, as a first install: no environment, no unpacked pip.
PIP_OPTIONS = "-q --disable-pip-version-check --require-hashes --no-deps"
BEFORE = "before: full lock, venv with pip"
NOW = "now: host lock, the install step"
VARIANTS = {
    BEFORE: (
        "/opt/bench",
        "rm -rf /opt/bench",
        f"python3 -m venv /opt/bench; /opt/bench/bin/pip install {PIP_OPTIONS} -r /root/requirements-deploy.lock; "
        f"/opt/bench/bin/pip install {PIP_OPTIONS} -r /root/seawall.requirement",
    ),
    NOW: (
        "/opt/seawall",
        "rm -rf /opt/seawall /var/cache/seawall; install -d /opt/seawall/dist; "
        "cp /root/requirements.lock /root/seawall-*.whl /opt/seawall/dist/",
        "bash /root/install.sh > /dev/null",
    ),
}
# What a host's first runs import (each host command's module, boto3's S3 client), byte-compiled by Python on the
# way: the host lock is installed with --no-compile, so /opt/seawall grows by what hosts really run. Not timed.
FIRST_RUNS = (
    "for command in backup drill restore snapshots check unlock host status; do"
    " PREFIX/bin/seawall $command --help > /dev/null; done; "
    "PREFIX/bin/python -c \"import boto3; boto3.session.Session().client('s3', region_name='us-east-1', "
    "aws_access_key_id='lab', aws_secret_access_key='lab', endpoint_url='http://127.0.0.1:9')\"; "
    "du -sm PREFIX | cut -f1"
)
TIMED = (
    "set -eu; {clean}; start=$(date +%s.%N); {work}; end=$(date +%s.%N); "
    'echo "$start $end $(du -sm {prefix} | cut -f1)"'
)


def main() -> int:
    reason = lab_unavailable()
    if reason:
        print(f"bench/host_install.py needs the lab fleet: {reason}", file=sys.stderr)
        return 2
    locks = [str(ROOT / name) for name in ("requirements.lock", "requirements-deploy.lock")]
    sh("bash", str(ROOT / "tests/lab/build-cache.sh"), str(CACHE), *locks, timeout=1800)
    with lab_fleet(Path("/var/tmp/seawall-bench-host-install"), [("dc-bench-1", "10.213.2.10", "root", None)]) as lab:
        host = lab.hosts["dc-bench-1"]
        from seawall.components._scripts import INSTALL_PACKAGES

        packages = " ".join(INSTALL_PACKAGES)
        apt = f"DEBIAN_FRONTEND=noninteractive apt-get -q update && apt-get -q -y install {packages}"
        lab.ssh(host, apt, timeout=900)
        for name in ("requirements.lock", "requirements-deploy.lock"):
            lab.ssh(host, f"cat > /root/{name}", stdin=(ROOT / name).read_text())
        # This checkout's wheel, as the deploy ships it (placed straight into the host's root filesystem), and
        # the install step's script for it.
        from seawall.build import build_wheel, sha256_of
        from seawall.components._scripts import Delivery, install_script

        shipped = build_wheel(ROOT, lab.folder / "dist")
        assert shipped.wheel is not None
        (host.root / "root" / shipped.wheel.name).write_bytes(shipped.wheel.read_bytes())
        digest = sha256_of(shipped.wheel)
        requirement = f"seawall @ file:///root/{shipped.wheel.name}#sha256={digest} --hash=sha256:{digest}\n"
        lab.ssh(host, "cat > /root/seawall.requirement", stdin=requirement)
        lock = ROOT / "requirements.lock"
        delivery = Delivery("bench", shipped.wheel.name, None, digest, str(lock), sha256_of(lock))
        lab.ssh(host, "cat > /root/install.sh", stdin=install_script(delivery))
        seconds: dict[str, list[float]] = {label: [] for label in VARIANTS}
        sizes: dict[str, int] = {}
        used: dict[str, int] = {}
        for _ in range(RUNS):
            for label, (prefix, clean, work) in VARIANTS.items():
                timed = TIMED.format(clean=clean, work=work, prefix=prefix)
                start, end, size = lab.ssh(host, timed, timeout=1800).stdout.split()
                seconds[label].append(float(end) - float(start))
                sizes[label] = int(size)
                used[label] = int(lab.ssh(host, FIRST_RUNS.replace("PREFIX", prefix), timeout=600).stdout.split()[-1])
    before, now = BEFORE, NOW
    medians = {label: statistics.median(values) for label, values in seconds.items()}
    for label in VARIANTS:
        print(f"{label:34} install {medians[label]:6.1f} s   /opt/seawall {sizes[label]:4d} MB installed, "
              f"{used[label]:4d} MB after the host commands' first runs")  # fmt: skip
    print(f"ratio now / before                 install {medians[now] / medians[before]:6.2f}x "
          f"  size {sizes[now] / sizes[before]:5.2f}x installed, "
          f"{used[now] / used[before]:5.2f}x after first runs")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
