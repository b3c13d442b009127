"""Exports: full and delta since a cursor, CSV and JSONL, partner isolation, a channel's view."""

from __future__ import annotations

import csv
import io
import json
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from productsync.domain.access import Scope
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.errors import Forbidden, InvalidInput, NotFound
from productsync.domain.inventory import MovementKind
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.domain.quantities import BaseUnit
from productsync.services import aliases, availability, catalog, channels, pricing, stock
from productsync.services.channel_slices import expected_for, slice_page
from productsync.services.exports import ExportRequest, open_export
from productsync.store.uow import UnitOfWork, transaction
from tests.conftest import ref

D = Decimal


def gtin13() -> str:
    """A random valid GTIN-13 (barcodes are unique hub-wide, and tests share a database)."""
    import random

    body = [random.randint(0, 9) for _ in range(12)]
    total = sum(d * (3 if i % 2 else 1) for i, d in enumerate(body))
    return "".join(map(str, body)) + str((10 - total % 10) % 10)


async def export(db, actor, kind, fmt="csv", since=None, channel_id=None):  # type: ignore[no-untyped-def]
    """Rows (as dicts of what the file holds) and the next cursor."""
    opened = await open_export(db, actor, ExportRequest(kind, fmt, since, channel_id))
    data = b"".join([chunk async for chunk in opened.chunks()]).decode()
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(data, newline=""))), opened.cursor
    return [json.loads(line) for line in data.splitlines()], opened.cursor


async def make_product(db, world, owner=None, **over):  # type: ignore[no-untyped-def]
    async def make(uow: UnitOfWork):  # type: ignore[no-untyped-def]
        sports = await uow.categories.get_by_code("sports")
        values = dict(
            sku=ref("SE-"),
            name="Racket",
            category_id=sports.id,
            owner_partner_id=(owner or world.a).id,
            attributes={"size": "L2", "material": "carbon", "weight_g": 287.5},
            texts={"de": {"name": "Schläger", "description": "Leicht"}},
            description='Light, "fast"\nand strong',
            allow_backorders=True,
            packs={"case": 6},
        )
        values.update(over)
        return await catalog.create_product(uow, world.admin, NewProduct(**values))

    return await transaction(db, make)


async def rename(db, actor, product, name):  # type: ignore[no-untyped-def]
    return await transaction(db, lambda uow: catalog.update_product(uow, actor, product.id, {"name": name}))


async def test_a_full_products_export_writes_the_import_columns_in_csv_and_jsonl(database, world) -> None:
    codes = [gtin13(), gtin13()]
    product = await make_product(database, world, barcodes=codes)
    rows, cursor = await export(database, world.actor_a, "products")
    assert cursor
    mine = {r["sku"]: r for r in rows}
    assert set(mine) == {world.product.sku, product.sku}  # A's products, nothing else
    row = mine[product.sku]
    assert list(row) == [
        "sku",
        "partner",
        "name",
        "category",
        "description",
        "base_unit",
        "barcodes",
        "tax_class",
        "status",
        "attributes",
        "texts",
        "allow_backorders",
        "packs",
    ]
    assert row["partner"] == world.a.code and row["category"] == "sports"
    assert row["description"] == 'Light, "fast"\nand strong'  # RFC 4180 quoting survives
    assert row["barcodes"] == "|".join(codes)
    assert json.loads(row["attributes"]) == {"size": "L2", "material": "carbon", "weight_g": 287.5}
    assert json.loads(row["texts"])["de"]["name"] == "Schläger"
    assert row["allow_backorders"] == "true" and row["status"] == "active"
    assert json.loads(row["packs"]) == {"case": "6"}

    lines, _ = await export(database, world.actor_a, "products", "jsonl")
    item = next(r for r in lines if r["sku"] == product.sku)
    assert item["barcodes"] == codes
    assert item["attributes"]["weight_g"] == 287.5 and item["allow_backorders"] is True
    assert item["texts"] == {"de": {"name": "Schläger", "description": "Leicht"}}


