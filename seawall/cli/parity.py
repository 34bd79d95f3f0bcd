"""``seawall parity A B`` and ``seawall parity --chain``: show, classify and gate environment differences."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from seawall.cli.context import OutputFormat, print_json, settings_of, stdout
from seawall.errors import ConfigError
from seawall.markdown import markdown_table

if TYPE_CHECKING:
    from seawall.model import Environment
    from seawall.parity import Difference, ParityReport

CHAIN_SCHEMA = "seawall.parity-chain/1"
WIDTH = 48
STYLES = {"violation": "red", "missing-in-B": "red", "extra-in-B": "red", "allowed": "green"}


def promotion_chain(envs: dict[str, Environment]) -> list[Environment]:
    """Given every environment, return the longest promotion chain, first environment first."""
    successors = {env.environment.predecessor: env for env in envs.values() if env.environment.predecessor}
    chains = []
    for env in envs.values():
        if env.environment.predecessor is None and env.name in successors:
            chain = [env]
            while chain[-1].name in successors:
                chain.append(successors[chain[-1].name])
            chains.append(chain)
    if not chains:
        msg = "no promotion chain: no environment names another as its predecessor"
        raise ConfigError([msg])
    return max(chains, key=len)


def summary_line(summary: dict[str, int]) -> str:
    """Given a report's summary, return it as one line of text."""
    return (
        f"{summary['resources_compared']} resources compared, {summary['in_parity']} in parity, "
        f"{summary['allowed']} allowed, {summary['violations']} violations"
    )


def _short(value: Any) -> str:
    text = "-" if value is None else str(value).replace("\n", "⏎")
    return text if len(text) <= WIDTH else text[: WIDTH - 1] + "…"


def _rows(report: ParityReport, everything: bool) -> list[Difference]:
    """Given a report, return the rows to show: all, or all but resource-level allowed differences."""
    order = {"violation": 0, "missing-in-B": 0, "extra-in-B": 0, "allowed": 1}
    rows = [d for d in report.model + report.differences if everything or d.type == "model" or d.kind != "allowed"]
    return sorted(rows, key=lambda d: (d.group, order[d.kind], d.type != "model", d.resource, d.path))


def _hidden(report: ParityReport, everything: bool) -> str:
    hidden = 0 if everything else sum(1 for d in report.differences if d.kind == "allowed")
    return f" ({hidden} allowed resource differences not shown: --all shows them)" if hidden else ""


def report_table(report: ParityReport, everything: bool = False) -> Table:
    """Given a report, return a table grouped by service or component."""
    caption = summary_line(report.summary()) + _hidden(report, everything)
    table = Table(title=f"{report.a} → {report.b}", caption=caption)
    for column in ("group", "kind", "resource", "path", report.a, report.b, "reason"):
        table.add_column(column, overflow="fold")
    previous = None
    for d in _rows(report, everything):
        table.add_row(
            d.group if d.group != previous else "",
            f"[{STYLES[d.kind]}]{d.kind}[/]",
            d.resource if d.type != "model" else f"{d.resource} (model)",
            d.path,
            _short(d.a),
            _short(d.b),
            d.reason,
        )
        previous = d.group
    return table


def report_markdown(report: ParityReport, everything: bool = False) -> str:
    """Given a report, return it as Markdown to paste into an issue or a pull request."""
    lines = [
        f"### Parity {report.a} → {report.b}",
        "",
        summary_line(report.summary()) + _hidden(report, everything),
        "",
    ]
    rows = [
        (
            d.group,
            f"**{d.kind}**" if d.kind != "allowed" else d.kind,
            d.resource,
            d.path,
            _short(d.a),
            _short(d.b),
            d.reason,
        )
        for d in _rows(report, everything)
    ]
    lines += markdown_table(("group", "kind", "resource", "path", report.a, report.b, "reason"), rows)
    return "\n".join(lines) + "\n"


def parity_command(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None, typer.Argument(metavar="[A B]", help="Two environments: B is compared with A.")
    ] = None,
    chain: Annotated[bool, typer.Option("--chain", help="Compare each environment with its predecessor.")] = False,
    output: Annotated[OutputFormat, typer.Option("--format", help="table, json or markdown.")] = OutputFormat.table,
    everything: Annotated[
        bool, typer.Option("--all", help="Also list allowed resource-level differences (json always has all).")
    ] = False,
) -> None:
    """Show every difference between environments, classified; exit 1 on any violation, 2 on bad config."""
    from seawall.model import load_environments, load_parity_rules
    from seawall.parity import compare_chain, compare_environments
    from seawall.stacks.offline import offline_renderer

    settings = settings_of(ctx)
    names = names or []
    if chain == bool(names) or (names and len(names) != 2):
        raise typer.BadParameter("give two environments A B, or --chain (not both)")
    renderer = offline_renderer()
    renderer.warm()  # the render processes load the program while this one loads the environments
    rules = load_parity_rules(settings.environments)
    if chain:
        envs = promotion_chain(load_environments(settings.environments))
    else:
        loaded = load_environments(settings.environments, names)
        envs = [loaded[name] for name in names]
    # Which allowance explains an allowed resource difference is shown only with --all or in JSON.
    attribute = everything or output is OutputFormat.json
    if chain:
        reports = compare_chain(envs, rules, renderer, attribute)
    else:  # one pair cannot call an allowance stale: another pair of the chain may need it
        reports = [compare_environments(envs[0], envs[1], rules, renderer, attribute)]
    _print(reports, output, chain, everything)
    if any(report.violations for report in reports):
        raise typer.Exit(1)


def _print(reports: list[ParityReport], output: OutputFormat, chain: bool, everything: bool) -> None:
    stale = reports[0].stale if reports else []
    if output is OutputFormat.json:
        if not chain:
            print_json(reports[0].as_json())
            return
        totals = {key: sum(r.summary()[key] for r in reports) for key in reports[0].summary()}
        print_json(
            {
                "schema": CHAIN_SCHEMA,
                "chain": [reports[0].a, *(r.b for r in reports)],
                "summary": totals,
                "pairs": [r.as_json() for r in reports],
                "stale_allowances": stale,
            }
        )
        return
    if output is OutputFormat.markdown:
        typer.echo("\n".join(report_markdown(report, everything) for report in reports), nl=False)
    else:
        console = stdout()
        for report in reports:
            console.print(report_table(report, everything))
    if chain:
        chain_names = " → ".join([reports[0].a, *(r.b for r in reports)])
        verdict = "in parity" if not any(r.violations for r in reports) else "NOT in parity"
        typer.echo(f"chain {chain_names}: {verdict}")
    for allowance in stale:
        typer.echo(f"stale allowance (no pair of the chain uses it): {allowance}", err=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the app."""
    app.command("parity")(parity_command)
