"""Reports: the month's compliance figures (planner) and a claim's commitment letter
(claims handler). Both are computed by ``dispatch_engine.reports``, the same functions the
CLI calls, so the API and the files agree to the number."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from api.auth import Role
from api.deps import Handling, ServicesDep, _role
from api.schemas.common import ERROR_RESPONSES
from dispatch_engine.claims.calendar import BusinessCalendar, load_calendar_overrides
from dispatch_engine.reports.compliance import compliance_figures, report_dict
from dispatch_engine.reports.letters import claim_zone, render_letter
from dispatch_engine.store.dispatch_sql import ApiKey

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)
Planning = Annotated[ApiKey, Depends(_role(Role.PLANNER))]
Number = Annotated[str, Path(pattern=r"^SG-\d{8}-\d{6,9}$", examples=["SG-20251130-000123"])]
MEDIA_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


@router.get("/v1/reports/compliance")
def compliance_report(
    caller: Planning,
    services: ServicesDep,
    month: Annotated[
        str, Query(pattern=r"^\d{4}-\d{2}$", examples=["2026-03"], description="YYYY-MM")
    ],
) -> dict[str, Any]:
    """The month's kept and broken promises per zone and district, every breach with its
    reason; open deadlines are judged at the server's now."""
    return report_dict(
        compliance_figures(
            services.engine,
            month,
            classifier=services.dispatcher.classifier,
            as_of=services.now(),
        )
    )


@router.get(
    "/v1/claims/{number}/letter",
    response_class=Response,
    responses={200: {"content": {media: {} for media in MEDIA_TYPES.values()}}},
)
def commitment_letter(
    number: Number,
    caller: Handling,
    services: ServicesDep,
    format: Annotated[Literal["html", "pdf"], Query()] = "html",  # noqa: A002 (the query name)
) -> Response:
    """The claim's written commitment (书面承诺函): tier, deadlines, response guarantees and
    value-added services, in Chinese, as HTML or PDF."""
    claim = services.claims.get(number)
    settings = services.settings
    calendar = BusinessCalendar(
        overrides=()
        if settings.calendar_file is None
        else load_calendar_overrides(settings.calendar_file)
    )
    content = render_letter(
        claim,
        zone=claim_zone(claim, services.dispatcher.classifier),
        calendar=calendar,
        issued_at=services.now(),
        fmt=format,
    )
    return Response(
        content,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'inline; filename="{claim.number}.{format}"'},
    )
