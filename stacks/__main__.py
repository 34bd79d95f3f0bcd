"""Entry point for ``pulumi up --stack <env>``: the environment named like the stack, from the folder
``SEAWALL_ENVIRONMENTS`` names (``seawall up --environments`` sets it), else the checkout's own."""

import os

import pulumi

from seawall.stacks.program import environments_folder, run_stack

for key, value in run_stack(environments_folder(os.environ), pulumi.get_stack()).items():
    pulumi.export(key, value)