async def test_a_partner_exports_its_own_and_shared_data_only_an_admin_everything(database, world) -> None:
    own_b = await make_product(database, world, owner=world.b)
    own_c = await make_product(database, world, owner=world.c)
    b_rows, _ = await export(database, world.actor_b, "products")
    assert {r["sku"] for r in b_rows} == {world.product.sku, own_b.sku}  # A shares with B
    c_rows, _ = await export(database, world.actor_c, "products")
    assert {r["sku"] for r in c_rows} == {own_c.sku}
    admin_rows, _ = await export(database, world.admin, "products", "jsonl")
    assert {world.product.sku, own_b.sku, own_c.sku} <= {r["sku"] for r in admin_rows}
    no_read = replace(world.actor_a, scopes=frozenset({Scope.STOCK_WRITE}))
    with pytest.raises(Forbidden):
        await open_export(database, no_read, ExportRequest("products"))


async def test_a_delta_holds_what_changed_after_the_cursor_and_nothing_else(database, world) -> None:
    other = await make_product(database, world)
    _, cursor = await export(database, world.actor_a, "products")
    empty, same = await export(database, world.actor_a, "products", since=cursor)
    assert empty == []
    await rename(database, world.actor_a, other, "Racket II")
    changed, after = await export(database, world.actor_a, "products", "jsonl", since=cursor)
    assert [(r["sku"], r["name"]) for r in changed] == [(other.sku, "Racket II")]
    assert after != cursor
    again, _ = await export(database, world.actor_a, "products", since=after)
    assert again == []
    # Another partner's change is not in A's delta.
    c_product = await make_product(database, world, owner=world.c)
    await rename(database, world.admin, c_product, "C's")
    assert (await export(database, world.actor_a, "products", since=after))[0] == []


async def test_a_change_committed_late_with_an_old_timestamp_is_in_the_next_delta(database, world) -> None:
    """The change is stamped (updated_at) an hour before the export, and commits after it:
    a watermark on updated_at would skip it for ever."""
    other = await make_product(database, world)
    _, cursor = await export(database, world.actor_a, "products")

    async def late(uow: UnitOfWork):  # type: ignore[no-untyped-def]
        uow.now = datetime.now(UTC) - timedelta(hours=1)
        return await catalog.update_product(uow, world.actor_a, other.id, {"name": "Late"})

    updated = await transaction(database, late)
    assert updated.updated_at < datetime.now(UTC) - timedelta(minutes=30)
    rows, _ = await export(database, world.actor_a, "products", since=cursor)
    assert [(r["sku"], r["name"]) for r in rows] == [(other.sku, "Late")]


async def test_a_transaction_open_while_the_export_ran_is_in_the_next_delta(database, world) -> None:
    if database.is_sqlite:
        pytest.skip("SQLite has one writer: no transaction can be open while the export sequences")
    other = await make_product(database, world)
    async with UnitOfWork(database) as uow:
        await catalog.update_product(uow, world.actor_a, other.id, {"name": "Slow"})
        rows, cursor = await export(database, world.actor_a, "products")
        assert next(r["name"] for r in rows if r["sku"] == other.sku) == "Racket"  # not committed yet
        await uow.commit()
    late, _ = await export(database, world.actor_a, "products", since=cursor)
    assert [(r["sku"], r["name"]) for r in late] == [(other.sku, "Slow")]


async def _polish(db, world):  # type: ignore[no-untyped-def]
    async def make(uow: UnitOfWork):  # type: ignore[no-untyped-def]
        cosmetics = await uow.categories.get_by_code("cosmetics")
        return await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("COS-"),
                name="Polish",
                base_unit=BaseUnit.LITRE,
                category_id=cosmetics.id,
                owner_partner_id=world.a.id,
                attributes={"ingredients": ["resin"], "volume_ml": 10, "pao_months": 12},
            ),
        )

    return await transaction(db, make)


