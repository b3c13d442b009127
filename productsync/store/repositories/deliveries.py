"""Deliveries (one per event and channel) and the fan-out cursor.

Claiming follows one rule for ordering: for each (channel, aggregate) only the oldest
waiting delivery may be taken, and only while no other delivery of that pair is in
flight. On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED`` so
several workers take disjoint work; on SQLite the single writer does the same job.

Coalescing happens when a newer state is queued (fan-out, a snapshot page, a failed try
going back to wait), not at claim time: a claim then only reads each channel's due head
through a partial index, so a dead channel's backlog of not-due rows costs it nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    String,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Row

from productsync.domain.deliveries import DeliveryStatus
from productsync.store.repositories.base import Repository
from productsync.store.tables import channels, deliveries, dispatcher_cursors, outbox, snapshot_events

_D = deliveries.c
_FANOUT_LOCK = 0x5053_4641_4E4F_5554
_WAITING = (DeliveryStatus.PENDING.value, DeliveryStatus.IN_FLIGHT.value)
# Status literals (not parameters), so the planner can prove the partial indexes'
# predicates (tables.DELIVERY_PENDING / DELIVERY_WAITING) from the queries.
_PENDING_LIT: Any = literal_column("'pending'")
_IN_FLIGHT_LIT: Any = literal_column("'in_flight'")


def _waiting(status: Any) -> Any:
    """Pending or in flight, said so that only ix_deliveries_waiting_pair's predicate is
    implied: a lookup of one (channel, thing) must not be planned on the channel's due
    index, which (without fresh statistics: autovacuum may be off, a backfill adds
    100,000s of rows in minutes) looks as cheap and walks the channel's whole backlog."""
    return status.in_([_PENDING_LIT, _IN_FLIGHT_LIT])


def _pending_of_pair(status: Any) -> list[Any]:
    """``status = 'pending'`` for lookups by (channel, thing): written as waiting and not
    in flight, for the reason in ``_waiting``."""
    return [_waiting(status), status != _IN_FLIGHT_LIT]


def _probe_each(*conds: Any) -> Any:
    """EXISTS run once per outer row as an index probe on both of its (channel, thing)
    values. The OFFSET keeps PostgreSQL from turning it into a join, which it otherwise
    parameterizes on the channel alone (the other side already fixes it) and then walks
    every waiting row of the channel for each candidate."""
    return exists(select(literal_column("1")).where(*conds).offset(0))


def _newer_waiting(row: Any) -> Any:
    """A newer delivery of the same (channel, thing) is waiting or on its way: ``row``'s
    state is stale."""
    o = deliveries.alias("newer")
    return _probe_each(
        o.c.channel_id == row.channel_id,
        o.c.aggregate == row.aggregate,
        _waiting(o.c.status),
        o.c.event_seq > row.event_seq,
    )


def _candidates(channel_id: Any, now: Any, per_channel: int) -> Any:
    """One channel's due head: pending rows due by ``now`` in due order (the partial index
    ix_deliveries_channel_due), each the first waiting delivery of its (channel, thing)
    with none of that pair in flight (probed on ix_deliveries_waiting_pair)."""
    d = deliveries.alias("d")
    o = deliveries.alias("o")
    blocked = _probe_each(
        o.c.channel_id == d.c.channel_id,
        o.c.aggregate == d.c.aggregate,
        _waiting(o.c.status),
        o.c.id != d.c.id,
        or_(
            o.c.status == _IN_FLIGHT_LIT,
            o.c.event_seq < d.c.event_seq,
            and_(o.c.event_seq == d.c.event_seq, o.c.id < d.c.id),
        ),
    )
    return (
        select(d.c.id, d.c.channel_id, d.c.next_attempt_at)
        .where(d.c.channel_id == channel_id, d.c.status == _PENDING_LIT, d.c.next_attempt_at <= now, ~blocked)
        .order_by(d.c.next_attempt_at)
        .limit(per_channel)
    ), d


def claim_candidates(*, postgres: bool, now: datetime, per_channel: int, channel_ids: list[uuid.UUID]) -> Any:
    """The claim's one read: at most ``per_channel`` due rows of each channel. PostgreSQL
    walks the channels with a LATERAL subquery locking its rows ``FOR UPDATE SKIP LOCKED``;
    SQLite (one writer, no locks) gets the same subquery per channel under UNION ALL.
    Public so tests can EXPLAIN exactly what the claim runs."""
    if postgres:
        c = channels.alias("c")
        sub, d = _candidates(c.c.id, now, per_channel)
        head = sub.with_for_update(skip_locked=True, of=d).lateral("head")
        return select(head.c.id, head.c.channel_id, head.c.next_attempt_at).select_from(c.join(head, true()))
    parts = [
        _candidates(bindparam(f"b_c{i}", cid, type_=_D.channel_id.type), now, per_channel)[0].subquery()
        for i, cid in enumerate(channel_ids)
    ]
    if not parts:
        return None
    selects = [select(p.c.id, p.c.channel_id, p.c.next_attempt_at) for p in parts]
    return selects[0] if len(selects) == 1 else union_all(*selects)


