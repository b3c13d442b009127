"""Deliveries (one per event and channel) and the fan-out cursor: queueing, outcomes,
and the reads behind a channel's status. Claiming lives in ``delivery_claims``; see
there for the ordering rule every write here keeps.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, and_, bindparam, case, func, or_, select, text, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from productsync.domain.deliveries import DeliveryStatus
from productsync.store.repositories.delivery_claims import (
    PENDING_LIT,
    DeliveryClaims,
    newer_waiting,
    pending_of_pair,
)
from productsync.store.tables import channels, deliveries, dispatcher_cursors, outbox

_D = deliveries.c
_FANOUT_LOCK = 0x5053_4641_4E4F_5554
_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.IN_FLIGHT.value)


_ADD = {
    True: postgresql.insert(deliveries).on_conflict_do_nothing(),
    False: sqlite.insert(deliveries).on_conflict_do_nothing(),
}

# A newly queued state makes older waiting states of the same pair pointless.
_SUPERSEDE_OLDER = (
    update(deliveries)
    .where(
        _D.channel_id == bindparam("b_channel"),
        _D.aggregate == bindparam("b_aggregate"),
        _D.event_seq < bindparam("b_seq"),
        *pending_of_pair(_D.status),
    )
    .values(status=DeliveryStatus.SUPERSEDED.value, delivered_at=bindparam("b_now"))
)


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


class DeliveryRepository(DeliveryClaims):
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

    async def add(self, rows: list[dict[str, Any]], now: datetime | None = None) -> None:
        """Queue deliveries; given ``now``, each pending one supersedes the older pending
        deliveries of its (channel, thing) (one executemany of index probes)."""
        # ON CONFLICT keeps a re-run fan-out from duplicating work. One prebuilt statement
        # run as an executemany (SQLAlchemy batches it into multi-row INSERTs): compiling a
        # fresh 500-row VALUES statement cost more than running it.
        if rows:
            await self.conn.execute(_ADD[self.is_postgres], rows)
        if now is None:
            return
        newest: dict[tuple[Any, str], int] = {}
        for r in rows:
            if r["aggregate"] is not None and r["status"] == DeliveryStatus.PENDING.value:
                key = (r["channel_id"], r["aggregate"])
                newest[key] = max(newest.get(key, r["event_seq"]), r["event_seq"])
        if newest:
            await self.conn.execute(
                _SUPERSEDE_OLDER,
                [
                    {"b_channel": c, "b_aggregate": a, "b_seq": s, "b_now": now}
                    for (c, a), s in newest.items()
                ],
            )

    async def newer_than(self, channel_id: uuid.UUID, seq: int, aggregates: list[str]) -> set[str]:
        """Which of these things already have a delivery to the channel queued after ``seq``."""
        return {r[0] for r in await self._probe(channel_id, aggregates, _D.event_seq > seq, "aggregate")}

    async def supersede_up_to(
        self, channel_id: uuid.UUID, seq: int, aggregates: list[str], now: datetime
    ) -> int:
        """Pending deliveries of these things queued at or before ``seq``: a snapshot read
        after ``seq`` carries their state or a newer one."""
        stale = [
            r[0] for r in await self._probe(channel_id, aggregates, _D.event_seq <= seq, "id", pending=True)
        ]
        for start in range(0, len(stale), 5000):
            await self.conn.execute(
                update(deliveries)
                .where(_D.id.in_(stale[start : start + 5000]), _D.status == PENDING_LIT)
                .values(status=DeliveryStatus.SUPERSEDED.value, delivered_at=now)
            )
        return len(stale)

    async def _probe(
        self, channel_id: uuid.UUID, aggregates: list[str], where: Any, column: str, *, pending: bool = False
    ) -> list[Row[Any]]:
        """Deliveries to the channel of each of these things, one index probe per thing.

        On PostgreSQL the things come as one array, each looked up in a LATERAL subquery
        on (channel_id, aggregate): a single ``aggregate IN (3,000 values)`` lets the
        planner prefer scanning the whole channel, which it does when statistics lag (a
        backfill queues 100,000s of rows in minutes, and autovacuum may be off) and which
        grows with the channel's backlog. SQLite walks an IN list through the index."""
        if not aggregates:
            return []
        conds = [_D.channel_id == channel_id, where]
        if pending:
            conds += pending_of_pair(_D.status)
        out: list[Row[Any]] = []
        if self.is_postgres:
            things = (
                func.unnest(bindparam("b_things", aggregates, type_=postgresql.ARRAY(String)))
                .table_valued("thing")
                .render_derived("things")
            )
            # OFFSET 0 keeps the subquery from being flattened into a join the planner
            # may then run as a hash join over the whole channel (its generic plan does).
            hit = (
                select(_D[column].label("found"))
                .where(_D.aggregate == things.c.thing, *conds)
                .offset(0)
                .lateral("hit")
            )
            out += list(await self.conn.execute(select(hit.c.found).select_from(things.join(hit, true()))))
            return out
        for start in range(0, len(aggregates), 5000):
            stmt = select(_D[column]).where(_D.aggregate.in_(aggregates[start : start + 5000]), *conds)
            out += list(await self.conn.execute(stmt))
        return out

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
        retry = status is DeliveryStatus.PENDING
        stale = newer_waiting(_D)  # a newer state of the thing waits: this one need not come back
        await self.conn.execute(
            update(deliveries)
            .where(_D.id == delivery_id)
            .values(
                status=case((stale, DeliveryStatus.SUPERSEDED.value), else_=status.value)
                if retry
                else status.value,
                delivered_at=case((stale, now), else_=None) if retry else _D.delivered_at,
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
