"""The capacity report: per host and resource the utilisation (p50/p95), its trend and when it crosses
its alert threshold and 100%, and per service the smallest size (and volume) that stays under the
thresholds until the horizon, with the monthly cost change.

Nothing is forecast from empty data: a host or service without series is reported as such. No trend is
used, only the p95, from a series with fewer than ``MIN_POINTS`` samples or than ``MIN_COVERAGE`` of those
the window holds at the query's step ("not enough data (N of M samples, K needed)"), one whose
points swing far around their line (more than ``NOISE`` of its scale: "too noisy"), or one whose line
cannot be represented (values near the largest float). A resource already above a level says since when,
from its samples, instead of forecasting the crossing.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from seawall.capacity.forecast import MIN_POINTS, Fit, fit_line, percentile
from seawall.capacity.prometheus import Deadline, Series, queries, query_deadline, range_query
from seawall.model.schema import Alerts, Environment, droplet_names
from seawall.sizes import Size, SizeTable

NOISE = 0.08
MIN_COVERAGE = 0.05  # a trend needs samples over at least this share of the window (1.5 of 30 days)
MAX_POINTS = 2000
GB = 1e9
DAY = 86400.0
VOLUME_STEP_GB = 10
MAX_VOLUME_GB = 16384  # DigitalOcean's largest volume (the model's limit too)
MAX_COUNT = 100  # the most droplets a service can have (the model's limit)


@dataclass
class ResourceForecast:
    """One resource of one host: what it is now, its spread and trend, and when it crosses its levels (or
    since when it has been above them); ``no_trend`` says why no trend is used (None: it is)."""

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
    first_sample: str
    no_trend: str | None
    above_threshold_since: str | None
    full_since: str | None

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
    resources: list[ResourceForecast]
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


def measure(
    env: Environment, url: str, now: dt.datetime, window: dt.timedelta, deadline: Deadline
) -> dict[str, list[Series]]:
    """Given the environment's Prometheus and the deadline of all its answers, return every capacity
    query's series over the window (each query also has its own deadline)."""
    end = now.timestamp()
    start = end - window.total_seconds()
    step = step_for(window.total_seconds())
    return {
        name: range_query(url, query, start, end, step, query_deadline(deadline))
        for name, query in queries(env.name).items()
    }


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
    expected = expected_samples(window.total_seconds())
    by_host = _index(data)
    resources: list[ResourceForecast] = []
    no_data: list[str] = []
    for service, host in hosts(env):
        found = by_host.get(host, {})
        if not found:
            no_data.append(host)
            continue
        alerts = host_alerts(env, service, host)
        resources += _host_resources(env, service, host, found, alerts, (end, until, expected))
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