async def test_stock_exports_one_row_per_lot_and_one_per_untracked_level(database, world) -> None:
    polish = await _polish(database, world)
    soon, later = date.today() + timedelta(days=30), date.today() + timedelta(days=90)
    for lot, expires, quantity in (("L1", later, 4), ("L0", soon, 2.5)):
        await transaction(
            database,
            lambda uow, lot=lot, expires=expires, quantity=quantity: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=polish.id,
                delta=D(str(quantity)),
                kind=MovementKind.RECEIPT,
                lot_number=lot,
                expires_on=expires,
            ),
        )
    await transaction(
        database,
        lambda uow: stock.set_stock(
            uow,
            world.admin,
            location_id=world.loc_hub.id,
            product_id=world.product.id,
            quantity=D(12),
            safety_stock=D(2),
        ),
    )
    rows, cursor = await export(database, world.actor_a, "stock")
    mine = [r for r in rows if r["sku"] in {polish.sku, world.product.sku}]
    assert len(mine) == 3
    lot_rows = [r["lot_number"] for r in mine if r["sku"] == polish.sku]
    assert lot_rows == ["L0", "L1"]  # expiry order
    by_lot = {(r["sku"], r["lot_number"]): r for r in mine}
    assert by_lot[(polish.sku, "L0")]["on_hand"] == "2.5"
    assert by_lot[(polish.sku, "L0")]["expires_on"] == soon.isoformat()
    assert by_lot[(polish.sku, "L1")]["on_hand"] == "4"
    racket = by_lot[(world.product.sku, "")]
    assert (racket["location"], racket["on_hand"], racket["safety_stock"]) == (world.loc_hub.code, "12", "2")
    assert racket["partner"] == world.a.code and racket["expires_on"] == ""
    assert not [r for r in rows if r["partner"] != world.a.code]

    # Delta: only the level that moved.
    await transaction(
        database,
        lambda uow: stock.adjust_stock(
            uow, world.admin, location_id=world.loc_hub.id, product_id=world.product.id, delta=D(-1)
        ),
    )
    delta, _ = await export(database, world.actor_a, "stock", "jsonl", since=cursor)
    assert delta == [
        {
            "sku": world.product.sku,
            "partner": world.a.code,
            "location": world.loc_hub.code,
            "on_hand": 11,
            "safety_stock": 2,
            "lot_number": None,
            "expires_on": None,
        }
    ]


async def _price_list(db, world, currency="EUR"):  # type: ignore[no-untyped-def]
    return await transaction(
        db,
        lambda uow: pricing.create_price_list(
            uow,
            world.actor_a,
            name="Retail",
            currency=currency,
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=None,
        ),
    )


async def _put(db, world, pl, product, entries):  # type: ignore[no-untyped-def]
    return await transaction(
        db, lambda uow: pricing.put_prices(uow, world.actor_a, pl.id, product.id, entries)
    )


async def test_prices_export_one_row_per_tier_with_windows_and_a_delta_per_tier_set(database, world) -> None:
    pl = await _price_list(database, world)
    other = await make_product(database, world)
    start, end = datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 2, 1, tzinfo=UTC)
    await _put(
        database,
        world,
        pl,
        world.product,
        [PriceEntry(D(1), D("19.99")), PriceEntry(D(10), D("17.50")), PriceEntry(D(1), D("15"), start, end)],
    )
    await _put(database, world, pl, other, [PriceEntry(D(1), D(5))])
    rows, cursor = await export(database, world.actor_a, "prices")
    mine = [r for r in rows if r["price_list"] == str(pl.id)]
    assert len(mine) == 4
    tiers = {(r["sku"], r["min_quantity"], r["valid_from"]): r for r in mine}
    assert tiers[(world.product.sku, "10", "")]["amount"] == "17.50"
    window = tiers[(world.product.sku, "1", start.isoformat())]
    assert (window["amount"], window["valid_to"]) == ("15.00", "2030-02-01T00:00:00+00:00")
    assert window["partner"] == world.a.code
    assert [
        r for r in (await export(database, world.actor_c, "prices"))[0] if r["price_list"] == str(pl.id)
    ] == []

    await _put(database, world, pl, other, [PriceEntry(D(1), D(6)), PriceEntry(D(3), D("5.5"))])
    delta, _ = await export(database, world.actor_a, "prices", "jsonl", since=cursor)
    assert sorted((r["sku"], r["amount"], r["min_quantity"]) for r in delta) == [
        (other.sku, 5.5, 3),
        (other.sku, 6, 1),
    ]


