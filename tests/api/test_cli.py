"""``dispatch-engine keys create`` (a key printed once, stored hashed) and the server's
masked logging."""

from __future__ import annotations

import logging.config

from typer.testing import CliRunner

from dispatch_engine.cli import app
from dispatch_engine.commands.api import masked_log_config
from dispatch_engine.store.db import make_engine
from dispatch_engine.store.dispatch_sql import SqlApiKeys
from tests.claims.factories import ID_NUMBER


def test_keys_create_prints_a_working_key_once(tmp_path):
    """The printed key authenticates with its role; the database keeps only its hash."""
    database = tmp_path / "keys.sqlite3"
    result = CliRunner().invoke(app, ["keys", "create", "--role", "planner", "--db", str(database)])
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    engine = make_engine(database)
    try:
        found = SqlApiKeys(engine).lookup(key)
        with engine.connect() as connection:
            stored = connection.exec_driver_sql("SELECT key_hash FROM api_keys").scalars().all()
    finally:
        engine.dispose()
    assert found is not None and found.role == "planner"
    assert key not in stored


def test_keys_create_refuses_an_unknown_role(tmp_path):
    """An unknown role is a one-line error with exit code 2, and no key."""
    database = tmp_path / "keys.sqlite3"
    result = CliRunner().invoke(app, ["keys", "create", "--role", "boss", "--db", str(database)])
    assert result.exit_code == 2
    assert "role" in result.output and "sgd_" not in result.output


def test_server_logs_mask_phone_and_id_numbers(capsys):
    """With the server's logging config, a phone or ID number logged by the app is masked."""
    config = masked_log_config()
    loggers = [logging.getLogger(name) for name in config["loggers"]]
    saved = [(lg, lg.handlers[:], lg.level, lg.propagate, lg.disabled) for lg in loggers]
    try:
        logging.config.dictConfig(config)
        logging.getLogger("api.test").warning("driver 13812345678, ID %s", ID_NUMBER)
    finally:
        for logger, handlers, level, propagate, disabled in saved:
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate, logger.disabled = propagate, disabled
    logged = capsys.readouterr().err
    assert "13812345678" not in logged and ID_NUMBER not in logged
    assert "138****5678" in logged and ID_NUMBER[-4:] in logged
