"""``python -m seawall`` runs the CLI."""

from seawall.cli.app import run

if __name__ == "__main__":  # never when a render process imports the main module (multiprocessing)
    run()
