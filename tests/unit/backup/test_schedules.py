"""The unit renderer is deploy-time code: importing it loads the model and the host layout, no run-time
backup module (restic, the client, the backends, the state store, the context)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]


def _loaded_after(module: str) -> list[str]:
    """Return the ``seawall.backup`` modules a fresh interpreter holds after importing ``module``."""
    probe = (
        f"import json, sys, {module}; "
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('seawall.backup.') or m == 'seawall.runner')))"
    )
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=PROJECT)
    return json.loads(shown.stdout.strip().splitlines()[-1])


def test_importing_the_unit_renderer_loads_no_run_time_backup_module() -> None:
    # Before #33 this import loaded eight: backends, client, context, plan, records, restic, state, storage
    # (and the runner), because the renderer asked backup/context.py for a set's prune host.
    assert _loaded_after("seawall.backup.schedules") == ["seawall.backup.schedules"]


def test_the_prune_and_status_hosts_are_the_models_own() -> None:
    from seawall.model import load_environment

    env = load_environment(PROJECT / "environments", "mainnet")
    for name in env.backup_sets:
        chosen = env.backup_sets[name].prune_host
        assert env.prune_host(name) == (chosen or env.hosts_of_set(name)[0])
    assert env.status_host() == (env.backup.status_host or env.prune_host(sorted(env.backup_sets)[0]))
    assert env.vault_host() == (env.backup.copy_.vault if env.backup.copy_ else None)
