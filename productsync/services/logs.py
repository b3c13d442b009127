"""Reading the audit log and the change-event stream."""

from __future__ import annotations

import json
import uuid
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy.engine import Row

from productsync.domain.access import Actor, Scope
from productsync.domain.channels import Channel
from productsync.domain.projection import localized_product_data
from productsync.services.channels import owned_channel
from productsync.store.uow import UnitOfWork

EVENT_SOURCE = "/productsync"


async def list_audit(
    uow: UnitOfWork,
    actor: Actor,
    *,
    entity_type: str | None = None,
    entity_id: str | None = None,
    action: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[Row[Any]]:
    """Admins read everything; a partner reads the records about its own data.
    ``entity_id`` finds the records of that entity and of the pairs it is part of: for a
    product, its price changes (``<price list>:<product>``) and stock changes
    (``<product>:<location>``) too; ``entity_type`` narrows to one kind."""
    actor.require(Scope.CATALOG_READ)
    owners = None if actor.is_admin else {actor.partner_id} if actor.partner_id else set()
    return await uow.audit.find(
        owners=owners,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        after_id=after_id,
        limit=limit,
    )


async def events_waiting(uow: UnitOfWork) -> bool:
    """Whether committed events still wait for their place in the stream."""
    return await uow.outbox.has_pending()


async def sequence_events(uow: UnitOfWork) -> int:
    """Give committed events their place in the commit-ordered stream."""
    return await uow.outbox.sequence_pending()


async def list_events(
    uow: UnitOfWork, actor: Actor, *, after: int = 0, limit: int = 100, types: list[str] | None = None
) -> list[tuple[int, dict[str, Any]]]:
    """Events after cursor ``after`` as (seq, CloudEvent JSON), in commit order."""
    actor.require(Scope.CATALOG_READ)
    partners = actor.readable_owners()
    rows = await uow.outbox.after(after, partners=partners, limit=limit, types=types)
    return [(int(r.seq), to_cloudevent(r)) for r in rows]


async def latest_seq(uow: UnitOfWork) -> int:
    return await uow.outbox.latest_seq()


async def channel_events(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, *, after: int, limit: int = 200
) -> tuple[int, list[tuple[int, dict[str, Any]]]]:
    """What a stream channel should see after ``after``: the events it routes (its slice,
    its locations, its price list, not its own echoes) and those directed at it. Returns
    the cursor to continue from (past events read but not meant for it) and the events."""
    channel = await owned_channel(uow, actor, channel_id)
    rows = await uow.outbox.after(after, partners=None, limit=limit, directed=True)
    routed = await routing(uow, rows, [channel])
    out = [(int(r.seq), _for_channel(to_cloudevent(r), channel)) for r, chosen in routed if chosen]
    return (int(rows[-1].seq) if rows else after), out


def _for_channel(event: dict[str, Any], channel: Channel) -> dict[str, Any]:
    """A product's texts in the channel's locale (the same rule as webhook deliveries)."""
    if channel.locale and "data" in event:
        event["data"] = localized_product_data(event["data"], channel.locale)
    return event


async def routing(
    uow: UnitOfWork, rows: list[Row[Any]], channels: list[Channel]
) -> list[tuple[Row[Any], list[Channel]]]:
    """Each outbox row with the channels it is news for (one owner/category read for all)."""
    owners = await uow.products.owners_and_categories({r.product_id for r in rows if r.product_id})
    out = []
    for r in rows:
        owner, category = owners.get(r.product_id, (None, None))
        chosen = [
            c
            for c in channels
            if c.routes(
                event_type=r.type,
                data=r.data,
                owner_partner_id=owner,
                category_id=category,
                origin=r.origin,
                directed_to=r.channel_id,
            )
        ]
        out.append((r, chosen))
    return out


_FORMAT = JSONFormat()


def to_cloudevent(row: Row[Any]) -> dict[str, Any]:
    """CloudEvents 1.0 structured JSON, built and validated by the cloudevents SDK."""
    event = CloudEvent(
        attributes={
            "id": str(row.event_id),
            "source": EVENT_SOURCE,
            "type": row.type,
            "subject": row.subject,
            "time": row.time,
            "datacontenttype": "application/json",
            "sequence": str(row.seq),
            "productversion": int(row.version),
            "origin": row.origin,
        },
        data=row.data,
    )
    return dict(json.loads(_FORMAT.write(event)))
