"""Changes coming back from channels: sales, returns, restocks, counts, price and content
edits. Each is taken once per (channel, event id), decided by the channel's conflict
policy (domain/conflicts.py) against the hub's value read under a lock, and written with
the channel as its origin, so it is not echoed back to the channel it came from.

The hub value is read with its row locked (the stock level, the price header, the
product), so a hub edit racing an inbound change is ordered before or after it, never
in between decision and write. Every decision, including "keep the hub's value" and
"refused as stale", is in the audit log.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product
from productsync.domain.channels import Channel
from productsync.domain.conflicts import (
    INBOUND,
    ChangeKind,
    ChannelChange,
    Decision,
    HubValue,
    InboundType,
    Outcome,
    Resolution,
    decide,
)
from productsync.domain.errors import (
    CompareFailed,
    Conflict,
    ErrorCode,
    Forbidden,
    InvalidInput,
    NotFound,
)
from productsync.domain.identifiers import normalize_alias
from productsync.domain.inventory import MovementKind
from productsync.domain.money import parse_amount
from productsync.domain.pricing import PriceEntry
from productsync.domain.quantities import format_quantity, to_quantity
from productsync.services import catalog, pricing, stock
from productsync.services.channels import owned_channel
from productsync.services.projection import credentials
from productsync.services.recording import record
from productsync.services.snapshots import product_state
from productsync.store.repositories.log import event_row
from productsync.store.uow import UnitOfWork

CORRECTION_ORIGIN = "correction"
CONTENT_FIELDS = frozenset({"name", "description", "texts", "attributes"})


@dataclass(frozen=True)
class InboundChange:
    event_id: str
    type: InboundType
    changed_at: datetime
    external_id: str | None = None
    sku: str | None = None
    product_id: uuid.UUID | None = None
    location_id: uuid.UUID | None = None
    quantity: Decimal | None = None
    price: str | None = None
    fields: dict[str, Any] | None = None
    based_on_version: int | None = None
    based_on_quantity: Decimal | None = None
    reason: str | None = None
    external_sku: str | None = None
    alias: str | None = None  # "scheme:code", a hub-wide product alias

    def payload(self) -> dict[str, Any]:
        """JSON-ready, for the review queue and the audit log."""
        return {
            "event_id": self.event_id,
            "type": self.type.value,
            "changed_at": self.changed_at.isoformat(),
            "external_id": self.external_id,
            "sku": self.sku,
            "product_id": str(self.product_id) if self.product_id else None,
            "location_id": str(self.location_id) if self.location_id else None,
            "quantity": format_quantity(self.quantity) if self.quantity is not None else None,
            "price": self.price,
            "fields": self.fields,
            "based_on_version": self.based_on_version,
            "based_on_quantity": format_quantity(self.based_on_quantity)
            if self.based_on_quantity is not None
            else None,
            "reason": self.reason,
            "external_sku": self.external_sku,
            "alias": self.alias,
        }


@dataclass(frozen=True)
class InboundResult:
    status_code: int
    body: dict[str, Any]


def channel_actor(actor: Actor, channel: Channel) -> Actor:
    """Writes on a channel's behalf: the hub's rights over the channel's slice, the
    caller's key in the audit trail, and the channel as origin (no echo)."""
    return Actor(
        key_id=actor.key_id,
        partner_id=None,
        scopes=frozenset({Scope.ADMIN}),
        origin=f"channel:{channel.id}",
    )


_SCOPES = {
    ChangeKind.STOCK_DELTA: Scope.STOCK_WRITE,
    ChangeKind.STOCK_ABSOLUTE: Scope.STOCK_WRITE,
    ChangeKind.PRICE: Scope.PRICES_WRITE,
    ChangeKind.CONTENT: Scope.CATALOG_WRITE,
}


