"""Types shared by the request and response models: text, amounts, moments, locations,
pages and the error body."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Generic, TypeVar

from fastapi import Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from dispatch_engine.geo.crs import SUPPORTED_CRS

T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
EARLIEST = datetime(2004, 1, 1, tzinfo=UTC)  # the holiday calendar's first year
LATEST = datetime(2100, 1, 1, tzinfo=UTC)


def _clean_text(value: str) -> str:
    """Refuse what no report contains and databases cannot store: control characters and
    lone surrogates (text that is not UTF-8)."""
    if _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode text") from None
    return value


def _plausible_moment(value: datetime) -> datetime:
    if value.utcoffset() is None:
        raise ValueError("give a timezone, e.g. 2025-09-30T10:00:00+08:00")
    if not EARLIEST <= value < LATEST:
        raise ValueError("must be between 2004 and 2099")
    return value


ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=100), AfterValidator(_clean_text)
]
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_clean_text)
]
RefText = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(_clean_text)
]
Moment = Annotated[datetime, AfterValidator(_plausible_moment)]
Yuan = Annotated[
    Decimal,
    Field(ge=0, le=Decimal("1e12"), decimal_places=2, description="Yuan, at most 2 decimals."),
]
Limit = Annotated[int, Field(ge=1, le=500, description="Page size.")]
Offset = Annotated[int, Field(ge=0, le=1_000_000, description="Items to skip.")]
# Ids in paths: letters, digits, dashes (report numbers, vehicle ids).
RECORD_ID = r"^[A-Za-z0-9_-]{1,64}$"


class Strict(BaseModel):
    """Request models refuse unknown fields: a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid")


class LocationIn(Strict):
    """A point as the caller's map gives it; converted to WGS-84 before use."""

    lat: float = Field(ge=-90, le=90, description="Latitude, degrees.", examples=[24.811])
    lon: float = Field(ge=-180, le=180, description="Longitude, degrees.", examples=[113.598])
    crs: str = Field(
        "wgs84",
        max_length=16,
        description=f"Coordinate system: {', '.join(SUPPORTED_CRS)} (GPS/OSM, Amap/Tencent, "
        "Baidu).",
        examples=["wgs84"],
    )


class Page(BaseModel, Generic[T]):
    """One page of a list; ``next_offset`` is null on the last page."""

    items: list[T]
    limit: int
    offset: int
    next_offset: int | None


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["'粤X' is not a Chinese plate"])
    field: str | None = Field(examples=["plate"])


class ErrorOut(BaseModel):
    """The body of every 4xx and 5xx answer."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorOut, "description": "A body that cannot be parsed at all."},
    401: {"model": ErrorOut, "description": "No API key, or an unknown one."},
    403: {"model": ErrorOut, "description": "The key's role may not do this."},
    404: {"model": ErrorOut, "description": "No such record."},
    409: {"model": ErrorOut, "description": "Contradicts stored state (illegal transition)."},
    422: {"model": ErrorOut, "description": "Bad input; `field` names it."},
}


def page(items: list[T], *, limit: int, offset: int) -> Page[T]:
    """A page from ``limit + 1`` fetched items (the extra one only tells that more exist)."""
    more = len(items) > limit
    return Page[T](
        items=items[:limit],
        limit=limit,
        offset=offset,
        next_offset=offset + limit if more else None,
    )


def json_answer(model: BaseModel, *, status_code: int = 200) -> Response:
    """``model`` as the JSON answer, serialised once.

    Why: a sync endpoint that returns a model has FastAPI validate it again against the
    route's ``response_model`` (in a second worker-thread hop) before serialising it. The
    hot path (``POST /v1/incidents``) builds its answer model itself and returns it with
    this; the route keeps ``response_model`` for the OpenAPI document.
    """
    return Response(
        model.model_dump_json(by_alias=True), status_code=status_code, media_type="application/json"
    )
