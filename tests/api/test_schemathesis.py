"""Property-based API test: schemathesis generates requests from the app's own OpenAPI
document (valid and invalid ones) and checks every answer: never a 5xx, a documented status
and content type, a body matching the documented schema, schema-invalid input refused."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from api.main import create_app
from dispatch_engine.dispatch.ports import ManualClock
from dispatch_engine.store.dispatch_sql import SqlApiKeys
from tests.api.conftest import START, api_settings
from tests.claims.factories import at

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]  # auth itself is tested in test_auth.py: every case here carries an admin key


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory, grid_network_file, api_fleet_file):
    """A SQLite app of its own: the fuzzer fills it with whatever it generates."""
    database = str(tmp_path_factory.mktemp("fuzz") / "api.sqlite3")
    app = create_app(
        api_settings(database, grid_network_file, api_fleet_file), clock=ManualClock(at(START))
    )
    yield app
    app.state.services.close()


@pytest.fixture(scope="module")
def admin_headers(fuzzed_app):
    return {"X-API-Key": SqlApiKeys(fuzzed_app.state.services.engine).create("admin")[1]}


def test_every_operation_answers_generated_requests_within_its_contract(fuzzed_app, admin_headers):
    """For each operation, schema-valid and schema-invalid requests (a bounded number each)
    get a documented, well-formed answer and never a 5xx."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, 8), (GenerationMode.NEGATIVE, 6)):

            @given(case=operation.as_strategy(generation_mode=mode, headers=admin_headers))
            @settings(
                max_examples=examples,
                deadline=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def answers(case):
                case.call_and_validate(checks=CHECKS)

            try:
                answers()
            except Unsatisfiable:
                # An operation without inputs (GET /healthz) has no invalid request.
                assert mode is GenerationMode.NEGATIVE
