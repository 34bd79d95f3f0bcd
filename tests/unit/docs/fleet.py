"""The small fixture fleet of the ops documents' tests: its environments and what its hosts recorded."""

from __future__ import annotations

import json
from pathlib import Path

from seawall.ledger import LedgerEntry, outcomes
from seawall.model import load_environments
from seawall.model.schema import Environment
from seawall.opsdocs.generate import render_documents
from seawall.opsdocs.measured import Measured

FLEET = Path(__file__).resolve().parents[2] / "fixtures" / "docs" / "fleet"
ENVIRONMENTS = FLEET / "environments"
GOLDEN = FLEET / "golden"


def fleet() -> dict[str, Environment]:
    """Return the fixture fleet's environments, in promotion order."""
    return load_environments(ENVIRONMENTS)


def recorded() -> dict[str, Measured]:
    """Return what the fixture fleet's hosts and deploys recorded (recorded.json)."""
    data = json.loads((FLEET / "recorded.json").read_text())
    measured = {}
    for env_name, item in data.items():
        states = {tuple(key.split("/")): state for key, state in item["states"].items()}
        entries = [LedgerEntry(**entry) for entry in item["ledger"]]
        measured[env_name] = Measured(states, outcomes(entries), ["this machine's state"])  # type: ignore[arg-type]
    return measured


def golden_documents() -> dict[str, str]:
    """Return the fixture fleet's documents with its recorded state, from the shipped templates."""
    return render_documents(fleet(), recorded(), project_templates=None)
