"""``seawall capacity`` against a real Prometheus on 127.0.0.1 whose TSDB holds what real ones answer and
the first version of capacity did not survive (#28): NaN, +Inf and -Inf samples in a rising memory series,
values near the largest float (a 1e308-byte disk, memory at 1e298 %), a host scraped for ten minutes only,
and disks already above their thresholds. Non-finite samples are gaps, huge values give a report (strict
JSON, no traceback), too little data says so with its count, and an answer of the wrong shape (another API
of the same Prometheus, or a real answer with a value changed) is refused in one line naming the query."""

from __future__ import annotations

import copy
import json
import math
import re
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from seawall.capacity.plan import expected_samples, needed_samples
from seawall.capacity.prometheus import PrometheusError, parse_matrix, queries
from tests.conftest import patch_environment
from tests.integration.capacity.test_capacity import capacity, days_from
from tests.integration.capacity.tsdb import DAY, GB, GIB, Host, openmetrics, prometheus_serving
from tests.unit.docs.fleet import ENVIRONMENTS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or shutil.which("promtool") is None,
        reason="apt-get install prometheus",
    ),
]
STEP = 120.0  # seconds between the generated samples
DAYS = 10.0


def sample_index(days: float) -> int:
    return round(days * DAY / STEP)


def with_gaps(line: Callable[[float], float]) -> Callable[[float], float]:
    """Given a series, return it with NaN, +Inf and -Inf in place of many of its samples (memory in percent:
    +Inf memory is -Inf available bytes, and the query's division turns that back into +Inf)."""

    def value(days: float) -> float:
        index = sample_index(days)
        if index % 3 == 0:
            return math.nan
        if index % 5 == 0:
            return math.inf
        if index % 7 == 0:
            return -math.inf
        return line(days)

    return value


def alternating(low: float, high: float) -> Callable[[float], float]:
    """Given two values, return a series that jumps between them sample by sample."""
    return lambda days: high if sample_index(days) % 2 else low


def truth() -> list[Host]:
    return [
        # Memory rising 2 points a day to 40% now, a third of its samples NaN and more of them ±Inf.
        Host("web-1", "web", cpu=lambda d: 30.0, memory=with_gaps(lambda d: 40.0 + 2.0 * d),
             disks={"/": (50 * GB, lambda d: 10 * GB)}),
        # The volume (200 GB, 80%: 160 GB) jumped from 100 to 170 GB three days ago; the root disk (80 GB,
        # 80%: 64 GB) has been at 75 GB all along; memory jumps between 50% and 1e298%.
        Host("store-1", "store", cpu=lambda d: 20.0, memory=alternating(50.0, 1e298), memory_total=4 * GIB,
             disks={"/": (80 * GB, lambda d: 75 * GB),
                    "/var/lib/store": (200 * GB, lambda d: 170 * GB if d >= -3.0 else 100 * GB)}),
        # Scraped for the last ten minutes only: a host just added.
        Host("monitoring-1", "monitoring", cpu=lambda d: 50.0, memory=lambda d: 40.0,
             disks={"/": (50 * GB, lambda d: 20 * GB)}, gap=(-DAYS - 1, -600 / DAY)),
        # A disk of 1e308 bytes whose free space jumps between all of it and half of it.
        Host("dc-archive-1", "datacenter", cpu=lambda d: 5.0, memory=lambda d: 20.0,
             disks={"/": (1e308, alternating(0.0, 5e307))}),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, float]]:
    folder = tmp_path_factory.mktemp("odd-capacity")
    environments = folder / "project" / "environments"
    shutil.copytree(ENVIRONMENTS, environments)
    patch_environment(environments, "devnet", {"services": {"store": {"volume": {"size_gb": 200}}}})
    end = time.time() - 120
    with prometheus_serving(folder, openmetrics("devnet", truth(), end, days=DAYS, step=STEP)) as url:
        yield url, environments, end


def refuse_constant(name: str) -> None:
    msg = f"{name} is not JSON"
    raise ValueError(msg)


def strict_json(text: str) -> Any:
    """Given JSON text, return its data; NaN and Infinity (which Python writes, and JSON has not) fail."""
    return json.loads(text, parse_constant=refuse_constant)


