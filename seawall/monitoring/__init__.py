"""Monitoring as code: Prometheus and Alertmanager configuration from the model alone."""

from seawall.monitoring.prometheus import *  # noqa: F403 - for one commit, while the module splits in three
