"""Entry point of the CrossGuard pack: ``pulumi preview --policy-pack policy/``."""

import sys
from pathlib import Path

# Run from a checkout: make ``seawall`` (whose ``seawall.policy`` is this folder) importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from seawall.policy.pack import build_policies

PolicyPack(name="seawall", policies=build_policies())
