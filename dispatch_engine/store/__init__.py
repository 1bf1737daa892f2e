"""Storage: an in-memory store for the dispatch core, and the durable SQL stores (SQLAlchemy
models, Alembic migrations; SQLite from a file path by default, PostgreSQL by DSN)."""
