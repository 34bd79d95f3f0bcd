#!/usr/bin/env bash
# The lab fleet's cache, built once outside the repository and reused by every later run:
#   rootfs/  a Debian 12 (bookworm) root filesystem made by debootstrap: systemd, sshd, sudo, python3,
#            nftables and cloud-init (what a fresh droplet image or a data-center host's install has);
#   debs/    the stand-in for the Debian mirror: the packages the host steps install (restic, python3-venv,
#            node_exporter, Prometheus, Alertmanager, PostgreSQL, podman) with their dependencies, as a flat apt
#            repository (apt-ftparchive), downloaded from Debian's packages;
#   wheels/  the stand-in for the Python package index: every wheel of requirements.lock (hash-pinned),
#            downloaded from PyPI, laid out as a PEP 503 simple index.
# The hosts have no route out: these stand-ins are all they reach. Usage: build-cache.sh CACHE_DIR LOCK...
set -euo pipefail
cache=${1:?usage: build-cache.sh CACHE_DIR REQUIREMENTS_LOCK...}
shift
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9  # two test workers (or a person's `.ci/lab up`) build it once

base_packages=systemd-sysv,dbus,python3-cffi-backend,openssh-server,sudo,python3,nftables,iproute2,cloud-init,ca-certificates,procps
step_packages="restic python3-venv prometheus-node-exporter prometheus prometheus-alertmanager postgresql podman"
stamp_text="bookworm ${base_packages} ${step_packages} v1"

if [ ! -f "$cache/rootfs.done" ] || [ "$(cat "$cache/rootfs.done")" != "$stamp_text" ]; then
  echo "seawall lab: building the Debian 12 root filesystem with debootstrap (once; cached in $cache)" >&2
  rm -rf "$cache/rootfs.new" "$cache/rootfs" "$cache/debs"
  debootstrap --variant=minbase --include="$base_packages" bookworm "$cache/rootfs.new" http://deb.debian.org/debian \
    >"$cache/debootstrap.log" 2>&1 || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
  root=$cache/rootfs.new
  # The mirror stand-in's packages: resolved against this root filesystem, downloaded, never installed.
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -qq update
  chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get -qq -y --no-install-recommends --download-only \
    install $step_packages >/dev/null
  mkdir -p "$cache/debs"
  mv "$root"/var/cache/apt/archives/*.deb "$cache/debs/"
  (cd "$cache/debs" && apt-ftparchive packages . > Packages && apt-ftparchive release . > Release)
  # A host of the lab knows only the lab's mirror; nothing is fetched from outside once booted.
  rm -rf "$root"/var/lib/apt/lists/* "$root/etc/resolv.conf"
  : > "$root/etc/apt/sources.list"
  # sshd: keys only; host keys are made per host at first boot (ssh-keygen -A in the lab).
  rm -f "$root"/etc/ssh/ssh_host_*
  printf 'PasswordAuthentication no\nKbdInteractiveAuthentication no\nUseDNS no\n' \
    > "$root/etc/ssh/sshd_config.d/lab.conf"
  # No console getty on the container's pseudo-terminal; nothing waits for a network manager.
  chroot "$root" systemctl mask console-getty.service getty@tty1.service systemd-networkd-wait-online.service \
    >/dev/null 2>&1 || true
  echo "$stamp_text" > "$root/etc/seawall-lab-rootfs"
  mv "$root" "$cache/rootfs"
  echo "$stamp_text" > "$cache/rootfs.done"
fi

for lock in "$@"; do
  key=$(sha256sum "$lock" | cut -c1-16)
  if [ ! -f "$cache/wheels/.done-$key" ]; then
    echo "seawall lab: downloading the wheels of $lock for the index stand-in (once)" >&2
    mkdir -p "$cache/wheels/files"
    python3 -m pip download -q --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: \
      --python-version 3.11 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux_2_28_x86_64 --platform linux_x86_64 --platform any \
      -r "$lock" -d "$cache/wheels/files"
    touch "$cache/wheels/.done-$key"
  fi
done
# The simple index: /simple/<normalised name>/index.html linking each file of that project.
python3 - "$cache/wheels" <<'PY'
import pathlib, re, sys, html, hashlib
root = pathlib.Path(sys.argv[1])
simple = root / "simple"
projects = {}
for wheel in sorted((root / "files").iterdir()):
    name = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
    projects.setdefault(name, []).append(wheel)
for name, files in projects.items():
    folder = simple / name
    folder.mkdir(parents=True, exist_ok=True)
    links = "".join(
        f'<a href="../../files/{html.escape(f.name)}#sha256={hashlib.sha256(f.read_bytes()).hexdigest()}">'
        f"{html.escape(f.name)}</a>\n" for f in files
    )
    (folder / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")
(simple / "index.html").write_text(
    "<!DOCTYPE html><html><body>\n" + "".join(f'<a href="{n}/">{n}</a>\n' for n in sorted(projects)) + "</body></html>\n"
)
PY
