"""Model strings cannot change a generated document's structure (#28): every free-text string of the model
that reaches the ops documents (descriptions, upgrade notes, where the logs are, backup paths, the
password file), given Markdown that would open a heading, a fence, a table, a list, a link or HTML, leaves
each document's outline — the block and inline elements CommonMark (with tables) parses — exactly as a
plain value does. A value the model refuses (a line break in a path) is refused at its line instead."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from seawall.errors import ConfigError
from seawall.model import load_environments
from seawall.opsdocs.generate import render_documents
from tests.conftest import patch_environment, with_each_field
from tests.unit.docs.fleet import ENVIRONMENTS, recorded

pytestmark = pytest.mark.render  # renders under the mock engine

PARSER = MarkdownIt("commonmark").enable("table").enable("strikethrough")
# Each: a patch of the fixture fleet's mainnet that puts a value where the model's free text goes.
FIELDS: dict[str, Any] = {
    "environment.description": lambda v: {"environment": {"description": v}},
    "services.store.description": lambda v: {"services": {"store": {"description": v}}},
    "services.store.upgrade_notes": lambda v: {"services": {"store": {"upgrade_notes": v}}},
    "services.store.logs": lambda v: {"services": {"store": {"logs": [v]}}},
    "datacenter_hosts.dc-archive-1.description": lambda v: {"datacenter_hosts": {"dc-archive-1": {"description": v}}},
    "backup_sets.store-data.description": lambda v: {"backup_sets": {"store-data": {"description": v}}},
    "backup_sets.store-data.paths": lambda v: {"backup_sets": {"store-data": {"paths": [f"/var/lib/store/{v}"]}}},
    "backup.password_file": lambda v: {"backup": {"password_file": f"/etc/seawall/{v}", "password_env": None}},
}
MARKDOWN = (
    "first line\n# A heading\n\n```\nfenced\n```\n| a | b |\n| --- | --- |\n| c | d |\n"
    "[a link](https://example.net) ![an image](x.png) <b>html</b> *emphasis* __strong__ ~~struck~~\n"
    "1. ordered\n- listed\n> quoted\n---\n`code` \\ \\` end"
)


def outline(document: str) -> list[tuple[str, str]]:
    """Given Markdown, return its structure: every block token, and every inline token but text."""
    found = []
    for token in PARSER.parse(document):
        if token.type != "inline":
            found.append((token.type, token.tag))
        for child in token.children or []:
            if child.type not in ("text", "softbreak"):
                found.append((child.type, child.tag))
    return found


def documents(folder: Path, field: str, value: str) -> dict[str, str]:
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(ENVIRONMENTS, folder)
    patch_environment(folder, "mainnet", FIELDS[field](value))
    return render_documents(load_environments(folder), recorded())


def _text() -> st.SearchStrategy[str]:
    pieces = st.sampled_from(["#", "```", "~~~", "|", "[", "](", ")", "<", ">", "*", "_", "`", "\\", "\n", "- ", "1. "])
    return st.lists(st.one_of(pieces, st.text(alphabet="ab ", min_size=1, max_size=3)), min_size=1, max_size=8).map(
        lambda parts: "x" + "".join(parts)
    )


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Each field's documents with a plain value there: the outline every hostile value must keep."""
    folder = tmp_path_factory.mktemp("plain") / "environments"
    return {
        field: {path: outline(text) for path, text in documents(folder, field, "plain").items()} for field in FIELDS
    }


@with_each_field(FIELDS, MARKDOWN)
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(field=st.sampled_from(sorted(FIELDS)), value=_text())
def test_no_model_string_changes_a_documents_outline(
    tmp_path_factory: pytest.TempPathFactory, plain: dict[str, dict[str, list[tuple[str, str]]]], field: str, value: str
) -> None:
    folder = tmp_path_factory.mktemp("hostile") / "environments"
    try:
        rendered = documents(folder, field, value)
    except ConfigError as exc:
        assert all(problem.startswith(f"{folder}/mainnet.yaml:") for problem in exc.problems), exc.problems
        return
    assert sorted(rendered) == sorted(plain[field])
    changed = [path for path, text in rendered.items() if outline(text) != plain[field][path]]
    assert changed == [], f"{field}={value!r} changed the structure of {changed}"


def test_the_hostile_text_still_reads_as_written(tmp_path: Path) -> None:
    rendered = documents(tmp_path / "environments", "services.store.description", MARKDOWN)
    page = PARSER.render(rendered["services/store.md"])
    assert "# A heading ``` fenced ``` | a | b |" in page  # one paragraph, the characters as typed
    assert "&lt;b&gt;html&lt;/b&gt; *emphasis* __strong__" in page
