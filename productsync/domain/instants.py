"""Instants: timezone-aware, stored in UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from productsync.domain.errors import InvalidInput


def to_utc(value: datetime, *, field: str) -> datetime:
    """An aware datetime in UTC. Naive values are refused (their meaning depends on
    where they were written), and so are instants outside the representable years
    once shifted to UTC (``0001-01-01T00:00+05:00``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{field} must carry a UTC offset", field=field)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput(f"{field} is outside the supported range of dates", field=field) from exc
