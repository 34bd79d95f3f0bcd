"""Backup capacity: how fast each set's repository grows (what each ``backup run`` added, from restic's
summary), how large the repositories are now (the bucket's objects, or the local folder), and the
bucket's size and monthly cost at the horizon."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from seawall.backup.backends import environment_backend, set_backend
from seawall.capacity.forecast import fit_line
from seawall.model.schema import Environment
from seawall.sizes import SizeTable

GIB = 1024**3
DAY = 86400.0


def growth_per_day(states: list[dict[str, Any]]) -> float | None:
    """Given the states of a set's hosts, return the bytes their runs add per day (None: too few runs)."""
    runs = sorted(
        (dt.datetime.fromisoformat(item["time"]).timestamp(), float(item.get("added") or 0))
        for state in states
        for item in state.get("growth", [])
    )
    total, points = 0.0, []
    for moment, added in runs:
        total += added
        points.append((moment, total))
    fit = fit_line(points)
    return None if fit is None else max(fit.slope * DAY, 0.0)


def spaces_cost(sizes: SizeTable, total_bytes: float) -> float:
    """Given a bucket's size, return its monthly Spaces price (the subscription with its included storage)."""
    extra = max(0.0, total_bytes / GIB - sizes.spaces_included_gb)
    return round(sizes.spaces_base_price_month + extra * sizes.spaces_price_per_gb_month, 2)


def backup_capacity(
    env: Environment,
    states: dict[tuple[str, str], dict[str, Any]],
    project_root: Path,
    horizon: dt.timedelta,
    sizes: SizeTable,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Given what the hosts recorded, return each set's size and growth, and the bucket's forecast."""
    rows: list[dict[str, Any]] = []
    for set_name in sorted(env.backup_sets):
        hosts = env.hosts_of_set(set_name)
        rate = growth_per_day([states.get((set_name, host), {}) for host in hosts])
        now_bytes = set_backend(env, set_name, project_root).stored_bytes()
        later = None if now_bytes is None or rate is None else now_bytes + rate * horizon.total_seconds() / DAY
        rows.append({"set": set_name, "bytes": now_bytes, "growth_per_day": rate, "bytes_at_horizon": later})
    known = [row for row in rows if row["bytes"] is not None]
    total_now: float | None = sum(float(row["bytes"]) for row in known) if known else None
    total_later: float | None = sum(float(row["bytes_at_horizon"] or row["bytes"]) for row in known) if known else None
    storage = environment_backend(env, project_root)
    priced = storage.bucket is not None  # the size table prices a bucket as DigitalOcean Spaces
    bucket = {
        "where": storage.bucket or storage.shown,
        "bytes": total_now,
        "bytes_at_horizon": total_later,
        "monthly_cost": spaces_cost(sizes, total_now) if priced and total_now is not None else None,
        "monthly_cost_at_horizon": spaces_cost(sizes, total_later) if priced and total_later is not None else None,
        "complete": len(known) == len(rows),
    }
    return rows, bucket
