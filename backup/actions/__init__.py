"""Backup actions: thin steps that say what they are about to do (or would do) and call the adapters."""
