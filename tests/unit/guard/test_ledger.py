"""The deploy ledger: append-only lines; a damaged line is reported with its number, never skipped."""

from __future__ import annotations

from pathlib import Path

import pytest

from seawall.ledger import LedgerEntry, LedgerError, append_entry, parse_ledger, read_ledger


def _entry(result: str = "succeeded", issue: str = "acme/ops#1") -> LedgerEntry:
    return LedgerEntry(
        "2026-11-30T10:00:00+00:00", "qanet", "ops-bob", "ops-bob", issue, {"api": "1.8.2"}, "abc", result
    )


def test_entries_are_appended_and_read_back(tmp_path: Path) -> None:
    append_entry(tmp_path, _entry())
    append_entry(tmp_path, _entry("failed", "acme/ops#2"))
    entries = read_ledger(tmp_path, "qanet")
    assert [(e.result, e.issue) for e in entries] == [("succeeded", "acme/ops#1"), ("failed", "acme/ops#2")]
    assert read_ledger(tmp_path, "mainnet") == []


def test_a_corrupt_line_is_reported_with_its_number(tmp_path: Path) -> None:
    append_entry(tmp_path, _entry())
    with (tmp_path / "qanet.jsonl").open("a") as stream:
        stream.write("{not json\n")
    append_entry(tmp_path, _entry())
    with pytest.raises(LedgerError) as caught:
        read_ledger(tmp_path, "qanet")
    assert f"{tmp_path / 'qanet.jsonl'}:2: unreadable ledger line" in str(caught.value)


def test_a_truncated_last_line_is_reported(tmp_path: Path) -> None:
    append_entry(tmp_path, _entry())
    text = (tmp_path / "qanet.jsonl").read_text()
    (tmp_path / "qanet.jsonl").write_text(text + text[: len(text) // 2])
    with pytest.raises(LedgerError) as caught:
        read_ledger(tmp_path, "qanet")
    assert ":2: the last line is truncated" in str(caught.value)


@pytest.mark.parametrize(
    ("line", "contains"),
    [
        ('{"time": 5, "environment": "qanet", "operator": "o", "identity": "i", "issue": "x", "versions": {},'
         ' "model_hash": "h", "result": "applied"}', "a ledger line whose time has the wrong type"),
        ('{"time": "t", "environment": "qanet", "operator": "o", "identity": "i", "issue": "x",'
         ' "versions": {"api": 1}, "model_hash": "h", "result": "applied", "emergency": "yes"}',
         "a ledger line whose versions, emergency has the wrong type"),
        ('{"time": "' + "t" * 70000 + '"}', "a ledger line of 70012 characters"),
        ("[" * 50000, "unreadable ledger line"),
    ],
)  # fmt: skip
def test_a_ledger_line_of_the_wrong_shape_or_size_is_named_never_trusted(line: str, contains: str) -> None:
    with pytest.raises(LedgerError) as raised:
        parse_ledger(line + "\n", "s3://seawall-deploy-ledger/ledger/qanet.jsonl")
    assert f"s3://seawall-deploy-ledger/ledger/qanet.jsonl:1: {contains}" in str(raised.value)


def test_a_local_ledger_that_is_not_utf8_is_named_at_its_line(tmp_path: Path) -> None:
    (tmp_path / "qanet.jsonl").write_bytes(b'{"a": 1}\n{"time": "caf\xe9"}\n')
    with pytest.raises(LedgerError) as raised:
        read_ledger(tmp_path, "qanet")
    assert f"{tmp_path / 'qanet.jsonl'}:2: not UTF-8 text" in str(raised.value)