async def _product(uow: UnitOfWork, channel: Channel, change: InboundChange) -> Product | None:
    """The product the change names; None for an external id the channel has not mapped."""
    if change.product_id is not None:
        product = await uow.products.get(change.product_id)
    elif change.sku is not None:
        product = await uow.products.get_by_sku(change.sku.strip().upper())
    elif change.external_id is not None or change.external_sku is not None or change.alias is not None:
        if change.external_id is not None:
            product_id = await uow.mappings.product_for(channel.id, change.external_id)
        elif change.external_sku is not None:
            product_id = await uow.mappings.product_for_external_sku(channel.id, change.external_sku)
        else:
            scheme, _, code = (change.alias or "").partition(":")
            scheme, code = normalize_alias(scheme, code)
            product_id = await uow.aliases.lookup(scheme, code)
        if product_id is None:
            return None
        product = await uow.products.get(product_id)
    else:
        raise InvalidInput(
            "name the product: external_id, external_sku, alias, sku or product_id", field="external_id"
        )
    if product is None or not channel.sees(
        owner_partner_id=product.owner_partner_id, category_id=product.category_id
    ):
        raise NotFound("product", change.product_id or change.sku or change.external_id)
    return product


async def _location(uow: UnitOfWork, channel: Channel, product: Product, change: InboundChange) -> uuid.UUID:
    """The location a stock change is at: the one named (it must be one of the channel's),
    else the channel's only location, else — for a sale — the channel location with the
    most on hand, so a sale lands where the stock is."""
    if change.location_id is not None:
        if channel.location_ids and change.location_id not in channel.location_ids:
            raise InvalidInput("location_id is not one of this channel's locations", field="location_id")
        return change.location_id
    if not channel.location_ids:
        raise InvalidInput("this channel has no locations: give location_id", field="location_id")
    if len(channel.location_ids) == 1 or change.type is not InboundType.SALE:
        return channel.location_ids[0]
    levels = {lv.location_id: lv for lv, _ in await uow.stock.levels_for_product(product.id)}
    return max(
        channel.location_ids,
        key=lambda loc: levels[loc].available if loc in levels else Decimal(-1),
    )


def _check(change: InboundChange, product: Product) -> InboundChange:
    """Shape rules per type, in the product's unit."""
    meaning = INBOUND[change.type]
    if meaning.change in (ChangeKind.STOCK_DELTA, ChangeKind.STOCK_ABSOLUTE):
        if change.quantity is None:
            raise InvalidInput(f"a {change.type.value} needs a quantity", field="quantity")
        quantity = to_quantity(change.quantity, unit=product.base_unit)
        if meaning.change is ChangeKind.STOCK_DELTA and quantity <= 0:
            raise InvalidInput("quantity must be positive", code=ErrorCode.INVALID_QUANTITY, field="quantity")
        if quantity < 0:
            raise InvalidInput(
                "a count cannot be negative", code=ErrorCode.INVALID_QUANTITY, field="quantity"
            )
        based = change.based_on_quantity
        if based is not None:
            based = to_quantity(based, unit=product.base_unit, field="based_on_quantity")
        return replace(change, quantity=quantity, based_on_quantity=based)
    if meaning.change is ChangeKind.PRICE and change.price is None:
        raise InvalidInput("a price change needs a price", field="price")
    if meaning.change is ChangeKind.CONTENT:
        if not change.fields:
            raise InvalidInput("a content change needs fields", field="fields")
        unknown = sorted(set(change.fields) - CONTENT_FIELDS)
        if unknown:
            raise InvalidInput(f"fields {unknown} cannot be changed from a channel", fields=unknown)
    return change


@dataclass(frozen=True)
class _Target:
    """The hub's current value for the change, read under a lock."""

    hub: HubValue
    location_id: uuid.UUID | None = None
    price_list_id: uuid.UUID | None = None
    currency: str | None = None
    entries: tuple[PriceEntry, ...] = ()


def _base_price(entries: tuple[PriceEntry, ...] | list[PriceEntry]) -> PriceEntry | None:
    return next((e for e in entries if e.min_quantity == 1 and not e.is_promotion), None)


