"""Instants: timezone-aware, stored in UTC."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

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


class Clock(Protocol):
    """Where "now" comes from for decisions that depend on the time of day (what is
    due, what has expired). Injected (see ``bootstrap.Hub``) so tests move time forward
    instead of sleeping."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class ManualClock:
    """A clock that stands still until moved (tests, replays)."""

    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def now(self) -> datetime:
        return self.at

    def advance(self, delta: timedelta) -> datetime:
        self.at += delta
        return self.at
