"""The capacity report: per host and resource the utilisation (p50/p95), its trend and when it crosses
its alert threshold and 100%, and per service the smallest size (and volume) that stays under the
thresholds until the horizon, with the monthly cost change.

Nothing is forecast from empty data: a host or service without series is reported as such. A series
whose points swing far around their line (more than ``NOISE`` of its scale) is flagged: its trend is not
used, only its p95.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from seawall.capacity.forecast import Fit, fit_line, percentile
from seawall.capacity.prometheus import Series, queries, range_query
from seawall.model.schema import Alerts, Environment, droplet_names
from seawall.sizes import Size, SizeTable

NOISE = 0.08
MAX_POINTS = 2000
GB = 1e9
DAY = 86400.0
VOLUME_STEP_GB = 10


@dataclass
class Resource:
    """One resource of one host: what it is now, its spread and trend, and when it crosses its levels."""

    host: str
    service: str
    kind: str
    unit: str
    now: float
    p50: float
    p95: float
    threshold: float
    full: float | None
    slope_per_day: float
    r2: float
    noisy: bool
    at_horizon: float
    crosses_threshold: str | None
    crosses_full: str | None
    points: int

    def as_json(self) -> dict[str, Any]:
        """Return the resource as JSON-able data (values rounded for reading)."""
        data = asdict(self)
        for key in ("now", "p50", "p95", "threshold", "full", "slope_per_day", "at_horizon"):
            data[key] = None if data[key] is None else round(data[key], 3)
        data["r2"] = round(self.r2, 3)
        return data


@dataclass
class Advice:
    """What one service should run on until the horizon, and what that costs."""

    service: str
    count: int
    size: str
    recommended_size: str
    recommended_count: int
    volume_gb: int | None
    recommended_volume_gb: int | None
    monthly_cost: float | None
    recommended_monthly_cost: float | None
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        """Return whether anything should change."""
        return (self.recommended_size, self.recommended_count, self.recommended_volume_gb) != (
            self.size,
            self.count,
            self.volume_gb,
        )

    @property
    def cost_change(self) -> float | None:
        """Return the monthly cost change of the recommendation."""
        if self.monthly_cost is None or self.recommended_monthly_cost is None:
            return None
        return round(self.recommended_monthly_cost - self.monthly_cost, 2)


@dataclass
class CapacityReport:
    """The whole report of one environment."""

    environment: str
    prometheus: str
    window_seconds: float
    horizon_seconds: float
    measured_at: str
    resources: list[Resource]
    advice: list[Advice]
    no_data: list[str]
    backups: list[dict[str, Any]] = field(default_factory=list)
    sizes_as_of: str = ""

    def as_json(self) -> dict[str, Any]:
        """Return the report as JSON-able data."""
        return {
            "environment": self.environment,
            "prometheus": self.prometheus,
            "window_days": round(self.window_seconds / DAY, 3),
            "horizon_days": round(self.horizon_seconds / DAY, 3),
            "measured_at": self.measured_at,
            "sizes_as_of": self.sizes_as_of,
            "resources": [resource.as_json() for resource in self.resources],
            "advice": [asdict(a) | {"cost_change": a.cost_change, "changes": a.changes} for a in self.advice],
            "no_data": self.no_data,
            "backups": self.backups,
        }


def step_for(window: float) -> float:
    """Given a window in seconds, return the query step: at most MAX_POINTS points, never under a minute."""
    return max(60.0, math.ceil(window / MAX_POINTS / 60) * 60)


def measure(env: Environment, url: str, now: dt.datetime, window: dt.timedelta) -> dict[str, list[Series]]:
    """Given the environment's Prometheus, return every capacity query's series over the window."""
    end = now.timestamp()
    start = end - window.total_seconds()
    step = step_for(window.total_seconds())
    return {name: range_query(url, query, start, end, step) for name, query in queries(env.name).items()}


def host_alerts(env: Environment, service: str, host: str) -> Alerts:
    """Given a host, return its alert thresholds (its service's or host's own, else the monitoring ones)."""
    own = env.services[service].alerts if service in env.services else env.datacenter_hosts[host].alerts
    return own or env.monitoring.host_alerts


def hosts(env: Environment) -> list[tuple[str, str]]:
    """Given an environment, return every (service, host) Prometheus scrapes (data-center hosts are their
    own service)."""
    pairs = [(name, host) for name, service in sorted(env.services.items()) for host in droplet_names(name, service)]
    return pairs + [(name, name) for name in sorted(env.datacenter_hosts)]


def build_report(
    env: Environment,
    data: dict[str, list[Series]],
    sizes: SizeTable,
    now: dt.datetime,
    window: dt.timedelta,
    horizon: dt.timedelta,
    url: str,
) -> CapacityReport:
    """Given what Prometheus returned, return the report: resources, advice, and what had no data."""
    end, until = now.timestamp(), now.timestamp() + horizon.total_seconds()
    by_host = _index(data)
    resources: list[Resource] = []
    no_data: list[str] = []
    for service, host in hosts(env):
        found = by_host.get(host, {})
        if not found:
            no_data.append(host)
            continue
        alerts = host_alerts(env, service, host)
        resources += _host_resources(env, service, host, found, alerts, end, until)
    advised = [_advise(env, name, resources, sizes, until) for name in sorted(env.services)]
    advice = [item for item in advised if item is not None]
    measured_at = now.astimezone(dt.UTC).isoformat(timespec="seconds")
    return CapacityReport(
        env.name, url, window.total_seconds(), horizon.total_seconds(), measured_at, resources, advice, no_data,
        sizes_as_of=sizes.as_of,
    )  # fmt: skip


def _index(data: dict[str, list[Series]]) -> dict[str, dict[str, list[Series]]]:
    index: dict[str, dict[str, list[Series]]] = {}
    for name, series in data.items():
        for item in series:
            host = item.labels.get("host")
            if host and item.points:
                index.setdefault(host, {}).setdefault(name, []).append(item)
    return index


def _host_resources(
    env: Environment, service: str, host: str, found: dict[str, list[Series]], alerts: Alerts, end: float, until: float
) -> list[Resource]:
    resources = []
    for kind in ("cpu", "memory"):
        for series in found.get(kind, []):
            threshold = float(getattr(alerts, kind))
            resources.append(_resource(host, service, kind, "%", series.points, threshold, 100.0, 100.0, end, until))
    network = env.monitoring.network
    for kind, limit in (("network_receive", network.receive_mbps), ("network_transmit", network.transmit_mbps)):
        for series in found.get(kind, []):
            resources.append(
                _resource(host, service, kind, "Mbit/s", series.points, float(limit), None, float(limit), end, until)
            )
    sizes = {s.labels.get("mountpoint"): s for s in found.get("disk_size", [])}
    own = env.services.get(service)
    volume = own.volume.mount if own is not None and own.volume is not None else None
    for avail in found.get("disk_avail", []):
        mount = avail.labels.get("mountpoint")
        disk = "disk_root" if mount == "/" else "disk_volume" if mount == volume else None
        size_series = sizes.get(mount)
        if disk is None or size_series is None:
            continue
        total = size_series.points[-1][1] / GB
        used = [(t, total - value / GB) for t, value in avail.points]
        threshold = total * alerts.disk / 100
        resources.append(_resource(host, service, disk, "GB", used, threshold, total, total, end, until))
    return resources


def _resource(
    host: str,
    service: str,
    kind: str,
    unit: str,
    points: list[tuple[float, float]],
    threshold: float,
    full: float | None,
    scale: float,
    end: float,
    until: float,
) -> Resource:
    values = [value for _, value in points]
    fit: Fit | None = fit_line(points)
    noisy = fit is None or fit.residual_sd > NOISE * scale
    slope = 0.0 if fit is None else fit.slope
    at_horizon = values[-1] if fit is None or noisy else max(fit.at(until), 0.0)
    return Resource(
        host, service, kind, unit, values[-1], percentile(values, 0.5), percentile(values, 0.95), threshold, full,
        slope * DAY, 0.0 if fit is None else fit.r2, noisy, at_horizon,
        _when(fit, threshold, end, noisy), _when(fit, full, end, noisy) if full is not None else None, len(points),
    )  # fmt: skip


def _when(fit: Fit | None, level: float, end: float, noisy: bool) -> str | None:
    if fit is None or noisy:
        return None
    moment = fit.crossing(level, end)
    if moment is None or moment > end + 10 * 365 * DAY:
        return None
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="minutes")


def _projected(resource: Resource) -> float:
    """What a resource is expected to reach by the horizon: its p95, or its trend's value if higher."""
    return max(resource.p95, resource.at_horizon) if not resource.noisy else resource.p95


