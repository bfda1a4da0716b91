"""The HTTP face of a running detector: event intake, alerts, users, metrics, dashboard."""