async def test_mappings_and_aliases_export_with_sku_and_partner(database, world) -> None:
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    channel, _ = await transaction(
        database,
        lambda uow: channels.create_channel(
            uow, admin_a, NewChannel(name="feed", kind=ChannelKind.SSE, owner_partner_id=None)
        ),
    )
    await transaction(
        database,
        lambda uow: channels.upsert_mappings(
            uow,
            admin_a,
            channel.id,
            [channels.MappingIn(external_id="gid-1", product_id=world.product.id, external_sku="EXT-1")],
        ),
    )
    code = ref("S-")
    await transaction(
        database, lambda uow: aliases.set_aliases(uow, world.actor_a, world.product.id, [("supplier", code)])
    )
    rows, _ = await export(database, world.actor_a, "mappings")
    assert [r for r in rows if r["channel"] == str(channel.id)] == [
        {
            "channel": str(channel.id),
            "external_id": "gid-1",
            "sku": world.product.sku,
            "partner": world.a.code,
            "external_sku": "EXT-1",
        }
    ]
    assert [
        r for r in (await export(database, world.actor_c, "mappings"))[0] if r["channel"] == str(channel.id)
    ] == []
    only, _ = await export(database, admin_a, "mappings", "jsonl", channel_id=channel.id)
    assert only == [
        {
            "channel": str(channel.id),
            "external_id": "gid-1",
            "sku": world.product.sku,
            "partner": world.a.code,
            "external_sku": "EXT-1",
        }
    ]
    found, cursor = await export(database, world.actor_a, "aliases")
    assert [r for r in found if r["sku"] == world.product.sku] == [
        {"scheme": "supplier", "code": code, "sku": world.product.sku, "partner": world.a.code}
    ]
    assert [
        r for r in (await export(database, world.actor_c, "aliases"))[0] if r["sku"] == world.product.sku
    ] == []
    # Aliases announce no events: their delta is the whole (readable) set.
    assert (await export(database, world.actor_a, "aliases", since=cursor))[0] == found


async def test_bad_kind_format_or_cursor_is_invalid_input(database, world) -> None:
    for request in (
        ExportRequest("widgets"),  # type: ignore[arg-type]
        ExportRequest("products", "xml"),  # type: ignore[arg-type]
        ExportRequest("products", since="nonsense"),
        ExportRequest("products", since="eyJ2IjoxLCJzIjotMX0"),  # {"v":1,"s":-1}
        ExportRequest("products", since="eyJ2IjoxLCJzIjo5OTk5OTk5OTk5fQ"),  # a cursor from the future
        ExportRequest("aliases", channel_id=uuid.uuid4()),
    ):
        with pytest.raises(InvalidInput):
            await open_export(database, world.actor_a, request)
    with pytest.raises(NotFound):  # not a channel A may read
        await open_export(database, world.admin, ExportRequest("stock", channel_id=uuid.uuid4()))


