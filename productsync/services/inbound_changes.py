"""What a change coming back from a channel is, and how each kind of change is written.

Shared by the inbound use cases (services/inbound.py) and the review queue
(services/review.py): the product and location a change names, its shape rules, the
hub's current value read under a lock, and ``WRITERS``, a table from change kind to
the function that writes it (a new kind of change is a new row, not another branch).

A channel's sale is a fact: its writer records it through services/oversells.py, which
sells what the hub has and records the rest as an oversell instead of refusing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from productsync.domain.access import Actor, Scope
from productsync.domain.alias_namespaces import choose_alias
from productsync.domain.catalog import Product
from productsync.domain.channels import Channel
from productsync.domain.conflicts import INBOUND, ChangeKind, ChannelChange, HubValue, InboundType
from productsync.domain.errors import CompareFailed, ErrorCode, InvalidInput, NotFound
from productsync.domain.identifiers import normalize_alias
from productsync.domain.inventory import MovementKind
from productsync.domain.money import parse_amount
from productsync.domain.pricing import PriceEntry
from productsync.domain.quantities import format_quantity, to_quantity
from productsync.domain.sku_namespaces import choose
from productsync.services import catalog, oversells, pricing, stock
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
    order_ref: str | None = None  # the channel's order, named on an oversell
    partner: str | None = None  # whose ``sku`` (a partner code), when the channel sees several

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
            "order_ref": self.order_ref,
            "partner": self.partner,
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


def is_stock(kind: ChangeKind) -> bool:
    return kind in (ChangeKind.STOCK_DELTA, ChangeKind.STOCK_ABSOLUTE)


def writes_catalog(kind: InboundType) -> bool:
    """Counts, restocks, prices and content are edits, which only the product's owner's
    channels may make; sales and returns are facts any channel of the slice may report
    (the same rule as services/inbound.py ``meaning_writes_catalog``)."""
    return kind not in (InboundType.SALE, InboundType.RETURN)


async def _by_sku(uow: UnitOfWork, channel: Channel, change: InboundChange, sku: str) -> Product:
    """A SKU among the products the channel sees. An edit means the channel's owner's own
    product first (it may edit no other); a sale or return of a SKU several partners of
    the channel's slice use is a 409 ``ambiguous-sku``: send ``partner`` or ``product_id``."""
    key = sku.strip().upper()
    found = [
        (p, c)
        for p, c in await uow.products.sku_candidates(key, set(channel.partner_ids) or None)
        if channel.sees(owner_partner_id=p.owner_partner_id, category_id=p.category_id)
    ]
    writer = channel.owner_partner_id if writes_catalog(change.type) else None
    chosen = choose(key, [c for _, c in found], readable=None, writer=writer, partner=change.partner)
    return next(p for p, c in found if c == chosen)


async def _by_alias(uow: UnitOfWork, channel: Channel, change: InboundChange, alias: str) -> uuid.UUID | None:
    """An alias among the products the channel sees (aliases are unique per partner), by
    the SKU rule: an edit means the channel owner's own product first; several left is a
    409 ``ambiguous-alias`` (send ``partner``). None when the slice has no such alias."""
    scheme, _, code = alias.partition(":")
    scheme, code = normalize_alias(scheme, code)
    found = await uow.aliases.candidates(scheme, code, set(channel.partner_ids) or None)
    products = await uow.products.get_many({c.product_id for c in found})
    seen = [
        c
        for c in found
        if (p := products.get(c.product_id)) is not None
        and channel.sees(owner_partner_id=p.owner_partner_id, category_id=p.category_id)
    ]
    if not seen:
        return None
    writer = channel.owner_partner_id if writes_catalog(change.type) else None
    return choose_alias(
        f"{scheme}:{code}", seen, readable=None, writer=writer, partner=change.partner
    ).product_id


async def find_product(uow: UnitOfWork, channel: Channel, change: InboundChange) -> Product | None:
    """The product the change names; None for an external id the channel has not mapped."""
    if change.product_id is not None:
        product = await uow.products.get(change.product_id)
    elif change.sku is not None:
        product = await _by_sku(uow, channel, change, change.sku)
    elif change.external_id is not None or change.external_sku is not None or change.alias is not None:
        if change.external_id is not None:
            product_id = await uow.mappings.product_for(channel.id, change.external_id)
        elif change.external_sku is not None:
            product_id = await uow.mappings.product_for_external_sku(channel.id, change.external_sku)
        else:
            product_id = await _by_alias(uow, channel, change, change.alias or "")
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
        if not channel.counts_location(change.location_id):
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


def check_shape(change: InboundChange, product: Product) -> InboundChange:
    """Shape rules per type, in the product's unit."""
    meaning = INBOUND[change.type]
    if is_stock(meaning.change):
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
class Target:
    """The hub's current value for the change, read under a lock."""

    hub: HubValue
    location_id: uuid.UUID | None = None
    price_list_id: uuid.UUID | None = None
    currency: str | None = None
    entries: tuple[PriceEntry, ...] = ()


def _base_price(entries: tuple[PriceEntry, ...] | list[PriceEntry]) -> PriceEntry | None:
    return next((e for e in entries if e.min_quantity == 1 and not e.is_promotion), None)


