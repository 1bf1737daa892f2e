"""API fixtures: the app on a real database (SQLite always, PostgreSQL when
DISPATCH_TEST_PG_URL is set), over the small test grid and a small fleet file."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.exceptions import StarletteDeprecationWarning

from api.main import create_app
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.network.compile import compile_graph
from dispatch_engine.settings import Settings, load_settings
from dispatch_engine.store.dispatch_sql import SqlApiKeys
from dispatch_engine.store.scratch import empty_tables, postgres_schema
from tests.claims.factories import ID_NUMBER, PHONE, at
from tests.fleet.factories import fleet_document, write_fleet_file
from tests.store.databases import PG_ENV

with warnings.catch_warnings():
    # Starlette's test client asks for the "httpx2" fork; httpx works the same here.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

START = "2025-09-30 10:05"  # a Tuesday, inside business hours
ROLES = ("dispatcher", "claims", "planner", "admin")


def api_fleet_document() -> dict[str, Any]:
    """``fleet_document()`` (ten survey cars, A/B pairs) plus a flatbed pair and a pair of
    repair vans (the technicians of the value-added services)."""
    document = fleet_document()
    document["vehicles"] += [
        {
            "id": f"TF-{i}",
            "kind": "tow_flatbed",
            "base_id": "B0",
            "shifts": ["around_the_clock"],
            "partner_id": f"TF-{1 - i}",
        }
        for i in range(2)
    ]
    document["vehicles"] += [
        {
            "id": f"RP-{i}",
            "kind": "repair",
            "base_id": "B0",
            "shifts": ["around_the_clock"],
            "partner_id": f"RP-{1 - i}",
        }
        for i in range(2)
    ]
    return document


def report_body(**changes: Any) -> dict[str, Any]:
    """A valid report in the Shaoguan urban core (on the test grid): a two-car collision,
    12,000 yuan, reported 2025-09-30 10:00 — never survey-waived."""
    body: dict[str, Any] = {
        "location": {
            "lat": 24.811,
            "lon": 113.598,
            "crs": "wgs84",
            "address": "韶关市浈江区解放路1号",
        },
        "reported_at": "2025-09-30T10:00:00+08:00",
        "plate": "粤F1234警",
        "vehicle_model": "大众帕萨特",
        "driver": {"name": "张三", "phone": PHONE, "id_number": ID_NUMBER},
        "accident": "multi_party",
        "third_parties": [{"name": "李四", "plate": "粤B12345", "property_loss": True}],
        "estimate": "12000",
        "description": "路口两车碰撞，对方车尾受损",
    }
    body.update(changes)
    return body


@pytest.fixture(scope="session")
def grid_network_file(tmp_path_factory, grid_graph) -> Path:
    """The 8x8 test grid compiled to a .npz, as ``settings.network`` selects it."""
    path = tmp_path_factory.mktemp("network") / "grid.npz"
    compile_graph(grid_graph).save(path)
    return path


@pytest.fixture(scope="session")
def api_fleet_file(tmp_path_factory) -> Path:
    return write_fleet_file(tmp_path_factory.mktemp("fleet"), api_fleet_document())


@contextmanager
def database_url(backend: str, directory: Path) -> Iterator[str]:
    """A database per backend: a SQLite file in ``directory``, or a scratch PostgreSQL
    schema (dropped afterwards); skips when PostgreSQL is not configured."""
    if backend == "sqlite":
        yield str(directory / "api.sqlite3")
        return
    dsn = os.environ.get(PG_ENV)
    if not dsn:
        pytest.skip(f"{PG_ENV} is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    with postgres_schema(dsn, prefix="test_api") as url:
        yield url.render_as_string(hide_password=False)


def api_settings(database: str, network: Path, fleet: Path) -> Settings:
    """Settings of an API on ``database`` over the test grid and fleet, no background checks."""
    return load_settings(
        db_url=database, network=str(network), fleet_file=fleet, escalation_check_s=0
    )


@pytest.fixture(scope="session")
def api_clock() -> ManualClock:
    return ManualClock(at(START))


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def session_app(
    request, tmp_path_factory, grid_network_file, api_fleet_file, api_clock
) -> Iterator[FastAPI]:
    """One app per backend for the whole session (building one per test is slow)."""
    with database_url(request.param, tmp_path_factory.mktemp("db")) as database:
        settings = api_settings(database, grid_network_file, api_fleet_file)
        app = create_app(settings, clock=api_clock)
        yield app
        app.state.services.close()


@pytest.fixture
def app(session_app, api_clock) -> FastAPI:
    """The session's app with an empty database, every vehicle back at its base, the clock
    at 2025-09-30 10:05."""
    services = session_app.state.services
    empty_tables(services.engine)
    services.store.sync_fleet()
    api_clock.set(at(START))
    return session_app


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def keys(app) -> dict[str, dict[str, str]]:
    """A fresh key per role, as request headers: ``keys["dispatcher"]``."""
    store = SqlApiKeys(app.state.services.engine)
    return {role: {"X-API-Key": store.create(role)[1]} for role in ROLES}


@pytest.fixture
def clock(api_clock) -> ManualClock:
    return api_clock
