"""Durable storage: SQLAlchemy models, Alembic migrations and the SQL implementations of the
core's store protocols. SQLite (a file path) by default, PostgreSQL by DSN."""
