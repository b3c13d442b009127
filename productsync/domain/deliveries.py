"""Delivery rules: the retry schedule, when a channel is given up on, and coalescing.

Retry schedule (attempt n fails → next attempt after the n-th delay, ±20 % jitter so a
recovering receiver is not hit by every queued delivery in the same second):

    5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h, 24 h, 24 h, 24 h

That is 12 retries over about 3 days 23 hours (the first soon: most failures are a
receiver restarting); after the last one the delivery is dead
(listed and replayable). A receiver's ``Retry-After`` is honoured when it asks for longer.
A channel failing continuously for 3 days is disabled; ``410 Gone`` disables it at once.
When a failing channel answers again, its waiting retries are made due at once (the
receiver is back; the backlog drains now, coalesced, instead of on each delivery's clock).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

SCHEDULE: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
    timedelta(hours=24),
    timedelta(hours=24),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(SCHEDULE) + 1
DISABLE_AFTER = timedelta(days=3)
MAX_RETRY_AFTER = timedelta(hours=24)
JITTER = 0.2


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    DELIVERED = "delivered"
    SUPERSEDED = "superseded"  # a newer state of the same thing replaced it before it went out
    DEAD = "dead"


@dataclass(frozen=True)
class NextStep:
    status: DeliveryStatus
    next_attempt_at: datetime | None
    disable_channel: bool = False


def after_failure(
    attempts: int,
    now: datetime,
    *,
    retry_after: timedelta | None = None,
    gone: bool = False,
    failing_since: datetime | None = None,
    rng: random.Random | None = None,
) -> NextStep:
    """What to do after the ``attempts``-th failed try of one delivery."""
    if gone:
        return NextStep(DeliveryStatus.DEAD, None, disable_channel=True)
    disable = failing_since is not None and now - failing_since >= DISABLE_AFTER
    if attempts >= MAX_ATTEMPTS:
        return NextStep(DeliveryStatus.DEAD, None, disable_channel=disable)
    base = SCHEDULE[attempts - 1]
    spread = (rng or random).uniform(1 - JITTER, 1 + JITTER)
    delay = base * spread
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return NextStep(DeliveryStatus.PENDING, now + delay, disable_channel=disable)


def parse_retry_after(header: str | None, now: datetime) -> timedelta | None:
    """``Retry-After`` as seconds or an HTTP date; anything unreadable is ignored."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return timedelta(seconds=int(header))
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(timedelta(0), when - now)


@dataclass(frozen=True)
class Queued:
    """A delivery waiting for a channel, as far as coalescing cares."""

    seq: int
    channel_id: object
    aggregate: str | None  # what the event's state is the state of (see ``aggregate_key``)


def aggregate_key(event_type: str, data: dict[str, object], product_id: object) -> str | None:
    """The thing an event carries the full state of: a product, one stock level
    (product at a location), or one product's prices on one list. Two events with the
    same key and channel are successive states of one thing."""
    if product_id is None:
        return None
    if event_type.endswith("stock.changed"):
        level = data.get("level")
        location = level.get("location_id") if isinstance(level, dict) else None
        return f"stock:{product_id}:{location}"
    if event_type.endswith("price.changed"):
        return f"price:{product_id}:{data.get('price_list_id')}"
    if event_type.startswith("productsync.product."):
        return f"product:{product_id}"
    return None


def stale(queue: list[Queued]) -> set[Queued]:
    """The queued deliveries that a newer queued delivery of the same thing to the same
    channel makes pointless. Safe because every event carries the full state and its
    version: delivering only the newest state is what a receiver keeping the highest
    version ends up with anyway, and order per thing is kept because the survivor is the
    latest. Events without an aggregate are never coalesced."""
    newest: dict[tuple[object, str], int] = {}
    for q in queue:
        if q.aggregate is None:
            continue
        key = (q.channel_id, q.aggregate)
        newest[key] = max(newest.get(key, q.seq), q.seq)
    return {q for q in queue if q.aggregate is not None and q.seq < newest[(q.channel_id, q.aggregate)]}


def superseded(queue: list[Queued]) -> set[int]:
    """Sequence numbers of the ``stale`` deliveries (one event may go to several channels
    and be stale for only some of them: match on the whole ``Queued``, not on this)."""
    return {q.seq for q in stale(queue)}
