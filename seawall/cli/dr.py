"""``seawall dr rehearse ENV``: rebuild the hosts that hold data on fresh machines from the model and the
backups, prove the data, and time it against the DR plan."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

import typer
from rich.table import Table

from seawall.cli.backup import FromOpt, Source
from seawall.cli.context import TableOrJson, print_json, settings_of, stdout

app = typer.Typer(help="Disaster recovery: rehearse rebuilding hosts from the model and the backups.")


@app.command("rehearse")
def rehearse_command(
    ctx: typer.Context,
    env_name: Annotated[str, typer.Argument(metavar="ENV", help="Environment.")],
    host: Annotated[
        list[str] | None,
        typer.Option(
            "--host", metavar="HOST", help="Rebuild this host (repeatable; default: every host that holds data)."
        ),
    ] = None,
    snapshot: Annotated[
        str,
        typer.Option(
            "--snapshot",
            help="auto (the newest; the newest verified when it does not restore), latest, verified, or a time.",
        ),
    ] = "auto",
    source: FromOpt = Source.primary,
    keep: Annotated[bool, typer.Option("--keep", help="Leave the rebuilt hosts running for inspection.")] = False,
    issue: Annotated[str | None, typer.Option("--issue", help="The issue the restores are logged under.")] = None,
    output: Annotated[TableOrJson, typer.Option("--format", help="table or json.")] = TableOrJson.table,
) -> None:
    """Rebuild hosts on fresh machines (a temporary stack ENV-dr-<date> in the DR region), restore every set in
    place, run its checks and the service's health, and time it; exit 1 when a target is missed or a check
    fails, 2 without the Pulumi CLI.

    Each set's time from its host's rebuild to its data verified is its measured RTO, the age of the snapshot
    restored its achieved RPO; the report (JSON and Markdown) names what failed and the runbook to follow."""
    from seawall.backup.context import state_store
    from seawall.dr import stack
    from seawall.dr.engine import Request, rehearse
    from seawall.dr.plan import check_pick, hosts_to_rebuild
    from seawall.dr.report import record_rehearsal, report_json
    from seawall.files import resolve
    from seawall.model import load_environment

    settings = settings_of(ctx)
    env = load_environment(settings.environments, env_name)
    hosts = hosts_to_rebuild(env, host or [])
    if not host:  # a temporary stack makes droplets: the data-center hosts are rehearsed on the team's spares
        skipped = [name for name in hosts if name in env.datacenter_hosts]
        hosts = [name for name in hosts if name not in env.datacenter_hosts]
        if skipped:
            logging.getLogger(__name__).warning(
                "not rehearsed here (data-center hosts: rebuild them on a spare machine, or in the lab): %s",
                ", ".join(skipped),
            )
    day = dt.datetime.now(dt.UTC).date()
    request = Request(hosts, check_pick(snapshot), source.value, keep, issue or f"dr-rehearsal-{day:%Y%m%d}")
    machines = stack.make_machines(env, settings.environments, settings.project_root, hosts, day)
    result = rehearse(env, request, machines)
    report = report_json(result)
    store = state_store(env, settings.project_root)
    reports = resolve(settings.project_root, env.backup.reports_dir) / env.name / "dr"
    metrics = resolve(settings.project_root, env.backup.metrics_dir)
    path = record_rehearsal(store, reports, metrics, report, env.dr.rehearsal_interval)
    if output is TableOrJson.json:
        print_json({**report, "report_path": str(path)})
    else:
        stdout().print(_table(report))
        typer.echo(f"report: {path} (and {path.with_suffix('.md')})")
    for failure in report["failures"]:
        where = " ".join(filter(None, (failure["host"], failure["set"])))
        typer.echo(f"{where + ': ' if where else ''}{failure['message']} (runbook: {failure['runbook']})", err=True)
    if report["result"] != "passed":
        raise typer.Exit(1)


def _table(report: dict[str, Any]) -> Table:
    table = Table(title=f"DR rehearsal of {report['environment']} ({report['stack']})")
    for column in ("host", "set", "result", "snapshot", "RPO (age)", "RTO (to verified)", "detail"):
        table.add_column(column, overflow="fold")
    for host in report["hosts"]:
        for s in host["sets"]:
            style = "green" if s["passed"] else "bold red"
            table.add_row(
                host["host"],
                s["set"],
                f"[{style}]{'passed' if s['passed'] else 'failed'}[/]",
                str(s["snapshot"].get("short_id") or "-"),
                _of(s["rpo"]),
                _of(s["rto"]),
                s["error"] or s["note"],
            )
        if host["error"] and not host["sets"]:
            table.add_row(host["host"], "-", "[bold red]failed[/]", "-", "-", "-", host["error"])
    return table


def _of(entry: dict[str, Any]) -> str:
    seconds = entry.get("seconds")
    return "-" if seconds is None else f"{seconds:.0f}s / {entry['target_seconds']:.0f}s"


def register(root: typer.Typer) -> None:
    """Add the ``dr`` group to the app."""
    root.add_typer(app, name="dr")
