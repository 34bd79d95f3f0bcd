"""Calendar expressions, checked against the real ``systemd-analyze calendar``."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from itertools import pairwise

import pytest

from seawall.model.calendar import CalendarError, longest_interval, parse_calendar

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")

EXPRESSIONS = [
    "daily",
    "hourly",
    "weekly",
    "*-*-* 02:00:00",
    "*-*-* 00/6:00:00",
    "*-*-* *:15:00",
    "Sun *-*-* 05:00:00",
    "Mon..Fri *-*-* 09:30",
    "Sat,Sun *-*-* 10:00:00",
    "*-*-01 03:00:00",
    "*-*-* 08..18:00:00",
    "*-*-* *:0/10",
]
INVALID = ["Funday 04:00", "*-*-* 25:00:00", "*-13-* 00:00:00", "", "soon", "*-*-* 01:02:03:04"]


def _systemd_elapses(expression: str, count: int) -> list[dt.datetime]:
    out = subprocess.run(
        [SYSTEMD_ANALYZE or "systemd-analyze", "calendar", f"--iterations={count}", expression],
        capture_output=True,
        text=True,
        check=True,
        env={"TZ": "UTC", "PATH": "/usr/bin:/bin"},
    ).stdout
    stamps = re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", out)
    return [dt.datetime.fromisoformat(stamp) for stamp in stamps]


@needs_systemd
@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_longest_interval_matches_what_systemd_schedules(expression: str) -> None:
    elapses = _systemd_elapses(expression, 200)
    observed = max(b - a for a, b in pairwise(elapses))
    assert longest_interval(parse_calendar(expression)) == observed


@needs_systemd
@pytest.mark.parametrize("expression", INVALID)
def test_we_refuse_what_systemd_refuses(expression: str) -> None:
    result = subprocess.run(
        [SYSTEMD_ANALYZE or "systemd-analyze", "calendar", expression], capture_output=True, check=False
    )
    assert result.returncode != 0
    with pytest.raises(CalendarError):
        longest_interval(parse_calendar(expression))


def test_a_monthly_schedule_has_a_31_day_gap() -> None:
    assert longest_interval(parse_calendar("monthly")) == dt.timedelta(days=31)
