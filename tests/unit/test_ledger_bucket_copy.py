"""The ledger's bucket copy against storages that cannot run here: one without conditional writes (moto
and SeaweedFS both have them; the contract suite runs those), and one where every write finds the object
changed. The stand-in is a plain object with the two S3 calls the copy makes, declared as such."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from seawall import ledger
from seawall.ledger import BucketMirror, LedgerEntry, LedgerError, parse_ledger

ENTRY = LedgerEntry("2026-12-01T10:00:00+00:00", "lab", "ops", "ops", "ops#5", {}, "h", "succeeded")


def _error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "PutObject")


class StandInStorage:
    """A stand-in for an S3 storage (not a real one: these behaviours are not found on loopback here)."""

    def __init__(self, refuses: str | None = None, always_changed: bool = False) -> None:
        self.objects: dict[str, bytes] = {}
        self.refuses = refuses
        self.always_changed = always_changed

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        if Key not in self.objects:
            raise ClientError({"Error": {"Code": "NoSuchKey"}}, "GetObject")

        class Body:
            def __init__(self, data: bytes) -> None:
                self.data = data

            def read(self, amount: int = -1) -> bytes:  # botocore's StreamingBody.read(amt)
                return self.data if amount < 0 else self.data[:amount]

            def close(self) -> None:
                pass

        data = self.objects[Key]
        return {"Body": Body(data), "ETag": f'"{len(data)}"', "ContentLength": len(data)}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **condition: str) -> dict[str, Any]:
        if condition and self.refuses:
            raise _error(self.refuses)
        if condition and self.always_changed:
            raise _error("PreconditionFailed")
        self.objects[Key] = Body
        return {}


@pytest.mark.parametrize("refusal", ["NotImplemented", "InvalidArgument"])
def test_a_storage_without_conditional_writes_still_gets_every_entry_and_a_warning(caplog, refusal: str) -> None:
    storage = StandInStorage(refuses=refusal)
    mirror = BucketMirror(storage, "bucket")
    mirror.append(ENTRY)
    mirror.append(ENTRY)
    assert parse_ledger(mirror.read_text("lab"), "bucket") == [ENTRY, ENTRY]
    assert "does not take conditional writes" in caplog.text


def test_a_copy_that_changes_under_every_attempt_is_one_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(ledger, "APPEND_BACKOFF", 0)
    mirror = BucketMirror(StandInStorage(always_changed=True), "bucket")
    with pytest.raises(LedgerError) as raised:
        mirror.append(ENTRY)
    assert f"it changed under each of {ledger.APPEND_ATTEMPTS} attempts" in str(raised.value)
    assert "the local ledger holds the entry" in str(raised.value)


def test_another_refusal_is_not_retried_and_names_the_bucket() -> None:
    mirror = BucketMirror(StandInStorage(refuses="AccessDenied"), "bucket")
    with pytest.raises(LedgerError) as raised:
        mirror.append(ENTRY)
    assert "could not write the ledger copy to bucket bucket" in str(raised.value)
    assert "AccessDenied" in str(raised.value)
