"""How long the CLI takes to start, against `python -c "import typer, rich"` measured in the same run.

Prints the best of several runs of `seawall --help`, `seawall --version` and `seawall validate` (all
environments) and each one's ratio to the baseline. Targets (#36): --help and --version within 1.3x;
`validate` within 1.25x its own floor "load, no CLI" (the old 2x of the baseline is below what pydantic and
typer allow, and is retired). Command modules load only when their command runs; `validate` also pays for
importing pydantic and building the model's validators.

Three floors follow, so the validate ratio can be read: a bare typer command with the same options doing
nothing (typer 0.29 parses every option through a pydantic TypeAdapter, so any command with options
imports pydantic), importing the model alone (pydantic with the model's classes), and loading the
shipped environments without the CLI (the model's validators built and run, nothing parsed or printed).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 9
BARE_COMMAND = """
import enum, pathlib, typer
from typing import Annotated
class Form(enum.StrEnum):
    table = "table"
    json = "json"
app = typer.Typer()
@app.callback()
def configure(environments: pathlib.Path = pathlib.Path("environments"), verbose: int = 0, quiet: bool = False):
    pass
@app.command()
def validate(names: Annotated[list[str] | None, typer.Argument()] = None, output: Form = Form.table):
    pass
app(["validate"], standalone_mode=False)
"""

LOAD_ONLY = """
import os, pathlib, typer, rich
os.environ["PYDANTIC_DISABLE_PLUGINS"] = "__all__"  # as the CLI sets it
from seawall.model import load_environments, load_parity_rules
load_environments(pathlib.Path("environments"))
load_parity_rules(pathlib.Path("environments"))
"""


def best_seconds(argv: list[str]) -> float:
    """Given a command, return the shortest wall time of RUNS runs (the least disturbed one)."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    """Measure and print."""
    seawall = [str(Path(sys.executable).with_name("seawall"))]
    baseline = best_seconds([sys.executable, "-c", "import typer, rich"])
    print(f"{'python -c import typer, rich':<28} {baseline * 1000:7.1f} ms")
    for label, argv in (("seawall --help", [*seawall, "--help"]), ("seawall --version", [*seawall, "--version"])):
        seconds = best_seconds(argv)
        print(f"{label:<28} {seconds * 1000:7.1f} ms  ratio {seconds / baseline:5.2f} (target <= 1.3)")
    validate = best_seconds([*seawall, "validate"])
    print(f"{'seawall validate':<28} {validate * 1000:7.1f} ms  ratio {validate / baseline:5.2f}")
    floor = 0.0
    for label, argv in (
        ("floor: typer, same options", [sys.executable, "-c", BARE_COMMAND]),
        ("floor: import the model", [sys.executable, "-c", "import typer, rich, seawall.model"]),
        ("floor: load, no CLI", [sys.executable, "-c", LOAD_ONLY]),
    ):
        floor = best_seconds(argv)
        print(f"{label:<28} {floor * 1000:7.1f} ms  ratio {floor / baseline:5.2f}")
    print(f"{'validate / load, no CLI':<28} {'':7}     ratio {validate / floor:5.2f} (target <= 1.25)")


if __name__ == "__main__":
    main()
