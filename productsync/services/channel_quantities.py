"""What the hub knows a storefront channel holds, and what happens when the channel
turns out to hold something else.

A Shopify stock push is a compare-and-set: ``changeFromQuantity`` is the quantity the
hub last knew the channel had (stored after every successful push, or read from the
shop the first time). When the shop answers ``CHANGE_FROM_QUANTITY_STALE``, the connector
re-reads the shop's quantity and ``settle_stale`` applies the channel's conflict policy
(``STALE_POLICIES``, a table like domain/conflicts.py's):

- ``master_wins``, ``reject_stale``: the hub is the master; the hub's value is pushed
  over whatever the shop holds (compared against the re-read quantity).
- ``last_write_wins``: the hub's push *is* the latest write (the shop's change happened
  before it was re-read), so it is pushed as under ``master_wins``.
- ``merge``: the difference the shop shows, less what the hub already heard from this
  channel since it last knew the quantity (its sales through webhooks, their oversold
  parts), is units the shop sold (or took back) that the hub never heard of: it is
  recorded through the inbound path as a channel sale (or return) — once, under an event
  id derived from the hub event — and the hub's new value is pushed.
- ``manual_review``: nothing is pushed; the shop's count is queued for a person through
  the inbound path (a stock count based on the known quantity). The person's decision
  produces a new event, whose push compares against the re-read quantity.

A re-read quantity equal to the *stored* known quantity is no conflict: another
dispatcher process pushed it and this one compared against an older copy; the hub's
value is pushed against it. Every other settlement is audited (``channel.stale_quantity``);
the known quantity becomes the re-read one in the same transaction, so a retried push
never counts the same units twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from productsync.domain.access import system_actor
from productsync.domain.channels import Channel, ConflictPolicy
from productsync.domain.conflicts import InboundType
from productsync.domain.errors import DomainError
from productsync.domain.projection import whole_units
from productsync.services import inbound
from productsync.services.inbound_changes import InboundChange
from productsync.services.projection import channel_view
from productsync.services.recording import record
from productsync.store.repositories.channel_state import Pending
from productsync.store.uow import UnitOfWork

# Policies under which a push whose answer was lost, taken for a change at the shop, would
# move the hub's stock (merge) or queue a bogus count (manual review): their pushes are
# noted before they are sent, so that a process dying in between cannot be misread.
NOTE_INTENT = frozenset({ConflictPolicy.MERGE, ConflictPolicy.MANUAL_REVIEW})


async def known_quantity(uow: UnitOfWork, channel_id: uuid.UUID, external_id: str) -> int | None:
    found = await uow.channel_quantities.get(channel_id, external_id)
    return found[0] if found else None


async def remember(
    uow: UnitOfWork,
    channel_id: uuid.UUID,
    external_id: str,
    quantity: int,
    event_id: str | None,
    since: datetime | None = None,
) -> None:
    """The channel holds ``quantity`` now (a push succeeded, or the shop was read).
    ``since``: when the push that set it was noted, before it was sent (channel reports
    stored after that instant are of sales after it, so ``merge`` must count them as heard
    even when they were stored before this write)."""
    await uow.channel_quantities.put(channel_id, external_id, quantity, event_id, since or uow.now)


async def intend(
    uow: UnitOfWork, channel_id: uuid.UUID, external_id: str, pending: Pending, *, overwrite: bool = False
) -> Pending | None:
    """A push is about to be sent: noted, unless an earlier noted push was never settled;
    that one is returned (and kept) for the connector to ask the shop about first."""
    return await uow.channel_quantities.intend(channel_id, external_id, pending, uow.now, overwrite=overwrite)


async def unsettled(uow: UnitOfWork, channel_id: uuid.UUID, external_id: str) -> Pending | None:
    return await uow.channel_quantities.pending(channel_id, external_id)


@dataclass(frozen=True)
class Stale:
    """A stale compare-and-set, as the connector saw it."""

    channel: Channel
    external_id: str
    event_id: str
    known: int | None  # what the hub thought the shop held
    found: int  # what the shop holds (re-read)


@dataclass(frozen=True)
class Settled:
    push: int | None  # the quantity to set now (compared against ``found``); None: push nothing
    outcome: str
    detail: dict[str, Any]


async def _hub_value(uow: UnitOfWork, s: Stale, product_id: uuid.UUID) -> int | None:
    view = await channel_view(uow, s.channel, product_id, at=uow.now, with_credentials=False)
    return whole_units(view.available) if view is not None and view.available is not None else None


async def _overwrite(uow: UnitOfWork, s: Stale, product_id: uuid.UUID) -> Settled:
    return Settled(await _hub_value(uow, s, product_id), "overwritten", {})


async def _merge(uow: UnitOfWork, s: Stale, product_id: uuid.UUID) -> Settled:
    row = await uow.channel_quantities.get(s.channel.id, s.external_id)
    if row is None or s.known is None:
        return await _overwrite(uow, s, product_id)
    # Measured from the *stored* quantity, the one ``heard`` is counted since: a copy the
    # connector compared with may be older (another dispatcher pushed after it).
    base = row[0]
    heard = await uow.channel_quantities.reported_since(s.channel.id, product_id, row[1])
    unheard = Decimal(s.found - base) - heard
    detail: dict[str, Any] = {"heard": str(heard), "unheard": str(unheard), "base": base}
    if unheard != 0:
        change = InboundChange(
            event_id=f"{s.event_id}:stale:{s.external_id}",
            type=InboundType.SALE if unheard < 0 else InboundType.RETURN,
            changed_at=uow.now,
            external_id=s.external_id,
            quantity=abs(unheard),
            reason=f"{'sold' if unheard < 0 else 'returned'} at the shop without a notice to the hub "
            f"(compare-and-set found {s.found}, the hub knew {base})",
        )
        result = await inbound.receive(uow, system_actor(f"channel:{s.channel.id}"), s.channel.id, change)
        detail["inbound"] = result.body.get("outcome")
    return Settled(await _hub_value(uow, s, product_id), "merged", detail)


async def _review(uow: UnitOfWork, s: Stale, product_id: uuid.UUID) -> Settled:
    change = InboundChange(
        event_id=f"{s.event_id}:stale:{s.external_id}",
        type=InboundType.STOCK_COUNT,
        changed_at=uow.now,
        external_id=s.external_id,
        quantity=Decimal(s.found),
        based_on_quantity=Decimal(s.known) if s.known is not None else None,
        reason="the shop's quantity differs from what the hub pushed",
    )
    try:
        result = await inbound.receive(uow, system_actor(f"channel:{s.channel.id}"), s.channel.id, change)
    except DomainError as exc:  # e.g. another partner's product: audited below, nothing queued
        return Settled(None, "left", {"error": str(exc)})
    return Settled(None, "queued", {"conflict_id": result.body.get("conflict_id")})


STALE_POLICIES: dict[ConflictPolicy, Callable[[UnitOfWork, Stale, uuid.UUID], Awaitable[Settled]]] = {
    ConflictPolicy.MASTER_WINS: _overwrite,
    ConflictPolicy.REJECT_STALE: _overwrite,
    ConflictPolicy.LAST_WRITE_WINS: _overwrite,
    ConflictPolicy.MERGE: _merge,
    ConflictPolicy.MANUAL_REVIEW: _review,
}


async def settle_stale(uow: UnitOfWork, s: Stale) -> Settled:
    """Apply the channel's policy to a stale compare-and-set; the shop's quantity becomes
    the known one; audited."""
    product_id = await uow.mappings.product_for(s.channel.id, s.external_id)
    stored = await uow.channel_quantities.get(s.channel.id, s.external_id)
    if product_id is not None and stored is not None and stored[0] == s.found:
        # Another dispatcher pushed it (the caller's copy was old): no change at the shop.
        return Settled(await _hub_value(uow, s, product_id), "known", {})
    if product_id is None:  # unmapped since the push was claimed: nothing left to push
        settled = Settled(None, "unmapped", {})
    else:
        settled = await STALE_POLICIES[s.channel.conflict_policy](uow, s, product_id)
    await remember(uow, s.channel.id, s.external_id, s.found, None)
    await record(
        uow,
        system_actor(f"channel:{s.channel.id}"),
        action="channel.stale_quantity",
        entity_type="channel",
        entity_id=s.channel.id,
        owner=s.channel.owner_partner_id,
        before={"external_id": s.external_id, "known": s.known},
        after={
            "external_id": s.external_id,
            "found": s.found,
            "event_id": s.event_id,
            "policy": s.channel.conflict_policy.value,
            "outcome": settled.outcome,
            "push": settled.push,
            **settled.detail,
        },
    )
    return settled
