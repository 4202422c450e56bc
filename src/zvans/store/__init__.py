"""Persistence: SQLAlchemy models, the event log, migrations and repositories."""
