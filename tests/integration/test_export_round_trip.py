"""The round trip: an export imported again changes nothing, announces nothing, audits nothing.

Peers fail here (Medusa's import drops quantities and corrupts prices on an export-then-
import round trip), so every kind goes through it in both formats, with the values that
break naive formats: quotes, commas and newlines in text, unicode, decimals, barcodes,
nested JSON, lots with expiry dates, tiers with promotion windows, an archived product.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from productsync.domain.access import Scope
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.imports import ImportKind
from productsync.domain.inventory import MovementKind
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.domain.quantities import BaseUnit
from productsync.services import aliases, catalog, channels, pricing, stock
from productsync.services.exports import ExportRequest, open_export
from productsync.services.imports import ImportOptions, run_import
from productsync.store.tables import audit_log, outbox
from productsync.store.uow import UnitOfWork, transaction
from tests.conftest import count_rows, ref

D = Decimal


def gtin13() -> str:
    """A random valid GTIN-13 (barcodes are unique hub-wide, and tests share a database)."""
    import random

    body = [random.randint(0, 9) for _ in range(12)]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(body))
    return "".join(map(str, body)) + str((10 - total % 10) % 10)


KINDS = ("products", "stock", "prices", "mappings", "aliases")


async def _catalog(db, world, actor, *, lots: bool = False):  # type: ignore[no-untyped-def]
    """Partner A's data of every kind, in shapes that test the format (with ``lots``, a
    lot-tracked product stocked in two lots too)."""

    async def products(uow: UnitOfWork):  # type: ignore[no-untyped-def]
        sports = await uow.categories.get_by_code("sports")
        cosmetics = await uow.categories.get_by_code("cosmetics")
        racket = await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("SE-"),
                name='Racket "Pro", 27"',
                category_id=sports.id,
                owner_partner_id=world.a.id,
                description="Line one,\nline two; «quoted» — ünïcödé",
                barcodes=[gtin13()],
                texts={
                    "de": {"name": "Schläger", "description": "Leicht, schnell"},
                    "fr-FR": {"name": "Raquette"},
                },
                attributes={"size": "L2", "material": "carbon", "weight_g": 287.5, "color": "red/black"},
                allow_backorders=True,
                packs={"case": 6},
            ),
        )
        polish = await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("COS-"),
                name="Polish",
                category_id=cosmetics.id,
                owner_partner_id=world.a.id,
                base_unit=BaseUnit.MILLILITRE,
                attributes={"ingredients": ["resin", "pigment"], "volume_ml": 12.5, "pao_months": 12},
            ),
        )
        old = await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("SE-"),
                name="Old",
                category_id=sports.id,
                owner_partner_id=world.a.id,
                attributes={"size": "S", "material": "wood"},
            ),
        )
        await catalog.archive_product(uow, world.admin, old.id)
        return racket, polish

    racket, polish = await transaction(db, products)
    soon, later = date.today() + timedelta(days=20), date.today() + timedelta(days=200)
    for lot, expires, quantity in (("B-2", later, "40.5"), ("A-1", soon, "12")) if lots else ():
        await transaction(
            db,
            lambda uow, lot=lot, expires=expires, quantity=quantity: stock.adjust_stock(
                uow,
                actor,
                location_id=world.loc_a.id,
                product_id=polish.id,
                delta=D(quantity),
                kind=MovementKind.RECEIPT,
                lot_number=lot,
                expires_on=expires,
            ),
        )
    for location, quantity, safety in ((world.loc_a.id, 9, 1), (world.loc_hub.id, 0, 0)):
        await transaction(
            db,
            lambda uow, location=location, quantity=quantity, safety=safety: stock.set_stock(
                uow,
                world.admin,
                location_id=location,
                product_id=racket.id,
                quantity=D(quantity),
                safety_stock=D(safety),
            ),
        )
    pl = await transaction(
        db,
        lambda uow: pricing.create_price_list(
            uow,
            actor,
            name="Retail",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=world.a.id,
        ),
    )
    now = datetime.now(UTC).replace(microsecond=0)
    await transaction(
        db,
        lambda uow: pricing.put_prices(
            uow,
            actor,
            pl.id,
            racket.id,
            [
                PriceEntry(D(1), D("19.99")),
                PriceEntry(D(10), D("17.5")),
                PriceEntry(D(1), D("14.99"), now - timedelta(days=1), now + timedelta(days=6)),
            ],
        ),
    )
    await transaction(
        db, lambda uow: pricing.put_prices(uow, actor, pl.id, polish.id, [PriceEntry(D("0.5"), D("3.20"))])
    )
    channel, _ = await transaction(
        db,
        lambda uow: channels.create_channel(
            uow, actor, NewChannel(name="feed", kind=ChannelKind.SSE, owner_partner_id=None)
        ),
    )
    await transaction(
        db,
        lambda uow: channels.upsert_mappings(
            uow,
            actor,
            channel.id,
            [
                channels.MappingIn(
                    external_id="gid://shopify/ProductVariant/1", product_id=racket.id, external_sku="R-1"
                ),
                channels.MappingIn(external_id="2", product_id=polish.id),
            ],
        ),
    )
    await transaction(
        db,
        lambda uow: aliases.set_aliases(
            uow, actor, racket.id, [("supplier", ref("SUP-")), ("ean", ref("X "))]
        ),
    )


async def _export(db, actor, kind: str, fmt: str) -> bytes:  # type: ignore[no-untyped-def]
    opened = await open_export(db, actor, ExportRequest(kind, fmt))  # type: ignore[arg-type]
    return b"".join([chunk async for chunk in opened.chunks()])


async def _round_trip(database, actor, tmp_path: Path, fmt: str, kinds: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    for kind in kinds:
        data = await _export(database, actor, kind, fmt)
        assert data.count(b"\n") >= (3 if fmt == "csv" else 2), (kind, data)  # not an empty file
        path = tmp_path / f"{kind}.{fmt}"
        path.write_bytes(data)
        events, audits = await count_rows(database, outbox), await count_rows(database, audit_log)
        report = await run_import(database, actor, path, ImportOptions(kind=ImportKind(kind)))
        assert report.rejected == 0, (kind, [e.text() for e in report.errors])
        assert report.rows > 0
        changed = {
            name: (c.created, c.updated) for name, c in report.counts.items() if c.created or c.updated
        }
        assert changed == {}, (kind, changed)
        assert not report.written
        assert await count_rows(database, outbox) == events, kind  # nothing announced
        assert await count_rows(database, audit_log) == audits, kind  # nothing audited
        assert await _export(database, actor, kind, fmt) == data, kind  # the same state, byte for byte


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
async def test_every_kind_exported_and_imported_again_changes_nothing(
    database, world, tmp_path: Path, fmt
) -> None:
    actor = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    await _catalog(database, world, actor, lots=True)
    stocked = await _export(database, actor, "stock", fmt)
    assert b"A-1" in stocked and b"B-2" in stocked  # lot rows are part of the trip
    await _round_trip(database, actor, tmp_path, fmt, KINDS)
