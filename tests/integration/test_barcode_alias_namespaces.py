"""Barcodes (GTINs) and aliases are unique per owner partner, on both databases.

The cast (``world``): A shares its catalog with B; C is unrelated. A and B (and C) sell
the same trade item, so each registers its EAN and the supplier's code. An owner's own
duplicate is a 409 naming nobody; a lookup resolves among what the key can see, and a
key seeing two partners' products gets 409 ``ambiguous-alias`` until ``partner`` names one.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text

from productsync.domain.access import system_actor
from productsync.domain.catalog import NewProduct
from productsync.domain.errors import Conflict, ErrorCode, NotFound
from productsync.domain.imports import ErrorPolicy
from productsync.services import aliases, catalog, partners
from productsync.services.imports import ImportOptions, run_import
from productsync.store.database import create_database
from productsync.store.migrate import alembic_config
from productsync.store.uow import transaction
from tests import services
from tests.conftest import ref

ADMIN = system_actor("test")


def _gtin13() -> str:
    body = f"29{int(ref()[:7], 16):010d}"
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _new(owner: Any, category: Any, gtin: str, sku: str | None = None) -> NewProduct:
    return NewProduct(
        sku=sku or ref("SE-").upper(),
        name="Rope",
        category_id=category.id,
        owner_partner_id=owner.id,
        attributes={"size": "L2", "material": "carbon"},
        barcodes=[gtin],
    )


async def _sports(db: Any) -> Any:
    return await transaction(db, lambda uow: uow.categories.get_by_code("sports"), readonly=True)


async def _create(db: Any, actor: Any, new: NewProduct) -> Any:
    return await transaction(db, lambda uow: catalog.create_product(uow, actor, new))


async def _set_aliases(db: Any, actor: Any, product: Any, pairs: list[tuple[str, str]]) -> Any:
    return await transaction(db, lambda uow: aliases.set_aliases(uow, actor, product.id, pairs))


async def _resolve(db: Any, actor: Any, code: str, partner: str | None = None) -> uuid.UUID:
    return await transaction(
        db, lambda uow: aliases.resolve_alias(uow, actor, "supplier", code, partner=partner), readonly=True
    )


async def _by_barcode(db: Any, actor: Any, gtin: str) -> set[uuid.UUID]:
    found = await transaction(db, lambda uow: catalog.list_products(uow, actor, barcode=gtin), readonly=True)
    return {p.id for p in found}


async def test_two_partners_register_one_gtin_and_one_alias(database, world) -> None:  # type: ignore[no-untyped-def]
    sports = await _sports(database)
    gtin, code = _gtin13(), ref("SUP-")
    of_a = await _create(database, world.actor_a, _new(world.a, sports, gtin))
    of_b = await _create(database, world.actor_b, _new(world.b, sports, gtin))  # not refused
    of_c = await _create(database, world.actor_c, _new(world.c, sports, gtin))
    for actor, product in ((world.actor_a, of_a), (world.actor_b, of_b), (world.actor_c, of_c)):
        assert await _set_aliases(database, actor, product, [("supplier", code)]) == [("supplier", code)]

    # The product list filter lists every visible match, and only those.
    assert await _by_barcode(database, world.actor_a, gtin) == {of_a.id}
    assert await _by_barcode(database, world.actor_b, gtin) == {of_a.id, of_b.id}
    assert await _by_barcode(database, world.actor_c, gtin) == {of_c.id}
    assert await _by_barcode(database, ADMIN, gtin) == {of_a.id, of_b.id, of_c.id}

    # Alias lookup: one visible product is the answer; C never hears of A or B.
    assert await _resolve(database, world.actor_a, code) == of_a.id
    assert await _resolve(database, world.actor_c, code) == of_c.id
    # B sees its own and A's: 409 with both candidates; ``partner`` settles it.
    with pytest.raises(Conflict) as caught:
        await _resolve(database, world.actor_b, code)
    assert caught.value.code is ErrorCode.AMBIGUOUS_ALIAS
    assert caught.value.data["alias"] == f"supplier:{code}"
    listed = caught.value.data["candidates"]
    assert {c["product_id"] for c in listed} == {str(of_a.id), str(of_b.id)}
    assert [c["partner"] for c in listed] == sorted([world.a.code, world.b.code])
    assert world.c.code not in caught.value.detail
    assert await _resolve(database, world.actor_b, code, partner=world.a.code) == of_a.id
    assert await _resolve(database, world.actor_b, code, partner=str(world.b.id)) == of_b.id
    with pytest.raises(NotFound):  # C's is invisible to B even when named
        await _resolve(database, world.actor_b, code, partner=world.c.code)
    with pytest.raises(Conflict) as caught:
        await _resolve(database, ADMIN, code)
    assert len(caught.value.data["candidates"]) == 3


async def test_the_owners_own_duplicate_is_409_naming_nobody(database, world) -> None:  # type: ignore[no-untyped-def]
    sports = await _sports(database)
    gtin, code = _gtin13(), ref("SUP-")
    first = await _create(database, world.actor_a, _new(world.a, sports, gtin))
    await _set_aliases(database, world.actor_a, first, [("supplier", code)])
    await _create(database, world.actor_c, _new(world.c, sports, gtin))  # another partner's: fine
    with pytest.raises(Conflict) as caught:
        await _create(database, world.actor_a, _new(world.a, sports, gtin))
    assert caught.value.code is ErrorCode.DUPLICATE
    assert caught.value.data["barcodes"] == [gtin]
    assert "this partner" in caught.value.detail
    for other in (world.b, world.c):
        assert other.code not in caught.value.detail and str(other.id) not in str(caught.value.data)

    second = await _create(database, world.actor_a, _new(world.a, sports, _gtin13()))
    with pytest.raises(Conflict) as caught:
        await _set_aliases(database, world.actor_a, second, [("supplier", code)])
    assert caught.value.code is ErrorCode.DUPLICATE
    assert caught.value.data["aliases"] == [f"supplier:{code}"]
    assert world.c.code not in caught.value.detail
    # Re-setting a product's own aliases is no conflict with itself.
    assert await _set_aliases(database, world.actor_a, first, [("supplier", code)]) == [("supplier", code)]


async def test_import_takes_another_partners_gtin_and_alias(database, world, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sports = await _sports(database)
    gtin, code = _gtin13(), ref("SUP-")
    of_a = await _create(database, world.actor_a, _new(world.a, sports, gtin))
    await _set_aliases(database, world.actor_a, of_a, [("supplier", code)])
    sku = ref("SE-").upper()
    products = tmp_path / "p.csv"
    products.write_text(
        "sku,partner,name,category,barcodes,attributes\n"
        f'{sku},{world.c.code},Rope,sports,{gtin},"{{""size"": ""M"", ""material"": ""steel""}}"\n'
        f'{sku}-2,{world.c.code},Rope 2,sports,{gtin},"{{""size"": ""M"", ""material"": ""steel""}}"\n'
    )
    report = await run_import(
        database, world.actor_c, products, ImportOptions(error_policy=ErrorPolicy.SKIP_FAILED)
    )
    assert report.counts["products"].created == 1  # the first row: A's GTIN is no conflict
    assert [(e.line, e.column) for e in report.errors] == [(3, "barcodes")]  # C's own twice
    assert "this partner" in report.errors[0].reason and world.a.code not in report.errors[0].reason
    alias_file = tmp_path / "a.csv"
    alias_file.write_text(f"scheme,code,sku\nsupplier,{code},{sku}\n")
    report = await run_import(database, world.actor_c, alias_file, ImportOptions())
    assert report.counts["aliases"].created == 1
    mine = await transaction(
        database, lambda uow: uow.products.get_by_sku(sku, owner=world.c.id), readonly=True
    )
    assert await _resolve(database, world.actor_c, code) == mine.id
    assert await _by_barcode(database, world.actor_c, gtin) == {mine.id}
    assert await _resolve(database, world.actor_a, code) == of_a.id


# Migration: upgrade fills the owner; downgrade refuses while two partners share a key.


async def _seed_shared(url: str) -> tuple[str, str, uuid.UUID]:
    db = create_database(url)
    try:
        await transaction(db, catalog.ensure_default_categories)
        gtin, code = _gtin13(), ref("SUP-")

        async def build(uow):  # type: ignore[no-untyped-def]
            sports = await uow.categories.get_by_code("sports")
            made = []
            for name in ("ga-", "gb-"):
                owner = await partners.create_partner(uow, ADMIN, code=ref(name), name=name)
                product = await catalog.create_product(uow, ADMIN, _new(owner, sports, gtin))
                await aliases.set_aliases(uow, ADMIN, product.id, [("supplier", code)])
                made.append(product)
            return made[1].id

        return gtin, code, await transaction(db, build)
    finally:
        await db.dispose()


async def _sql(url: str, stmt: str, **params: Any) -> None:
    db = create_database(url)
    try:
        async with db.engine.begin() as conn:
            if db.engine.dialect.name != "postgresql":
                params = {k: v.hex if isinstance(v, uuid.UUID) else v for k, v in params.items()}
            await conn.execute(text(stmt), params)
    finally:
        await db.dispose()


async def _primary_keys(url: str) -> dict[str, list[str]]:
    db = create_database(url)
    try:
        async with db.engine.connect() as conn:
            return await conn.run_sync(
                lambda c: {
                    t: inspect(c).get_pk_constraint(t)["constrained_columns"]
                    for t in ("product_barcodes", "product_aliases")
                }
            )
    finally:
        await db.dispose()


def _downgrade_refuses_then_works(url: str) -> None:
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    assert asyncio.run(_primary_keys(url)) == {
        "product_barcodes": ["owner_partner_id", "gtin14"],
        "product_aliases": ["owner_partner_id", "scheme", "code"],
    }
    gtin, code, second = asyncio.run(_seed_shared(url))
    with pytest.raises(
        RuntimeError, match=f"barcodes used by more than one partner: .*{int(gtin):014d}"
    ) as e:
        command.downgrade(cfg, "0020")
    assert f"supplier:{code}" in str(e.value)
    asyncio.run(_sql(url, "DELETE FROM product_barcodes WHERE product_id = :p", p=second))
    asyncio.run(_sql(url, "DELETE FROM product_aliases WHERE product_id = :p", p=second))
    command.downgrade(cfg, "0020")
    assert asyncio.run(_primary_keys(url)) == {
        "product_barcodes": ["gtin14"],
        "product_aliases": ["scheme", "code"],
    }
    command.upgrade(cfg, "head")  # and back: the owner is filled from products
    asyncio.run(_seed_shared(url))  # the new rule holds again


def test_sqlite_downgrade_below_0021_refuses_shared_barcodes(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _downgrade_refuses_then_works(f"sqlite:///{tmp_path / 'gtin.db'}")


def test_postgres_downgrade_below_0021_refuses_shared_barcodes() -> None:
    try:
        url = asyncio.run(services.create_postgres_database())
    except Exception as exc:  # noqa: BLE001
        services.unavailable("PostgreSQL", exc)
    try:
        _downgrade_refuses_then_works(url)
    finally:
        asyncio.run(services.drop_postgres_database(url))
