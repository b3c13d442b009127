"""The append-only records of a transaction: audit log, outbox, idempotency replies."""

from __future__ import annotations

import uuid
from collections.abc import Set as AbstractSet
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Row

from productsync.domain.access import Actor
from productsync.domain.events import DomainEvent
from productsync.store.repositories.base import Repository
from productsync.store.tables import audit_log, idempotency_keys, outbox, stock_movements

# Any fixed 64-bit number: the advisory lock that makes the outbox sequencer single.
_SEQUENCER_LOCK = 0x5052_4F44_5359_4E43


# Records whose id is a pair: which half is the product and which the scope it is
# within (prices are "<price list>:<product>", stock "<product>:<location>").
_PAIRS = {"product_prices": (1, 0), "stock_level": (0, 1)}


def _concerns(entity_type: str, entity_id: str) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """The product a record is about and the price list or location of a pair record,
    kept in their own indexed columns so the audit of a product never scans the log."""
    try:
        if entity_type == "product":
            return uuid.UUID(entity_id), None
        if entity_type in _PAIRS:
            halves = entity_id.split(":")
            product, scope = _PAIRS[entity_type]
            return uuid.UUID(halves[product]), uuid.UUID(halves[scope])
    except (ValueError, IndexError):
        pass  # not an id we made: the record is still found by entity_id
    return None, None


def audit_row(
    *,
    actor: Actor,
    action: str,
    entity_type: str,
    entity_id: object,
    owner_partner_id: uuid.UUID | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    request_id: str | None,
    at: datetime,
) -> dict[str, Any]:
    product_id, scope_id = _concerns(entity_type, str(entity_id))
    return {
        "at": at,
        "actor_key_id": actor.key_id,
        "actor_partner_id": actor.partner_id,
        "owner_partner_id": owner_partner_id,
        "origin": actor.origin,
        "action": action,
        "entity_type": entity_type,
        "entity_id": str(entity_id),
        "before": before,
        "after": after,
        "request_id": request_id,
        "product_id": product_id,
        "scope_id": scope_id,
    }


def event_row(e: DomainEvent, at: datetime) -> dict[str, Any]:
    return {
        "event_id": e.id,
        "type": e.type.value,
        "subject": e.subject,
        "time": at,
        "data": e.data,
        "partner_id": e.partner_id,
        "product_id": e.product_id,
        "version": e.version,
        "origin": e.origin,
        "channel_id": e.channel_id,
    }


def _bound_insert(table: Any, prefix: str, skip: tuple[str, ...] = ("id",)) -> Any:
    return insert(table).values(
        {c.name: bindparam(f"{prefix}{c.name}", type_=c.type) for c in table.c if c.name not in skip}
    )


def _one_audit_one_event() -> Any:
    """One audit row and one event in a single prebuilt statement (the common case)."""
    audit_cte = _bound_insert(audit_log, "a_").cte("journal_audit")
    return _bound_insert(outbox, "e_", ("id", "seq")).add_cte(audit_cte)


_JOURNAL_ONE = _one_audit_one_event()
# Journal statements of other shapes, built on first use: (audits, events, extra tables).
_JOURNAL_SHAPES: dict[tuple[int, int, tuple[tuple[str, tuple[str, ...]], ...]], Any] = {}
_MAX_SHAPED_ROWS = 16


def _journal_statement(audits: int, events: int, extra: list[tuple[Any, dict[str, Any]]]) -> Any:
    """Every pending row of a transaction in one INSERT with CTEs (PostgreSQL): a round
    trip per row kind is the largest cost of a short use case on two cores."""
    key = (audits, events, tuple((t.name, tuple(row)) for t, row in extra))
    stmt = _JOURNAL_SHAPES.get(key)
    if stmt is None:
        parts = [_bound_insert(audit_log, f"a{i}_") for i in range(audits)]
        parts += [_bound_insert(outbox, f"e{i}_", ("id", "seq")) for i in range(events)]
        parts += [
            insert(t).values({k: bindparam(f"x{i}_{k}", type_=t.c[k].type) for k in row})
            for i, (t, row) in enumerate(extra)
        ]
        stmt = parts[-1]
        for i, part in enumerate(parts[:-1]):
            stmt = stmt.add_cte(part.cte(f"journal_{i}"))
        _JOURNAL_SHAPES[key] = stmt
    return stmt


