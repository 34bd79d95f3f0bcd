"""``python -m seawall`` runs the CLI."""

from seawall.cli.app import run

run()
