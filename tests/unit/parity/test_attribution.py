"""Which entry a resource difference follows from, read off A's and B's graphs (seawall.attribution), is what
rendering that entry's variant finds: for every entry (the parity.yaml entries a pair uses and those its
violations suggest) and every difference of the shipped chain and of each fixture case; and the shipped
chain needs no render for it. The engine's pieces, on small inputs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from seawall import attribution, parity
from seawall.attribution import Cause, Causes, Variant
from seawall.model import load_environments, load_parity_rules
from seawall.stacks.offline import offline_renderer
from tests.conftest import SHIPPED
from tests.unit.parity.test_parity_fixtures import CASES, prepare

pytestmark = pytest.mark.render  # renders under the mock engine

PAIRS = [("devnet", "qanet"), ("qanet", "testnet"), ("testnet", "mainnet")]
FLEET = Path(__file__).resolve().parents[2] / "fixtures" / "docs" / "fleet" / "environments"
FIXTURES = [case for case in CASES if '"exit": 2' not in (case / "expected.json").read_text()]


def _entries(a, b, rules):  # type: ignore[no-untyped-def]
    """Every entry parity attributes to for this pair: the ones it uses, and those its violations suggest."""
    model, used = parity.compare_models(a, b, rules)
    entries = [rule for rule in parity._rules(rules) if parity._rule_id(rule) in used]
    suggested = {
        parity._rule_id(r): r for d in model if d.kind != parity.ALLOWED for r in [parity.suggest_rule(d, a, b)]
    }
    return entries, list(suggested.values())


def _check_against_renders(a, b, rules) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """Assert the graphs' answer is each variant's render's, for every explained difference; return the
    differences the graphs could not explain."""
    renderer = offline_renderer()
    graph_a, graph_b = renderer.flat(a), renderer.flat(b)
    raw = parity.compare_graphs(graph_a, graph_b)
    unexplained = []
    for entries in filter(None, _entries(a, b, rules)):
        causes = parity.pair_causes(a, b, entries)
        explained = {
            (d.resource, d.path): attribution.explain_difference(
                d.resource, d.path, parity._inputs(graph_a, d.resource), parity._inputs(graph_b, d.resource), causes
            )
            for d in raw
        }
        unexplained += [key for key, explanation in explained.items() if explanation is None]
        for entry in entries:
            rendered = parity._variant_changes(a, b, entry, raw, renderer)
            for key, explanation in explained.items():
                if explanation is not None:
                    said = attribution.changes(explanation, parity._variant(entry), causes)
                    assert said == (key in rendered), f"{parity._rule_id(entry)} and {key}: graphs say {said}"
    return unexplained


@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_the_shipped_chain_is_attributed_as_its_variants_render_it_and_without_a_render(a: str, b: str) -> None:
    envs = load_environments(SHIPPED, [a, b])
    assert _check_against_renders(envs[a], envs[b], load_parity_rules(SHIPPED)) == []


@pytest.mark.parametrize("case", FIXTURES, ids=[case.name for case in FIXTURES])
def test_each_fixture_case_is_attributed_as_its_variants_render_it(case: Path, environments: Path) -> None:
    spec = prepare(case, environments)
    envs = load_environments(environments, [spec["a"], "candidate"])
    _check_against_renders(envs[spec["a"]], envs["candidate"], load_parity_rules(environments))


def test_the_fleet_pages_environments_are_attributed_as_their_variants_render_them(tmp_path: Path) -> None:
    # Their mainnet's description is "Production", its tier production: text only mainnet holds that says
    # "production" could be either's, and is left to the render.
    folder = tmp_path / "environments"
    shutil.copytree(FLEET, folder)
    envs = load_environments(folder, ["devnet", "mainnet"])
    unexplained = _check_against_renders(envs["devnet"], envs["mainnet"], load_parity_rules(folder))
    assert ("monitoring-1-monitoring", "create") in unexplained


def _causes(*causes: Cause, substitutions: tuple[tuple[str, str, str], ...] = ()) -> Causes:
    return Causes(causes, [(a, b, frozenset({key})) for a, b, key in substitutions])


TIER = ("staging", "production", "environment.tier")
VPC = ("10.12.0.0/16", "10.20.0.0/16", "network.vpc_cidr")


def test_a_changed_line_follows_from_the_field_whose_values_it_shows() -> None:
    causes = _causes(Cause("environment.tier"), Cause("network.vpc_cidr"), substitutions=(TIER, VPC))
    text_a, text_b = (
        "tier: staging\nvpc_cidr: 10.12.0.0/16\nregion: ams3",
        "tier: production\nvpc_cidr: 10.12.0.0/16\nregion: ams3",
    )
    explanation = attribution.explain_difference(
        "api-1-backup-units", "create", {"create": text_a}, {"create": text_b}, causes
    )
    assert explanation is not None
    assert attribution.changes(explanation, Variant(frozenset({"environment.tier"})), causes)
    assert not attribution.changes(explanation, Variant(frozenset({"network.vpc_cidr"})), causes)


def test_lines_only_b_has_follow_from_the_host_they_name_and_from_the_values_in_them() -> None:
    count = Cause("services.*.count", names_b=frozenset({"api-3"}))
    causes = _causes(count, Cause("environment.tier"), Cause("other"), substitutions=(TIER,))
    text_a = "- targets: [api-1]\n  tier: production"
    text_b = text_a + "\n- targets: [api-3]\n  tier: production"
    explanation = attribution.explain_difference(
        "monitoring-1-monitoring", "create", {"create": text_a}, {"create": text_b}, causes
    )
    assert explanation is not None
    for key, changed in (("services.*.count", True), ("environment.tier", True), ("other", False)):
        assert attribution.changes(explanation, Variant(frozenset({key})), causes) is changed, key


def test_a_change_two_causes_show_alike_or_none_shows_is_left_to_a_render() -> None:
    ambiguous = Causes(
        [Cause("services.*.size"), Cause("services.*.image")],
        [
            ("x-1", "x-2", frozenset({"services.*.size"})),
            ("x-1", "x-2", frozenset({"services.*.image"})),
        ],
    )
    assert attribution.explain_difference("api-1", "size", {"size": "x-1"}, {"size": "x-2"}, ambiguous) is None
    assert attribution.explain_difference("api-1", "size", {"size": "x-1"}, {"size": "x-3"}, ambiguous) is None


def test_an_element_removed_before_an_index_moves_it_and_one_after_it_does_not() -> None:
    faucet = Cause("environment-only services.faucet", names_a=frozenset({"faucet-1"}))
    causes = _causes(faucet)
    listed = ["api-1", "faucet-1", "db-1"]
    inputs_a = {f"resources.{i}": {"ref": f"{name}.dropletUrn"} for i, name in enumerate(listed)}
    inputs_b = {f"resources.{i}": {"ref": f"{name}.dropletUrn"} for i, name in enumerate(["api-1", "db-1"])}
    removed = Variant(frozenset(), frozenset({"environment-only services.faucet"}))
    moved = attribution.explain_difference("project-project", "resources.1", inputs_a, inputs_b, causes)
    assert moved is not None
    assert attribution.changes(moved, removed, causes)
    before = {"resources.0": {"ref": "api-1.dropletUrn"}, "resources.1": {"ref": "db-1.dropletUrn"}}
    after = attribution.explain_difference(
        "project-project", "resources.0", inputs_a, {**before, "resources.0": {"ref": "web-1.dropletUrn"}}, causes
    )
    assert after is None  # web-1 follows from nothing the causes name


def test_a_resource_only_one_side_has_follows_from_the_host_or_item_it_is_named_after() -> None:
    count = Cause("services.*.count", names_b=frozenset({"api-3"}))
    causes = _causes(count, Cause("environment.tier"))
    explanation = attribution.explain_difference("api-3-backup-units", "", None, {"create": "x"}, causes)
    assert explanation is not None
    assert attribution.changes(explanation, Variant(frozenset({"services.*.count"})), causes)
    assert not attribution.changes(explanation, Variant(frozenset({"environment.tier"})), causes)
    assert attribution.explain_difference("web-1", "", None, {"size": "x"}, causes) is None


def test_a_pair_with_model_violations_still_classifies_from_the_aligned_render(environments: Path) -> None:
    shutil.copy(SHIPPED / "parity.yaml", environments / "parity.yaml")
    from tests.conftest import patch_environment

    patch_environment(environments, "mainnet", {"services": {"db": {"image": "debian-12-x64"}}})
    envs = load_environments(environments, ["testnet", "mainnet"])
    renderer = offline_renderer()
    report = parity.compare_environments(envs["testnet"], envs["mainnet"], load_parity_rules(environments), renderer)
    assert {(d.resource, d.path) for d in report.violations if d.type != "model"} == {("db-1", "image")}
    assert len(renderer.rendered) == 3  # A, B, and B aligned (A's model but for the image and the identity)
