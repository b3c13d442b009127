"""Bundles: products made of other products, possibly of other partners.

A bundle keeps no stock. Its availability is derived from its components', and
every change to a component's stock re-announces each bundle containing it, so
channels see the bundle's number move with its parts.
"""

from __future__ import annotations

import uuid

from productsync.domain.access import Actor
from productsync.domain.bundles import bundle_levels, bundle_totals
from productsync.domain.catalog import Component, Product, ProductStatus
from productsync.domain.errors import Conflict, ErrorCode, Forbidden, InvalidInput, NotFound
from productsync.domain.events import DomainEvent, bundle_stock_changed
from productsync.domain.inventory import StockLevel, StockTotals
from productsync.domain.lots import capped_levels
from productsync.domain.projection import bundle_available
from productsync.store.uow import UnitOfWork


async def check_components(
    uow: UnitOfWork, actor: Actor, owner: uuid.UUID, components: list[Component]
) -> None:
    """Components exist, are plain active products, and the bundle's owner may read them:
    its own, or shared with it by their owner."""
    found = await uow.products.get_many({c.product_id for c in components})
    readable = await uow.partners.owners_sharing_with(owner) | {owner}
    for c in components:
        part = found.get(c.product_id)
        if part is None or not actor.can_read(part.owner_partner_id):
            raise NotFound("product", c.product_id)
        if part.owner_partner_id not in readable:
            raise Forbidden(
                f"component {part.sku} belongs to a partner that does not share it with the bundle's owner",
                component=part.sku,
            )
        if part.is_bundle:
            raise InvalidInput(f"component {part.sku} is itself a bundle", field="components")
        if part.status is ProductStatus.ARCHIVED:
            raise Conflict(f"component {part.sku} is archived", code=ErrorCode.ARCHIVED, component=part.sku)
        if part.base_unit.whole_only and c.quantity != c.quantity.to_integral_value():
            raise InvalidInput(f"component {part.sku} is counted in whole pieces", field="components")


async def announce_bundles(uow: UnitOfWork, product_ids: set[uuid.UUID], *, origin: str) -> list[DomainEvent]:
    """One ``stock.changed`` per bundle containing any of these products, with the
    bundle's derived availability after the change (call it after the levels moved)."""
    bundles = await uow.products.bundles_containing(product_ids)
    if not bundles:
        return []
    levels = await uow.stock.levels_for_products({c.product_id for b in bundles for c in b.components})
    return [
        bundle_stock_changed(
            b,
            bundle_available(b.components, levels),
            [lv for c in b.components for lv in levels.get(c.product_id, [])],
            origin=origin,
        )
        for b in bundles
    ]


async def bundle_stock(uow: UnitOfWork, bundle: Product) -> tuple[list[tuple[StockLevel, str]], StockTotals]:
    """A bundle's derived levels per location (with location codes) and totals, from its
    components' levels as a channel counts them (expired lots never count)."""
    levels = await component_levels(uow, [bundle])
    lot_map = await uow.lots.for_products(set(levels))
    if lot_map:
        levels = {pid: capped_levels(lvs, lot_map, uow.now) for pid, lvs in levels.items()}
    derived = bundle_levels(bundle.id, bundle.components, levels)
    codes = await uow.locations.codes({lv.location_id for lv in derived})
    return [(lv, codes.get(lv.location_id, "")) for lv in derived], bundle_totals(bundle.components, levels)


async def component_levels(uow: UnitOfWork, products: list[Product]) -> dict[uuid.UUID, list[StockLevel]]:
    """Levels by product id for these products and, for bundles, their components."""
    ids = {p.id for p in products} | {c.product_id for p in products for c in p.components}
    return await uow.stock.levels_for_products(ids)
