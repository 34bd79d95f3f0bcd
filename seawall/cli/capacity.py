"""``seawall capacity ENV``: utilisation, forecasts and sizing advice from the environment's Prometheus."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any

import typer

from seawall.cli.context import OutputFormat, print_json, settings_of, stdout, write_output

if TYPE_CHECKING:
    from seawall.capacity.plan import CapacityReport, ResourceForecast
    from seawall.model.schema import Environment


def default_prometheus(env: Environment) -> str:
    """Given an environment, return its Prometheus' address from the model (monitoring.host)."""
    from seawall.errors import UsageError
    from seawall.model.schema import droplet_names

    host, port = env.monitoring.host, env.monitoring.prometheus_port
    if host is None:
        raise UsageError(f"{env.name} names no monitoring.host: give --prometheus URL")
    if host in env.datacenter_hosts:
        return f"http://{env.datacenter_hosts[host].address}:{port}"
    return f"http://{env.private_dns_name(droplet_names(host, env.services[host])[0])}:{port}"


def capacity_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    prometheus: Annotated[
        str | None, typer.Option("--prometheus", help="Prometheus' address (default: the model's monitoring host).")
    ] = None,
    window: Annotated[str, typer.Option("--window", help="How far back to measure (a duration: 30d).")] = "30d",
    horizon: Annotated[str, typer.Option("--horizon", help="How far ahead to plan (a duration: 90d).")] = "90d",
    timeout: Annotated[
        str,
        typer.Option(
            "--timeout",
            help="How long Prometheus' answers may take, all queries together (a duration: 10m); each query "
            "also has its own 2-minute deadline.",
        ),
    ] = "10m",
    output: Annotated[OutputFormat, typer.Option("--format", help="table, json or markdown.")] = OutputFormat.table,
    propose: Annotated[
        bool, typer.Option("--propose", help="Write the recommendations as a patch to environments/ENV.yaml.")
    ] = False,
) -> None:
    """Utilisation (p50/p95), trends and the dates each resource crosses its threshold and 100% (or since when
    it has been above them), the size each service needs until the horizon with its cost, and the backups'
    growth; exit 1 when a host has no data, 2 when Prometheus cannot be reached, refuses a query, sends what
    is not a range query's answer or no complete answer before the deadline.

    Columns: now (latest sample), p50/p95 (over the window), threshold (alert level), trend (the fitted
    line's change per day), crosses threshold / full (its dates, or since when), fit (r², or why no date:
    not enough data (N of M samples, K needed), too noisy, values too large). Units: % for CPU and memory,
    GB for disks, Mbit/s for network."""
    from seawall.capacity.backups import backup_capacity
    from seawall.capacity.plan import build_report, measure
    from seawall.capacity.prometheus import Deadline, check_url
    from seawall.cli.deploy import ledger_dir
    from seawall.errors import UsageError
    from seawall.model import load_environment
    from seawall.model.types import parse_duration
    from seawall.opsdocs.measured import read_measured
    from seawall.sizes import size_table

    settings = settings_of(ctx)
    env = load_environment(settings.environments, env_name)
    try:
        window_span, horizon_span = parse_duration(window), parse_duration(horizon)
        timeout_span = parse_duration(timeout)
    except ValueError as exc:
        raise UsageError(f"--window/--horizon/--timeout: {exc}") from None
    url = check_url(prometheus or default_prometheus(env))
    deadline = Deadline.after(
        timeout_span.total_seconds(), f"the command's --timeout {timeout}", "give a longer --timeout or narrow --window"
    )
    now = dt.datetime.now(dt.UTC)
    sizes = size_table()
    data = measure(env, url, now, window_span, deadline)
    report = build_report(env, data, sizes, now, window_span, horizon_span, url)
    states = read_measured(env, settings.project_root, ledger_dir(settings)).states
    report.backups, bucket = backup_capacity(env, states, settings.project_root, horizon_span, sizes)
    if output is OutputFormat.json:
        print_json(report.as_json() | {"bucket": bucket})
    elif output is OutputFormat.markdown:
        typer.echo(_markdown(report, bucket))
    else:
        _tables(report, bucket)
    if propose:
        _propose(settings.environments, settings.project_root, env.name, report)
    _say_no_data(env, report.no_data, url)
    if report.no_data:
        raise typer.Exit(1)


def _say_no_data(env: Environment, hosts: list[str], url: str) -> None:
    """Given the hosts without series, say so, each with the command that writes what scrapes it."""
    from seawall.monitoring.prometheus import scrape_targets

    targets = {target.labels["host"]: target.address for target in scrape_targets(env)}
    for host in hosts:
        typer.echo(
            f"no data: {host} has no series in {url}: is it scraped? `seawall monitoring render {env.name}` writes "
            f"the configuration that scrapes it ({targets.get(host, host)})",
            err=True,
        )


def _rows(report: CapacityReport) -> list[list[str]]:
    return [_row(resource) for resource in report.resources]


def _row(r: ResourceForecast) -> list[str]:
    from seawall.capacity.plan import format_value

    values = [f"{format_value(value)} {r.unit}" for value in (r.now, r.p50, r.p95, r.threshold)]
    trend = f"{r.slope_per_day:+.3f}" if abs(r.slope_per_day) < 1e6 else f"{r.slope_per_day:+.3g}"
    return [
        r.host, r.kind, *values, f"{trend} {r.unit}/day",
        _crossing(r.crosses_threshold, r.above_threshold_since, r.first_sample, "already above threshold"),
        _crossing(r.crosses_full, r.full_since, r.first_sample, "already full"), r.no_trend or f"r² {r.r2:.2f}",
    ]  # fmt: skip