def _movement_with_journal() -> Any:
    """A ledger row plus its audit row and event in one statement; returns the ledger id."""
    audit_cte = _bound_insert(audit_log, "a_").cte("journal_audit")
    event_cte = _bound_insert(outbox, "e_", ("id", "seq")).cte("journal_event")
    return (
        _bound_insert(stock_movements, "m_")
        .returning(stock_movements.c.id)
        .add_cte(audit_cte)
        .add_cte(event_cte)
    )


_MOVEMENT_WITH_JOURNAL = _movement_with_journal()


class JournalRepository(Repository):
    """Audit records and outbox events of one transaction, written together at commit.

    Buffering them costs nothing in safety (they still commit or roll back with the
    change) and on PostgreSQL saves round trips: all rows go in one statement.
    """

    def __init__(self, conn: Any) -> None:
        super().__init__(conn)
        self.audit: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.rows: list[tuple[Any, dict[str, Any]]] = []

    def insert_at_commit(self, table: Any, row: dict[str, Any]) -> None:
        """A row nothing in the transaction reads back, written with the journal (one
        statement on PostgreSQL instead of one more round trip)."""
        self.rows.append((table, row))

    async def add_with_movement(self, movement: dict[str, Any]) -> int | None:
        """On PostgreSQL, write a ledger row together with the one pending audit record and
        event (one round trip, shorter row-lock hold). Returns the ledger id, or None when
        this shortcut does not apply and the caller inserts the movement itself."""
        if not (self.is_postgres and len(self.audit) == 1 and len(self.events) == 1 and not self.rows):
            return None
        params = {f"m_{k}": v for k, v in movement.items()}
        params.update({f"a_{k}": v for k, v in self.audit[0].items()})
        params.update({f"e_{k}": v for k, v in self.events[0].items()})
        self.audit, self.events = [], []
        return int((await self.conn.execute(_MOVEMENT_WITH_JOURNAL, params)).scalar_one())

    async def flush(self) -> None:
        audit, events, rows = self.audit, self.events, self.rows
        self.audit, self.events, self.rows = [], [], []
        if self.is_postgres and len(audit) == 1 and len(events) == 1 and not rows:
            params = {f"a_{k}": v for k, v in audit[0].items()}
            params.update({f"e_{k}": v for k, v in events[0].items()})
            await self.conn.execute(_JOURNAL_ONE, params)
            return
        if self.is_postgres and 0 < len(audit) + len(events) + len(rows) <= _MAX_SHAPED_ROWS:
            params = {}
            for prefix, batch in (("a", audit), ("e", events), ("x", [row for _, row in rows])):
                for i, row in enumerate(batch):
                    params.update({f"{prefix}{i}_{k}": v for k, v in row.items()})
            stmt = _journal_statement(len(audit), len(events), rows)
            await self.conn.execute(stmt, params)
            return
        for table, row in rows:
            await self.conn.execute(insert(table), row)
        if audit:
            await self.conn.execute(insert(audit_log), audit)
        if events:
            await self.conn.execute(insert(outbox), events)


def _about(entity_id: str) -> Any:
    """Records of the entity, and of the pairs it is part of: a product's prices are
    recorded as ``<price list>:<product>``, its stock as ``<product>:<location>``, so
    asking for a product (price list, location) finds those too. An id that is itself
    a pair matches exactly. Each term is an equality on an indexed column: a leading
    wildcard LIKE would read the whole log, the fastest-growing table."""
    exact = audit_log.c.entity_id == entity_id
    try:
        member = uuid.UUID(entity_id)
    except ValueError:
        return exact  # products, price lists and locations all have uuids
    if ":" in entity_id:
        return exact
    return or_(exact, audit_log.c.product_id == member, audit_log.c.scope_id == member)


class AuditRepository(Repository):
    async def find(
        self,
        *,
        owners: AbstractSet[uuid.UUID] | None,
        entity_type: str | None = None,
        entity_id: str | None = None,
        action: str | None = None,
        after_id: int = 0,
        limit: int = 100,
    ) -> list[Row[Any]]:
        stmt = select(audit_log).where(audit_log.c.id > after_id).order_by(audit_log.c.id).limit(limit)
        if owners is not None:
            stmt = stmt.where(audit_log.c.owner_partner_id.in_(owners))
        if entity_type:
            stmt = stmt.where(audit_log.c.entity_type == entity_type)
        if entity_id:
            stmt = stmt.where(_about(entity_id))
        if action:
            stmt = stmt.where(audit_log.c.action == action)
        return list(await self.conn.execute(stmt))


