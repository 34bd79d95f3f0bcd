"""Golden files: the fixture fleet's documents are exactly the reviewed Markdown under
tests/fixtures/docs/fleet/golden/. After an intended change, regenerate them with
``.venv/bin/python -m tests.unit.docs.test_golden`` and review the diff."""

from __future__ import annotations

import shutil

import pytest

from seawall.opsdocs.generate import stale_documents
from tests.unit.docs.fleet import GOLDEN, golden_documents

pytestmark = pytest.mark.render  # renders under the mock engine


def test_the_fixture_fleets_documents_are_the_reviewed_golden_files() -> None:
    documents = golden_documents()
    differences = stale_documents(documents, GOLDEN)
    assert differences == [], "regenerate with: .venv/bin/python -m tests.unit.docs.test_golden, then review the diff"
    for path, text in documents.items():
        assert (GOLDEN / path).read_text() == text, path


def test_the_same_model_and_state_give_the_same_bytes() -> None:
    assert golden_documents() == golden_documents()


def main() -> None:
    """Write the golden files anew."""
    shutil.rmtree(GOLDEN, ignore_errors=True)
    for path, text in golden_documents().items():
        target = GOLDEN / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


if __name__ == "__main__":
    main()
