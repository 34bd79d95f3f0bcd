"""Prometheus' HTTP API: range queries, and the queries capacity planning asks (node_exporter's metrics,
with the labels Seawall's scrape configuration gives every target: environment, service, host)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from seawall.errors import SeawallError

TIMEOUT_SECONDS = 120
NOT_DISKS = "tmpfs|devtmpfs|overlay|squashfs|ramfs|nsfs|autofs|fuse.lxcfs"
VIRTUAL_DEVICES = "lo|veth.*|docker.*|br-.*|virbr.*|cni.*|flannel.*"


class PrometheusError(SeawallError):
    """Prometheus cannot be reached or refused a query (exit 2: nothing could be measured)."""


@dataclass(frozen=True)
class Series:
    """One series of a range query: its labels and its points (unix seconds, value)."""

    labels: dict[str, str]
    points: list[tuple[float, float]]


def queries(env_name: str) -> dict[str, str]:
    """Given an environment, return the range queries of its utilisation, by what they measure."""
    sel = f'environment="{env_name}"'
    disks = f'{sel},fstype!~"{NOT_DISKS}"'
    nics = f'{sel},device!~"{VIRTUAL_DEVICES}"'
    return {
        "cpu": f'100 * (1 - avg by (host, service) (rate(node_cpu_seconds_total{{{sel},mode="idle"}}[5m])))',
        "memory": (
            f"100 * (1 - max by (host, service) (node_memory_MemAvailable_bytes{{{sel}}}) "
            f"/ max by (host, service) (node_memory_MemTotal_bytes{{{sel}}}))"
        ),
        "disk_size": f"max by (host, service, mountpoint) (node_filesystem_size_bytes{{{disks}}})",
        "disk_avail": f"max by (host, service, mountpoint) (node_filesystem_avail_bytes{{{disks}}})",
        "network_receive": f"sum by (host, service) (rate(node_network_receive_bytes_total{{{nics}}}[5m])) * 8 / 1e6",
        "network_transmit": f"sum by (host, service) (rate(node_network_transmit_bytes_total{{{nics}}}[5m])) * 8 / 1e6",
    }


def range_query(base_url: str, query: str, start: float, end: float, step: float) -> list[Series]:
    """Given Prometheus' address and a query, return its series over [start, end] every ``step`` seconds."""
    parameters = urllib.parse.urlencode(
        {"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"}
    )
    url = f"{base_url.rstrip('/')}/api/v1/query_range?{parameters}"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - http(s) only, checked
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = _error_of(exc.read())
        msg = f"Prometheus at {base_url} refused a query ({exc.code}: {detail}); query: {query}"
        raise PrometheusError(msg) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        reason = getattr(exc, "reason", exc)
        msg = (
            f"cannot reach Prometheus at {base_url}: {reason}; check --prometheus (or monitoring.host) and that it runs"
        )
        raise PrometheusError(msg) from None
    except ValueError:
        msg = f"{base_url} did not answer as Prometheus' HTTP API does (no JSON): check --prometheus"
        raise PrometheusError(msg) from None
    if body.get("status") != "success":
        msg = f"Prometheus at {base_url} failed a query: {body.get('error', 'no reason given')}; query: {query}"
        raise PrometheusError(msg)
    return [
        Series(dict(item.get("metric", {})), [(float(t), float(v)) for t, v in item.get("values", [])])
        for item in body.get("data", {}).get("result", [])
    ]


def _error_of(raw: bytes) -> str:
    try:
        return str(json.loads(raw).get("error", "no reason given"))
    except ValueError:
        return raw.decode(errors="replace")[:200] or "no reason given"


def check_url(url: str) -> str:
    """Given a Prometheus address, return it, or raise PrometheusError when it is not http(s)."""
    if urllib.parse.urlparse(url).scheme not in ("http", "https"):
        msg = f"--prometheus {url!r} is not an http:// or https:// address"
        raise PrometheusError(msg)
    return url
