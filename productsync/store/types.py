"""Column types that keep values exact and timezone-correct on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from productsync.domain.quantities import SCALE

_FACTOR = 10**SCALE


def scaled(value: Decimal | int | str) -> int:
    """A quantity as stored: integer thousandths."""
    return int(Decimal(value) * _FACTOR)


class Quantity(TypeDecorator[Decimal]):
    """A Decimal stored as a scaled integer (thousandths).

    SQLite has no exact decimal type, and stock arithmetic happens in SQL
    (``on_hand + :delta >= 0``), so integers are the one representation that is
    exact, comparable and summable on both databases.
    """

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        return scaled(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(int(value)) / _FACTOR).normalize() if value else Decimal(0)


class ExactDecimal(TypeDecorator[Decimal]):
    """Money amounts as canonical decimal text: exact everywhere, never float."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        return None if value is None else str(Decimal(value))

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; always returns an aware UTC datetime (SQLite keeps naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
