"""Every file in components/ has the same shape (STYLE.md rule 7), checked on the source and the graph."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from seawall.model import load_environment
from seawall.render import render
from seawall.stacks.program import OFFLINE
from tests.conftest import PROJECT, SHIPPED

# Private modules (``_host.py``: the host-configuration steps every host shares) are helpers, not components.
COMPONENT_FILES = sorted(p for p in (PROJECT / "components").glob("*.py") if not p.name.startswith("_"))


def _component_classes(tree: ast.Module) -> list[ast.ClassDef]:
    return [
        node
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Attribute) and base.attr == "ComponentResource" for base in node.bases)
    ]


@pytest.mark.parametrize("path", COMPONENT_FILES, ids=[p.stem for p in COMPONENT_FILES])
def test_each_file_holds_one_component_with_args_token_and_one_final_register_outputs(path: Path) -> None:
    tree = ast.parse(path.read_text())
    (component,) = _component_classes(tree)
    names = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert f"{component.name}Args" in names
    init = next(n for n in component.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    first = init.body[0]
    assert isinstance(first, ast.Expr)
    assert isinstance(first.value, ast.Call)
    token = first.value.args[0]
    assert isinstance(token, ast.Constant)
    assert token.value == f"seawall:{path.stem}:{component.name}"
    calls = [
        node
        for node in ast.walk(component)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "register_outputs"
    ]
    assert len(calls) == 1
    last = init.body[-1]
    assert isinstance(last, ast.Expr)
    assert last.value is calls[0]


@pytest.mark.render
def test_every_resource_is_parented_by_a_component_and_named_after_it() -> None:
    graph = render(load_environment(SHIPPED, "mainnet"), OFFLINE)
    tokens = {record.type for record in graph.resources.values() if not record.custom}
    assert {f"seawall:{p.stem}:" in " ".join(tokens) for p in COMPONENT_FILES} == {True}
    for record in graph.resources.values():
        if record.custom:
            assert record.parent is not None, record.name
            parent = graph.resources[record.parent]
            assert not parent.custom
            top = parent
            while top.parent is not None:
                top = graph.resources[top.parent]
            assert record.name.startswith(f"{top.name}-"), record.name


@pytest.mark.parametrize("path", COMPONENT_FILES, ids=[p.stem for p in COMPONENT_FILES])
def test_components_take_plain_values_not_the_model(path: Path) -> None:
    """A component's Args are plain values (the program translates the model): no component module imports
    the model's schema, so a model change cannot reach a resource without passing the program."""
    tree = ast.parse(path.read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {module for module in imported if module and module.startswith("seawall.model")}, path.name
