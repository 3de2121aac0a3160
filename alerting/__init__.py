"""Alerting: incidents, grouping, dependencies, maintenance and escalation."""
