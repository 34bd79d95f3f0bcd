"""What Seawall reads back from a state folder or a bucket is data, not truth: each kind of document has a
shape, a size limit and a time that is not in the future. A document that breaks one is named (its key or
path and what is wrong), skipped, and reported as ``untrusted-state`` by the readers, never a traceback.

Every host of an environment holds the bucket's keys, so any of them can write any host's documents: the
repository (restic's authenticated snapshots, confirmed by ``backup status --deep``) stays the truth.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

MAX_DOCUMENT_BYTES = 256 * 1024  # a host's state document is a few KiB; a drill report tens of KiB
MAX_TEXT = 4096  # any one string a reader shows
_HEX = re.compile(r"^[0-9a-f]{8,64}$")
MAX_FORGOTTEN_IDS = 2000  # a prune's record names at most this many forgotten snapshots (the rest would alarm)
MAX_SNAPSHOT_IDS = 3000  # snapshots of one set a copy's record lists (more: the record is refused, prune holds)
Check = Callable[[Any], str | None]


def _time(value: Any) -> str | None:
    if not isinstance(value, str) or len(value) > 64:
        return "not a time"
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return "not a time"
    return None if parsed.tzinfo is not None else "a time without its zone"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and len(value) <= MAX_TEXT else "not a short text"


def _optional(check: Check) -> Check:
    return lambda value: None if value is None else check(value)


def _number(value: Any) -> str | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e18
    return None if ok else "not a number of at least 0"


def _bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "not true or false"


def _snapshot_id(value: Any) -> str | None:
    return None if isinstance(value, str) and _HEX.match(value) else "not a snapshot id"


def _fields(**checks: Check) -> Check:
    """A mapping whose named fields, where present, pass their checks (other fields are ignored)."""

    def check(value: Any) -> str | None:
        if not isinstance(value, dict):
            return "not a mapping"
        for name, field_check in checks.items():
            if name in value and (problem := field_check(value[name])) is not None:
                return f"{name}: {problem}"
        return None

    return check


def _having(names: tuple[str, ...], check: Check) -> Check:
    """A mapping that has every one of ``names`` and passes ``check``."""

    def having(value: Any) -> str | None:
        missing = [name for name in names if not isinstance(value, dict) or name not in value]
        return f"{', '.join(missing)} missing" if missing else check(value)

    return having


def _mapping_of(check: Check, limit: int = 1000) -> Check:
    def mapping(value: Any) -> str | None:
        if not isinstance(value, dict) or len(value) > limit:
            return f"not a mapping of at most {limit} entries"
        return next((f"{key}: {p}" for key, item in value.items() if (p := check(item)) is not None), None)

    return mapping


def _list_of(check: Check, limit: int = 1000) -> Check:
    def listing(value: Any) -> str | None:
        if not isinstance(value, list) or len(value) > limit:
            return f"not a list of at most {limit} entries"
        return next((f"[{i}]: {p}" for i, item in enumerate(value) if (p := check(item)) is not None), None)

    return listing


STATE = _fields(
    updated=_time,
    last_success=_time,
    last_run=_fields(
        time=_time, result=_text, error=_text, snapshot=_optional(_snapshot_id), alarms=_list_of(_text, 20)
    ),
    last_snapshot=_fields(time=_time, id=_snapshot_id, bytes=_optional(_number), files=_optional(_number)),
    last_drill=_fields(
        time=_time, result=_text, rto_seconds=_optional(_number), rpo_seconds=_optional(_number), detail=_text
    ),
    verified=_fields(snapshot=_snapshot_id, drill=_time),
    sizes=_mapping_of(_number),
    growth=_list_of(_fields(time=_time, added=_number)),
    last_restore=_fields(time=_time),
    last_prune=_fields(time=_time, forgotten_ids=_list_of(_snapshot_id, MAX_FORGOTTEN_IDS)),
)
_SLICE = re.compile(r"^\d{1,4}/\d{1,4}$")


def _slice(value: Any) -> str | None:
    return None if isinstance(value, str) and _SLICE.match(value) else "not a check slice (K/N)"


DRILL_REPORT = _fields(
    set=_text,
    host=_text,
    finished=_time,
    result=_text,
    rto=_fields(seconds=_optional(_number)),
    check=_fields(slice=_optional(_slice)),
)
# What the deep status saw in the repository, per set: host → when, the newest snapshot, the row's status.
CONFIRMED = _mapping_of(_fields(time=_time, snapshot=_optional(_text), status=_text))
# The vault's record of one set's off-site copy (``state/<env>/copy/copies/<set>``).
COPIES = _fields(
    updated=_time,
    last_copy=_fields(time=_time, result=_text, error=_text, copied=_optional(_number)),
    originals=_list_of(_snapshot_id, MAX_SNAPSHOT_IDS),
    received=_list_of(_snapshot_id, MAX_SNAPSHOT_IDS),
    newest=_mapping_of(_time),
    protection=_list_of(_text, 10),
    protection_checked=_time,
    vanished=_list_of(
        _having(
            ("id", "host", "in_copy"), _fields(id=_snapshot_id, host=_text, time=_text, detected=_time, in_copy=_bool)
        ),
        MAX_SNAPSHOT_IDS,
    ),
)
COPIES_TIMES = ("updated", "last_copy.time")
# The vault's last listing of one set's primary (``state/<env>/copy/listings/<set>``): what vanished is
# judged against it.
LISTING = _fields(
    updated=_time,
    listed=_time,
    snapshots=_list_of(_having(("id",), _fields(id=_snapshot_id, host=_text, time=_text)), MAX_SNAPSHOT_IDS),
)
LISTING_TIMES = ("updated", "listed")
# A host's last drift check (``state/<env>/drift/<host>``): what ``seawall host verify`` found.
DRIFT = _having(
    ("host", "checked", "drift"),
    _fields(
        environment=_text,
        host=_text,
        checked=_time,
        manifest=_optional(_text),
        wheel=_optional(_text),
        drift=_list_of(
            _having(("kind", "subject"), _fields(kind=_text, subject=_text, expected=_text, found=_text)), 2000
        ),
        problems=_list_of(_text, 50),
    ),
)
DRIFT_TIMES = ("checked",)
# The last DR rehearsal's record (``state/<env>/dr/rehearsal``, ``seawall.dr.report.summary``).
REHEARSAL = _having(
    ("time", "result"),
    _fields(
        time=_time,
        result=_text,
        machines=_text,
        verified_seconds=_optional(_number),
        recovery_target_seconds=_optional(_number),
        sets=_mapping_of(
            _fields(
                snapshot=_optional(_text),
                rto_seconds=_optional(_number),
                rpo_seconds=_optional(_number),
                passed=_bool,
            )
        ),
        failures=_list_of(_text),
        report=_text,
    ),
)
REHEARSAL_TIMES = ("time",)
CHECK_SLICES = _fields(slices=_number, next=_number, slices_read=_list_of(_number))


def problem(
    document: Any, check: Check, now: dt.datetime, tolerance: dt.timedelta, times: tuple[str, ...] = ("updated",)
) -> str | None:
    """Given a parsed document, its kind's check and the time, return what makes it untrusted, or None:
    a wrong shape, or one of ``times`` dated beyond ``tolerance`` in the future."""
    if (found := check(document)) is not None:
        return found
    for name in times:
        value = _lookup(document, name)
        if isinstance(value, str) and dt.datetime.fromisoformat(value) > now + tolerance:
            return f"{name} is in the future ({value})"
    return None


def _lookup(document: Mapping[str, Any], dotted: str) -> Any:
    value: Any = document
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


STATE_TIMES = ("updated", "last_run.time", "last_snapshot.time", "last_drill.time")
