"""Alembic migrations of the SQL store (run with ``store.migrate.upgrade``)."""