class OutboxRepository(Repository):
    async def sequence_pending(self, limit: int = 5000) -> int:
        """Stamp committed, unsequenced events with the next ``seq`` numbers.

        Runs under a transaction-scoped lock (an advisory lock on PostgreSQL;
        SQLite's single writer on SQLite), so stamps are handed out by one
        sequencer at a time and every stamp below the highest committed one is
        already committed: a reader following ``seq`` never skips an event.
        """
        if self.is_postgres:
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEQUENCER_LOCK})
        top = (await self.conn.execute(select(func.coalesce(func.max(outbox.c.seq), 0)))).scalar_one()
        todo = (
            select(outbox.c.id, func.row_number().over(order_by=outbox.c.id).label("n"))
            .where(outbox.c.seq.is_(None))
            .order_by(outbox.c.id)
            .limit(limit)
            .subquery()
        )
        # One statement, not one per event: it runs under the sequencer lock.
        stamped = await self.conn.execute(
            update(outbox).where(outbox.c.id == todo.c.id).values(seq=int(top) + todo.c.n)
        )
        return int(stamped.rowcount or 0)

    async def latest_seq(self) -> int:
        stmt = select(func.coalesce(func.max(outbox.c.seq), 0))
        return int((await self.conn.execute(stmt)).scalar_one())

    async def has_pending(self) -> bool:
        stmt = select(outbox.c.id).where(outbox.c.seq.is_(None)).limit(1)
        return (await self.conn.execute(stmt)).first() is not None

    async def after(
        self,
        seq: int,
        *,
        partners: AbstractSet[uuid.UUID] | None,
        limit: int = 100,
        types: list[str] | None = None,
        directed: bool = False,
    ) -> list[Row[Any]]:
        """Events after ``seq`` in commit order; ``directed`` includes the ones meant
        for a single channel (snapshots, corrections), which the public feed leaves out."""
        stmt = select(outbox).where(outbox.c.seq > seq).order_by(outbox.c.seq).limit(limit)
        if not directed:
            stmt = stmt.where(outbox.c.channel_id.is_(None))
        if partners is not None:
            stmt = stmt.where(outbox.c.partner_id.in_(partners))
        if types:
            stmt = stmt.where(outbox.c.type.in_(types))
        return list(await self.conn.execute(stmt))


class IdempotencyRepository(Repository):
    async def get(self, key_id: str, idempotency_key: str) -> Row[Any] | None:
        stmt = select(idempotency_keys).where(
            idempotency_keys.c.key_id == key_id, idempotency_keys.c.idempotency_key == idempotency_key
        )
        return (await self.conn.execute(stmt)).first()

    async def add(
        self,
        *,
        key_id: str,
        idempotency_key: str,
        request_hash: str,
        status_code: int,
        body: str,
        headers: dict[str, str],
        at: datetime,
    ) -> None:
        """Plain INSERT: a concurrent twin makes it fail on the primary key, which
        rolls back that twin's whole mutation (the caller then replays)."""
        await self.conn.execute(
            insert(idempotency_keys).values(
                key_id=key_id,
                idempotency_key=idempotency_key,
                request_hash=request_hash,
                status_code=status_code,
                response_body=body,
                response_headers=headers,
                created_at=at,
            )
        )

    async def purge_before(self, cutoff: datetime) -> int:
        result = await self.conn.execute(
            delete(idempotency_keys).where(idempotency_keys.c.created_at < cutoff)
        )
        return int(result.rowcount or 0)

    async def purge_expired_key(self, key_id: str, idempotency_key: str, cutoff: datetime) -> None:
        """Drop this key's record only if it expired; a live one (even a twin's) stays."""
        await self.conn.execute(
            delete(idempotency_keys).where(
                idempotency_keys.c.key_id == key_id,
                idempotency_keys.c.idempotency_key == idempotency_key,
                idempotency_keys.c.created_at < cutoff,
            )
        )
