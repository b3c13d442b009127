"""A channel's sale is a fact: beyond stock it is recorded with an oversell, on both databases."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from productsync.domain.access import Scope
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.conflicts import InboundType
from productsync.domain.errors import (
    Conflict,
    ErrorCode,
    Forbidden,
    InsufficientStock,
    InvalidInput,
    NotFound,
)
from productsync.domain.oversells import OversellResolution, OversellStatus
from productsync.domain.quantities import BaseUnit
from productsync.services import (
    catalog,
    channels,
    inbound,
    oversells,
    payments,
    reservations,
    stock,
    stock_checks,
)
from productsync.services.inbound import InboundChange
from productsync.services.reservations import LineRequest
from productsync.store.tables import audit_log, outbox, stock_levels, stock_movements
from productsync.store.tables import oversells as oversells_table
from productsync.store.uow import transaction
from tests.conftest import count_rows, ref

D = Decimal


def _admin(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


async def _channel(database, world):  # type: ignore[no-untyped-def]
    new = NewChannel(name="POS", kind=ChannelKind.SSE, owner_partner_id=None, location_ids=(world.loc_a.id,))
    channel, _ = await transaction(database, lambda uow: channels.create_channel(uow, _admin(world), new))
    await transaction(
        database,
        lambda uow: channels.upsert_mappings(
            uow, _admin(world), channel.id, [channels.MappingIn("ext-1", product_id=world.product.id)]
        ),
    )
    return channel


async def _set(database, world, quantity, product=None):  # type: ignore[no-untyped-def]
    await transaction(
        database,
        lambda uow: stock.set_stock(
            uow,
            world.actor_a,
            location_id=world.loc_a.id,
            product_id=(product or world.product).id,
            quantity=D(quantity),
        ),
    )


async def _level(database, world, product=None):  # type: ignore[no-untyped-def]
    return await transaction(
        database,
        lambda uow: uow.stock.get_level((product or world.product).id, world.loc_a.id),
        readonly=True,
    )


async def _sale(database, world, channel, quantity, *, event_id=None, order_ref="order-1"):  # type: ignore[no-untyped-def]
    change = InboundChange(
        event_id=event_id or uuid.uuid4().hex,
        type=InboundType.SALE,
        changed_at=datetime.now(UTC),
        external_id="ext-1",
        quantity=D(quantity),
        order_ref=order_ref,
    )
    return await transaction(database, lambda uow: inbound.receive(uow, _admin(world), channel.id, change))


async def _rows(database, stmt):  # type: ignore[no-untyped-def]
    async def q(uow):  # type: ignore[no-untyped-def]
        return list(await uow.stock.conn.execute(stmt))

    return await transaction(database, q, readonly=True)


async def _oversells_of(database, product_id):  # type: ignore[no-untyped-def]
    return await _rows(database, select(oversells_table).where(oversells_table.c.product_id == product_id))


async def test_a_channel_sale_beyond_stock_sells_what_there_is_and_records_the_rest(database, world) -> None:
    await _set(database, world, 2)
    channel = await _channel(database, world)
    sold = await _sale(database, world, channel, 5, event_id="pos-77", order_ref="R-77")
    assert sold.status_code == 200 and sold.body["outcome"] == "applied"
    assert sold.body["delta"] == "-2" and sold.body["oversold"] == "3"
    level = await _level(database, world)
    assert level.on_hand == 0  # never negative
    [row] = await _oversells_of(database, world.product.id)
    assert str(row.id) == sold.body["oversell_id"]
    assert (row.quantity, row.sold, row.status, row.channel_id) == (D(3), D(5), "open", channel.id)
    assert (row.event_id, row.order_ref, row.source) == ("pos-77", "R-77", f"channel:{channel.id}")
    assert row.location_id == world.loc_a.id and row.owner_partner_id == world.a.id
    # Ledger-visible: the sale row names the oversell, and the ledger still adds up.
    [movement] = await _rows(database, select(stock_movements).where(stock_movements.c.id == row.movement_id))
    assert movement.kind == "sale" and movement.quantity == D(-2) and str(row.id) in movement.reason
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []
    # The event went to the outbox and the decision to the audit log, in the same transaction.
    [event] = await _rows(
        database,
        select(outbox).where(
            outbox.c.type == "productsync.stock.oversold", outbox.c.product_id == world.product.id
        ),
    )
    assert event.data["oversell"]["id"] == str(row.id) and event.data["oversell"]["quantity"] == "3"
    assert event.origin == f"channel:{channel.id}" and event.data["level"]["on_hand"] == "0"
    [audit] = await _rows(
        database,
        select(audit_log).where(audit_log.c.entity_type == "oversell", audit_log.c.entity_id == str(row.id)),
    )
    assert audit.action == "stock.oversold" and audit.after["taken"] == "2"


async def test_the_same_sale_sent_twice_counts_once(database, world) -> None:
    await _set(database, world, 1)
    channel = await _channel(database, world)
    first = await _sale(database, world, channel, 4, event_id="twice")
    await _set(database, world, 10)  # a restock in between: a second sale would now take stock
    again = await _sale(database, world, channel, 4, event_id="twice")
    assert again.body == {**first.body, "replayed": True}
    assert (await _level(database, world)).on_hand == 10
    assert len(await _oversells_of(database, world.product.id)) == 1
    assert (
        await count_rows(database, outbox, type="productsync.stock.oversold", product_id=world.product.id)
        == 1
    )


async def test_stock_held_by_reservations_is_not_taken_for_a_channel_sale(database, world) -> None:
    await _set(database, world, 5)
    await transaction(
        database,
        lambda uow: reservations.reserve(
            uow, world.actor_a, [LineRequest(4, product_id=world.product.id, location_id=world.loc_a.id)]
        ),
    )
    channel = await _channel(database, world)
    sold = await _sale(database, world, channel, 3)
    assert sold.body["delta"] == "-1" and sold.body["oversold"] == "2"
    level = await _level(database, world)
    assert (level.on_hand, level.reserved) == (D(4), D(4))


async def test_a_sale_where_there_is_nothing_is_still_in_the_ledger(database, world) -> None:
    channel = await _channel(database, world)  # no level at all at the location yet
    sold = await _sale(database, world, channel, 2)
    assert sold.body["delta"] == "0" and sold.body["oversold"] == "2"
    [row] = await _oversells_of(database, world.product.id)
    [movement] = await _rows(database, select(stock_movements).where(stock_movements.c.id == row.movement_id))
    assert (movement.kind, movement.quantity, movement.on_hand_after) == ("sale", D(0), D(0))
    assert str(row.id) in movement.reason
    levels = await _rows(database, select(stock_levels).where(stock_levels.c.product_id == world.product.id))
    assert all(lv.on_hand >= 0 for lv in levels)


async def test_a_sale_typed_in_by_a_partner_is_still_refused_when_short(database, world) -> None:
    """POST /v1/stock/adjustments kind=sale has not happened yet: refused, nothing kept."""
    await _set(database, world, 1)
    with pytest.raises(InsufficientStock):
        await transaction(
            database,
            lambda uow: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=world.product.id,
                delta=D(-2),
                kind=stock.MovementKind.SALE,
            ),
        )
    assert await _oversells_of(database, world.product.id) == []


def _stripe_sale(world, quantity, *, event_id, payment):  # type: ignore[no-untyped-def]
    return {
        "id": event_id,
        "type": "payment_intent.succeeded",
        "data": {
            "object": {
                "id": payment,
                "object": "payment_intent",
                "metadata": {
                    "sku": world.product.sku,
                    "quantity": str(quantity),
                    "location_id": str(world.loc_a.id),
                },
            }
        },
    }


async def test_a_stripe_paid_order_beyond_stock_is_recorded_with_an_oversell_once(database, world) -> None:
    await _set(database, world, 1)
    event = _stripe_sale(world, 3, event_id=ref("evt_"), payment=ref("pi_"))
    first = await transaction(database, lambda uow: payments.record_event(uow, event))
    assert first.status_code == 200 and first.body["quantity"] == "-1" and first.body["oversold"] == "2"
    again = await transaction(database, lambda uow: payments.record_event(uow, event))
    assert again.body == {**first.body, "replayed": True}
    [row] = await _oversells_of(database, world.product.id)
    assert (row.source, row.channel_id, row.event_id) == ("stripe", None, event["id"])
    assert row.order_ref == event["data"]["object"]["id"] and row.quantity == D(2)
    assert (await _level(database, world)).on_hand == 0
    # A refund of that payment returns what was sold, where it was sold.
    refund = {
        "id": ref("evt_"),
        "type": "charge.refunded",
        "data": {
            "object": {"id": "ch_1", "payment_intent": row.order_ref, "metadata": {"sku": world.product.sku}}
        },
    }
    assert (await transaction(database, lambda uow: payments.record_event(uow, refund))).status_code == 200
    assert (await _level(database, world)).on_hand == 1


async def test_stripe_metadata_that_is_malformed_is_invalid_input(database, world) -> None:
    await _set(database, world, 5)
    sale = _stripe_sale(world, 1, event_id=ref("evt_"), payment=ref("pi_"))
    sale["data"]["object"]["metadata"]["location_id"] = "not-a-uuid"
    refund = {
        "id": ref("evt_"),
        "type": "charge.refunded",
        "data": {"object": {"id": "ch_9", "metadata": {"sku": world.product.sku, "location_id": "garbage"}}},
    }
    for event in (sale, refund, {**sale, "id": {"nested": "id"}}, {**sale, "id": "x" * 300}):
        with pytest.raises(InvalidInput):
            await transaction(database, lambda uow, e=event: payments.record_event(uow, e))
    assert (await _level(database, world)).on_hand == 5


async def test_a_shopify_paid_order_beyond_stock_is_recorded_line_by_line_once(database, world) -> None:
    """The Shopify webhook turns an order into these changes (one per line) and one batch."""
    other = await transaction(
        database,
        lambda uow: catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("SE-"),
                name="Grip tape",
                category_id=world.product.category_id,
                owner_partner_id=world.a.id,
                attributes={"size": "S", "material": "cotton"},
            ),
        ),
    )
    await _set(database, world, 1)
    await _set(database, world, 5, product=other)
    channel = await _channel(database, world)
    await transaction(
        database,
        lambda uow: channels.upsert_mappings(
            uow, _admin(world), channel.id, [channels.MappingIn("ext-2", product_id=other.id)]
        ),
    )
    webhook_id = ref("w-")
    changes = [
        InboundChange(
            event_id=f"{webhook_id}:{i}",
            type=InboundType.SALE,
            changed_at=datetime.now(UTC),
            external_id=ext,
            quantity=D(q),
            reason="shopify orders/paid 4242",
            order_ref="4242",
        )
        for i, (ext, q) in enumerate([("ext-1", 3), ("ext-2", 2)])
    ]

    async def send():  # type: ignore[no-untyped-def]
        return await transaction(
            database, lambda uow: inbound.receive_batch(uow, _admin(world), channel.id, webhook_id, changes)
        )

    first = await send()
    assert [line.get("oversold") for line in first.body["lines"]] == ["2", None]
    again = await send()
    assert again.body == {**first.body, "replayed": True}
    [row] = await _oversells_of(database, world.product.id)
    assert (row.order_ref, row.event_id, row.quantity) == ("4242", f"{webhook_id}:0", D(2))
    assert await _oversells_of(database, other.id) == []
    assert (await _level(database, world)).on_hand == 0 and (
        await _level(database, world, other)
    ).on_hand == 3


async def test_open_oversells_count_in_the_inventory_accuracy(database, world) -> None:
    channel = await _channel(database, world)
    await _sale(database, world, channel, 2)
    await _sale(database, world, channel, 1)
    mine = await transaction(
        database,
        lambda uow: stock_checks.inventory_accuracy(uow, world.actor_a, world.loc_a.id),
        readonly=True,
    )
    assert (mine.open_oversells, mine.oversold) == (2, D(3))
    theirs = await transaction(
        database, lambda uow: stock_checks.inventory_accuracy(uow, world.actor_c), readonly=True
    )
    # C sees none of A's (other tests' oversells of C's products would be C's own; C has none).
    assert (theirs.open_oversells, theirs.oversold) == (0, D(0))


async def _resolve(database, actor, oversell_id, resolution, **kw):  # type: ignore[no-untyped-def]
    settlement = oversells.Settlement(resolution=resolution, **kw)
    return await transaction(
        database, lambda uow: oversells.resolve_oversell(uow, actor, oversell_id, settlement)
    )


async def test_resolving_an_oversell_restock_cancel_substitute_once_and_by_the_owner(database, world) -> None:
    channel = await _channel(database, world)
    ids = [uuid.UUID((await _sale(database, world, channel, 2)).body["oversell_id"]) for _ in range(3)]
    # Restock without the goods there: refused, stays open.
    with pytest.raises(InsufficientStock):
        await _resolve(database, world.actor_a, ids[0], OversellResolution.RESTOCK)
    # Partner B reads A's catalog but may not settle A's oversells; C cannot even see them.
    with pytest.raises(Forbidden):
        await _resolve(database, world.actor_b, ids[0], OversellResolution.CANCEL)
    with pytest.raises(NotFound):
        await _resolve(database, world.actor_c, ids[0], OversellResolution.CANCEL)
    # The goods arrive and go straight to the customer: a receipt and a sale, on_hand unchanged.
    done = await _resolve(
        database, world.actor_a, ids[0], OversellResolution.RESTOCK, receive=True, note="PO 9"
    )
    assert done.oversell.status is OversellStatus.RESOLVED and len(done.movement_ids) == 2
    assert done.oversell.resolved_by == str(world.actor_a.key_id) and done.oversell.note == "PO 9"
    assert (await _level(database, world)).on_hand == 0
    with pytest.raises(Conflict) as twice:
        await _resolve(database, world.actor_a, ids[0], OversellResolution.CANCEL)
    assert twice.value.code is ErrorCode.OVERSELL_RESOLVED
    cancelled = await _resolve(database, world.actor_a, ids[1], OversellResolution.CANCEL)
    assert cancelled.movement_ids == [] and cancelled.oversell.resolution is OversellResolution.CANCEL
    # Substitute: another product of A's went out instead; it is sold from the same location.
    other = await transaction(
        database,
        lambda uow: catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("SE-"),
                name="Racket, blue",
                category_id=world.product.category_id,
                owner_partner_id=world.a.id,
                attributes={"size": "L2", "material": "carbon"},
            ),
        ),
    )
    with pytest.raises(InvalidInput):
        await _resolve(database, world.actor_a, ids[2], OversellResolution.SUBSTITUTE)
    await _set(database, world, 5, product=other)
    swapped = await _resolve(
        database, world.actor_a, ids[2], OversellResolution.SUBSTITUTE, substitute_product_id=other.id
    )
    assert swapped.oversell.substitute_product_id == other.id
    assert (await _level(database, world, other)).on_hand == 3
    listed = await transaction(
        database,
        lambda uow: oversells.list_oversells(
            uow,
            world.actor_a,
            status=OversellStatus.OPEN,
            channel_id=channel.id,
            product_id=None,
            after=None,
            limit=10,
        ),
        readonly=True,
    )
    assert listed == []
    actions = await _rows(
        database,
        select(audit_log.c.action).where(
            audit_log.c.entity_type == "oversell", audit_log.c.entity_id == str(ids[2])
        ),
    )
    assert [a.action for a in actions] == ["stock.oversold", "oversell.resolved"]


async def test_a_substitute_counted_in_another_unit_is_refused_and_the_oversell_stays_open(
    database, world
) -> None:
    channel = await _channel(database, world)
    oversell_id = uuid.UUID((await _sale(database, world, channel, 2)).body["oversell_id"])
    by_weight = await transaction(
        database,
        lambda uow: catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("SE-"),
                name="Chalk, loose",
                category_id=world.product.category_id,
                owner_partner_id=world.a.id,
                attributes={"size": "M", "material": "cotton"},
                base_unit=BaseUnit.KILOGRAM,
            ),
        ),
    )
    await _set(database, world, 10, product=by_weight)
    with pytest.raises(InvalidInput) as refused:
        await _resolve(
            database,
            world.actor_a,
            oversell_id,
            OversellResolution.SUBSTITUTE,
            substitute_product_id=by_weight.id,
        )
    assert refused.value.code is ErrorCode.INVALID_UNIT
    assert (await _level(database, world, by_weight)).on_hand == 10
    [row] = [r for r in await _oversells_of(database, world.product.id) if r.id == oversell_id]
    assert row.status == OversellStatus.OPEN.value
    # A product that does not exist (or the key cannot read) is not found, whatever its unit.
    with pytest.raises(NotFound):
        await _resolve(
            database,
            world.actor_a,
            oversell_id,
            OversellResolution.SUBSTITUTE,
            substitute_product_id=uuid.uuid4(),
        )


async def test_oversells_are_listed_oldest_first_in_pages_whatever_their_ids(database, world) -> None:
    channel = await _channel(database, world)
    made = [uuid.UUID((await _sale(database, world, channel, 1)).body["oversell_id"]) for _ in range(5)]
    start = datetime.now(UTC) - timedelta(hours=1)

    async def stamp(uow):  # type: ignore[no-untyped-def]
        # The clock moved on between the sales (two share a second: the id breaks that tie).
        for n, oversell_id in enumerate(made):
            at = start + timedelta(seconds=min(n, 3))
            await uow.stock.conn.execute(
                update(oversells_table).where(oversells_table.c.id == oversell_id).values(created_at=at)
            )

    await transaction(database, stamp)
    tied = sorted(made[3:])
    expected = [*made[:3], *tied]
    seen: list[uuid.UUID] = []
    after = None
    while True:
        page = await transaction(
            database,
            lambda uow, after=after: oversells.list_oversells(
                uow,
                world.actor_a,
                status=OversellStatus.OPEN,
                channel_id=channel.id,
                product_id=None,
                after=after,
                limit=2,
            ),
            readonly=True,
        )
        seen += [o.id for o in page]
        if len(page) < 2:
            break
        after = (page[-1].created_at, page[-1].id)
    assert seen == expected


async def test_oversells_are_listed_only_to_partners_who_can_read_the_product(database, world) -> None:
    channel = await _channel(database, world)
    oversell_id = uuid.UUID((await _sale(database, world, channel, 1)).body["oversell_id"])

    async def listed(actor, **kw):  # type: ignore[no-untyped-def]
        found = await transaction(
            database,
            lambda uow: oversells.list_oversells(
                uow,
                actor,
                status=kw.get("status", OversellStatus.OPEN),
                channel_id=None,
                product_id=kw.get("product_id"),
                after=None,
                limit=500,
            ),
            readonly=True,
        )
        return {o.id for o in found}

    assert oversell_id in await listed(world.actor_a)
    assert oversell_id in await listed(world.actor_b)  # A shares its catalog with B
    assert oversell_id not in await listed(world.actor_c)
    with pytest.raises(NotFound):
        await listed(world.actor_c, product_id=world.product.id)
    with pytest.raises(NotFound):
        await transaction(database, lambda uow: oversells.get_oversell(uow, world.actor_c, oversell_id))


def test_the_check_command_reports_open_oversells(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """On a database of its own: the demo has none; a Stripe sale beyond stock makes one,
    which `check` reports (not as drift: the ledger still adds up)."""
    import asyncio

    from productsync.store.database import create_database
    from productsync.store.migrate import upgrade
    from productsync.store.tables import products

    url = f"sqlite:///{tmp_path / 'check.db'}"
    upgrade(url)
    env = {"PRODUCTSYNC_DATABASE_URL": url, "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    seeded = subprocess.run(
        [sys.executable, "-m", "productsync", "demo"], env=env, capture_output=True, text=True
    )
    assert seeded.returncode == 0, seeded.stderr
    healthy = subprocess.run(
        [sys.executable, "-m", "productsync", "check"], env=env, capture_output=True, text=True
    )
    assert healthy.returncode == 0 and "open oversells: 0" in healthy.stdout, healthy.stdout

    async def oversell() -> None:
        db = create_database(url)
        try:
            async with db.engine.connect() as conn:
                level = (await conn.execute(select(stock_levels).limit(1))).first()
                product = (
                    await conn.execute(select(products).where(products.c.id == level.product_id))
                ).one()
            event = {
                "id": "evt_check",
                "type": "payment_intent.succeeded",
                "data": {
                    "object": {
                        "id": "pi_check",
                        "metadata": {
                            "sku": product.sku,
                            "quantity": "100000",
                            "location_id": str(level.location_id),
                        },
                    }
                },
            }
            await transaction(db, lambda uow: payments.record_event(uow, event))
        finally:
            await db.dispose()

    asyncio.run(oversell())
    reported = subprocess.run(
        [sys.executable, "-m", "productsync", "check"], env=env, capture_output=True, text=True
    )
    assert reported.returncode == 0, reported.stdout
    assert "open oversells: 1" in reported.stdout and "GET /v1/oversells" in reported.stdout, reported.stdout
    assert "0 levels differ" in reported.stdout


async def test_a_channel_sale_takes_unexpired_lots_first_expiring_first_and_oversells_the_rest(
    database, world
) -> None:
    """Expired stock is on hand but not sellable: a channel sale does not take it (it waits
    for its write-off), FEFO picks the lot, and what is missing becomes the oversell."""
    from datetime import date, timedelta

    from sqlalchemy import update

    from productsync.store.tables import lots as lots_table

    async def make(uow):  # type: ignore[no-untyped-def]
        cosmetics = await uow.categories.get_by_code("cosmetics")
        return await catalog.create_product(
            uow,
            world.admin,
            NewProduct(
                sku=ref("COS-"),
                name="Polish",
                category_id=cosmetics.id,
                owner_partner_id=world.a.id,
                attributes={"ingredients": ["resin"], "volume_ml": 10, "pao_months": 12},
            ),
        )

    polish = await transaction(database, make)
    for lot, days, q in (("OLD", 5, 4), ("SOON", 30, 2), ("LATE", 90, 3)):
        await transaction(
            database,
            lambda uow, lot=lot, days=days, q=q: stock.adjust_stock(
                uow,
                world.actor_a,
                location_id=world.loc_a.id,
                product_id=polish.id,
                delta=D(q),
                kind=stock.MovementKind.RECEIPT,
                lot_number=lot,
                expires_on=date.today() + timedelta(days=days),
            ),
        )

    async def expire(uow):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(
            update(lots_table)
            .where(lots_table.c.product_id == polish.id, lots_table.c.lot_number == "OLD")
            .values(expires_on=date.today() - timedelta(days=3))
        )

    await transaction(database, expire)
    new = NewChannel(name="POS", kind=ChannelKind.SSE, owner_partner_id=None, location_ids=(world.loc_a.id,))
    channel, _ = await transaction(database, lambda uow: channels.create_channel(uow, _admin(world), new))
    await transaction(
        database,
        lambda uow: channels.upsert_mappings(
            uow, _admin(world), channel.id, [channels.MappingIn("polish", product_id=polish.id)]
        ),
    )
    change = InboundChange(
        event_id=uuid.uuid4().hex,
        type=InboundType.SALE,
        changed_at=datetime.now(UTC),
        external_id="polish",
        quantity=D(7),
    )
    sold = await transaction(database, lambda uow: inbound.receive(uow, _admin(world), channel.id, change))
    assert sold.body["delta"] == "-5" and sold.body["oversold"] == "2"
    left = await _rows(database, select(lots_table).where(lots_table.c.product_id == polish.id))
    assert {r.lot_number: r.quantity for r in left} == {"OLD": D(4), "SOON": D(0), "LATE": D(0)}
    assert (await _level(database, world, polish)).on_hand == 4  # the expired lot, still on hand
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []


async def test_concurrent_channel_sales_of_one_level_never_take_more_than_there_is(database, world) -> None:
    import asyncio

    await _set(database, world, 5)
    channel = await _channel(database, world)
    results = await asyncio.gather(*(_sale(database, world, channel, 1) for _ in range(12)))
    taken = sum(-D(r.body["delta"]) for r in results)
    oversold = sum(D(r.body.get("oversold", "0")) for r in results)
    assert (taken, oversold) == (D(5), D(7))
    assert (await _level(database, world)).on_hand == 0
    assert len(await _oversells_of(database, world.product.id)) == 7
    assert await transaction(database, stock_checks.ledger_drift, readonly=True) == []