def expected_samples(window: float) -> int:
    """Given a window in seconds, return how many samples a series scraped throughout it has at the step."""
    return int(window // step_for(window)) + 1


def needed_samples(expected: int) -> int:
    """Given the samples a window holds, return the fewest a trend is drawn from (MIN_COVERAGE of them)."""
    return max(MIN_POINTS, math.ceil(expected * MIN_COVERAGE))


Span = tuple[float, float, int]  # the window's end, the horizon (unix seconds), and the samples the window holds


def _host_resources(
    env: Environment, service: str, host: str, found: dict[str, list[Series]], alerts: Alerts, span: Span
) -> list[ResourceForecast]:
    resources = []
    for kind in ("cpu", "memory"):
        for series in found.get(kind, []):
            threshold = float(getattr(alerts, kind))
            resources.append(_resource(host, service, kind, "%", series.points, threshold, 100.0, 100.0, span))
    network = env.monitoring.network
    for kind, limit in (("network_receive", network.receive_mbps), ("network_transmit", network.transmit_mbps)):
        for series in found.get(kind, []):
            resources.append(
                _resource(host, service, kind, "Mbit/s", series.points, float(limit), None, float(limit), span)
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
        resources.append(_resource(host, service, disk, "GB", used, threshold, total, total, span))
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
    span: Span,
) -> ResourceForecast:
    end, until, expected = span
    values = [value for _, value in points]
    fit: Fit | None = fit_line(points)
    no_trend = _no_trend(fit, (len(points), expected), scale, until)
    trend = fit if no_trend is None else None
    above = _since(points, threshold)
    at_full = _since(points, full) if full is not None else None
    return ResourceForecast(
        host, service, kind, unit, values[-1], percentile(values, 0.5), percentile(values, 0.95), threshold, full,
        _slope_per_day(fit), 0.0 if fit is None else fit.r2, no_trend == NOISY,
        values[-1] if trend is None else max(trend.at(until), 0.0),
        None if above else _when(trend, threshold, end), None if at_full or full is None else _when(trend, full, end),
        len(points), _stamp(points[0][0]), no_trend, above, at_full,
    )  # fmt: skip


NOISY = "too noisy to trust a trend"


def _no_trend(fit: Fit | None, samples: tuple[int, int], scale: float, until: float) -> str | None:
    """Why a series' line is not used (None: it is), given its samples and those the window holds."""
    points, expected = samples
    if fit is None or points < needed_samples(expected):
        return f"not enough data ({points} of {expected} samples, {needed_samples(expected)} needed)"
    if not all(math.isfinite(value) for value in (fit.slope * DAY, fit.at(until))):
        return "values too large for a trend"
    if fit.residual_sd > NOISE * scale:
        return NOISY
    return None


def _slope_per_day(fit: Fit | None) -> float:
    """A line's slope per day, shown even when the line is not trusted (0 without one, or when too large)."""
    slope = 0.0 if fit is None else fit.slope * DAY
    return slope if math.isfinite(slope) else 0.0


def _since(points: list[tuple[float, float]], level: float) -> str | None:
    """Since when the samples have been at or above a level (None: the last one is below it)."""
    if not points or points[-1][1] < level:
        return None
    index = len(points) - 1
    while index > 0 and points[index - 1][1] >= level:
        index -= 1
    return _stamp(points[index][0])


def _when(fit: Fit | None, level: float, end: float) -> str | None:
    if fit is None:
        return None
    moment = fit.crossing(level, end)
    if moment is None or not math.isfinite(moment) or moment > end + 10 * 365 * DAY:
        return None
    return _stamp(moment)


def _stamp(moment: float) -> str:
    return dt.datetime.fromtimestamp(moment, dt.UTC).isoformat(timespec="minutes")


def _projected(resource: ResourceForecast) -> float:
    """What a resource is expected to reach by the horizon: its p95, or its trend's value if higher."""
    return resource.p95 if resource.no_trend else max(resource.p95, resource.at_horizon)


def format_value(value: float) -> str:
    """Given a measured value, return it for reading: one decimal, or three significant digits when huge."""
    return f"{value:.1f}" if abs(value) < 1e6 else f"{value:.3g}"


def family(slug: str) -> str:
    """Given a size slug, return its family (``s``, ``s-amd``, ``g``, ``c``, ``m``…)."""
    parts = [part for part in slug.split("-")[1:] if not part[:1].isdigit()]
    return "-".join([slug.split("-")[0], *parts])


def _advise(
    env: Environment, name: str, resources: list[ResourceForecast], sizes: SizeTable, until: float
) -> Advice | None:
    service = env.services[name]
    own = [r for r in resources if r.service == name]
    current = sizes.size(service.size)
    volume_gb = service.volume.size_gb if service.volume else None
    advice = Advice(name, service.count, service.size, service.size, service.count, volume_gb, volume_gb,
                    _cost(sizes, current, service.count, volume_gb), None)  # fmt: skip
    if not own:
        return None
    advice.warnings = [
        f"{r.host} {r.kind}: {r.no_trend} (p95 {format_value(r.p95)} {r.unit} used instead)" for r in own if r.no_trend
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
        if not service.count * factor <= MAX_COUNT:  # also when infinite
            advice.warnings.append(
                f"needs {format_value(need_vcpus)} vCPU and {format_value(need_memory)} GiB memory per droplet by "
                f"the horizon, more than {MAX_COUNT} of {largest.slug} (the most a service can have): check the "
                f"series (node_exporter on its hosts) or split the service; size and count left as they are"
            )
            return _with_volume(advice, own, sizes, current)
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
    return _with_volume(advice, own, sizes, chosen)


def _with_volume(advice: Advice, own: list[ResourceForecast], sizes: SizeTable, size: Size) -> Advice:
    """Given the advice on size and count, add the volume's and the recommendation's cost."""
    if advice.volume_gb is not None:
        advice.recommended_volume_gb = _volume(own, advice.volume_gb, advice)
    advice.recommended_monthly_cost = _cost(sizes, size, advice.recommended_count, advice.recommended_volume_gb)
    return advice


def _need(resources: list[ResourceForecast], kind: str, capacity: float) -> float:
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


def _volume(resources: list[ResourceForecast], current: int, advice: Advice) -> int:
    used = [r for r in resources if r.kind == "disk_volume" and r.full]
    if not used:
        return current
    needed = max(_projected(r) / (r.threshold / (r.full or 1.0)) for r in used)  # GB the volume must have
    if not needed <= MAX_VOLUME_GB:  # also when infinite
        advice.warnings.append(
            f"the volume would need {format_value(needed)} GB by the horizon, more than the largest volume "
            f"({MAX_VOLUME_GB} GB): check the series (or move data off it); volume left as it is"
        )
        return current
    rounded = min(int(math.ceil(needed / VOLUME_STEP_GB) * VOLUME_STEP_GB), MAX_VOLUME_GB)
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