def report_of(served: tuple[str, Path, float], *extra: str) -> dict[str, Any]:
    url, environments, _ = served
    result = capacity(environments, url, "--format", "json", "--window", "10d", "--horizon", "90d", *extra)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return dict(strict_json(result.stdout))


def resources(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["host"], r["kind"]): r for r in report["resources"]}


def markdown_rows(served: tuple[str, Path, float]) -> dict[tuple[str, str], list[str]]:
    url, environments, _ = served
    result = capacity(environments, url, "--format", "markdown", "--window", "10d")
    assert result.returncode == 0, result.stderr
    rows = {}
    for line in result.stdout.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 10:
            rows[(cells[0], cells[1])] = cells
    return rows


def raw_answer(url: str, query: str) -> dict[str, Any]:
    """Given a query, return the real Prometheus' own answer to it over the last ten days (decoded)."""
    end = time.time()
    parameters = urllib.parse.urlencode({"query": query, "start": end - DAYS * DAY, "end": end, "step": 480})
    with urllib.request.urlopen(f"{url}/api/v1/query_range?{parameters}", timeout=60) as response:
        return dict(json.loads(response.read()))


def test_nan_and_infinite_samples_are_gaps_and_the_trend_is_still_found(served: tuple[str, Path, float]) -> None:
    url, _, end = served
    answered = json.dumps(raw_answer(url, queries("devnet")["memory"]))
    for spelling in ('"NaN"', '"+Inf"', '"-Inf"'):
        assert spelling in answered, "Prometheus answers them"
    found = resources(report_of(served))
    memory = found[("web-1", "memory")]
    assert memory["no_trend"] is None
    assert memory["slope_per_day"] == pytest.approx(2.0, rel=0.05)
    assert days_from(end, memory["crosses_threshold"]) == pytest.approx(25, rel=0.05)  # 90% from 40% at 2 a day
    assert memory["points"] < found[("web-1", "cpu")]["points"] * 0.7, "the gaps are left out"
    assert memory["now"] == pytest.approx(40.0, abs=1.0)
    assert memory["p95"] < 41.0


def test_huge_values_give_a_report_and_no_absurd_advice(served: tuple[str, Path, float]) -> None:
    report = report_of(served)
    found = resources(report)
    disk = found[("dc-archive-1", "disk_root")]
    assert disk["threshold"] == pytest.approx(1e308 / GB * 0.85, rel=1e-6)  # monitoring.host_alerts
    assert disk["crosses_threshold"] is None
    assert disk["crosses_full"] is None
    memory = found[("store-1", "memory")]
    assert memory["p95"] == pytest.approx(1e298, rel=1e-6)
    store = {a["service"]: a for a in report["advice"]}["store"]
    assert (store["recommended_size"], store["recommended_count"]) == ("s-2vcpu-4gb", 1)
    assert any("(the most a service can have)" in warning for warning in store["warnings"]), store["warnings"]
    rows = markdown_rows(served)
    assert rows[("store-1", "memory")][4] == "1e+298 %", "huge values are written short"


def test_a_series_with_too_few_samples_says_not_enough_data(served: tuple[str, Path, float]) -> None:
    found = resources(report_of(served))
    recent = [r for (host, _), r in found.items() if host == "monitoring-1"]
    expected = expected_samples(10 * DAY)  # the 10-day window at its step
    needed = needed_samples(expected)
    assert {r["kind"] for r in recent} >= {"cpu", "memory", "disk_root"}
    for resource in recent:
        assert 1 <= resource["points"] < 3
        assert resource["no_trend"] == f"not enough data ({resource['points']} of {expected} samples, {needed} needed)"
        assert resource["noisy"] is False
    rows = markdown_rows(served)
    pattern = rf"not enough data \([12] of {expected} samples, {needed} needed\)"
    assert re.fullmatch(pattern, rows[("monitoring-1", "cpu")][9])
    assert "too noisy" not in " ".join(rows[("monitoring-1", "cpu")])


