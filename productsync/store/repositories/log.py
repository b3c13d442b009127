"""The append-only records of a transaction: audit log, outbox, idempotency replies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update
from sqlalchemy.engine import Row

from productsync.domain.access import Actor
from productsync.domain.events import DomainEvent
from productsync.store.repositories.base import Repository
from productsync.store.tables import audit_log, idempotency_keys, outbox

# Any fixed 64-bit number: the advisory lock that makes the outbox sequencer single.
_SEQUENCER_LOCK = 0x5052_4F44_5359_4E43


class AuditRepository(Repository):
    async def add(
        self,
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
    ) -> None:
        await self.conn.execute(
            insert(audit_log).values(
                at=at,
                actor_key_id=actor.key_id,
                actor_partner_id=actor.partner_id,
                owner_partner_id=owner_partner_id,
                origin=actor.origin,
                action=action,
                entity_type=entity_type,
                entity_id=str(entity_id),
                before=before,
                after=after,
                request_id=request_id,
            )
        )

    async def list(
        self,
        *,
        owners: set[uuid.UUID] | None,
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
            stmt = stmt.where(audit_log.c.entity_id == entity_id)
        if action:
            stmt = stmt.where(audit_log.c.action == action)
        return list(await self.conn.execute(stmt))


class OutboxRepository(Repository):
    async def add(self, events: list[DomainEvent], at: datetime) -> None:
        if not events:
            return
        await self.conn.execute(
            insert(outbox),
            [
                {
                    "event_id": e.id,
                    "type": e.type.value,
                    "subject": e.subject,
                    "time": at,
                    "data": e.data,
                    "partner_id": e.partner_id,
                    "product_id": e.product_id,
                    "version": e.version,
                    "origin": e.origin,
                }
                for e in events
            ],
        )

    async def sequence_pending(self, limit: int = 5000) -> int:
        """Stamp committed, unsequenced events with the next ``seq`` numbers.

        Runs under a transaction-scoped lock (an advisory lock on PostgreSQL;
        SQLite's single writer on SQLite), so stamps are handed out by one
        sequencer at a time and every stamp below the highest committed one is
        already committed: a reader following ``seq`` never skips an event.
        """
        if self.is_postgres:
            await self.conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEQUENCER_LOCK})
        ids = [
            r[0]
            for r in await self.conn.execute(
                select(outbox.c.id).where(outbox.c.seq.is_(None)).order_by(outbox.c.id).limit(limit)
            )
        ]
        if not ids:
            return 0
        top = (await self.conn.execute(select(func.coalesce(func.max(outbox.c.seq), 0)))).scalar_one()
        await self.conn.execute(
            update(outbox).where(outbox.c.id == bindparam("b_id")).values(seq=bindparam("b_seq")),
            [{"b_id": i, "b_seq": int(top) + n} for n, i in enumerate(ids, start=1)],
        )
        return len(ids)

    async def has_pending(self) -> bool:
        stmt = select(outbox.c.id).where(outbox.c.seq.is_(None)).limit(1)
        return (await self.conn.execute(stmt)).first() is not None

    async def after(
        self, seq: int, *, partners: set[uuid.UUID] | None, limit: int = 100, types: list[str] | None = None
    ) -> list[Row[Any]]:
        stmt = select(outbox).where(outbox.c.seq > seq).order_by(outbox.c.seq).limit(limit)
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