async def _target(uow: UnitOfWork, channel: Channel, product: Product, change: InboundChange) -> _Target:
    meaning = INBOUND[change.type]
    if meaning.change in (ChangeKind.STOCK_DELTA, ChangeKind.STOCK_ABSOLUTE):
        location_id = await _location(uow, channel, product, change)
        if await uow.locations.get(location_id) is None:
            raise NotFound("location", location_id)
        level = await uow.stock.get_level(product.id, location_id, for_update=True)
        if level is None:
            return _Target(HubValue(Decimal(0), 0, product.created_at), location_id=location_id)
        return _Target(
            HubValue(level.on_hand, level.version, level.updated_at or product.created_at),
            location_id=location_id,
        )
    if meaning.change is ChangeKind.PRICE:
        if channel.price_list_id is None:
            raise InvalidInput("this channel has no price list to take prices into", field="price")
        price_list = await uow.prices.get_list(channel.price_list_id)
        assert price_list is not None
        header = await uow.prices.lock_header(price_list.id, product.id, uow.now)
        entries, version = await uow.prices.entries(price_list.id, product.id)
        base = _base_price(entries)
        return _Target(
            HubValue(str(base.amount) if base else None, version, header),
            price_list_id=price_list.id,
            currency=price_list.currency,
            entries=tuple(entries),
        )
    locked = await uow.products.get(product.id, for_update=True)
    assert locked is not None
    fields = change.fields or {}
    current = {k: getattr(locked, k) for k in fields}
    return _Target(HubValue(current, locked.version, locked.updated_at))


def _as_channel_change(change: InboundChange) -> ChannelChange:
    meaning = INBOUND[change.type]
    if meaning.change is ChangeKind.STOCK_DELTA:
        assert change.quantity is not None
        value: Any = change.quantity * meaning.sign
    elif meaning.change is ChangeKind.STOCK_ABSOLUTE:
        value = change.quantity
    elif meaning.change is ChangeKind.PRICE:
        value = change.price
    else:
        value = change.fields
    return ChannelChange(
        meaning.change,
        value,
        change.changed_at,
        based_on_version=change.based_on_version,
        based_on_value=change.based_on_quantity,
    )


async def _apply(
    uow: UnitOfWork,
    writer: Actor,
    channel: Channel,
    product: Product,
    change: InboundChange,
    target: _Target,
    kind: ChangeKind,
    value: Any,
) -> dict[str, Any]:
    """Write ``value`` (a delta for stock, else the new value) as the channel's change."""
    reason = change.reason or f"{change.type.value} from channel {channel.name}"
    if kind in (ChangeKind.STOCK_DELTA, ChangeKind.STOCK_ABSOLUTE) and isinstance(value, Decimal):
        assert target.location_id is not None
        meaning = INBOUND[change.type]
        movement = meaning.movement if kind is ChangeKind.STOCK_DELTA else MovementKind.ADJUSTMENT
        assert movement is not None
        if value == 0:
            return {"delta": "0"}
        done = await stock.adjust_stock(
            uow,
            writer,
            location_id=target.location_id,
            product_id=product.id,
            delta=value,
            kind=movement,
            reason=reason,
        )
        return {"delta": format_quantity(done.quantity), "level": done.level.snapshot()}
    if kind is ChangeKind.PRICE:
        assert target.price_list_id is not None and target.currency is not None
        amount = parse_amount(str(value), target.currency, field="price")
        others = [e for e in target.entries if e is not _base_price(target.entries)]
        result = await pricing.put_prices(
            uow, writer, target.price_list_id, product.id, [PriceEntry(Decimal(1), amount), *others]
        )
        if result.version != target.hub.version + 1:  # the lock makes this a tripwire
            raise CompareFailed("the price changed while the inbound change was decided")
        return {"price": str(amount), "price_version": result.version}
    updated = await catalog.update_product(
        uow, writer, product.id, dict(value), expected_version=target.hub.version
    )
    return {"product_version": updated.version}


