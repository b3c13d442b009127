"""Claiming deliveries: the per-channel due-head read and the round that shares it.

Claiming follows one rule for ordering: for each (channel, aggregate) only the oldest
waiting delivery may be taken, and only while no other delivery of that pair is in
flight. On PostgreSQL the candidates are locked with ``FOR UPDATE SKIP LOCKED`` so
several workers take disjoint work; on SQLite the single writer does the same job.

Coalescing happens when a newer state is queued (fan-out, a snapshot page, a failed try
going back to wait), not at claim time: a claim then only reads each channel's due head
through a partial index, so a dead channel's backlog of not-due rows costs it nothing.
The status predicates here are shared with the writes in ``deliveries``, which must be
planned on the same indexes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    and_,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    or_,
    select,
    true,
    union_all,
    update,
)
from sqlalchemy.engine import Row

from productsync.domain.deliveries import DeliveryStatus
from productsync.store.repositories.base import Repository
from productsync.store.tables import channels, deliveries, outbox, snapshot_events

_D = deliveries.c
# Status literals (not parameters), so the planner can prove the partial indexes'
# predicates (tables.DELIVERY_PENDING / DELIVERY_WAITING) from the queries.
PENDING_LIT: Any = literal_column("'pending'")
IN_FLIGHT_LIT: Any = literal_column("'in_flight'")


def waiting(status: Any) -> Any:
    """Pending or in flight, said so that only ix_deliveries_waiting_pair's predicate is
    implied: a lookup of one (channel, thing) must not be planned on the channel's due
    index, which (without fresh statistics: autovacuum may be off, a backfill adds
    100,000s of rows in minutes) looks as cheap and walks the channel's whole backlog."""
    return status.in_([PENDING_LIT, IN_FLIGHT_LIT])


def pending_of_pair(status: Any) -> list[Any]:
    """``status = 'pending'`` for lookups by (channel, thing): written as waiting and not
    in flight, for the reason in ``waiting``."""
    return [waiting(status), status != IN_FLIGHT_LIT]


def _probe_each(*conds: Any) -> Any:
    """EXISTS run once per outer row as an index probe on both of its (channel, thing)
    values. The OFFSET keeps PostgreSQL from turning it into a join, which it otherwise
    parameterizes on the channel alone (the other side already fixes it) and then walks
    every waiting row of the channel for each candidate."""
    return exists(select(literal_column("1")).where(*conds).offset(0))


def newer_waiting(row: Any) -> Any:
    """A newer delivery of the same (channel, thing) is waiting or on its way: ``row``'s
    state is stale."""
    o = deliveries.alias("newer")
    return _probe_each(
        o.c.channel_id == row.channel_id,
        o.c.aggregate == row.aggregate,
        waiting(o.c.status),
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
        waiting(o.c.status),
        o.c.id != d.c.id,
        or_(
            o.c.status == IN_FLIGHT_LIT,
            o.c.event_seq < d.c.event_seq,
            and_(o.c.event_seq == d.c.event_seq, o.c.id < d.c.id),
        ),
    )
    return (
        select(d.c.id, d.c.channel_id, d.c.next_attempt_at)
        .where(d.c.channel_id == channel_id, d.c.status == PENDING_LIT, d.c.next_attempt_at <= now, ~blocked)
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


def round_robin(rows: list[Row[Any]], limit: int) -> list[int]:
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


class DeliveryClaims(Repository):
    """The claim half of ``DeliveryRepository``: taking due work and taking back leases."""

    async def requeue_expired(self, now: datetime) -> int:
        """Deliveries whose worker lost its lease wait again, due now (or are superseded
        when a newer state of the same thing is already waiting or on its way)."""
        stale = newer_waiting(_D)
        result = await self.conn.execute(
            update(deliveries)
            .where(_D.status == IN_FLIGHT_LIT, _D.claimed_until < now)
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
        chosen = round_robin(candidates, limit)
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
