"""Backups: the restic adapter, S3/Spaces storage checks, schedules, and the actions built on them."""
