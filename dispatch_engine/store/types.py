"""Column types that keep the core's values exact on both SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator

from dispatch_engine.claims.calendar import SHANGHAI_TZ
from dispatch_engine.errors import InvalidInputError

# JSON documents: JSONB on PostgreSQL (indexable), JSON text on SQLite.
JsonDocument = JSON().with_variant(JSONB(), "postgresql")


class AwareDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC, read back as Asia/Shanghai.

    PostgreSQL keeps it in ``timestamptz``; SQLite has no time zones, so the UTC wall
    time is stored and text comparison still orders instants correctly.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise InvalidInputError(f"refusing to store naive datetime {value!r}", field="datetime")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(SHANGHAI_TZ)


class YuanAsFen(TypeDecorator[Decimal]):
    """A yuan amount (Decimal, 2 places) stored as whole fen in a BIGINT: exact everywhere,
    which SQLite's NUMERIC (a float underneath) is not. Name such columns ``*_fen``."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        fen = Decimal(value) * 100
        if fen != fen.to_integral_value():
            raise InvalidInputError(f"{value} has fractions of a fen", field="amount_yuan")
        return int(fen)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(int(value)).scaleb(-2)
