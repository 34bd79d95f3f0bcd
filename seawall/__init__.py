"""Seawall: infrastructure as code and backup drills for an operations team."""

__version__ = "0.1.0"