async def test_a_channel_view_shows_its_availability_price_and_locale(database, world) -> None:
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    pl = await _price_list(database, world)
    now = datetime.now(UTC)
    await _put(
        database,
        world,
        pl,
        world.product,
        [
            PriceEntry(D(1), D("20.00")),
            PriceEntry(D(1), D("16.00"), now - timedelta(days=1), now + timedelta(days=1)),
        ],
    )
    for location, quantity in ((world.loc_a.id, 7), (world.loc_hub.id, 5)):
        await transaction(
            database,
            lambda uow, location=location, quantity=quantity: stock.set_stock(
                uow,
                world.admin,
                location_id=location,
                product_id=world.product.id,
                quantity=D(quantity),
                safety_stock=D(1),
            ),
        )
    await transaction(
        database,
        lambda uow: catalog.update_product(
            uow,
            world.actor_a,
            world.product.id,
            {"texts": {"de-DE": {"name": "Schläger", "description": "Gut"}}},
        ),
    )
    channel, _ = await transaction(
        database,
        lambda uow: channels.create_channel(
            uow,
            admin_a,
            NewChannel(
                name="shop",
                kind=ChannelKind.SSE,
                owner_partner_id=None,
                location_ids=(world.loc_a.id,),
                buffer_stock=D(2),
                price_list_id=pl.id,
                locale="de-DE",
            ),
        ),
    )
    await transaction(
        database,
        lambda uow: channels.upsert_mappings(
            uow, admin_a, channel.id, [channels.MappingIn(external_id="v-9", product_id=world.product.id)]
        ),
    )
    [ats] = await transaction(
        database,
        lambda uow: availability.availability(
            uow, admin_a, channel_id=channel.id, product_ids=[world.product.id]
        ),
        readonly=True,
    )
    _, _, resolved = await transaction(
        database,
        lambda uow: pricing.resolve_price(
            uow, admin_a, product_id=world.product.id, list_id=pl.id, quantity=D(1), at=datetime.now(UTC)
        ),
        readonly=True,
    )
    stock_view, cursor = await export(database, admin_a, "stock", channel_id=channel.id)
    [row] = [r for r in stock_view if r["sku"] == world.product.sku]
    assert D(row["quantity"]) == ats.available == D(4)  # 7 − 1 safety − 2 buffer, store only
    assert row["external_ids"] == "v-9" and row["partner"] == world.a.code
    price_view, _ = await export(database, admin_a, "prices", "jsonl", channel_id=channel.id)
    [item] = [r for r in price_view if r["sku"] == world.product.sku]
    assert D(str(item["price"])) == resolved.unit_amount == D("16.00")
    assert D(str(item["compare_at_price"])) == D("20.00") and item["currency"] == "EUR"
    product_view, _ = await export(database, admin_a, "products", channel_id=channel.id)
    [shown] = [r for r in product_view if r["sku"] == world.product.sku]
    assert (shown["title"], shown["description"], shown["locale"]) == ("Schläger", "Gut", "de-DE")

    # The shared slice service gives the same numbers, in keyset pages.
    items, token = await transaction(
        database, lambda uow: slice_page(uow, channel, after=None, limit=10_000), readonly=True
    )
    assert token is None
    [expected] = [i for i in items if i.product_id == world.product.id]
    assert (expected.quantity, expected.price, expected.external_ids) == (D(4), D("16.00"), ("v-9",))
    assert [
        i.sku for i in await transaction(database, lambda uow: expected_for(uow, channel, [world.product.id]))
    ] == [world.product.sku]

    # Delta of the view: a stock change after the cursor, and only that product.
    await transaction(
        database,
        lambda uow: stock.adjust_stock(
            uow, world.admin, location_id=world.loc_a.id, product_id=world.product.id, delta=D(3)
        ),
    )
    delta, _ = await export(database, admin_a, "stock", "jsonl", since=cursor, channel_id=channel.id)
    assert [(r["sku"], r["quantity"]) for r in delta] == [(world.product.sku, 7)]
    # Another partner's key cannot read A's channel.
    c_admin = replace(world.actor_c, scopes=frozenset({*world.actor_c.scopes, Scope.CHANNELS_ADMIN}))
    with pytest.raises(NotFound):
        await open_export(database, c_admin, ExportRequest("stock", channel_id=channel.id))


async def test_slice_pages_walk_the_whole_slice_by_keyset(database, world) -> None:
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    made = [await make_product(database, world) for _ in range(5)]
    channel, _ = await transaction(
        database,
        lambda uow: channels.create_channel(
            uow,
            admin_a,
            NewChannel(
                name="pages", kind=ChannelKind.SHOPIFY, owner_partner_id=None, url="https://x.example"
            ),
        ),
    )
    seen: list[uuid.UUID] = []
    token = None
    while True:
        items, token = await transaction(
            database, lambda uow, t=token: slice_page(uow, channel, after=t, limit=2), readonly=True
        )
        seen += [i.product_id for i in items]
        assert len(items) <= 2
        if token is None:
            break
    assert {p.id for p in made} | {world.product.id} == set(seen)
    assert len(seen) == len(set(seen)) == 6
    with pytest.raises(InvalidInput):
        await transaction(database, lambda uow: slice_page(uow, channel, after="zz", limit=2), readonly=True)
