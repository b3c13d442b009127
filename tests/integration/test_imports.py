"""Bulk import on both databases: bad rows named by line and column, the two error
policies, dry runs, idempotent re-runs, events and audit, partner isolation, and flat
memory on a large file (measured in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from productsync.domain.access import Scope
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.errors import Forbidden
from productsync.domain.imports import ErrorPolicy, ImportKind
from productsync.domain.pricing import PriceListKind
from productsync.services import channels, pricing
from productsync.services.imports import ImportOptions, run_import
from productsync.store.tables import audit_log, outbox, price_entries, products, stock_levels, stock_movements
from productsync.store.uow import transaction
from tests.conftest import ref

HEADER = "sku,partner,name,category,barcodes,attributes,location,on_hand,price_list,price\n"
ATTRS = '"{""size"": ""M"", ""material"": ""steel""}"'


def gtin13(n: int) -> str:
    body = f"29{n:010d}"
    total = sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def _num() -> int:
    return int(ref()[:7], 16)


async def _price_list(db, world):  # type: ignore[no-untyped-def]
    return await transaction(
        db,
        lambda uow: pricing.create_price_list(
            uow,
            world.actor_a,
            name=ref("list-"),
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=world.a.id,
        ),
    )


async def _run(db, actor, path: Path, **kw):  # type: ignore[no-untyped-def]
    return await run_import(db, actor, path, ImportOptions(**kw))


async def _scalar(db, stmt):  # type: ignore[no-untyped-def]
    async def q(uow):  # type: ignore[no-untyped-def]
        return (await uow.products.conn.execute(stmt)).scalar_one()

    return await transaction(db, q, readonly=True)


async def _count_skus(db, prefix: str) -> int:  # type: ignore[no-untyped-def]
    return int(
        await _scalar(db, select(func.count()).select_from(products).where(products.c.sku.like(f"{prefix}%")))
    )


@pytest.fixture
async def setup(database, world, tmp_path):  # type: ignore[no-untyped-def]
    pl = await _price_list(database, world)
    return world, pl, f"SE-{ref().upper()}-"


def _good(prefix: str, i: int, world, pl, *, on_hand: int = 5, price: str = "9.90") -> str:  # type: ignore[no-untyped-def]
    return (
        f"{prefix}{i},{world.a.code},Item {i},sports,{gtin13(_num())},{ATTRS},{world.loc_a.code},{on_hand},"
        f"{pl.id},{price}\n"
    )


async def test_every_kind_of_bad_row_is_named_and_reject_all_writes_nothing(
    database, setup, tmp_path
) -> None:
    world, pl, p = setup
    a, loc, c = world.a.code, world.loc_a.code, world.c.code
    body = (
        HEADER
        + _good(p, 1, world, pl)  # line 2
        + f"{p}2,{a},Bad gtin,sports,4006381333932,{ATTRS},{loc},1,{pl.id},1\n"  # 3
        + f"{p}3,{a},No category,nosuchcat,,{ATTRS},{loc},1,{pl.id},1\n"  # 4
        + f"{p}4,{a},No location,sports,,{ATTRS},NOWHERE-{ref()},1,{pl.id},1\n"  # 5
        + f"{p}5,{a},Negative,sports,,{ATTRS},{loc},-3,{pl.id},1\n"  # 6
        + f'{p}6,{a},Bad decimal,sports,,{ATTRS},{loc},1,{pl.id},"9,99"\n'  # 7
        + f"{p}7,{c},Wrong partner,sports,,{ATTRS},{loc},1,{pl.id},1\n"  # 8
        + f"{p}1,{a},Duplicate,sports,,{ATTRS},{loc},1,{pl.id},1\n"  # 9
        + f'{p}8,{a},"bad"quote,sports,,{ATTRS},{loc},1,{pl.id},1\n'  # 10
        + _good(p, 9, world, pl)  # 11
        + f"{p}10,{a},,sports,,{ATTRS},{loc},1,{pl.id},1\n"  # 12: name missing
        + f'{p}11,{a},Bad attrs,sports,,"{{""size"": 3}}",{loc},1,{pl.id},1\n'  # 13
    )
    path = tmp_path / "bad.csv"
    path.write_text(body)
    rejected = tmp_path / "rejected.csv"
    report = await _run(database, world.actor_a, path, rejected_path=rejected)
    found = {(e.line, e.column) for e in report.errors}
    assert found >= {
        (3, "barcodes"),
        (4, "category"),
        (5, "location"),
        (6, "on_hand"),
        (7, "price"),
        (8, "partner"),
        (9, None),
        (10, None),
        (12, "name"),
        (13, "attributes"),
    }
    assert report.rejected == 10 and not report.written
    assert await _count_skus(database, p) == 0
    text = rejected.read_text()
    assert text.splitlines()[0].endswith(",reason")
    assert "line 3, column barcodes: barcode '4006381333932' has a wrong check digit" in text
    assert "line 9: repeats the key of line 2" in text

    report = await _run(database, world.actor_a, path, error_policy=ErrorPolicy.SKIP_FAILED)
    assert report.written and report.rejected == 10
    assert report.counts["products"].created == 2 and report.counts["stock"].created == 2
    assert await _count_skus(database, p) == 2


async def test_bad_dates_missing_columns_and_bad_json_lines_are_named(database, setup, tmp_path) -> None:
    world, pl, p = setup
    await _run(database, world.actor_a, _file(tmp_path, "p.csv", HEADER + _good(p, 1, world, pl)))
    stock = _file(
        tmp_path,
        "s.csv",
        f"sku,location,on_hand,expires_on,lot_number\n{p}1,{world.loc_a.code},4,2027-02-30,L1\n",
    )
    report = await _run(database, world.actor_a, stock)
    assert [(e.line, e.column) for e in report.errors] == [(2, "expires_on")]
    missing = _file(tmp_path, "m.csv", f"sku,location\n{p}1,{world.loc_a.code}\n")
    report = await _run(database, world.actor_a, missing, kind=ImportKind.STOCK)
    assert (1, "on_hand") in [(e.line, e.column) for e in report.errors] and not report.written
    jsonl = _file(
        tmp_path,
        "s.jsonl",
        json.dumps({"sku": f"{p}1", "location": world.loc_a.code, "on_hand": 7})
        + "\n"
        + '{"sku": "broken\n'
        + json.dumps({"sku": f"{p}1", "location": world.loc_a.code})
        + "\n",
    )
    report = await _run(database, world.actor_a, jsonl, kind=ImportKind.STOCK)
    assert [(e.line, e.column) for e in report.errors] == [(2, None), (3, "on_hand")]
    assert not report.written


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def test_a_dry_run_counts_what_would_change_and_writes_nothing(database, setup, tmp_path) -> None:
    world, pl, p = setup
    path = _file(tmp_path, "p.csv", HEADER + _good(p, 1, world, pl) + _good(p, 2, world, pl))
    events = await _scalar(database, select(func.count()).select_from(outbox))
    report = await _run(database, world.actor_a, path, dry_run=True)
    assert report.counts["products"].created == 2 and report.counts["prices"].created == 2
    assert not report.written
    assert await _count_skus(database, p) == 0
    assert await _scalar(database, select(func.count()).select_from(outbox)) == events


async def test_a_re_import_changes_nothing_and_emits_no_event_or_audit(database, setup, tmp_path) -> None:
    world, pl, p = setup
    path = _file(tmp_path, "p.csv", HEADER + _good(p, 1, world, pl) + _good(p, 2, world, pl))
    first = await _run(database, world.actor_a, path)
    assert first.written
    sku = f"{p}1"
    types = await _events_for(database, sku)
    assert sorted(types) == [
        "productsync.price.changed",
        "productsync.product.created",
        "productsync.stock.changed",
    ]
    counts = [await _scalar(database, select(func.count()).select_from(t)) for t in (outbox, audit_log)]
    again = await _run(database, world.actor_a, path)
    assert not again.written
    assert {k: v.as_dict() for k, v in again.counts.items()} == {
        "prices": {"created": 0, "updated": 0, "unchanged": 2},
        "products": {"created": 0, "updated": 0, "unchanged": 2},
        "stock": {"created": 0, "updated": 0, "unchanged": 2},
    }
    assert [
        await _scalar(database, select(func.count()).select_from(t)) for t in (outbox, audit_log)
    ] == counts
    # A changed count and price: updates, a count ledger row, levels equal the ledger.
    changed = _file(tmp_path, "c.csv", HEADER + _good(p, 1, world, pl, on_hand=2, price="8.50"))
    third = await _run(database, world.actor_a, changed)
    assert third.counts["stock"].updated == 1 and third.counts["prices"].updated == 1
    assert third.counts["products"].updated == 1  # its new barcode
    pid = await _scalar(database, select(products.c.id).where(products.c.sku == sku))
    on_hand = await _scalar(database, select(stock_levels.c.on_hand).where(stock_levels.c.product_id == pid))
    ledger = await _scalar(
        database,
        select(func.sum(stock_movements.c.quantity)).where(
            stock_movements.c.product_id == pid, stock_movements.c.kind == "count"
        ),
    )
    assert on_hand == ledger == Decimal(2)
    amount = await _scalar(database, select(price_entries.c.amount).where(price_entries.c.product_id == pid))
    assert amount == Decimal("8.50")


async def _events_for(db, sku: str) -> list[str]:  # type: ignore[no-untyped-def]
    async def q(uow):  # type: ignore[no-untyped-def]
        return [
            r[0]
            for r in await uow.products.conn.execute(select(outbox.c.type).where(outbox.c.subject == sku))
        ]

    return await transaction(db, q, readonly=True)


async def test_a_partner_key_imports_only_its_own_data(database, setup, tmp_path) -> None:
    world, pl, p = setup
    body = HEADER + _good(p, 1, world, pl)
    body += f"{p}2,{world.c.code},Theirs,sports,,{ATTRS},{world.loc_hub.code},1,,\n"
    report = await _run(
        database, world.actor_a, _file(tmp_path, "x.csv", body), error_policy=ErrorPolicy.SKIP_FAILED
    )
    assert [(e.line, e.column) for e in report.errors] == [(3, "partner")]
    assert await _count_skus(database, p) == 1
    # Partner B sees A's catalog (shared) but may not write A's prices or stock.
    stock = _file(
        tmp_path, "s.csv", f"sku,partner,location,on_hand\n{p}1,{world.a.code},{world.loc_a.code},3\n"
    )
    report = await _run(database, world.actor_b, stock)
    assert report.errors[0].column == "partner" and not report.written


async def test_prices_mappings_and_aliases_import_and_re_import_unchanged(database, setup, tmp_path) -> None:
    world, pl, p = setup
    await _run(database, world.actor_a, _file(tmp_path, "p.csv", HEADER + _good(p, 1, world, pl)))
    tiers = _file(
        tmp_path,
        "t.csv",
        "sku,price_list,amount,min_quantity,valid_from,valid_to\n"
        f"{p}1,{pl.id},10.00,1,,\n"
        f"{p}1,{pl.id},9.00,10,,\n"
        f"{p}1,{pl.id},7.50,1,2027-01-01T00:00:00+00:00,2027-02-01T00:00:00+01:00\n",
    )
    report = await _run(database, world.actor_a, tiers)
    assert report.written and report.counts["prices"].updated == 1
    pid = await _scalar(database, select(products.c.id).where(products.c.sku == f"{p}1"))
    assert (
        await _scalar(
            database, select(func.count()).select_from(price_entries).where(price_entries.c.product_id == pid)
        )
        == 3
    )
    assert not (await _run(database, world.actor_a, tiers)).written
    admin_a = replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))
    channel, _ = await transaction(
        database,
        lambda uow: channels.create_channel(
            uow,
            admin_a,
            NewChannel(
                name="Shop",
                kind=ChannelKind.WEBHOOK,
                owner_partner_id=None,
                url="https://shop.example/h",
                location_ids=(world.loc_a.id,),
            ),
        ),
    )
    mapping = _file(
        tmp_path, "m.csv", f"channel,external_id,sku,external_sku\n{channel.id},gid-1,{p}1,EXT-1\n"
    )
    with pytest.raises(Forbidden):  # mappings need channels:admin
        await _run(database, world.actor_a, mapping)
    assert (await _run(database, admin_a, mapping)).counts["mappings"].created == 1
    assert (await _run(database, admin_a, mapping)).counts["mappings"].unchanged == 1
    alias = _file(tmp_path, "a.csv", f"scheme,code,sku\nsupplier,{ref('S')},{p}1\n")
    assert (await _run(database, world.actor_a, alias)).counts["aliases"].created == 1
    assert (await _run(database, world.actor_a, alias)).counts["aliases"].unchanged == 1


async def test_memory_stays_flat_when_the_file_grows(tmp_path) -> None:
    """The same import of 2,000 and of 20,000 rows in a child process each (SQLite):
    peak RSS (getrusage in the child) may not grow with the file. The child keeps
    SQLite's page cache at its default size: the import's larger cache is a fixed
    ``PRAGMA cache_size`` bound, not memory that grows with rows."""
    peaks = []
    for rows in (2_000, 20_000):
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(tmp_path / f"m{rows}"), str(rows)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        )
        assert out.returncode == 0, out.stderr[-2000:]
        imported, peak_kb = map(int, out.stdout.split()[-2:])
        assert imported == rows
        peaks.append(peak_kb / 1024)
    assert peaks[1] - peaks[0] < 25, f"peak RSS grew from {peaks[0]:.0f} MB to {peaks[1]:.0f} MB"


_CHILD = textwrap.dedent(
    """
    import asyncio, resource, sys
    from pathlib import Path
    from bench.bulk import generate, seed
    from productsync.domain.access import system_actor
    from productsync.services.imports import ImportOptions, run_import
    from productsync.store.database import create_database
    from productsync.store.repositories import imports as staging

    # SQLite's page cache for the import is a fixed bound (64 MB) that a small file never
    # fills; keep it at SQLite's default so what is compared is the import's own memory.
    staging._SQLITE_CACHE_KB = 2000

    async def main(folder, rows):
        folder.mkdir()
        url = f"sqlite:///{folder / 'db.sqlite'}"
        partner, location, price_list = await seed(url)
        path = folder / "p.csv"
        generate(path, rows, partner, location, price_list)
        db = create_database(url)
        report = await run_import(db, system_actor("test"), path, ImportOptions())
        await db.dispose()
        return report.counts["products"].created

    created = asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
    print(created, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    """
)


async def test_lot_rows_make_the_level_their_sum_and_lots_left_out_count_as_zero(
    database, setup, tmp_path
) -> None:
    world, pl, _ = setup
    sku = f"COS-{ref().upper()}"
    attrs = '"{""ingredients"": [""water""], ""volume_ml"": 10, ""pao_months"": 12}"'
    made = _file(
        tmp_path,
        "c.csv",
        f"sku,partner,name,category,attributes\n{sku},{world.a.code},Polish,cosmetics,{attrs}\n",
    )
    assert (await _run(database, world.actor_a, made)).written
    loc = world.loc_a.code
    lots_file = _file(
        tmp_path,
        "lots.csv",
        "sku,location,on_hand,lot_number,expires_on\n"
        f"{sku},{loc},3,L1,2030-01-31\n"
        f"{world.product.sku},{loc},2,X1,2030-01-31\n"  # not lot-tracked: rejected
        f"{sku},{loc},4,L2,2030-06-30\n",
    )
    report = await _run(database, world.actor_a, lots_file, error_policy=ErrorPolicy.SKIP_FAILED)
    assert [(e.line, e.column) for e in report.errors] == [(3, "lot_number")]
    assert report.counts["stock"].created == 1
    pid = await _scalar(database, select(products.c.id).where(products.c.sku == sku))
    level = select(stock_levels.c.on_hand).where(stock_levels.c.product_id == pid)
    ledger = select(func.sum(stock_movements.c.quantity)).where(stock_movements.c.product_id == pid)
    assert await _scalar(database, level) == await _scalar(database, ledger) == Decimal(7)
    again = await _run(database, world.actor_a, lots_file, error_policy=ErrorPolicy.SKIP_FAILED)
    assert again.counts["stock"].unchanged == 1 and not again.written
    only_l1 = _file(
        tmp_path, "l1.csv", f"sku,location,on_hand,lot_number,expires_on\n{sku},{loc},5,L1,2030-01-31\n"
    )
    assert (await _run(database, world.actor_a, only_l1)).counts["stock"].updated == 1
    assert await _scalar(database, level) == await _scalar(database, ledger) == Decimal(5)
    moved_expiry = _file(
        tmp_path, "e.csv", f"sku,location,on_hand,lot_number,expires_on\n{sku},{loc},5,L1,2031-01-31\n"
    )
    report = await _run(database, world.actor_a, moved_expiry)
    assert [(e.line, e.column) for e in report.errors] == [(2, "expires_on")]


async def test_a_shopify_export_imports_each_variant_with_its_stock_and_price(
    database, setup, tmp_path
) -> None:
    world, pl, _ = setup
    sku = f"SE-{ref().upper()}"
    shopify = _file(
        tmp_path,
        "shopify.csv",
        "Handle,Title,Body (HTML),Vendor,Type,Tags,Published,Option1 Name,Option1 Value,Option2 Name,"
        "Option2 Value,Variant SKU,Variant Grams,Variant Inventory Qty,Variant Price,Variant Barcode\n"
        f"racket,Pro Racket,<p>Fast</p>,Acme,Rackets,,true,Size,L2,Material,carbon,{sku}-L2,300,5,99.00,\n"
        f"racket,,,,,,,,L3,,carbon,{sku}-L3,300,2,109.00,\n"
        "racket,,,,,,,,,,,,,,,\n",
    )
    report = await _run(
        database, world.actor_a, shopify, category="sports", location=world.loc_a.code, price_list=str(pl.id)
    )
    assert report.kind is ImportKind.PRODUCTS and report.written, report.errors
    assert {k: v.created for k, v in report.counts.items()} == {"products": 2, "stock": 2, "prices": 2}
    name = await _scalar(database, select(products.c.name).where(products.c.sku == f"{sku}-L3"))
    assert name == "Pro Racket (L3 / carbon)"
    assert not (
        await _run(
            database,
            world.actor_a,
            shopify,
            category="sports",
            location=world.loc_a.code,
            price_list=str(pl.id),
        )
    ).written
