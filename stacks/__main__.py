"""Entry point for ``pulumi up --stack <env>``: the environment named like the stack, from the folder
``SEAWALL_ENVIRONMENTS`` names (``seawall up --environments`` sets it), else the checkout's own; a DR
rehearsal's temporary stack (``SEAWALL_DR_OF``, set by ``seawall dr rehearse``) builds its rehearsal model."""

import os

import pulumi

from seawall.stacks.program import environments_folder, run_dr_stack, run_stack

if os.environ.get("SEAWALL_DR_OF"):
    outputs = run_dr_stack(environments_folder(os.environ), os.environ)
else:
    outputs = run_stack(environments_folder(os.environ), pulumi.get_stack())
for key, value in outputs.items():
    pulumi.export(key, value)
