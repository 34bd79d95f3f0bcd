"""Logging set-up and secret masking. Log lines go to stderr; every known secret is masked in them."""

from __future__ import annotations

import logging
import sys
import threading

MASK = "***"
_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Given a secret value, make sure it is masked in every later log line and masked text."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def mask(text: str) -> str:
    """Given any text, return it with every registered secret replaced by ``***``."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class MaskingFilter(logging.Filter):
    """A filter that rewrites each record's message with every secret masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = mask(record.getMessage())
        record.args = None
        return True


def configure_logging(verbosity: int) -> None:
    """Given -1 (quiet), 0, 1 or 2 (very verbose), send log lines of that level and up to stderr."""
    level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(verbosity, logging.DEBUG)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("seawall: %(levelname)s: %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_seawall", False):
            root.removeHandler(old)
    handler._seawall = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
