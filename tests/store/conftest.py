"""Store tests run against both databases (see ``databases.py``)."""

from tests.store.databases import engine, postgres_engine, sqlite_template, store  # noqa: F401
