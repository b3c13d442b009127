"""The two records every mutation leaves in its own transaction: audit and outbox."""

from __future__ import annotations

import uuid
from typing import Any

from productsync.domain.access import Actor
from productsync.domain.events import DomainEvent
from productsync.store.repositories.log import audit_row, event_row
from productsync.store.uow import UnitOfWork


async def record(
    uow: UnitOfWork,
    actor: Actor,
    *,
    action: str,
    entity_type: str,
    entity_id: object,
    owner: uuid.UUID | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    events: list[DomainEvent] | tuple[DomainEvent, ...] = (),
) -> None:
    """Queue the audit record and events; the unit of work writes them before commit."""
    uow.journal.audit.append(
        audit_row(
            actor=actor,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            owner_partner_id=owner,
            before=before,
            after=after,
            request_id=uow.request_id,
            at=uow.now,
        )
    )
    uow.journal.events.extend(event_row(e, uow.now) for e in events)
