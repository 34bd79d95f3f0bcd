"""The fleet in a box: Debian 12 hosts booted with ``systemd-nspawn -b`` on a lab bridge, and the stand-ins
they reach instead of the internet.

Topology (every address is inside network namespaces this module makes, and nothing routes out of them):

- ``seawall-lab``: the lab's own namespace, holding the bridge ``br0`` and acting as the router between
  the lab's networks: the admin network ``10.213.0.0/24`` (the deploying machine is ``10.213.0.1``; the
  stand-ins listen there too), the VPC ``10.213.1.0/24`` (droplets) and the data center ``10.213.2.0/24``.
  ``10.213.9.1`` is an address outside every admitted source (the "outsider" of the firewall tests).
- ``seawall-lab-<host>``: one namespace per host, its ``host0`` a veth whose peer is on the bridge.

Stand-ins on the bridge, declared as such (the real ones are on the internet, which the lab never reaches):
the Debian mirror and the Python package index (one HTTP server over the cache that ``build-cache.sh``
downloaded from Debian's packages and PyPI), SeaweedFS as DigitalOcean Spaces, and a webhook receiver as
Slack. Each host's root filesystem is an overlay over the cached Debian 12 tree, so a host is made in
milliseconds and thrown away whole.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("SEAWALL_LAB_CACHE", "/var/cache/seawall-lab"))
LAB_NS = "seawall-lab"
BRIDGE = "br0"
DEPLOYER = "10.213.0.1"
OUTSIDER = "10.213.9.1"
GATEWAYS = {"10.213.0": "10.213.0.1", "10.213.1": "10.213.1.1", "10.213.2": "10.213.2.1", "10.213.9": OUTSIDER}
MIRROR_PORT = 3142  # the Debian mirror and the package index stand-in
S3_PORT = 8333
WEBHOOK_PORT = 9099
# The lab's S3 identities (SeaweedFS -s3.config) and the lab's secrets: test values, never real ones.
ACCESS_KEY = "LABACCESSKEY0000"
SECRET_KEY = "lab-secret-key-0000000000000000000000000"
RESTIC_PASSWORD = "lab-restic-password"
# The vault's key (reads the backup bucket, writes the copy's) and the copy's password: on dc-storage-1 only.
VAULT_KEY = "LABVAULTKEY00000"
VAULT_SECRET = "lab-vault-secret-00000000000000000000000"
COPY_PASSWORD = "lab-copy-password-never-on-a-backup-host"
LAB_WAIT_SECONDS = 3600  # one lab on the machine at a time: a lab test file waits for another's fleet


def lab_unavailable() -> str | None:
    """Return why the lab cannot run on this machine, or None when it can: root, systemd-nspawn,
    debootstrap, network namespaces."""
    if os.geteuid() != 0:
        return "the lab fleet needs root (network namespaces and systemd-nspawn)"
    for tool in ("systemd-nspawn", "debootstrap", "ip", "ssh", "sftp", "apt-ftparchive"):
        if shutil.which(tool) is None:
            return f"the lab fleet needs {tool} (bash .ci/setup installs it as root)"
    probe = subprocess.run(
        ["ip", "netns", "add", f"seawall-lab-probe-{os.getpid()}"], capture_output=True, text=True, check=False
    )
    if probe.returncode != 0:
        return f"this machine cannot make network namespaces: {probe.stderr.strip()}"
    subprocess.run(["ip", "netns", "delete", f"seawall-lab-probe-{os.getpid()}"], check=False)
    return None


def sh(*argv: str, check: bool = True, timeout: float = 120, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run one command of the lab's plumbing (no shell); a failure names the command and its output."""
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        msg = f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip() or result.stdout.strip()}"
        raise RuntimeError(msg)
    return result


def in_lab(*argv: str) -> list[str]:
    """Given a command, return it run inside the lab's namespace (the deploying machine's place)."""
    return ["ip", "netns", "exec", LAB_NS, *argv]


def build_cache() -> None:
    """Build the cached root filesystem and stand-ins once (``build-cache.sh``); later runs reuse them."""
    sh("bash", str(ROOT / "tests/lab/build-cache.sh"), str(CACHE), str(ROOT / "requirements.lock"), timeout=1800)


