"""The environment model: schema, validated types and the loader."""

from seawall.model.loader import (
    environment_warnings,
    list_environments,
    load_environment,
    load_environments,
    load_parity_rules,
    require_environment_name,
)
from seawall.model.schema import Environment, ParityRules

__all__ = [
    "Environment",
    "ParityRules",
    "environment_warnings",
    "list_environments",
    "load_environment",
    "load_environments",
    "load_parity_rules",
    "require_environment_name",
]