def family(slug: str) -> str:
    """Given a size slug, return its family (``s``, ``s-amd``, ``g``, ``c``, ``m``…)."""
    parts = [part for part in slug.split("-")[1:] if not part[:1].isdigit()]
    return "-".join([slug.split("-")[0], *parts])


def _advise(env: Environment, name: str, resources: list[Resource], sizes: SizeTable, until: float) -> Advice | None:
    service = env.services[name]
    own = [r for r in resources if r.service == name]
    current = sizes.size(service.size)
    volume_gb = service.volume.size_gb if service.volume else None
    advice = Advice(name, service.count, service.size, service.size, service.count, volume_gb, volume_gb,
                    _cost(sizes, current, service.count, volume_gb), None)  # fmt: skip
    if not own:
        return None
    advice.warnings = [
        f"{r.host} {r.kind}: too noisy to trust a trend (p95 {r.p95:.1f} {r.unit} used instead)" for r in own if r.noisy
    ]
    if current is None:
        advice.warnings.append(f"{service.size} is not in the size table ({sizes.as_of}): no sizing advice")
        advice.recommended_monthly_cost = advice.monthly_cost
        return advice
    need_vcpus = _need(own, "cpu", current.vcpus)
    need_memory = _need(own, "memory", current.memory_gib)
    need_disk = max(
        (_projected(r) / (r.threshold / r.full) for r in own if r.kind == "disk_root" and r.full), default=0.0
    )
    chosen = _smallest(sizes, family(service.size), need_vcpus, need_memory, need_disk)
    if chosen is None:
        largest = max(
            (s for s in sizes.sizes.values() if family(s.slug) == family(service.size)), key=lambda s: s.price_monthly
        )
        factor = max(need_vcpus / largest.vcpus, need_memory / largest.memory_gib, 1.0)
        chosen, advice.recommended_count = largest, math.ceil(service.count * factor)
        advice.reasons.append(
            f"no {family(service.size)} size is large enough: {advice.recommended_count} of {largest.slug}"
        )
    advice.recommended_size = chosen.slug
    if chosen.slug != service.size:
        advice.reasons.append(
            f"needs {need_vcpus:.1f} vCPU, {need_memory:.1f} GiB memory, {need_disk:.0f} GB root disk by the horizon: "
            f"{chosen.slug} ({chosen.vcpus} vCPU, {chosen.memory_gib:g} GiB, {chosen.disk_gb} GB)"
        )
    if volume_gb is not None:
        advice.recommended_volume_gb = _volume(own, volume_gb, advice)
    advice.recommended_monthly_cost = _cost(sizes, chosen, advice.recommended_count, advice.recommended_volume_gb)
    return advice


