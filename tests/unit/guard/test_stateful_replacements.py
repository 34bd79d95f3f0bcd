"""Which replacements ``seawall up`` gates, and what the plan says each one holds (real offline renders)."""

from __future__ import annotations

import json
from pathlib import Path

from seawall.model import load_environment
from seawall.render import render
from seawall.replacements import allow_replace_names, graph_resources, plan_changes, stateful_changes
from seawall.stacks.program import OFFLINE
from tests.conftest import patch_environment


def _resources(environments: Path, name: str) -> dict:
    return graph_resources(json.loads(render(load_environment(environments, name), OFFLINE).to_json()))


def test_a_stateful_droplet_removed_by_a_lower_count_is_gated_with_its_volume(environments: Path) -> None:
    patch_environment(environments, "qanet", {"services": {"db": {"count": 2}}})
    before = _resources(environments, "qanet")
    patch_environment(environments, "qanet", {"services": {"db": {"count": 1}}})
    env = load_environment(environments, "qanet")
    stateful = stateful_changes(env, plan_changes(before, _resources(environments, "qanet")))
    assert allow_replace_names(stateful) == ["db-2", "db-2-volume"]
    assert [item.change.action for item in stateful] == ["delete", "delete"]
    assert stateful[0].what.startswith("the droplet of db, a stateful service")


def test_a_volume_is_held_by_the_sets_with_a_path_inside_its_mount(environments: Path) -> None:
    before = _resources(environments, "qanet")
    patch_environment(environments, "qanet", {"services": {"indexer": {"volume": {"filesystem": "xfs"}}}})
    env = load_environment(environments, "qanet")
    (volume,) = stateful_changes(env, plan_changes(before, _resources(environments, "qanet")))
    assert (volume.change.name, volume.kind, volume.service) == ("indexer-1-volume", "volume", "indexer")
    assert volume.backup_sets == ("indexer-state",)


def test_a_volume_no_set_holds_says_its_data_is_lost_with_it(environments: Path) -> None:
    before = _resources(environments, "qanet")
    patch_environment(environments, "qanet", {"services": {"monitoring": {"volume": {"filesystem": "xfs"}}}})
    env = load_environment(environments, "qanet")
    (volume,) = stateful_changes(env, plan_changes(before, _resources(environments, "qanet")))
    assert volume.change.name == "monitoring-1-volume"
    assert volume.holds == "no backup set holds its data: it is lost with it"


def test_a_stateless_droplet_is_not_gated(environments: Path) -> None:
    before = _resources(environments, "qanet")
    patch_environment(environments, "qanet", {"services": {"api": {"image": "ubuntu-26-04-x64"}}})
    env = load_environment(environments, "qanet")
    plan = plan_changes(before, _resources(environments, "qanet"))
    assert [c.name for c in plan.of("replace")] == ["api-1"]
    assert stateful_changes(env, plan) == []
