"""Changes coming back from channels: sales, returns, restocks, counts, price and content
edits. Each is taken once per (channel, event id), decided by the channel's conflict
policy (domain/conflicts.py) against the hub's value read under a lock, and written with
the channel as its origin, so it is not echoed back to the channel it came from.

The hub value is read with its row locked (the stock level, the price header, the
product), so a hub edit racing an inbound change is ordered before or after it, never
in between decision and write. Every decision, including "keep the hub's value" and
"refused as stale", is in the audit log.

A channel's sale is a fact and is never refused for want of stock: what the hub lacks
is recorded as an oversell (services/oversells.py). How each kind of change is written
lives in services/inbound_changes.py (``WRITERS``); the review queue in services/review.py.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product
from productsync.domain.channels import Channel
from productsync.domain.conflicts import INBOUND, ChangeKind, Decision, InboundType, Outcome, decide
from productsync.domain.errors import ErrorCode, Forbidden, InvalidInput
from productsync.services import review
from productsync.services.channels import owned_channel
from productsync.services.inbound_changes import (
    InboundChange,
    InboundResult,
    Write,
    as_channel_change,
    channel_actor,
    check_shape,
    correct,
    find_product,
    jsonable,
    read_target,
    write,
)
from productsync.services.projection import credentials
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

__all__ = ["InboundChange", "InboundResult", "channel_actor", "receive", "receive_batch", "webhook_channel"]

_SCOPES = {
    ChangeKind.STOCK_DELTA: Scope.STOCK_WRITE,
    ChangeKind.STOCK_ABSOLUTE: Scope.STOCK_WRITE,
    ChangeKind.PRICE: Scope.PRICES_WRITE,
    ChangeKind.CONTENT: Scope.CATALOG_WRITE,
}


async def _audit(
    uow: UnitOfWork,
    actor: Actor,
    channel: Channel,
    product: Product | None,
    change: InboundChange,
    decision: Decision | None,
    outcome: str,
    extra: dict[str, Any] | None = None,
) -> None:
    await record(
        uow,
        replace(actor, origin=f"channel:{channel.id}"),
        action=f"inbound.{outcome}",
        entity_type="channel",
        entity_id=channel.id,
        owner=product.owner_partner_id if product else channel.owner_partner_id,
        before=None,
        after={
            "change": change.payload(),
            "policy": channel.conflict_policy.value,
            "reason": decision.reason if decision else "",
            **(extra or {}),
        },
    )


async def receive(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, change: InboundChange
) -> InboundResult:
    """Take one change from a channel; a repeated event id gets the first answer."""
    channel = await owned_channel(uow, actor, channel_id)
    meaning = INBOUND[change.type]
    actor.require(_SCOPES[meaning.change])
    source = f"channel:{channel.id}"
    seen = await uow.receipts.claim(source, change.event_id, uow.now)
    if seen is not None:
        return InboundResult(seen[0], {**seen[1], "replayed": True})
    result = await _decide_and_apply(uow, actor, channel, change)
    await uow.receipts.settle(source, change.event_id, result.status_code, result.body)
    return result


async def receive_batch(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, event_id: str, changes: list[InboundChange]
) -> InboundResult:
    """Several changes that arrived as one event (an order's lines): taken once, all or
    nothing (a line that fails rolls the whole event back). Each line is also taken once
    under its own event id: a line another event already brought (the same order line
    through a second webhook topic) gets that first answer, marked replayed, and is not
    applied again. All line ids are claimed before any line is written, in one order, so
    two events sharing lines wait for each other instead of deadlocking."""
    channel = await owned_channel(uow, actor, channel_id)
    source = f"channel:{channel.id}"
    seen = await uow.receipts.claim(source, event_id, uow.now)
    if seen is not None:
        return InboundResult(seen[0], {**seen[1], "replayed": True})
    if len({c.event_id for c in changes}) != len(changes):
        raise InvalidInput("two lines of one event share an event id", field="event_id")
    taken = {
        c.event_id: await uow.receipts.claim(source, c.event_id, uow.now)
        for c in sorted(changes, key=lambda c: c.event_id)
    }
    lines = []
    for change in changes:
        earlier = taken[change.event_id]
        if earlier is not None:
            lines.append({**earlier[1], "replayed": True})
            continue
        line = await _decide_and_apply(uow, actor, channel, change)
        await uow.receipts.settle(source, change.event_id, line.status_code, line.body)
        lines.append(line.body)
    queued = any(line.get("outcome") == "queued" for line in lines)
    result = InboundResult(
        202 if queued else 200, {"event_id": event_id, "channel_id": str(channel.id), "lines": lines}
    )
    await uow.receipts.settle(source, event_id, result.status_code, result.body)
    return result


async def webhook_channel(uow: UnitOfWork, channel_id: uuid.UUID) -> tuple[Channel, dict[str, str]] | None:
    """A channel and its platform credentials, for webhooks that authenticate by signature."""
    channel = await uow.channels.get(channel_id)
    if channel is None:
        return None
    return channel, await credentials(uow, channel.id)


async def _decide_and_apply(
    uow: UnitOfWork, actor: Actor, channel: Channel, change: InboundChange
) -> InboundResult:
    product = await find_product(uow, channel, change)
    base = {"event_id": change.event_id, "channel_id": str(channel.id)}
    if product is None:
        if channel.config.get("unknown_external_ids") != "park":
            named = change.external_id or change.external_sku or change.alias
            raise InvalidInput(
                f"{named!r} is not mapped on this channel (nor a known alias)",
                code=ErrorCode.UNKNOWN_EXTERNAL_ID,
                field="external_id",
            )
        conflict_id = await review.queue(uow, channel, None, change, None, "unmapped external id")
        await _audit(uow, actor, channel, None, change, None, "parked", {"conflict_id": str(conflict_id)})
        return InboundResult(202, {**base, "outcome": "queued", "conflict_id": str(conflict_id)})
    change = check_shape(change, product)
    if (
        meaning_writes_catalog(change)
        and channel.owner_partner_id is not None
        and channel.owner_partner_id != product.owner_partner_id
    ):
        raise Forbidden(
            f"product {product.sku} belongs to another partner: its channels may report sales, not edits"
        )
    target = await read_target(uow, channel, product, change)
    decision = decide(channel.conflict_policy, target.hub, as_channel_change(change))
    base.update({"product_id": str(product.id), "sku": product.sku, "reason": decision.reason})
    if decision.outcome is Outcome.APPLY:
        w = Write(channel_actor(actor, channel), channel, product, change, target, decision.value)
        written = await write(uow, INBOUND[change.type].change, w)
        await _audit(uow, actor, channel, product, change, decision, "applied", written)
        return InboundResult(200, {**base, "outcome": "applied", **written})
    if decision.outcome is Outcome.KEEP_HUB:
        await correct(uow, channel, product)
        await _audit(uow, actor, channel, product, change, decision, "kept_hub")
        return InboundResult(200, {**base, "outcome": "kept_hub", "hub_version": target.hub.version})
    if decision.outcome is Outcome.REVIEW:
        conflict_id = await review.queue(uow, channel, product, change, target.hub, decision.reason)
        await _audit(
            uow, actor, channel, product, change, decision, "queued", {"conflict_id": str(conflict_id)}
        )
        return InboundResult(202, {**base, "outcome": "queued", "conflict_id": str(conflict_id)})
    await correct(uow, channel, product)
    await _audit(
        uow, actor, channel, product, change, decision, "rejected", {"hub_version": target.hub.version}
    )
    return InboundResult(
        409,
        {
            **base,
            "outcome": "rejected",
            "hub_version": target.hub.version,
            "hub_value": jsonable(target.hub.value),
        },
    )


def meaning_writes_catalog(change: InboundChange) -> bool:
    """Sales and returns are facts any channel of the slice may report; counts, restocks,
    prices and content are edits, which only the product's owner's channels may make."""
    return change.type not in (InboundType.SALE, InboundType.RETURN)
