"""Entry point for ``pulumi up --stack <env>``: load the environment named like the stack, build it."""

from pathlib import Path

import pulumi

from seawall.model import load_environment
from seawall.stacks.program import build

ENVIRONMENTS = Path(__file__).resolve().parent.parent / "environments"

for key, value in build(load_environment(ENVIRONMENTS, pulumi.get_stack())).items():
    pulumi.export(key, value)
