"""Prometheus metrics (``GET /metrics``): requests, latencies, assignments and breaches.

Each app has its own registry, so several apps in one process (tests) never share counts.
Assignments and escalations are counted from the committed incident changes the SQL
store reports (``SqlDispatchStore(observer=...)``), whichever endpoint caused them.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch_engine.dispatch.model import Incident

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0)


class Metrics:
    """The app's counters and histograms."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "dispatch_api_requests",
            "HTTP requests answered, by route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "dispatch_api_request_duration_seconds",
            "Time from request to the end of the response, by route template.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        self.assignments = Counter(
            "dispatch_assignments",
            "Vehicles assigned to incidents, by kind and whether the guarantee can be met.",
            ["kind", "meets_guarantee"],
            registry=self.registry,
        )
        self.escalations = Counter(
            "dispatch_escalations",
            "Escalations raised: breaches likely (arrival_at_risk, no_vehicle) or "
            "happened (call_overdue, arrival_overdue).",
            ["kind"],
            registry=self.registry,
        )

    def observe_incident(self, before: Incident | None, after: Incident) -> None:
        """Count the assignments and escalations ``after`` adds to ``before``."""
        known = (
            set() if before is None else {(a.vehicle_id, a.assigned_at) for a in before.assignments}
        )
        for assignment in after.assignments:
            if (assignment.vehicle_id, assignment.assigned_at) not in known:
                self.assignments.labels(
                    str(assignment.kind), str(assignment.meets_guarantee).lower()
                ).inc()
        raised = 0 if before is None else len(before.escalations)
        for escalation in after.escalations[raised:]:
            self.escalations.labels(str(escalation.kind)).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (not its raw path, so
    ids in paths do not explode the label set)."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