def _crossing(when: str | None, since: str | None, first_sample: str, already: str) -> str:
    if since is None:
        return when or "-"
    return f"{already} since {'at least ' if since == first_sample else ''}{since}"


RESOURCE_HEADERS = ("host", "resource", "now", "p50", "p95", "threshold", "trend", "crosses threshold", "full", "fit")
RESOURCE_LEGEND = (
    "now: the latest sample; p50, p95: the median and 95th percentile over the window; threshold: the alert "
    "level (% for CPU and memory, GB for disks, Mbit/s for network); trend: the least-squares line's change "
    "per day in that unit; crosses threshold, full: the date the line reaches the threshold and 100% (a "
    "disk's size; none for network), or since when it has been there; fit: r² of the line (1 is a perfect "
    "fit), or why no date is forecast (not enough data (N of M samples, K needed): N samples of the M the "
    "window holds at the query's step; too noisy to trust a trend; values too large for a trend)"
)
ADVICE_HEADERS = ("service", "size", "count", "volume GB", "cost change/month", "why")


def _arrow(old: object, new: object) -> str:
    old, new = ("-" if value is None else value for value in (old, new))
    return f"{old} → {new}" if old != new else str(old)


def _advice_rows(report: CapacityReport) -> list[list[str]]:
    rows = []
    for a in report.advice:
        change = "-" if a.cost_change is None else f"{a.cost_change:+.2f}"
        why = "; ".join(a.reasons + a.warnings) or "fits until the horizon"
        rows.append([a.service, _arrow(a.size, a.recommended_size), _arrow(a.count, a.recommended_count),
                     _arrow(a.volume_gb, a.recommended_volume_gb), change, why])  # fmt: skip
    return rows


def _backup_rows(report: CapacityReport) -> list[list[str]]:
    def gib(value: float | None) -> str:
        return "unknown" if value is None else f"{value / 1024**3:.2f}"

    return [
        [row["set"], gib(row["bytes"]), gib(row["growth_per_day"]), gib(row["bytes_at_horizon"])]
        for row in report.backups
    ]


BACKUP_HEADERS = ("set", "repository GiB", "growth GiB/day", "GiB at horizon")


def _tables(report: CapacityReport, bucket: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout()
    horizon = round(report.horizon_seconds / 86400)
    for title, headers, rows in (
        (f"capacity of {report.environment} (from {report.prometheus})", RESOURCE_HEADERS, _rows(report)),
        (f"sizing until {horizon} days ahead (sizes of {report.sizes_as_of})", ADVICE_HEADERS, _advice_rows(report)),
        ("backup repositories", BACKUP_HEADERS, _backup_rows(report)),
    ):
        table = Table(title=title)
        for header in headers:
            table.add_column(header, overflow="fold")
        for row in rows:
            table.add_row(*row)
        console.print(table)
        if headers is RESOURCE_HEADERS:
            console.print(RESOURCE_LEGEND, markup=False)
    console.print(_bucket_line(bucket), markup=False)


def _bucket_line(bucket: dict[str, Any]) -> str:
    if bucket["bytes"] is None:
        return f"bucket {bucket['where']}: size unknown (export the bucket's keys to measure it)"
    cost = "" if bucket["monthly_cost"] is None else (
        f"; {bucket['monthly_cost']:.2f} → {bucket['monthly_cost_at_horizon']:.2f} USD/month"
    )  # fmt: skip
    return (
        f"bucket {bucket['where']}: {bucket['bytes'] / 1024**3:.2f} GiB now, "
        f"{bucket['bytes_at_horizon'] / 1024**3:.2f} GiB at the horizon{cost}"
    )


def _markdown(report: CapacityReport, bucket: dict[str, Any]) -> str:
    from seawall.markdown import markdown_table

    lines = [f"# Capacity of {report.environment}", ""]
    lines += [*markdown_table(RESOURCE_HEADERS, _rows(report)), "", RESOURCE_LEGEND, "", "## Sizing", ""]
    lines += [*markdown_table(ADVICE_HEADERS, _advice_rows(report)), "", "## Backups", ""]
    lines += [*markdown_table(BACKUP_HEADERS, _backup_rows(report)), "", _bucket_line(bucket)]
    return "\n".join(lines)


def _propose(environments: Any, project_root: Any, env_name: str, report: CapacityReport) -> None:
    from seawall.capacity.propose import as_patch, proposal

    changes: dict[str, dict[str, Any]] = {}
    for advice in report.advice:
        fields: dict[str, Any] = {}
        if advice.recommended_size != advice.size:
            fields["size"] = advice.recommended_size
        if advice.recommended_count != advice.count:
            fields["count"] = advice.recommended_count
        if advice.recommended_volume_gb != advice.volume_gb:
            fields["volume_gb"] = advice.recommended_volume_gb
        if fields:
            changes[advice.service] = fields
    if not changes:
        typer.echo("nothing to propose: every service fits until the horizon", err=True)
        return
    source = environments / f"{env_name}.yaml"
    before = source.read_text(encoding="utf-8")
    patch = as_patch(env_name, before, proposal(before, changes))
    target = project_root / "reports" / f"capacity-{env_name}.patch"
    write_output(target, patch, "make reports/ of the project writable")
    typer.echo(
        f"proposal: {target} (review it, `git apply` it, then seawall validate, parity and guard as for any change)"
    )


def register(root: typer.Typer) -> None:
    """Add the ``capacity`` command to the app."""
    root.command("capacity")(capacity_command)