def _need(resources: list[Resource], kind: str, capacity: float) -> float:
    """Given a kind, return how much of it the service needs at the horizon to stay under its threshold."""
    ratios = [_projected(r) / r.threshold for r in resources if r.kind == kind and r.threshold]
    return capacity * max(ratios, default=0.0)


def _smallest(sizes: SizeTable, kind: str, vcpus: float, memory: float, disk: float) -> Size | None:
    fitting = [
        s
        for s in sizes.sizes.values()
        if family(s.slug) == kind and s.vcpus >= vcpus and s.memory_gib >= memory and s.disk_gb >= disk
    ]
    return min(fitting, key=lambda s: (s.price_monthly, s.vcpus, s.memory_mib), default=None)


def _volume(resources: list[Resource], current: int, advice: Advice) -> int:
    used = [r for r in resources if r.kind == "disk_volume" and r.full]
    if not used:
        return current
    needed = max(_projected(r) / (r.threshold / (r.full or 1.0)) for r in used)  # GB the volume must have
    rounded = int(math.ceil(needed / VOLUME_STEP_GB) * VOLUME_STEP_GB)
    if rounded <= current:
        return current  # a volume never shrinks
    advice.reasons.append(
        f"the volume needs {needed:.0f} GB by the horizon to stay under its disk threshold: {rounded} GB"
    )
    return rounded


def _cost(sizes: SizeTable, size: Size | None, count: int, volume_gb: int | None) -> float | None:
    if size is None:
        return None
    return round(count * (size.price_monthly + (sizes.volume_price(volume_gb) if volume_gb else 0.0)), 2)