def test_a_resource_already_above_its_threshold_says_since_when(served: tuple[str, Path, float]) -> None:
    _, _, end = served
    found = resources(report_of(served))
    volume = found[("store-1", "disk_volume")]
    assert volume["crosses_threshold"] is None
    assert days_from(end, volume["above_threshold_since"]) == pytest.approx(-3.0, abs=0.02)
    root = found[("store-1", "disk_root")]
    assert days_from(end, root["above_threshold_since"]) == pytest.approx(-DAYS, abs=0.02)
    assert found[("web-1", "memory")]["above_threshold_since"] is None
    rows = markdown_rows(served)
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d\+00:00"
    assert re.fullmatch(f"already above threshold since {stamp}", rows[("store-1", "disk_volume")][7])
    assert rows[("store-1", "disk_root")][7].startswith("already above threshold since at least ")


def test_values_and_trends_carry_their_units(served: tuple[str, Path, float]) -> None:
    rows = markdown_rows(served)
    memory = rows[("web-1", "memory")]
    assert memory[2].endswith(" %")
    assert memory[5] == "90.0 %"
    assert re.fullmatch(r"\+2\.\d{3} %/day", memory[6]), memory
    assert re.fullmatch(r"[+-]\d+\.\d{3} GB/day", rows[("store-1", "disk_volume")][6])
    assert rows[("web-1", "network_receive")][6].endswith(" Mbit/s/day")


def test_another_api_of_prometheus_is_refused_in_one_line_naming_the_query(
    served: tuple[str, Path, float],
) -> None:
    url, environments, _ = served
    # The label-values API answers {"status": "success", "data": [names…]}: not a range query's matrix.
    result = capacity(environments, f"{url}/api/v1/label/__name__/values?ignored=")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "not a range query's answer" in line
    assert f"query: {queries('devnet')['cpu']}" in line


def changed(answer: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> object:
    mutated = copy.deepcopy(answer)
    return change(mutated)


def set_first_value(value: object) -> Callable[[dict[str, Any]], object]:
    def change(answer: dict[str, Any]) -> object:
        answer["data"]["result"][0]["values"][0][1] = value
        return answer

    return change


def set_first_time(value: object) -> Callable[[dict[str, Any]], object]:
    def change(answer: dict[str, Any]) -> object:
        answer["data"]["result"][0]["values"][0][0] = value
        return answer

    return change


def replace(path: tuple[str | int, ...], value: object) -> Callable[[dict[str, Any]], object]:
    def change(answer: dict[str, Any]) -> object:
        target: Any = answer
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        return answer

    return change


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], object], str]] = {
    "a word for a value": (set_first_value("abc"), "'abc' is not a number"),
    "null for a value": (set_first_value(None), "None is not a number"),
    "true for a value": (set_first_value(True), "True is not a number"),
    "a list for a value": (set_first_value([1]), "[1] is not a number"),
    "a word for a time": (set_first_time("noon"), "'noon' is not a time"),
    "a time far outside the range": (set_first_time(1e300), "outside the queried range"),
    "a triple for a sample": (replace(("data", "result", 0, "values", 0), [1, "2", 3]), "not a [time, value] pair"),
    "no values": (replace(("data", "result", 0, "values"), None), "a series without values"),
    "a number for a label": (replace(("data", "result", 0, "metric", "host"), 5), "labels that are not text"),
    "a vector": (replace(("data", "resultType"), "vector"), "resultType 'vector'"),
    "a result that is no list": (replace(("data", "result"), {}), "a result that is not a list"),
    "no data": (replace(("data",), None), "no data"),
    "a list for an answer": (lambda answer: [answer], "not a JSON object"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_non_numbers_and_wrong_shapes_in_a_real_answer_are_refused_naming_the_query(
    served: tuple[str, Path, float], mutation: str
) -> None:
    url, _, _ = served
    query = queries("devnet")["cpu"]
    answer = raw_answer(url, query)
    start, end = time.time() - DAYS * DAY - 60, time.time() + 60
    assert parse_matrix(answer, url, query, start, end), "the real answer itself is read"
    change, problem = MUTATIONS[mutation]
    with pytest.raises(PrometheusError) as raised:
        parse_matrix(changed(answer, change), url, query, start, end)
    message = str(raised.value)
    assert problem in message
    assert message.endswith(f"; query: {query}")
    assert "\n" not in message
