"""Catalog use cases: categories and products."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from typing import Any

from productsync.domain import catalog as rules
from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import Category, NewProduct, Product
from productsync.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound, PreconditionFailed
from productsync.domain.events import EventType, product_event
from productsync.domain.identifiers import gtin14, normalize_gtin
from productsync.domain.instants import to_utc
from productsync.domain.sku_namespaces import choose
from productsync.services.bundles import check_components
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork


async def ensure_default_categories(uow: UnitOfWork) -> int:
    """Create the built-in categories that are missing; returns how many were added."""
    added = 0
    for spec in rules.default_categories():
        if await uow.categories.get_by_code(spec["code"]) is None:
            await uow.categories.add(
                Category(
                    id=uuid.uuid5(uuid.NAMESPACE_URL, f"productsync:category:{spec['code']}"),
                    created_at=uow.now,
                    **spec,
                )
            )
            added += 1
    return added


async def create_category(
    uow: UnitOfWork,
    actor: Actor,
    *,
    code: str,
    name: str,
    sku_prefix: str | None,
    attribute_schema: dict[str, Any],
    lot_tracked: bool = False,
) -> Category:
    """Categories are hub-wide (their SKU prefixes must not collide), so admins own them."""
    actor.require(Scope.ADMIN)
    category = Category(
        id=uuid.uuid4(),
        code=rules.check_category_code(code),
        name=name.strip(),
        sku_prefix=rules.check_sku_prefix(sku_prefix),
        attribute_schema=rules.check_attribute_schema(attribute_schema),
        lot_tracked=lot_tracked,
        created_at=uow.now,
    )
    if not category.name:
        raise InvalidInput("name must not be empty", field="name")
    if await uow.categories.get_by_code(category.code):
        raise Conflict(f"category {category.code} already exists", code=ErrorCode.DUPLICATE)
    await uow.categories.add(category)
    await record(
        uow,
        actor,
        action="category.created",
        entity_type="category",
        entity_id=category.id,
        owner=None,
        before=None,
        after={"code": category.code, "sku_prefix": category.sku_prefix},
    )
    return category


async def list_categories(uow: UnitOfWork) -> list[Category]:
    return await uow.categories.find()


async def resolve_category(uow: UnitOfWork, ref: str) -> Category:
    """A category by id or by code."""
    category = None
    try:
        category = await uow.categories.get(uuid.UUID(ref))
    except ValueError:
        category = await uow.categories.get_by_code(ref)
    if category is None:
        raise NotFound("category", ref)
    return category


async def _check_barcodes_free(uow: UnitOfWork, product: Product) -> None:
    taken = {
        code: owner
        for code, owner in (
            await uow.products.barcode_owners(product.owner_partner_id, product.barcodes)
        ).items()
        if owner != product.id
    }
    if taken:
        raise Conflict(
            f"barcode {next(iter(taken))} already belongs to another product of this partner",
            code=ErrorCode.DUPLICATE,
            barcodes=sorted(taken),
        )


async def create_product(uow: UnitOfWork, actor: Actor, new: NewProduct) -> Product:
    actor.require(Scope.CATALOG_WRITE)
    actor.check_write(new.owner_partner_id, "partner", new.owner_partner_id)
    if await uow.partners.get(new.owner_partner_id) is None:
        raise NotFound("partner", new.owner_partner_id)
    category = await uow.categories.get(new.category_id)
    if category is None:
        raise NotFound("category", new.category_id)
    product = rules.create_product(new, category, now=uow.now)
    if product.is_bundle:
        await check_components(uow, actor, product.owner_partner_id, list(product.components))
    # SKUs are unique per owner partner: another partner's use of it is no conflict
    # (and is never hinted at), the owner's own second use is.
    if await uow.products.sku_taken(product.owner_partner_id, product.sku):
        raise Conflict(
            f"SKU {product.sku} already exists for this partner", code=ErrorCode.DUPLICATE, sku=product.sku
        )
    await _check_barcodes_free(uow, product)
    await uow.products.add(product)
    snap = product.snapshot()
    await record(
        uow,
        actor,
        action="product.created",
        entity_type="product",
        entity_id=product.id,
        owner=product.owner_partner_id,
        before=None,
        after=snap,
        events=[product_event(EventType.PRODUCT_CREATED, product, origin=actor.origin)],
    )
    return product


async def get_product(uow: UnitOfWork, actor: Actor, product_id: uuid.UUID) -> Product:
    actor.require(Scope.CATALOG_READ)
    product = await uow.products.get(product_id)
    if product is None or not actor.can_read(product.owner_partner_id):
        raise NotFound("product", product_id)
    return product


async def find_product(
    uow: UnitOfWork,
    actor: Actor,
    *,
    product_id: uuid.UUID | None = None,
    sku: str | None = None,
    partner: str | None = None,
    for_write: bool = False,
) -> Product:
    """A visible product by id, or by SKU (normalized the same way it was stored) among
    the products the actor can see, narrowed by ``partner`` (a partner code or id); a
    partner key writing (``for_write``) means its own product first. Several visible
    matches are a 409 ``ambiguous-sku`` listing them (domain/sku_namespaces.py)."""
    if product_id is not None:
        product = await uow.products.get(product_id)
        if product is None or not actor.can_read(product.owner_partner_id):
            raise NotFound("product", product_id)
        return product
    if sku is None:
        raise InvalidInput("give either sku or product_id", field="sku")
    key = sku.strip().upper()
    readable = actor.readable_owners()
    found = await uow.products.sku_candidates(key, readable)
    chosen = choose(
        key,
        [c for _, c in found],
        readable=readable,
        writer=actor.partner_id if for_write and not actor.is_admin else None,
        partner=partner,
    )
    return next(p for p, c in found if c == chosen)


async def list_products(
    uow: UnitOfWork,
    actor: Actor,
    *,
    partner_id: uuid.UUID | None = None,
    category: str | None = None,
    sku: str | None = None,
    updated_since: datetime | None = None,
    barcode: str | None = None,
    include_archived: bool = False,
    after_sku: str | None = None,
    after_id: uuid.UUID | None = None,
    limit: int = 50,
    partner: str | None = None,
) -> list[Product]:
    """Products the actor may read, filtered; a barcode is matched in its GTIN-14 form,
    so a scanner's EAN-13 finds a product registered with the same item's GTIN-14. A SKU
    filter lists every visible partner's product using it; ``partner`` (a partner code)
    keeps one partner's. Pages follow (SKU, product id), as several partners may share a
    SKU."""
    actor.require(Scope.CATALOG_READ)
    owners = actor.readable_owners()
    category_id = (await resolve_category(uow, category)).id if category else None
    if partner is not None:
        named = await uow.partners.get_by_code(partner.strip().lower())
        if named is None or partner_id not in (None, named.id):
            return []  # an unknown partner has no products (and no 404 hints at partners)
        partner_id = named.id
    return await uow.products.find(
        owners={o for o in owners if o is not None} if owners is not None else None,
        partner_id=partner_id,
        category_id=category_id,
        sku_prefix=sku.strip().upper() if sku else None,
        updated_since=None if updated_since is None else to_utc(updated_since, field="updated_since"),
        barcode14=None if barcode is None else gtin14(normalize_gtin(barcode)),
        include_archived=include_archived,
        after_sku=after_sku,
        after_id=after_id,
        limit=limit,
    )


async def _writable_product(
    uow: UnitOfWork, actor: Actor, product_id: uuid.UUID, expected_version: int | None
) -> Product:
    actor.require(Scope.CATALOG_WRITE)
    product = await uow.products.get(product_id, for_update=True)
    if product is None or not actor.can_read(product.owner_partner_id):
        raise NotFound("product", product_id)
    actor.check_write(product.owner_partner_id, "product", product_id)
    if expected_version is not None and expected_version != product.version:
        raise PreconditionFailed(
            f"product is at version {product.version}, not {expected_version}",
            current_version=product.version,
        )
    return product


async def update_product(
    uow: UnitOfWork,
    actor: Actor,
    product_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
) -> Product:
    """Partial update; with ``expected_version`` (If-Match) a stale edit is refused."""
    product = await _writable_product(uow, actor, product_id, expected_version)
    category = await uow.categories.get(product.category_id)
    assert category is not None
    updated = rules.patch_product(product, changes, category, now=uow.now)
    if updated == replace(product, version=updated.version, updated_at=updated.updated_at):
        return product  # nothing changed: no version bump, no event
    await _check_barcodes_free(uow, updated)
    await uow.products.update(updated)
    await record(
        uow,
        actor,
        action="product.updated",
        entity_type="product",
        entity_id=product.id,
        owner=product.owner_partner_id,
        before=product.snapshot(),
        after=updated.snapshot(),
        events=[product_event(EventType.PRODUCT_UPDATED, updated, origin=actor.origin)],
    )
    return updated


async def archive_product(
    uow: UnitOfWork, actor: Actor, product_id: uuid.UUID, *, expected_version: int | None = None
) -> Product:
    product = await _writable_product(uow, actor, product_id, expected_version)
    archived = rules.archive_product(product, now=uow.now)
    if archived is product:
        return product
    await uow.products.update(archived)
    await record(
        uow,
        actor,
        action="product.archived",
        entity_type="product",
        entity_id=product.id,
        owner=product.owner_partner_id,
        before=product.snapshot(),
        after=archived.snapshot(),
        events=[product_event(EventType.PRODUCT_ARCHIVED, archived, origin=actor.origin)],
    )
    return archived
