"""Monitoring as code: Prometheus and Alertmanager configuration from the model alone.

``alerts`` is the catalogue of the alerts Seawall writes, ``prometheus`` the scrape configuration and the
rules over them, ``alertmanager`` the routing by severity and hours, ``files`` the rendered files and where
they are installed. Callers import the module they need.
"""
