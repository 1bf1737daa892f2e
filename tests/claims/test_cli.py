"""The ``deadlines`` and ``triage`` commands through Typer's test runner."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from dispatch_engine.commands import claims as claims_commands


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """A Typer app with only the claims commands registered."""
    application = typer.Typer(pretty_exceptions_enable=False)
    claims_commands.register(application)
    return application


def run(app, *args: str):
    return CliRunner().invoke(app, list(args))


def test_deadlines_json(app):
    """Tier 2 from 2025-09-30 10:00: assessment after the Golden Week; no settlement yet."""
    result = run(
        app, "deadlines", "--reported-at", "2025-09-30T10:00", "--estimate", "12000", "--json"
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["tier"] == 2
    assert payload["assessment_due"] == "2025-10-09T18:00:00+08:00"
    assert payload["settlement_due"] is None


def test_deadlines_with_documents(app):
    """With a documents time the settlement deadline is given; offsets are honoured."""
    result = run(
        app,
        "deadlines",
        "--reported-at",
        "2025-09-30T02:00+00:00",
        "--estimate",
        "5000",
        "--documents-complete-at",
        "2025-10-09T19:30",
        "--json",
    )
    payload = json.loads(result.stdout)
    assert payload["tier"] == 1  # 5,000 is the top of tier 1
    assert payload["assessment_due"] == "2025-09-30T15:00:00+08:00"
    assert payload["settlement_due"] == "2025-10-10T18:00:00+08:00"  # after hours: next day


def test_deadlines_table(app):
    """Without --json a readable table is printed."""
    result = run(app, "deadlines", "--reported-at", "2025-09-30T10:00", "--estimate", "250000")
    assert result.exit_code == 0
    assert "tier" in result.stdout and "5 working days" in result.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--accident", "single_party", "--estimate", "10000"], (True, "single_party_minor")),
        (["--accident", "single_party", "--estimate", "10000.01"], (False, "over_limit")),
        (["--accident", "glass_only", "--estimate", "50000", "--injured", "1"], (False, "injury")),
        (
            ["--accident", "scratch_only", "--estimate", "800", "--third-party-loss"],
            (False, "third_party_loss"),
        ),
        (
            ["--accident", "natural_disaster", "--estimate", "90000", "--disaster", "hail"],
            (True, "natural_disaster"),
        ),
        (
            ["--accident", "natural_disaster", "--estimate", "5000"],
            (True, "natural_disaster"),
        ),
        (["--accident", "multi_party", "--estimate", "100"], (False, "multi_party")),
    ],
)
def test_triage_json(app, args, expected):
    """The waiver decision and its rule, as JSON."""
    result = run(app, "triage", *args, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert (payload["survey_waived"], payload["rule"]) == expected
    assert payload["reason"]


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["deadlines", "--reported-at", "yesterday", "--estimate", "1"], "reported_at"),
        (["deadlines", "--reported-at", "2025-09-30T10:00", "--estimate", "12k"], "estimate"),
        (["deadlines", "--reported-at", "2025-09-30T10:00", "--estimate", "-5"], "estimate"),
        (["deadlines", "--reported-at", "2031-03-03T10:00", "--estimate", "1"], None),
        (["triage", "--accident", "crash", "--estimate", "1"], "accident_type"),
        (
            ["triage", "--accident", "single_party", "--estimate", "1", "--disaster", "hail"],
            "disaster",
        ),
        (["triage", "--accident", "single_party", "--estimate", "1", "--injured", "-1"], "injured"),
        (["triage", "--accident", "single_party", "--estimate", "1.001"], "estimate"),
    ],
)
def test_bad_input_one_line_exit_2(app, args, field):
    """Bad input prints one error line naming the field and exits 2, never a traceback."""
    result = run(app, *args)
    assert result.exit_code == 2
    # commands.common prints through rich, which wraps long lines at the console width
    # (80 without a terminal); undo that wrapping to see the one message.
    message = " ".join(result.stderr.strip().splitlines())
    assert message.startswith(f"error: {field}: " if field else "error: ")
    assert "Traceback" not in result.output and result.stdout == ""