@dataclass
class Host:
    """One booted Debian 12 host: its name, address, SSH user, and where its files are."""

    name: str
    address: str
    user: str
    droplet: bool
    folder: Path
    process: subprocess.Popen | None = None
    # Units that had failed when the host finished booting, before any step ran, with their journal.
    failed_at_boot: dict[str, str] = field(default_factory=dict)

    @property
    def netns(self) -> str:
        return f"{LAB_NS}-{self.name}"

    @property
    def root(self) -> Path:
        return self.folder / "root"


@dataclass
class Lab:
    """The lab: its folder, its hosts, its SSH key and the stand-ins it started."""

    folder: Path
    hosts: dict[str, Host] = field(default_factory=dict)
    servers: list[subprocess.Popen] = field(default_factory=list)
    lock: int | None = None

    @property
    def key(self) -> Path:
        return self.folder / "id_ed25519"

    @property
    def webhook_log(self) -> Path:
        return self.folder / "webhooks.jsonl"

    # -- the network ------------------------------------------------------------------------------------
    def network_up(self) -> None:
        """Make the lab's namespace, its bridge and its router addresses."""
        sh("ip", "netns", "add", LAB_NS)
        sh("ip", "-n", LAB_NS, "link", "set", "lo", "up")
        sh("ip", "-n", LAB_NS, "link", "add", BRIDGE, "type", "bridge")
        for gateway in GATEWAYS.values():
            sh("ip", "-n", LAB_NS, "addr", "add", f"{gateway}/24", "dev", BRIDGE)
        sh("ip", "-n", LAB_NS, "link", "set", BRIDGE, "up")
        sh(*in_lab("sysctl", "-q", "-w", "net.ipv4.ip_forward=1"))

    # -- the stand-ins ------------------------------------------------------------------------------------
    def start_standins(self) -> None:
        """Start the mirror/index, SeaweedFS and the webhook receiver inside the lab's namespace."""
        serve = [sys.executable, "-m", "http.server", "--bind", DEPLOYER, "--directory", str(CACHE), str(MIRROR_PORT)]
        self._start("mirror", in_lab(*serve))
        self._start("webhooks", in_lab(sys.executable, str(ROOT / "tests/lab/webhooks.py"), DEPLOYER,
                                       str(WEBHOOK_PORT), str(self.webhook_log)))  # fmt: skip
        weed = Path(sys.executable).with_name("weed")
        data = self.folder / "seaweedfs"
        data.mkdir()
        identity = {"name": "lab", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
        # The one SeaweedFS stands for the data center's object storage too (the copy's region "dc1"): the
        # vault's identity reads the backup bucket and writes only the copy's.
        vault = {"name": "vault", "credentials": [{"accessKey": VAULT_KEY, "secretKey": VAULT_SECRET}],
                 "actions": ["Read:seawall-lab-backups", "List:seawall-lab-backups",
                             *(f"{a}:seawall-lab-copy" for a in ("Admin", "Read", "Write", "List"))]}  # fmt: skip
        (self.folder / "s3.json").write_text(json.dumps({"identities": [identity, vault]}))
        argv = [
            str(weed), "server", f"-dir={data}", f"-ip={DEPLOYER}", f"-ip.bind={DEPLOYER}", "-s3",
            f"-s3.port={S3_PORT}", f"-s3.config={self.folder / 's3.json'}", "-master.volumeSizeLimitMB=64",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-volume.max=50",
        ]  # fmt: skip
        self._start("seaweedfs", in_lab(*argv))
        self.wait_for_s3()

    def _start(self, name: str, argv: list[str]) -> None:
        log = (self.folder / f"{name}.log").open("w")
        self.servers.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def wait_for_s3(self, seconds: float = 90) -> None:
        """Wait until SeaweedFS stores an object (it answers before its volume server takes data)."""
        probe = (
            "import boto3,sys\nfrom botocore.config import Config\n"
            f"c=boto3.client('s3',endpoint_url='http://{DEPLOYER}:{S3_PORT}',region_name='us-east-1',"
            f"aws_access_key_id='{ACCESS_KEY}',aws_secret_access_key='{SECRET_KEY}',"
            "config=Config(connect_timeout=2,read_timeout=10,retries={'max_attempts':1}))\n"
            "names=[b['Name'] for b in c.list_buckets().get('Buckets',[])]\n"
            "'lab-ready' in names or c.create_bucket(Bucket='lab-ready')\n"
            "c.put_object(Bucket='lab-ready',Key='p',Body=b'ok')\n"
            "sys.exit(c.get_object(Bucket='lab-ready',Key='p')['Body'].read()!=b'ok')\n"
        )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            with contextlib.suppress(subprocess.TimeoutExpired):
                if sh(*in_lab(sys.executable, "-c", probe), check=False, timeout=30).returncode == 0:
                    return
            time.sleep(1)
        msg = (
            f"SeaweedFS did not take data within {seconds:.0f} s: {(self.folder / 'seaweedfs.log').read_text()[-2000:]}"
        )
        raise RuntimeError(msg)

    # -- the hosts ----------------------------------------------------------------------------------------
    def add_host(self, name: str, address: str, user: str = "root", droplet: bool = False,
                 user_data: str | None = None) -> Host:  # fmt: skip
        """Make a host: its root filesystem (an overlay of the cached tree), its namespace and address,
        sshd's host keys, the deployer's key for ``user`` (with password-less sudo when not root), the
        lab's mirror and index, and for a droplet its ``user_data`` as cloud-init's NoCloud seed."""
        host = Host(name, address, user, droplet, self.folder / "hosts" / name)
        for part in ("upper", "work", "root"):
            (host.folder / part).mkdir(parents=True)
        sh("mount", "-t", "overlay", "overlay", "-o",
           f"lowerdir={CACHE / 'rootfs'},upperdir={host.folder / 'upper'},workdir={host.folder / 'work'}",
           str(host.root))  # fmt: skip
        self._configure_root(host, user_data)
        sh("ip", "netns", "add", host.netns)
        veth = f"v{len(self.hosts)}-{name}"[:15]
        sh("ip", "-n", LAB_NS, "link", "add", veth, "type", "veth", "peer", "name", "host0", "netns", host.netns)
        sh("ip", "-n", LAB_NS, "link", "set", veth, "master", BRIDGE, "up")
        sh("ip", "-n", host.netns, "link", "set", "lo", "up")
        sh("ip", "-n", host.netns, "addr", "add", f"{address}/24", "dev", "host0")
        sh("ip", "-n", host.netns, "link", "set", "host0", "up")
        sh("ip", "-n", host.netns, "route", "add", "default", "via", GATEWAYS[address.rsplit(".", 1)[0]])
        self.hosts[name] = host
        return host

    def _configure_root(self, host: Host, user_data: str | None) -> None:
        root = host.root
        (root / "etc/hostname").write_text(host.name + "\n")
        (root / "etc/hosts").write_text(f"127.0.0.1 localhost\n127.0.1.1 {host.name}\n")
        sh("ssh-keygen", "-q", "-A", "-f", str(root))
        # The data center's own mirror and index, as a host there would be set up (stand-ins).
        (root / "etc/apt/sources.list").write_text(f"deb [trusted=yes] http://{DEPLOYER}:{MIRROR_PORT}/debs ./\n")
        (root / "etc/pip.conf").write_text(
            f"[global]\nindex-url = http://{DEPLOYER}:{MIRROR_PORT}/wheels/simple/\ntrusted-host = {DEPLOYER}\n"
        )
        public = Path(f"{self.key}.pub").read_text()
        if host.user == "root":
            home = root / "root"
        else:
            sh("useradd", "--root", str(root), "--create-home", "--shell", "/bin/bash", host.user)
            home = root / "home" / host.user
            (root / "etc/sudoers.d" / host.user).write_text(f"{host.user} ALL=(ALL) NOPASSWD: ALL\n")
            (root / "etc/sudoers.d" / host.user).chmod(0o440)
        (home / ".ssh").mkdir(mode=0o700, exist_ok=True)
        (home / ".ssh/authorized_keys").write_text(public)
        (home / ".ssh/authorized_keys").chmod(0o600)
        if host.user != "root":
            sh("chroot", str(root), "chown", "-R", f"{host.user}:{host.user}", f"/home/{host.user}/.ssh")
        if user_data is None:
            (root / "etc/cloud/cloud-init.disabled").write_text("a data-center host: no cloud-init\n")
        else:
            seed = root / "var/lib/cloud/seed/nocloud"
            seed.mkdir(parents=True)
            (seed / "user-data").write_text(user_data)
            (seed / "meta-data").write_text(f"instance-id: lab-{host.name}\nlocal-hostname: {host.name}\n")
            (root / "etc/cloud/cloud.cfg.d/90-lab.cfg").write_text(
                # The minimal root filesystem has no locales package: cloud-init's locale module is off.
                "datasource_list: [NoCloud]\nnetwork: {config: disabled}\nlocale: false\n"
            )

    def boot(self, host: Host) -> None:
        """Boot the host with systemd as PID 1 (no machined: ``--register=no --keep-unit``)."""
        log = (host.folder / "console.log").open("a")
        argv = [
            "systemd-nspawn", "-b", "-q", "--register=no", "--keep-unit", f"--machine={host.name}",
            f"--directory={host.root}", f"--network-namespace-path=/run/netns/{host.netns}",
            "--capability=CAP_NET_ADMIN", "--console=read-only", "--private-users=no",
        ]  # fmt: skip
        host.process = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_until_up(self, host: Host, seconds: float = 300) -> None:
        """Wait until the host answers SSH and systemd has finished booting (running or degraded); four hosts
        booting at once on a loaded two-core machine have taken over two minutes."""
        deadline = time.monotonic() + seconds
        last = ""
        while time.monotonic() < deadline:
            if host.process is not None and host.process.poll() is not None:
                msg = f"{host.name} stopped while booting: {(host.folder / 'console.log').read_text()[-2000:]}"
                raise RuntimeError(msg)
            result = self.ssh(host, "systemctl is-system-running --wait", check=False, timeout=60)
            last = result.stdout.strip() + result.stderr.strip()
            if result.stdout.strip() == "degraded":
                self._record_boot_failures(host)
            if result.stdout.strip() in ("running", "degraded"):
                return
            time.sleep(1)
        msg = f"{host.name} did not come up within {seconds:.0f} s: {last}"
        raise RuntimeError(msg)

    def _record_boot_failures(self, host: Host) -> None:
        """Keep what failed while the host booted (the stock image's units, under this machine's load) and
        each one's journal, in the host's folder and on the host: a test tells those from what a step broke."""
        listed = self.ssh(host, "systemctl --failed --no-legend --plain", check=False).stdout
        for line in listed.splitlines():
            unit = line.split()[0] if line.split() else ""
            if unit:
                journal = self.ssh(host, f"journalctl -b --no-pager -n 40 -u {unit}", check=False).stdout
                host.failed_at_boot[unit] = journal
        (host.folder / "failed-at-boot.txt").write_text(
            "".join(f"== {unit}\n{journal}\n" for unit, journal in host.failed_at_boot.items())
        )

    def ssh_argv(self, host: Host, user: str | None = None, source: str | None = None) -> list[str]:
        """The deployer's OpenSSH client towards a host (from ``source`` when given)."""
        options = ["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                   "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=5", "-i", str(self.key)]  # fmt: skip
        options += ["-b", source or DEPLOYER]
        return in_lab("ssh", *options, f"{user or host.user}@{host.address}")

    def ssh(self, host: Host, command: str, check: bool = True, timeout: float = 300,
            stdin: str | None = None, user: str | None = None) -> subprocess.CompletedProcess:  # fmt: skip
        """Run a command on a host as root (through sudo for a non-root user)."""
        user = user or host.user
        wrapped = command if user == "root" else f"sudo -n sh -c {_quote(command)}"
        return sh(*self.ssh_argv(host, user), "--", wrapped, check=check, timeout=timeout, stdin=stdin)

    def poweroff(self, host: Host) -> None:
        """Stop a host the way a machine stops (systemd shuts down), and wait for it."""
        if host.process is None or host.process.poll() is not None:
            return
        self.ssh(host, "systemctl poweroff", check=False, timeout=30)
        try:
            host.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            host.process.terminate()
            host.process.wait(timeout=30)

    def reboot(self, host: Host) -> None:
        """Power the host off and boot it again from the same disk."""
        self.poweroff(host)
        self.boot(host)
        self.wait_until_up(host)

    # -- the whole lab ------------------------------------------------------------------------------------
    def down(self) -> None:
        """Stop every host and stand-in; remove every namespace, mount and file the lab made."""
        for host in self.hosts.values():
            if host.process is not None and host.process.poll() is None:
                host.process.terminate()
        for host in self.hosts.values():
            if host.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    host.process.wait(timeout=30)
                if host.process.poll() is None:
                    host.process.kill()
                    host.process.wait(timeout=30)
        for server in self.servers:
            server.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=10)
            if server.poll() is None:
                server.kill()
        remove_everything(self.folder)
        if self.lock is not None:
            os.close(self.lock)
            self.lock = None


def _one_lab_at_a_time(wait: float = 0) -> int:
    """Hold the machine's lab lock (released when the lab goes down or its process ends), waiting at most
    ``wait`` seconds for another lab to go down: the lab's namespace and addresses are fixed, and starting a
    lab removes whatever a dead one left behind."""
    descriptor = os.open("/run/seawall-lab.lock", os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return descriptor
        except BlockingIOError:
            if time.monotonic() >= deadline:
                break
            time.sleep(min(2.0, max(0.1, deadline - time.monotonic())))
    os.close(descriptor)
    msg = "another lab fleet is starting or running on this machine (one pytest session, or .ci/lab up)"
    raise RuntimeError(msg)


def remove_everything(folder: Path) -> None:
    """Stop the processes a kept lab recorded (``.ci/lab up``), remove every lab namespace, every overlay
    mounted under ``folder``, and ``folder``."""
    recorded = folder / "processes.json"
    if recorded.exists():
        for pid in json.loads(recorded.read_text()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 15)
        time.sleep(3)
        for pid in json.loads(recorded.read_text()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
    names = [n for n in sh("ip", "netns", "list", check=False).stdout.split() if n.startswith(LAB_NS)]
    kill_inside(names)
    for name in names:
        sh("ip", "netns", "delete", name, check=False)
    mounts = Path("/proc/mounts").read_text().splitlines()
    for line in reversed(mounts):
        point = line.split()[1]
        if point.startswith(str(folder)):
            sh("umount", "-l", point, check=False)
    shutil.rmtree(folder, ignore_errors=True)


def kill_inside(namespaces: Sequence[str]) -> None:
    """Kill every process living in one of the lab's network namespaces: a container whose nspawn went
    away (its systemd survives as an orphan) and the stand-ins; nothing outside the lab shares them."""
    inodes = set()
    for name in namespaces:
        with contextlib.suppress(OSError):
            inodes.add(os.stat(f"/run/netns/{name}").st_ino)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if os.stat(entry / "ns/net").st_ino in inodes:
                os.kill(int(entry.name), 9)


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def start_lab(folder: Path, hosts: Sequence[tuple[str, str, str, str | None]], wait: float = 0) -> Lab:
    """Given a folder and the hosts (name, address, user, user_data or None), build the cache if needed,
    bring the lab up (waiting at most ``wait`` seconds for another lab to go down), boot every host at once
    and wait for them (torn down again when that fails)."""
    build_cache()
    lock = _one_lab_at_a_time(wait)
    remove_everything(folder)
    folder.mkdir(parents=True)
    lab = Lab(folder, lock=lock)
    try:
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(lab.key))
        lab.network_up()
        lab.start_standins()
        made = [lab.add_host(name, address, user, user_data is not None, user_data)
                for name, address, user, user_data in hosts]  # fmt: skip
        for host in made:
            lab.boot(host)
        for host in made:
            lab.wait_until_up(host)
    except BaseException:
        lab.down()
        raise
    return lab


@contextlib.contextmanager
def lab_fleet(folder: Path, hosts: Sequence[tuple[str, str, str, str | None]], wait: float = 0) -> Iterator[Lab]:
    """The lab as a context: up on entry, everything it made removed on exit."""
    lab = start_lab(folder, hosts, wait)
    try:
        yield lab
    finally:
        lab.down()
