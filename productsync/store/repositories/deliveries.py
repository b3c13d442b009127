"""Deliveries (one per event and channel) and the fan-out cursor.

Claiming follows one rule for ordering: for each (channel, aggregate) only the oldest
waiting delivery may be taken, and only while no other delivery of that pair is in
flight. On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED`` so
several workers take disjoint work; on SQLite the single writer does the same job.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.engine import Row

from productsync.domain.deliveries import DeliveryStatus
from productsync.store.repositories.base import Repository
from productsync.store.tables import channels, deliveries, dispatcher_cursors, outbox

_D = deliveries.c
_FANOUT_LOCK = 0x5053_4641_4E4F_5554
_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.IN_FLIGHT.value)


_DELIVERED = (
    update(deliveries)
    .where(_D.id == bindparam("b_id"))
    .values(
        status=DeliveryStatus.DELIVERED.value,
        delivered_at=bindparam("b_now"),
        last_status_code=bindparam("b_code"),
        latency_ms=bindparam("b_latency"),
        claimed_until=None,
        last_error=None,
    )
)


class DeliveryRepository(Repository):
    async def lock_fanout(self) -> None:
        """One fan-out at a time (PostgreSQL); SQLite's single writer already ensures it."""
        if self.is_postgres:
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _FANOUT_LOCK})

    async def has_work(self, name: str, now: datetime) -> bool:
        """Cheap read-only probe: new events past the cursor, or deliveries due."""
        cursor = (
            await self.conn.execute(select(dispatcher_cursors.c.seq).where(dispatcher_cursors.c.name == name))
        ).scalar_one_or_none()
        backfill = select(channels.c.id).where(channels.c.backfill_requested_at.is_not(None)).limit(1)
        if (await self.conn.execute(backfill)).first() is not None:
            return True
        unsequenced = select(outbox.c.id).where(outbox.c.seq.is_(None)).limit(1)
        if (await self.conn.execute(unsequenced)).first() is not None:
            return True
        newer = select(outbox.c.id).where(outbox.c.seq > (cursor or 0)).limit(1)
        if (await self.conn.execute(newer)).first() is not None:
            return True
        due = (
            select(_D.id)
            .where(
                or_(
                    and_(_D.status == DeliveryStatus.PENDING.value, _D.next_attempt_at <= now),
                    and_(_D.status == DeliveryStatus.IN_FLIGHT.value, _D.claimed_until < now),
                )
            )
            .limit(1)
        )
        return (await self.conn.execute(due)).first() is not None

    async def cursor(self, name: str, now: datetime) -> int:
        await self.conn.execute(
            self.insert_ignore(dispatcher_cursors, {"name": name, "seq": 0, "updated_at": now})
        )
        stmt = select(dispatcher_cursors.c.seq).where(dispatcher_cursors.c.name == name)
        return int((await self.conn.execute(stmt)).scalar_one())

    async def set_cursor(self, name: str, seq: int, now: datetime) -> None:
        await self.conn.execute(
            update(dispatcher_cursors)
            .where(dispatcher_cursors.c.name == name)
            .values(seq=seq, updated_at=now)
        )

    async def add(self, rows: list[dict[str, Any]]) -> None:
        # ON CONFLICT keeps a re-run fan-out from duplicating work; chunks keep each
        # statement under SQLite's bound-parameter limit.
        for start in range(0, len(rows), 500):
            await self.conn.execute(self.insert_ignore(deliveries, rows[start : start + 500]))

    async def make_due(self, channel_id: uuid.UUID, now: datetime) -> int:
        """A channel that was failing answered again: its waiting retries go now."""
        result = await self.conn.execute(
            update(deliveries)
            .where(
                _D.channel_id == channel_id,
                _D.status == DeliveryStatus.PENDING.value,
                _D.next_attempt_at > now,
            )
            .values(next_attempt_at=now)
        )
        return int(result.rowcount or 0)

    async def make_first_due(self, channel_id: uuid.UUID, now: datetime) -> int:
        """The channel's oldest delivery waiting out a back-off goes now (the oldest, so
        the per-pair ordering lets the claim take it)."""
        first = (
            select(_D.id)
            .where(
                _D.channel_id == channel_id,
                _D.status == DeliveryStatus.PENDING.value,
                _D.next_attempt_at > now,
            )
            .order_by(_D.event_seq)
            .limit(1)
            .scalar_subquery()
        )
        result = await self.conn.execute(update(deliveries).where(_D.id == first).values(next_attempt_at=now))
        return int(result.rowcount or 0)

    async def waiting(self, limit: int = 10_000) -> list[Row[Any]]:
        stmt = (
            select(_D.id, _D.event_seq, _D.channel_id, _D.aggregate)
            .where(_D.status == DeliveryStatus.PENDING.value)
            .order_by(_D.event_seq)
            .limit(limit)
        )
        return list(await self.conn.execute(stmt))

    async def mark_superseded(self, ids: list[int], now: datetime) -> None:
        if ids:
            await self.conn.execute(
                update(deliveries)
                .where(_D.id.in_(ids), _D.status == DeliveryStatus.PENDING.value)
                .values(status=DeliveryStatus.SUPERSEDED.value, delivered_at=now)
            )

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Row[Any]]:
        """Take due deliveries (and ones whose lease ran out), oldest first, one per
        (channel, aggregate), none whose pair is already in flight elsewhere."""
        due = or_(
            and_(_D.status == DeliveryStatus.PENDING.value, _D.next_attempt_at <= now),
            and_(_D.status == DeliveryStatus.IN_FLIGHT.value, _D.claimed_until < now),
        )
        stmt = select(_D.id, _D.channel_id, _D.aggregate, _D.event_seq).where(due).order_by(_D.event_seq)
        stmt = stmt.limit(limit * 4)
        if self.is_postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        candidates = list(await self.conn.execute(stmt))
        busy_stmt = select(_D.channel_id, _D.aggregate).where(
            _D.status == DeliveryStatus.IN_FLIGHT.value, _D.claimed_until >= now
        )
        busy = {(r.channel_id, r.aggregate) for r in await self.conn.execute(busy_stmt)}
        # An older delivery of the same pair still waiting (not yet due) keeps its place.
        older_stmt = (
            select(_D.channel_id, _D.aggregate, func.min(_D.event_seq).label("first"))
            .where(_D.status.in_(_WAITING))
            .group_by(_D.channel_id, _D.aggregate)
        )
        first = {(r.channel_id, r.aggregate): r.first for r in await self.conn.execute(older_stmt)}
        chosen: list[int] = []
        taken: set[tuple[Any, Any]] = set()
        for c in candidates:
            pair = (c.channel_id, c.aggregate)
            ordered = c.aggregate is not None
            if ordered and (pair in busy or pair in taken or first.get(pair, c.event_seq) < c.event_seq):
                continue
            chosen.append(c.id)
            if ordered:
                taken.add(pair)
            if len(chosen) == limit:
                break
        if not chosen:
            return []
        await self.conn.execute(
            update(deliveries)
            .where(_D.id.in_(chosen))
            .values(
                status=DeliveryStatus.IN_FLIGHT.value, claimed_until=lease_until, attempts=_D.attempts + 1
            )
        )
        stmt2 = (
            select(
                deliveries,
                outbox.c.type,
                outbox.c.subject,
                outbox.c.time,
                outbox.c.data,
                outbox.c.version,
                outbox.c.origin,
                outbox.c.seq,
                outbox.c.product_id,
            )
            .join(outbox, outbox.c.event_id == _D.event_id)
            .where(_D.id.in_(chosen))
            .order_by(_D.event_seq)
        )
        return list(await self.conn.execute(stmt2))

    async def delivered(self, done: list[tuple[int, int, int]], now: datetime) -> None:
        """Mark (delivery id, status code, latency ms) as delivered, in one executemany."""
        if not done:
            return
        await self.conn.execute(
            _DELIVERED,
            [{"b_id": i, "b_code": code, "b_latency": latency, "b_now": now} for i, code, latency in done],
        )

    async def failed(
        self,
        delivery_id: int,
        status: DeliveryStatus,
        next_attempt_at: datetime | None,
        error: str,
        status_code: int | None,
        now: datetime,
    ) -> None:
        await self.conn.execute(
            update(deliveries)
            .where(_D.id == delivery_id)
            .values(
                status=status.value,
                next_attempt_at=next_attempt_at or now,
                claimed_until=None,
                last_error=error[:500],
                last_status_code=status_code,
            )
        )

    async def get(self, delivery_id: int) -> Row[Any] | None:
        return (await self.conn.execute(select(deliveries).where(_D.id == delivery_id))).first()

    async def find(
        self, channel_id: uuid.UUID, *, status: str | None = None, after_id: int = 0, limit: int = 100
    ) -> list[Row[Any]]:
        stmt = (
            select(deliveries)
            .where(_D.channel_id == channel_id, _D.id > after_id)
            .order_by(_D.id)
            .limit(limit)
        )
        if status:
            stmt = stmt.where(_D.status == status)
        return list(await self.conn.execute(stmt))

    async def requeue(self, ids: list[int], now: datetime) -> int:
        """Dead deliveries back in the queue, due now, with a fresh set of attempts."""
        if not ids:
            return 0
        result = await self.conn.execute(
            update(deliveries)
            .where(_D.id.in_(ids), _D.status == DeliveryStatus.DEAD.value)
            .values(status=DeliveryStatus.PENDING.value, attempts=0, next_attempt_at=now, claimed_until=None)
        )
        return int(result.rowcount or 0)

    async def dead_ids(self, channel_id: uuid.UUID) -> list[int]:
        stmt = select(_D.id).where(_D.channel_id == channel_id, _D.status == DeliveryStatus.DEAD.value)
        return [r[0] for r in await self.conn.execute(stmt)]

    async def counts(self, channel_id: uuid.UUID) -> dict[str, int]:
        stmt = select(_D.status, func.count()).where(_D.channel_id == channel_id).group_by(_D.status)
        return {r[0]: int(r[1]) for r in await self.conn.execute(stmt)}

    async def health(self, channel_id: uuid.UUID, now: datetime, window: timedelta) -> dict[str, Any]:
        """Figures for a channel's status: queue sizes, lag, throughput and latency."""
        counts = await self.counts(channel_id)
        retrying = (
            await self.conn.execute(
                select(func.count()).where(
                    _D.channel_id == channel_id, _D.status == DeliveryStatus.PENDING.value, _D.attempts > 0
                )
            )
        ).scalar_one()
        oldest = (
            await self.conn.execute(
                select(func.min(_D.event_time)).where(_D.channel_id == channel_id, _D.status.in_(_WAITING))
            )
        ).scalar_one()
        recent = [
            int(r[0])
            for r in await self.conn.execute(
                select(_D.latency_ms).where(
                    _D.channel_id == channel_id,
                    _D.status == DeliveryStatus.DELIVERED.value,
                    _D.delivered_at >= now - window,
                )
            )
            if r[0] is not None
        ]
        return {
            "counts": counts,
            "retrying": int(retrying),
            "oldest_waiting": oldest,
            "recent_latencies": recent,
        }
