"""Project: the DigitalOcean project that holds every resource of one environment."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

PROJECT_ENVIRONMENT = {"development": "Development", "staging": "Staging", "production": "Production"}


@dataclass(frozen=True)
class EnvironmentProjectArgs:
    env_name: str
    tier: str
    description: str
    resources: Sequence[pulumi.Input[str]]


class EnvironmentProject(pulumi.ComponentResource):
    """A project whose ``environment`` follows the tier, holding the environment's resources (by URN)."""

    def __init__(self, name: str, args: EnvironmentProjectArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("seawall:project:EnvironmentProject", name, None, opts)
        self.project = do.Project(
            f"{name}-project",
            name=f"seawall-{args.env_name}",
            environment=PROJECT_ENVIRONMENT[args.tier],
            purpose="Service or API",
            description=args.description or f"Seawall {args.env_name}",
            resources=list(args.resources),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"project_id": self.project.id})
