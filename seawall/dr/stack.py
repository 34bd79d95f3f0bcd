"""The production rehearsal's machines: a temporary Pulumi stack ``<env>-dr-<date>`` in the DR region.

``make_machines`` needs the Pulumi CLI (its absence is one error with how to install it, exit 2). The stack
runs this project's program with ``SEAWALL_DR_OF`` naming the environment and ``SEAWALL_DR_HOSTS`` the
droplets: the program builds ``plan.rehearsal_environment`` of it (the DR region, the sizes ``dr.sizes``
allows, a zone of its own, no public port), so the host steps are the deploy's own. ``boot`` of the first
host brings the whole stack up (droplets and their host steps are one update); commands run on a droplet
over SSH as its deploy user, through the one runner, with the deploying machine's agent (no key in argv).
``tear_down`` destroys the stack and removes it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seawall.deploy import require_pulumi_cli
from seawall.dr.engine import Ran, StepFailed, host_seawall_line
from seawall.dr.plan import rehearsal_environment, stack_name
from seawall.model.schema import Environment
from seawall.runner import Command, run

logger = logging.getLogger(__name__)
SSH_OPTIONS = ("-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new", "-o", "ConnectTimeout=15")


@dataclass
class StackMachines:
    """The temporary stack's droplets, reached by their public addresses from the stack's outputs."""

    env: Environment
    stack_handle: Any  # pulumi.automation.Stack (or, in tests, what stands in for it)
    stack: str
    kind: str = "digitalocean"
    addresses: dict[str, str] = field(default_factory=dict)
    brought_up: bool = False
    updating: bool = False

    def boot(self, host: str) -> None:
        """Bring the stack up once (every droplet and its host steps); then each host is its address."""
        if not self.brought_up:
            self.updating = True
            try:
                result = self.stack_handle.up(on_output=logger.info)
            except Exception as exc:  # the update ended; a signal (BaseException) leaves it to be cancelled
                self.updating = False
                raise StepFailed(_failed_resource(exc), str(exc).splitlines()[-1] if str(exc) else "") from None
            self.updating, self.brought_up = False, True
            outputs = {key: getattr(value, "value", value) for key, value in (result.outputs or {}).items()}
            self.addresses = {
                f"{service}-{index}": address
                for service, addresses in (outputs.get("droplet_ips") or {}).items()
                for index, address in enumerate(addresses, start=1)
            }
        if host not in self.addresses:
            raise StepFailed("boot", f"the stack {self.stack} made no droplet {host}")

    def host_steps(self, host: str) -> list[tuple[str, float]]:
        """The host steps ran inside the stack's update (pulumi-command): nothing is left to run."""
        return []

    def run(self, host: str, command: str) -> Ran:
        """Run a command on a droplet as root (its deploy user is root), through the runner."""
        argv = ("ssh", *SSH_OPTIONS, f"root@{self.addresses[host]}", "--", command)
        result = run(Command(argv, timeout=3600))
        return Ran(result.returncode, result.stdout, result.stderr)

    def seawall(self, source: str, args: tuple[str, ...]) -> str:
        return host_seawall_line(source, args)

    def tear_down(self) -> None:
        """Destroy every resource of the stack and remove the stack; an update a signal interrupted is
        cancelled first (it holds the stack's lock)."""
        if self.updating:
            with contextlib.suppress(Exception):
                self.stack_handle.cancel()
        self.stack_handle.destroy(on_output=logger.info)
        self.stack_handle.workspace.remove_stack(self.stack)


def _failed_resource(exc: Exception) -> str:
    """The name of the step Pulumi said failed (its URN's last part), else ``pulumi up``."""
    for word in str(exc).split():
        if word.startswith("urn:pulumi:"):
            return word.rsplit("::", 1)[-1].rstrip(":")
    return "pulumi up"


def dr_variables(environments: Path, env: Environment, hosts: list[str], day: dt.date) -> dict[str, str]:
    """Given the model's folder, the environment, the droplets and the day, return what the program reads to
    build the temporary stack."""
    return {
        "SEAWALL_ENVIRONMENTS": str(environments.resolve()),
        "SEAWALL_DR_OF": env.name,
        "SEAWALL_DR_HOSTS": " ".join(shlex.quote(host) for host in hosts),
        "SEAWALL_DR_DAY": day.isoformat(),
    }


def make_machines(
    env: Environment, environments: Path, project_root: Path, hosts: list[str], day: dt.date
) -> StackMachines:
    """Given the environment, its folder, the project and the droplets, return the temporary stack's machines
    (needs the Pulumi CLI; the stack is created here, brought up by the first ``boot``)."""
    rehearsal_environment(env, hosts, day)  # refuses what cannot be rehearsed before anything is created
    require_pulumi_cli()
    from pulumi import automation as auto

    name = stack_name(env, day)
    options = auto.LocalWorkspaceOptions(env_vars=dr_variables(environments, env, hosts, day))
    handle = auto.create_or_select_stack(stack_name=name, work_dir=str(project_root), opts=options)
    handle.set_config("digitalocean:region", auto.ConfigValue(value=str(env.dr.region)))
    return StackMachines(env, handle, name)
