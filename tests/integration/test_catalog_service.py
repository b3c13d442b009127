"""Catalog use cases against a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from productsync.domain.catalog import NewProduct, ProductStatus
from productsync.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from productsync.services import catalog
from productsync.store.tables import audit_log, outbox
from productsync.store.uow import transaction
from tests.conftest import count_rows, ref


async def _cosmetics(db):  # type: ignore[no-untyped-def]
    return await transaction(db, lambda uow: uow.categories.get_by_code("cosmetics"))


def _polish(world, category, **over):  # type: ignore[no-untyped-def]
    values = dict(
        sku=ref("cos-t-"),
        name="Polish",
        category_id=category.id,
        owner_partner_id=world.a.id,
        attributes={"ingredients": ["x"], "volume_ml": 12, "pao_months": 12},
    )
    values.update(over)
    return NewProduct(**values)


async def test_creating_a_product_writes_it_with_audit_and_event_in_one_go(database, world) -> None:
    cosmetics = await _cosmetics(database)
    new = _polish(world, cosmetics)
    product = await transaction(database, lambda uow: catalog.create_product(uow, world.actor_a, new))
    assert product.sku == new.sku.upper()
    assert await count_rows(database, audit_log, entity_id=str(product.id), action="product.created") == 1
    assert await count_rows(database, outbox, product_id=product.id, type="productsync.product.created") == 1
    again = await transaction(database, lambda uow: catalog.get_product(uow, world.actor_b, product.id))
    assert again == product


async def test_a_duplicate_sku_or_barcode_is_a_conflict_and_writes_nothing(database, world) -> None:
    cosmetics = await _cosmetics(database)
    first = _polish(world, cosmetics)
    await transaction(database, lambda uow: catalog.create_product(uow, world.actor_a, first))
    before = await count_rows(database, outbox)
    with pytest.raises(Conflict):
        await transaction(database, lambda uow: catalog.create_product(uow, world.actor_a, first))
    gtin = "40063812"
    p1 = _polish(world, cosmetics, barcodes=[gtin])
    await transaction(database, lambda uow: catalog.create_product(uow, world.actor_a, p1))
    with pytest.raises(Conflict, match="already belongs"):
        # the same item written as GTIN-14 is the same barcode
        p2 = _polish(world, cosmetics, barcodes=["000000" + gtin])
        await transaction(database, lambda uow: catalog.create_product(uow, world.actor_a, p2))
    assert await count_rows(database, outbox) == before + 1


async def test_partners_cannot_create_for_others_and_do_not_see_unshared_products(database, world) -> None:
    cosmetics = await _cosmetics(database)
    with pytest.raises(NotFound):
        await transaction(
            database, lambda uow: catalog.create_product(uow, world.actor_c, _polish(world, cosmetics))
        )
    with pytest.raises(NotFound):
        await transaction(database, lambda uow: catalog.get_product(uow, world.actor_c, world.product.id))
    with pytest.raises(Forbidden):
        await transaction(
            database,
            lambda uow: catalog.update_product(uow, world.actor_b, world.product.id, {"name": "hijacked"}),
        )


async def test_updates_honour_the_expected_version(database, world) -> None:
    pid = world.product.id
    updated = await transaction(
        database,
        lambda uow: catalog.update_product(uow, world.actor_a, pid, {"name": "Renamed"}, expected_version=1),
    )
    assert (updated.name, updated.version) == ("Renamed", 2)
    with pytest.raises(PreconditionFailed):
        await transaction(
            database,
            lambda uow: catalog.update_product(
                uow, world.actor_a, pid, {"name": "Stale"}, expected_version=1
            ),
        )
    same = await transaction(
        database, lambda uow: catalog.update_product(uow, world.actor_a, pid, {"name": "Renamed"})
    )
    assert same.version == 2  # nothing changed, nothing bumped
    with pytest.raises(InvalidInput):
        await transaction(
            database, lambda uow: catalog.update_product(uow, world.actor_a, pid, {"attributes": {"size": 3}})
        )


async def test_archived_products_leave_default_lists_but_stay_readable(database, world) -> None:
    pid = world.product.id
    archived = await transaction(database, lambda uow: catalog.archive_product(uow, world.actor_a, pid))
    assert archived.status is ProductStatus.ARCHIVED
    listed = await transaction(
        database, lambda uow: catalog.list_products(uow, world.actor_a, partner_id=world.a.id)
    )
    assert pid not in {p.id for p in listed}
    listed = await transaction(
        database,
        lambda uow: catalog.list_products(uow, world.actor_a, partner_id=world.a.id, include_archived=True),
    )
    assert pid in {p.id for p in listed}


async def test_listing_filters_and_paginates_by_sku(database, world) -> None:
    cosmetics = await _cosmetics(database)
    stem = ref("COS-PG").upper()
    for i in range(5):
        new = _polish(world, cosmetics, sku=f"{stem}-{i}")
        await transaction(database, lambda uow, new=new: catalog.create_product(uow, world.actor_a, new))
    seen: list[str] = []
    after = None
    while True:
        page = await transaction(
            database,
            lambda uow, after=after: catalog.list_products(
                uow, world.actor_b, sku=stem, category="cosmetics", after_sku=after, limit=2
            ),
        )
        if not page:
            break
        seen += [p.sku for p in page]
        after = page[-1].sku
    assert seen == [f"{stem}-{i}" for i in range(5)]
    none = await transaction(database, lambda uow: catalog.list_products(uow, world.actor_c, sku=stem))
    assert none == []
    recent = await transaction(
        database,
        lambda uow: catalog.list_products(
            uow, world.actor_a, sku=stem, updated_since=world.product.updated_at + timedelta(days=1)
        ),
    )
    assert recent == []