async def read_target(uow: UnitOfWork, channel: Channel, product: Product, change: InboundChange) -> Target:
    meaning = INBOUND[change.type]
    if is_stock(meaning.change):
        location_id = await _location(uow, channel, product, change)
        if await uow.locations.get(location_id) is None:
            raise NotFound("location", location_id)
        level = await uow.stock.get_level(product.id, location_id, for_update=True)
        if level is None:
            return Target(HubValue(Decimal(0), 0, product.created_at), location_id=location_id)
        return Target(
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
        return Target(
            HubValue(str(base.amount) if base else None, version, header),
            price_list_id=price_list.id,
            currency=price_list.currency,
            entries=tuple(entries),
        )
    locked = await uow.products.get(product.id, for_update=True)
    assert locked is not None
    fields = change.fields or {}
    current = {k: getattr(locked, k) for k in fields}
    return Target(HubValue(current, locked.version, locked.updated_at))


def as_channel_change(change: InboundChange) -> ChannelChange:
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


@dataclass(frozen=True)
class Write:
    """Everything a writer needs: who writes, for which channel, what, against which value."""

    writer: Actor
    channel: Channel
    product: Product
    change: InboundChange
    target: Target
    value: Any  # a delta for stock, else the new value

    @property
    def reason(self) -> str:
        return self.change.reason or f"{self.change.type.value} from channel {self.channel.name}"


def _stock_delta(value: Any) -> Decimal:
    """A stock writer takes a Decimal delta and nothing else: anything else is refused
    here, never passed on to another kind's writer."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput("a stock change needs a decimal quantity", field="quantity")
    return value


async def _write_stock_delta(uow: UnitOfWork, w: Write) -> dict[str, Any]:
    """A sale is recorded as a fact (what is missing becomes an oversell, and the channel,
    whose view was wrong, is sent the hub's state); returns and restocks move stock."""
    delta = _stock_delta(w.value)
    assert w.target.location_id is not None
    if delta == 0:
        return {"delta": "0"}
    movement = INBOUND[w.change.type].movement
    if movement is MovementKind.SALE and delta < 0:
        sale = await oversells.record_channel_sale(
            uow,
            w.writer,
            product=w.product,
            location_id=w.target.location_id,
            quantity=-delta,
            channel_id=w.channel.id,
            source=f"channel:{w.channel.id}",
            event_id=w.change.event_id,
            order_ref=w.change.order_ref,
            reason=w.reason,
        )
        if sale.oversell is not None:
            await correct(uow, w.channel, w.product)
        return sale.written()
    assert movement is not None
    done = await stock.adjust_stock(
        uow,
        w.writer,
        location_id=w.target.location_id,
        product_id=w.product.id,
        delta=delta,
        kind=movement,
        reason=w.reason,
    )
    return {"delta": format_quantity(done.quantity), "level": done.level.snapshot()}


async def _write_stock_absolute(uow: UnitOfWork, w: Write) -> dict[str, Any]:
    """A count or a custom level arrives as the delta to it (so it commutes with moves)."""
    delta = _stock_delta(w.value)
    assert w.target.location_id is not None
    if delta == 0:
        return {"delta": "0"}
    done = await stock.adjust_stock(
        uow,
        w.writer,
        location_id=w.target.location_id,
        product_id=w.product.id,
        delta=delta,
        kind=MovementKind.ADJUSTMENT,
        reason=w.reason,
    )
    return {"delta": format_quantity(done.quantity), "level": done.level.snapshot()}


async def _write_price(uow: UnitOfWork, w: Write) -> dict[str, Any]:
    """The channel's base price replaces the list's base entry; tiers and promotions stay."""
    target = w.target
    assert target.price_list_id is not None and target.currency is not None
    if isinstance(w.value, bool) or not isinstance(w.value, str | int | float | Decimal):
        raise InvalidInput("a price is a decimal number", field="price")
    amount = parse_amount(str(w.value), target.currency, field="price")
    others = [e for e in target.entries if e is not _base_price(target.entries)]
    result = await pricing.put_prices(
        uow, w.writer, target.price_list_id, w.product.id, [PriceEntry(Decimal(1), amount), *others]
    )
    if result.version != target.hub.version + 1:  # the lock makes this a tripwire
        raise CompareFailed("the price changed while the inbound change was decided")
    return {"price": str(amount), "price_version": result.version}


async def _write_content(uow: UnitOfWork, w: Write) -> dict[str, Any]:
    """Content fields are written as given, against the version read under the lock."""
    if not isinstance(w.value, dict):
        raise InvalidInput("a content value is an object of fields", field="fields")
    updated = await catalog.update_product(
        uow, w.writer, w.product.id, dict(w.value), expected_version=w.target.hub.version
    )
    return {"product_version": updated.version}


WRITERS: dict[ChangeKind, Callable[[UnitOfWork, Write], Awaitable[dict[str, Any]]]] = {
    ChangeKind.STOCK_DELTA: _write_stock_delta,
    ChangeKind.STOCK_ABSOLUTE: _write_stock_absolute,
    ChangeKind.PRICE: _write_price,
    ChangeKind.CONTENT: _write_content,
}


async def write(uow: UnitOfWork, kind: ChangeKind, w: Write) -> dict[str, Any]:
    """Write ``w.value`` as the channel's change of this kind; what was written, as JSON."""
    return await WRITERS[kind](uow, w)


async def correct(uow: UnitOfWork, channel: Channel, product: Product) -> None:
    """Push the hub's state of the product to the channel alone (it is now wrong there)."""
    for e in await product_state(uow, channel, product, origin=CORRECTION_ORIGIN):
        uow.journal.events.append(event_row(e, uow.now))


def jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format_quantity(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value
