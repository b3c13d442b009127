"""Price lists, tier sets and price resolution."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Product
from productsync.domain.errors import InvalidInput, NotFound
from productsync.domain.events import price_changed
from productsync.domain.money import parse_currency
from productsync.domain.pricing import (
    PriceEntry,
    PriceList,
    PriceListKind,
    ResolvedPrice,
    boundaries,
    check_entries,
    price_in_force,
    resolve,
)
from productsync.domain.quantities import to_quantity
from productsync.services.catalog import find_product
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

_REGION_RE = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$|^[A-Z0-9-]{2,40}$")


@dataclass(frozen=True)
class ProductPrices:
    price_list: PriceList
    product: Product
    entries: list[PriceEntry]
    version: int


async def create_price_list(
    uow: UnitOfWork,
    actor: Actor,
    *,
    name: str,
    currency: str,
    kind: PriceListKind,
    region: str | None,
    owner_partner_id: uuid.UUID | None,
) -> PriceList:
    """A partner's own list, or (admins only) a channel-agnostic list with no owner."""
    actor.require(Scope.PRICES_WRITE)
    if owner_partner_id is None and not actor.is_admin:
        owner_partner_id = actor.partner_id
    if owner_partner_id is not None:
        actor.check_write(owner_partner_id, "partner", owner_partner_id)
        if await uow.partners.get(owner_partner_id) is None:
            raise NotFound("partner", owner_partner_id)
    if not name.strip():
        raise InvalidInput("name must not be empty", field="name")
    if region is not None:
        region = region.strip().upper()
        if not _REGION_RE.match(region):
            raise InvalidInput(
                "region must be a country code such as DE or a region code such as EU", field="region"
            )
    pl = PriceList(
        id=uuid.uuid4(),
        name=name.strip(),
        owner_partner_id=owner_partner_id,
        currency=parse_currency(currency),
        kind=kind,
        region=region,
        created_at=uow.now,
    )
    await uow.prices.add_list(pl)
    await record(
        uow,
        actor,
        action="price_list.created",
        entity_type="price_list",
        entity_id=pl.id,
        owner=owner_partner_id,
        before=None,
        after={"name": pl.name, "currency": pl.currency, "kind": pl.kind.value, "region": region},
    )
    return pl


async def list_price_lists(uow: UnitOfWork, actor: Actor) -> list[PriceList]:
    actor.require(Scope.CATALOG_READ)
    return await uow.prices.lists(actor.readable_owners())


async def _visible_list(uow: UnitOfWork, actor: Actor, list_id: uuid.UUID) -> PriceList:
    pl = await uow.prices.get_list(list_id)
    if pl is None or not actor.can_read(pl.owner_partner_id):
        raise NotFound("price list", list_id)
    return pl


async def put_prices(
    uow: UnitOfWork, actor: Actor, list_id: uuid.UUID, product_id: uuid.UUID, entries: list[PriceEntry]
) -> ProductPrices:
    """Replace the whole tier set of a product on a list. A partner prices any
    product it can see (its own or shared) on its own lists. The event carries the price
    in force now; each window boundary ahead is kept to be announced when it comes."""
    actor.require(Scope.PRICES_WRITE)
    pl = await _visible_list(uow, actor, list_id)
    if pl.owner_partner_id is None:
        actor.require(Scope.ADMIN)
    else:
        actor.check_write(pl.owner_partner_id, "price list", list_id)
    product = await find_product(uow, actor, product_id=product_id)
    checked = check_entries(
        pl.currency,
        [
            PriceEntry(
                to_quantity(e.min_quantity, unit=product.base_unit, field="min_quantity"),
                e.amount,
                e.valid_from,
                e.valid_to,
            )
            for e in entries
        ],
    )
    before, _ = await uow.prices.entries(pl.id, product.id)
    version = await uow.prices.replace_entries(pl.id, product.id, checked, uow.now)
    # The windows ahead are announced when they open and close (services/price_windows.py).
    await uow.prices.replace_boundaries(pl.id, product.id, boundaries(checked, uow.now))
    after = [e.snapshot() for e in checked]
    in_force = price_in_force(checked, uow.now, currency=pl.currency, base_unit=product.base_unit)
    await record(
        uow,
        actor,
        action="prices.replaced",
        entity_type="product_prices",
        entity_id=f"{pl.id}:{product.id}",
        owner=pl.owner_partner_id or product.owner_partner_id,
        before={"prices": [e.snapshot() for e in before]},
        after={"prices": after, "version": version},
        events=[
            price_changed(
                product,
                pl.id,
                pl.currency,
                after,
                version=version,
                list_owner=pl.owner_partner_id,
                origin=actor.origin,
                in_force=in_force.snapshot() if in_force else None,
            )
        ],
    )
    return ProductPrices(pl, product, checked, version)


async def get_prices(
    uow: UnitOfWork, actor: Actor, list_id: uuid.UUID, product_id: uuid.UUID
) -> ProductPrices:
    actor.require(Scope.CATALOG_READ)
    pl = await _visible_list(uow, actor, list_id)
    product = await find_product(uow, actor, product_id=product_id)
    entries, version = await uow.prices.entries(pl.id, product.id)
    return ProductPrices(pl, product, entries, version)


async def resolve_price(
    uow: UnitOfWork,
    actor: Actor,
    *,
    product_id: uuid.UUID,
    list_id: uuid.UUID,
    quantity: Decimal,
    at: datetime,
) -> tuple[PriceList, Product, ResolvedPrice]:
    prices = await get_prices(uow, actor, list_id, product_id)
    qty = to_quantity(quantity, unit=prices.product.base_unit)
    resolved = resolve(
        prices.entries,
        qty,
        at,
        currency=prices.price_list.currency,
        ref=f"for {prices.product.sku} on list {list_id} (quantity {qty}, at {at.isoformat()})",
    )
    return prices.price_list, prices.product, resolved