async def _correct(uow: UnitOfWork, channel: Channel, product: Product) -> None:
    """Push the hub's state of the product to the channel alone (it is now wrong there)."""
    for e in await product_state(uow, channel, product, origin=CORRECTION_ORIGIN):
        uow.journal.events.append(event_row(e, uow.now))


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
    nothing (a line that fails rolls the whole event back)."""
    channel = await owned_channel(uow, actor, channel_id)
    source = f"channel:{channel.id}"
    seen = await uow.receipts.claim(source, event_id, uow.now)
    if seen is not None:
        return InboundResult(seen[0], {**seen[1], "replayed": True})
    lines = [(await _decide_and_apply(uow, actor, channel, change)).body for change in changes]
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
    product = await _product(uow, channel, change)
    base = {"event_id": change.event_id, "channel_id": str(channel.id)}
    if product is None:
        if channel.config.get("unknown_external_ids") != "park":
            named = change.external_id or change.external_sku or change.alias
            raise InvalidInput(
                f"{named!r} is not mapped on this channel (nor a known alias)",
                code=ErrorCode.UNKNOWN_EXTERNAL_ID,
                field="external_id",
            )
        conflict_id = await _queue(uow, channel, None, change, None, "unmapped external id")
        await _audit(uow, actor, channel, None, change, None, "parked", {"conflict_id": str(conflict_id)})
        return InboundResult(202, {**base, "outcome": "queued", "conflict_id": str(conflict_id)})
    change = _check(change, product)
    if (
        meaning_writes_catalog(change)
        and channel.owner_partner_id is not None
        and channel.owner_partner_id != product.owner_partner_id
    ):
        raise Forbidden(
            f"product {product.sku} belongs to another partner: its channels may report sales, not edits"
        )
    target = await _target(uow, channel, product, change)
    decision = decide(channel.conflict_policy, target.hub, _as_channel_change(change))
    base.update({"product_id": str(product.id), "sku": product.sku, "reason": decision.reason})
    writer = channel_actor(actor, channel)
    if decision.outcome is Outcome.APPLY:
        written = await _apply(
            uow, writer, channel, product, change, target, INBOUND[change.type].change, decision.value
        )
        await _audit(uow, actor, channel, product, change, decision, "applied", written)
        return InboundResult(200, {**base, "outcome": "applied", **written})
    if decision.outcome is Outcome.KEEP_HUB:
        await _correct(uow, channel, product)
        await _audit(uow, actor, channel, product, change, decision, "kept_hub")
        return InboundResult(200, {**base, "outcome": "kept_hub", "hub_version": target.hub.version})
    if decision.outcome is Outcome.REVIEW:
        conflict_id = await _queue(uow, channel, product, change, target.hub, decision.reason)
        await _audit(
            uow, actor, channel, product, change, decision, "queued", {"conflict_id": str(conflict_id)}
        )
        return InboundResult(202, {**base, "outcome": "queued", "conflict_id": str(conflict_id)})
    await _correct(uow, channel, product)
    await _audit(
        uow, actor, channel, product, change, decision, "rejected", {"hub_version": target.hub.version}
    )
    return InboundResult(
        409,
        {
            **base,
            "outcome": "rejected",
            "hub_version": target.hub.version,
            "hub_value": _jsonable(target.hub.value),
        },
    )


def meaning_writes_catalog(change: InboundChange) -> bool:
    """Sales and returns are facts any channel of the slice may report; counts, restocks,
    prices and content are edits, which only the product's owner's channels may make."""
    return change.type not in (InboundType.SALE, InboundType.RETURN)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_quantity(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


async def _queue(
    uow: UnitOfWork,
    channel: Channel,
    product: Product | None,
    change: InboundChange,
    hub: HubValue | None,
    reason: str,
) -> uuid.UUID:
    conflict_id = uuid.uuid4()
    await uow.conflicts.add(
        {
            "id": conflict_id,
            "channel_id": channel.id,
            "owner_partner_id": product.owner_partner_id if product else channel.owner_partner_id,
            "product_id": product.id if product else None,
            "kind": change.type.value,
            "change": {**change.payload(), "reason_queued": reason},
            "hub_value": _jsonable(hub.value) if hub else None,
            "hub_version": hub.version if hub else 0,
            "status": "open",
            "created_at": uow.now,
        }
    )
    return conflict_id


# --- the review queue --------------------------------------------------------------------


async def list_conflicts(
    uow: UnitOfWork,
    actor: Actor,
    *,
    status: str | None,
    channel_id: uuid.UUID | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[dict[str, Any]]:
    actor.require(Scope.CHANNELS_ADMIN)
    owners = None if actor.is_admin else ({actor.partner_id} if actor.partner_id else set())
    return await uow.conflicts.find(
        owners=owners, status=status, channel_id=channel_id, after=after, limit=limit
    )


async def resolve_conflict(
    uow: UnitOfWork,
    actor: Actor,
    conflict_id: uuid.UUID,
    resolution: Resolution,
    *,
    value: Any = None,
    product_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    """Settle a queued change: keep the hub's value (the channel is corrected), take the
    channel's change as it was sent, or write a custom value. Decided by a person, so
    the write's origin is the person's key and every channel hears of it."""
    actor.require(Scope.CHANNELS_ADMIN)
    row = await uow.conflicts.get(conflict_id, for_update=True)
    if row is None or not actor.can_write(row["owner_partner_id"]):
        raise NotFound("conflict", conflict_id)
    if row["status"] != "open":
        raise Conflict(f"conflict {conflict_id} is already {row['status']}", conflict_status=row["status"])
    channel = await uow.channels.get(row["channel_id"])
    assert channel is not None
    raw = row["change"]
    change = InboundChange(
        event_id=raw["event_id"],
        type=InboundType(raw["type"]),
        changed_at=datetime.fromisoformat(raw["changed_at"]),
        external_id=raw.get("external_id"),
        external_sku=raw.get("external_sku"),
        alias=raw.get("alias"),
        location_id=uuid.UUID(raw["location_id"]) if raw.get("location_id") else None,
        quantity=Decimal(raw["quantity"]) if raw.get("quantity") is not None else None,
        price=raw.get("price"),
        fields=raw.get("fields"),
        reason=raw.get("reason"),
    )
    pid = row["product_id"] or product_id
    if pid is None:
        if resolution is not Resolution.KEEP_HUB:
            raise InvalidInput(
                "this change named an unmapped external id: give product_id", field="product_id"
            )
        product = None
    else:
        product = await uow.products.get(pid)
        if product is None or not actor.can_read(product.owner_partner_id):
            raise NotFound("product", pid)
        if row["product_id"] is None and change.external_id:
            await uow.mappings.upsert(
                channel.id,
                [{"external_id": change.external_id, "product_id": product.id, "external_sku": None}],
                uow.now,
            )
    written: dict[str, Any] = {}
    if resolution is Resolution.KEEP_HUB:
        if product is not None:
            await _correct(uow, channel, product)
    else:
        assert product is not None
        change = _check(change, product)
        writer = actor if actor.can_write(product.owner_partner_id) else channel_actor(actor, channel)
        target = await _target(uow, channel, product, change)
        kind = INBOUND[change.type].change
        if resolution is Resolution.TAKE_CHANNEL:
            new = _as_channel_change(change).value
        else:
            if value is None:
                raise InvalidInput("a custom resolution needs a value", field="value")
            new = value
            if kind is ChangeKind.STOCK_DELTA:
                kind = ChangeKind.STOCK_ABSOLUTE  # a custom stock value is the level to end at
        if kind is ChangeKind.STOCK_ABSOLUTE:
            new = to_quantity(Decimal(str(new)), unit=product.base_unit, field="value") - Decimal(
                target.hub.value
            )
        elif kind is ChangeKind.CONTENT and not isinstance(new, dict):
            raise InvalidInput("a content value is an object of fields", field="value")
        written = await _apply(uow, writer, channel, product, change, target, kind, new)
    await uow.conflicts.resolve(conflict_id, resolution.value, _jsonable(value), uow.now)
    await record(
        uow,
        actor,
        action="conflict.resolved",
        entity_type="conflict",
        entity_id=conflict_id,
        owner=row["owner_partner_id"],
        before={"status": "open", "change": raw, "hub_value": row["hub_value"]},
        after={"status": "resolved", "resolution": resolution.value, "value": _jsonable(value), **written},
    )
    return {**(await uow.conflicts.get(conflict_id) or {}), "written": written}