def _round_robin(rows: list[Row[Any]], limit: int) -> list[int]:
    """Each channel's first due row, then each one's second, ...: a channel with a
    recovered backlog shares a round with the others instead of filling it."""
    queues: dict[Any, list[Row[Any]]] = {}
    for r in sorted(rows, key=lambda r: (r.next_attempt_at, r.id)):
        queues.setdefault(r.channel_id, []).append(r)
    chosen: list[int] = []
    depth = 0
    while len(chosen) < limit and any(len(q) > depth for q in queues.values()):
        layer = [q[depth] for q in queues.values() if len(q) > depth]
        chosen.extend(r.id for r in sorted(layer, key=lambda r: (r.next_attempt_at, r.id)))
        depth += 1
    return chosen[:limit]


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
        *_pending_of_pair(_D.status),
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
                .where(_D.id.in_(stale[start : start + 5000]), _D.status == _PENDING_LIT)
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
            conds += _pending_of_pair(_D.status)
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

    async def requeue_expired(self, now: datetime) -> int:
        """Deliveries whose worker lost its lease wait again, due now (or are superseded
        when a newer state of the same thing is already waiting or on its way)."""
        stale = _newer_waiting(_D)
        result = await self.conn.execute(
            update(deliveries)
            .where(_D.status == _IN_FLIGHT_LIT, _D.claimed_until < now)
            .values(
                status=case((stale, DeliveryStatus.SUPERSEDED.value), else_=DeliveryStatus.PENDING.value),
                delivered_at=case((stale, now), else_=None),
                next_attempt_at=now,
                claimed_until=None,
            )
        )
        return int(result.rowcount or 0)

    async def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[Row[Any]]:
        """Take due deliveries, at most ``limit`` per channel read and ``limit`` in all,
        shared round-robin between channels; each the first waiting one of its (channel,
        thing), none whose pair is in flight. Reads only due heads: a channel's rows that
        are not due are never visited."""
        await self.requeue_expired(now)
        if self.is_postgres:
            stmt = claim_candidates(postgres=True, now=now, per_channel=limit, channel_ids=[])
            candidates = list(await self.conn.execute(stmt))
        else:  # groups of channels: SQLite caps the terms of one compound SELECT (500)
            ids = [r[0] for r in await self.conn.execute(select(channels.c.id).order_by(channels.c.id))]
            candidates = []
            for start in range(0, len(ids), 200):
                group = ids[start : start + 200]
                stmt = claim_candidates(postgres=False, now=now, per_channel=limit, channel_ids=group)
                candidates += list(await self.conn.execute(stmt))
        chosen = _round_robin(candidates, limit)
        if not chosen:
            return []
        await self.conn.execute(
            update(deliveries)
            .where(_D.id.in_(chosen))
            .values(
                status=DeliveryStatus.IN_FLIGHT.value, claimed_until=lease_until, attempts=_D.attempts + 1
            )
        )
        # The payload is an outbox event, or a snapshot event (a backfill page's).
        o, s = outbox.c, snapshot_events.c

        def either(a: Any, b: Any, name: str) -> Any:
            return func.coalesce(a, b, type_=a.type).label(name)

        stmt2 = (
            select(
                deliveries,
                either(o.type, s.type, "type"),
                either(o.subject, s.subject, "subject"),
                either(o.time, s.time, "time"),
                either(o.data, s.data, "data"),
                either(o.version, s.version, "version"),
                either(o.origin, s.origin, "origin"),
                either(o.seq, _D.event_seq, "seq"),
                either(o.product_id, s.product_id, "product_id"),
            )
            .select_from(
                deliveries.outerjoin(outbox, o.event_id == _D.event_id).outerjoin(
                    snapshot_events, s.event_id == _D.event_id
                )
            )
            .where(_D.id.in_(chosen))
            .order_by(_D.event_seq, _D.id)
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
        retry = status is DeliveryStatus.PENDING
        stale = _newer_waiting(_D)  # a newer state of the thing waits: this one need not come back
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
