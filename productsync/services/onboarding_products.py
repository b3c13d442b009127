"""Onboarding, the part that creates hub products for a store's unmatched items, and
what applying a proposal did (``ApplyResult``).

Products are created through ``catalog.create_product``, so every rule of a product made
over the API holds (the category's SKU prefix and attribute schema, SKU and barcode
uniqueness); an item those rules refuse is recorded in ``ApplyResult.failed`` and the
others go on: every rule runs before ``create_product`` writes, so a refusal leaves the
transaction clean.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from productsync.domain.access import Actor, Scope
from productsync.domain.catalog import NewProduct, Product
from productsync.domain.channels import Channel
from productsync.domain.errors import Conflict, InvalidInput, NotFound
from productsync.domain.matching import gtin_key
from productsync.services import catalog
from productsync.store.repositories.onboarding import StoredRow
from productsync.store.uow import UnitOfWork

MAX_NAME = 300


@dataclass
class ApplyResult:
    mapped: int = 0
    created: list[dict[str, Any]] = field(default_factory=list)  # external_id, product_id, sku
    failed: list[dict[str, Any]] = field(default_factory=list)  # external_id, sku, code, reason
    skipped: list[dict[str, Any]] = field(default_factory=list)  # included, but not matched
    events: int = 0

    def report(self) -> dict[str, Any]:
        return {
            "mapped": self.mapped,
            "created": self.created,
            "failed": self.failed,
            "skipped": self.skipped,
            "events": self.events,
        }


def _new_product(
    channel: Channel, row: StoredRow, category_id: uuid.UUID, attributes: dict[str, Any]
) -> NewProduct:
    item = row.item or {}
    sku = (item.get("sku") or "").strip()
    if not sku:
        raise InvalidInput("the channel item has no SKU to create a hub product with", field="sku")
    assert channel.owner_partner_id is not None
    barcode = item.get("barcode")
    return NewProduct(
        sku=sku,
        name=str(item.get("title") or sku)[:MAX_NAME],
        category_id=category_id,
        owner_partner_id=channel.owner_partner_id,
        description=str(item.get("description") or ""),
        barcodes=[barcode.strip()] if isinstance(barcode, str) and gtin_key(barcode) else [],
        attributes=dict(attributes),
    )


async def create_products(
    uow: UnitOfWork,
    actor: Actor,
    channel: Channel,
    rows: list[StoredRow],
    category_ref: str | None,
    attributes: dict[str, Any],
    result: ApplyResult,
) -> list[tuple[StoredRow, Product]]:
    actor.require(Scope.CATALOG_WRITE)
    if channel.owner_partner_id is None:
        raise InvalidInput(
            "the channel has no owner partner to create products for", field="create_unmatched"
        )
    if not category_ref:
        raise InvalidInput("creating products for unmatched items needs a category", field="category")
    try:
        category = await catalog.resolve_category(uow, category_ref)
    except NotFound:
        raise InvalidInput(f"category {category_ref} does not exist", field="category") from None
    made: list[tuple[StoredRow, Product]] = []
    for row in rows:
        item = row.item or {}
        try:
            # Every rule create_product checks runs before it writes, so a refusal here
            # leaves the transaction clean for the next item.
            product = await catalog.create_product(
                uow, actor, _new_product(channel, row, category.id, attributes)
            )
        except (InvalidInput, Conflict) as exc:
            result.failed.append(
                {
                    "external_id": row.external_id,
                    "sku": item.get("sku"),
                    "code": exc.code.value,
                    "reason": exc.detail,
                }
            )
            continue
        made.append((row, product))
        result.created.append(
            {"external_id": row.external_id, "product_id": str(product.id), "sku": product.sku}
        )
    return made
