"""Incidents as the team's process says (``seawall incident``): ``report`` keeps one Markdown report per
incident, prefilled with what Seawall knows and rendered from ``INCIDENT_REPORT_TEMPLATE.md``;
``escalation`` files the escalation issue to the circle owner; ``reports_repo`` is the git repository the
reports live in, where every change is one commit.
"""
