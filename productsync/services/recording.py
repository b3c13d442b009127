"""The two records every mutation leaves in its own transaction: audit and outbox."""

from __future__ import annotations

import uuid
from typing import Any

from productsync.domain.access import Actor
from productsync.domain.events import DomainEvent
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
    await uow.audit.add(
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
    await uow.outbox.add(list(events), uow.now)
