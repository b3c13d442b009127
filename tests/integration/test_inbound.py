"""Inbound changes from channels and every conflict policy, on both databases."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from productsync.domain import shopify
from productsync.domain.access import Scope
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, ConflictPolicy, NewChannel
from productsync.domain.conflicts import InboundType, Resolution
from productsync.domain.errors import CompareFailed, Forbidden, InvalidInput
from productsync.domain.pricing import PriceEntry, PriceListKind
from productsync.services import catalog, channels, inbound, pricing, review, stock, stock_checks
from productsync.services.inbound import InboundChange
from productsync.store.tables import audit_log, outbox
from productsync.store.uow import transaction

NOW = datetime.now(UTC)


def _admin(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


async def _channel(database, world, policy=ConflictPolicy.MASTER_WINS, **over):  # type: ignore[no-untyped-def]
    values = dict(
        name="Store",
        kind=ChannelKind.SSE,
        owner_partner_id=None,
        location_ids=(world.loc_a.id,),
        conflict_policy=policy,
    )
    values.update(over)
    channel, _ = await transaction(
        database, lambda uow: channels.create_channel(uow, _admin(world), NewChannel(**values))
    )
    await transaction(
        database,
        lambda uow: channels.upsert_mappings(
            uow, _admin(world), channel.id, [channels.MappingIn("ext-1", product_id=world.product.id)]
        ),
    )
    return channel


async def _set(database, world, quantity):  # type: ignore[no-untyped-def]
    change = await transaction(
        database,
        lambda uow: stock.set_stock(
            uow,
            world.actor_a,
            location_id=world.loc_a.id,
            product_id=world.product.id,
            quantity=Decimal(quantity),
        ),
    )
    return change.level


async def _on_hand(database, world) -> Decimal:  # type: ignore[no-untyped-def]
    level = await transaction(
        database, lambda uow: uow.stock.get_level(world.product.id, world.loc_a.id), readonly=True
    )
    return level.on_hand


async def _send(database, world, channel, type_, **fields):  # type: ignore[no-untyped-def]
    change = InboundChange(
        event_id=fields.pop("event_id", uuid.uuid4().hex),
        type=type_,
        changed_at=fields.pop("changed_at", datetime.now(UTC)),
        external_id=fields.pop("external_id", "ext-1"),
        **fields,
    )
    return await transaction(database, lambda uow: inbound.receive(uow, _admin(world), channel.id, change))


async def _decisions(database, channel) -> list[str]:  # type: ignore[no-untyped-def]
    async def q(uow):  # type: ignore[no-untyped-def]
        stmt = (
            select(audit_log.c.action)
            .where(audit_log.c.entity_id == str(channel.id))
            .order_by(audit_log.c.id)
        )
        return [r[0] for r in await uow.stock.conn.execute(stmt)]

    return await transaction(database, q, readonly=True)


async def test_a_sale_is_applied_once_and_not_echoed_to_its_channel(database, world) -> None:
    await _set(database, world, 10)
    channel = await _channel(database, world)
    other = await _channel(database, world, name="Other")
    first = await _send(database, world, channel, InboundType.SALE, quantity=Decimal(3), event_id="order-1")
    again = await _send(database, world, channel, InboundType.SALE, quantity=Decimal(3), event_id="order-1")
    assert first.status_code == 200 and first.body["outcome"] == "applied"
    assert again.body == {**first.body, "replayed": True}
    assert await _on_hand(database, world) == 7
    event = await transaction(
        database,
        lambda uow: uow.outbox.conn.execute(select(outbox).order_by(outbox.c.id.desc()).limit(1)),
    )
    row = event.first()
    assert row.origin == f"channel:{channel.id}" and row.data["movement"]["kind"] == "sale"
    # Routing: the channel it came from does not get it as news; another channel does.
    args = dict(
        event_type=row.type,
        data=row.data,
        owner_partner_id=world.a.id,
        category_id=world.product.category_id,
        origin=row.origin,
    )
    assert not channel.routes(**args) and other.routes(**args)
    assert (await _decisions(database, channel))[-1:] == ["inbound.applied"]  # the replay decided nothing new


async def test_a_sale_beyond_stock_is_recorded_with_an_oversell_not_refused(database, world) -> None:
    """A channel's sale has happened: refusing it would only hide it (it used to be a 409
    that recorded nothing). tests/integration/test_oversells.py covers the details."""
    await _set(database, world, 2)
    channel = await _channel(database, world)
    sold = await _send(database, world, channel, InboundType.SALE, quantity=Decimal(3), event_id="big")
    assert sold.status_code == 200 and sold.body["outcome"] == "applied"
    assert sold.body["delta"] == "-2" and sold.body["oversold"] == "1"
    assert await _on_hand(database, world) == 0
    # Kept: the same event id again is the first answer, not a second sale or oversell.
    await _set(database, world, 5)
    again = await _send(database, world, channel, InboundType.SALE, quantity=Decimal(3), event_id="big")
    assert again.body == {**sold.body, "replayed": True}
    assert await _on_hand(database, world) == 5


async def test_unknown_external_ids_are_refused_or_parked_per_channel(database, world) -> None:
    strict = await _channel(database, world)
    with pytest.raises(InvalidInput) as refused:
        await _send(database, world, strict, InboundType.SALE, quantity=Decimal(1), external_id="nope")
    assert refused.value.code.value == "unknown-external-id"
    parking = await _channel(database, world, config={"unknown_external_ids": "park"})
    await _set(database, world, 4)
    queued = await _send(database, world, parking, InboundType.SALE, quantity=Decimal(1), external_id="nope")
    assert queued.status_code == 202 and queued.body["outcome"] == "queued"
    conflict_id = uuid.UUID(queued.body["conflict_id"])
    resolved = await transaction(
        database,
        lambda uow: review.resolve_conflict(
            uow, _admin(world), conflict_id, Resolution.TAKE_CHANNEL, product_id=world.product.id
        ),
    )
    assert resolved["status"] == "resolved" and await _on_hand(database, world) == 3
    mapped = await transaction(
        database, lambda uow: uow.mappings.product_for(parking.id, "nope"), readonly=True
    )
    assert mapped == world.product.id


async def test_master_wins_keeps_the_hub_and_corrects_the_channel(database, world) -> None:
    await _set(database, world, 10)
    channel = await _channel(database, world, ConflictPolicy.MASTER_WINS)
    result = await _send(database, world, channel, InboundType.STOCK_COUNT, quantity=Decimal(4))
    assert result.body["outcome"] == "kept_hub" and await _on_hand(database, world) == 10
    directed = await transaction(
        database,
        lambda uow: uow.outbox.conn.execute(
            select(outbox).where(outbox.c.channel_id == channel.id, outbox.c.origin == "correction")
        ),
    )
    corrections = list(directed)
    assert any(r.type.endswith("stock.changed") and r.data["level"]["on_hand"] == "10" for r in corrections)


async def test_last_write_wins_by_utc_time_ties_to_the_hub(database, world) -> None:
    level = await _set(database, world, 10)
    channel = await _channel(database, world, ConflictPolicy.LAST_WRITE_WINS)
    older = await _send(
        database, world, channel, InboundType.STOCK_COUNT, quantity=Decimal(4), changed_at=level.updated_at
    )
    assert older.body["outcome"] == "kept_hub" and await _on_hand(database, world) == 10
    newer = await _send(
        database,
        world,
        channel,
        InboundType.STOCK_COUNT,
        quantity=Decimal(4),
        changed_at=datetime.now(UTC) + timedelta(seconds=1),
    )
    assert newer.body["outcome"] == "applied" and await _on_hand(database, world) == 4


async def test_reject_stale_refuses_changes_based_on_an_old_version(database, world) -> None:
    level = await _set(database, world, 10)
    channel = await _channel(database, world, ConflictPolicy.REJECT_STALE)
    stale = await _send(
        database,
        world,
        channel,
        InboundType.STOCK_COUNT,
        quantity=Decimal(4),
        based_on_version=level.version - 1,
    )
    assert stale.status_code == 409 and stale.body["hub_version"] == level.version
    assert await _on_hand(database, world) == 10
    fresh = await _send(
        database, world, channel, InboundType.STOCK_COUNT, quantity=Decimal(4), based_on_version=level.version
    )
    assert fresh.body["outcome"] == "applied" and await _on_hand(database, world) == 4
    assert (await _decisions(database, channel))[-2:] == ["inbound.rejected", "inbound.applied"]


async def test_merge_turns_a_count_into_a_delta_against_what_the_channel_saw(database, world) -> None:
    await _set(database, world, 9)
    channel = await _channel(database, world, ConflictPolicy.MERGE)
    await transaction(  # meanwhile the hub sells 1 elsewhere: 9 → 8
        database,
        lambda uow: stock.adjust_stock(
            uow, world.actor_a, location_id=world.loc_a.id, product_id=world.product.id, delta=Decimal(-1)
        ),
    )
    merged = await _send(
        database, world, channel, InboundType.STOCK_COUNT, quantity=Decimal(7), based_on_quantity=Decimal(9)
    )
    assert merged.body["outcome"] == "applied" and await _on_hand(database, world) == 6  # 8 + (7 − 9)


async def test_manual_review_queues_and_a_person_resolves(database, world) -> None:
    await _set(database, world, 10)
    channel = await _channel(database, world, ConflictPolicy.MANUAL_REVIEW)
    results = [
        await _send(database, world, channel, InboundType.STOCK_COUNT, quantity=Decimal(q)) for q in (4, 5, 6)
    ]
    assert {r.status_code for r in results} == {202} and await _on_hand(database, world) == 10
    ids = [uuid.UUID(r.body["conflict_id"]) for r in results]
    open_ = await transaction(
        database,
        lambda uow: review.list_conflicts(
            uow, _admin(world), status="open", channel_id=channel.id, after=None, limit=10
        ),
        readonly=True,
    )
    assert {r["id"] for r in open_} == set(ids) and open_[0]["hub_value"] == "10"

    async def resolve(conflict_id, resolution, value=None):  # type: ignore[no-untyped-def]
        return await transaction(
            database,
            lambda uow: review.resolve_conflict(uow, _admin(world), conflict_id, resolution, value=value),
        )

    await resolve(ids[0], Resolution.KEEP_HUB)
    assert await _on_hand(database, world) == 10
    await resolve(ids[1], Resolution.TAKE_CHANNEL)
    assert await _on_hand(database, world) == 5
    # A custom value a client can send but that is no quantity is refused (it was a 5xx:
    # Decimal(str(value)) raised); the conflict stays open and nothing moves.
    for bad in ("lots", {"quantity": 8}, [8], True, "NaN", "-1", "1e400"):
        with pytest.raises(InvalidInput):
            await resolve(ids[2], Resolution.CUSTOM, bad)
    assert await _on_hand(database, world) == 5
    await resolve(ids[2], Resolution.CUSTOM, "8")
    assert await _on_hand(database, world) == 8
    with pytest.raises(Exception) as twice:
        await resolve(ids[2], Resolution.KEEP_HUB)
    assert "already resolved" in str(twice.value)


async def test_price_and_content_edits_follow_the_policy(database, world) -> None:
    pl = await transaction(
        database,
        lambda uow: pricing.create_price_list(
            uow,
            world.actor_a,
            name="shop",
            currency="EUR",
            kind=PriceListKind.RETAIL,
            region=None,
            owner_partner_id=None,
        ),
    )
    await transaction(
        database,
        lambda uow: pricing.put_prices(
            uow,
            world.actor_a,
            pl.id,
            world.product.id,
            [PriceEntry(Decimal(1), Decimal("10.00")), PriceEntry(Decimal(10), Decimal("9.00"))],
        ),
    )
    channel = await _channel(database, world, ConflictPolicy.LAST_WRITE_WINS, price_list_id=pl.id)
    later = datetime.now(UTC) + timedelta(seconds=5)
    price = await _send(database, world, channel, InboundType.PRICE, price="12.50", changed_at=later)
    assert price.body["outcome"] == "applied"
    entries, _ = await transaction(
        database, lambda uow: uow.prices.entries(pl.id, world.product.id), readonly=True
    )
    assert sorted((e.min_quantity, e.amount) for e in entries) == [
        (1, Decimal("12.50")),
        (10, Decimal("9.00")),
    ]
    with pytest.raises(InvalidInput):  # more decimals than the currency has
        await _send(database, world, channel, InboundType.PRICE, price="12.505", changed_at=later)
    content = await _send(
        database, world, channel, InboundType.CONTENT, fields={"name": "Racket Pro"}, changed_at=later
    )
    assert content.body["outcome"] == "applied"
    product = await transaction(database, lambda uow: uow.products.get(world.product.id), readonly=True)
    assert product.name == "Racket Pro"
    with pytest.raises(InvalidInput):
        await _send(database, world, channel, InboundType.CONTENT, fields={"sku": "X"}, changed_at=later)


async def test_another_partners_channel_reports_sales_but_cannot_edit(database, world) -> None:
    await _set(database, world, 5)
    b_admin = replace(world.actor_b, scopes=frozenset({*world.actor_b.scopes, Scope.CHANNELS_ADMIN}))
    channel, _ = await transaction(
        database,
        lambda uow: channels.create_channel(
            uow,
            b_admin,
            NewChannel(
                name="B shop",
                kind=ChannelKind.SSE,
                owner_partner_id=None,
                partner_ids=(world.a.id,),
                location_ids=(world.loc_a.id,),
                conflict_policy=ConflictPolicy.LAST_WRITE_WINS,
            ),
        ),
    )

    async def send(type_, **fields):  # type: ignore[no-untyped-def]
        change = InboundChange(
            event_id=uuid.uuid4().hex,
            type=type_,
            changed_at=datetime.now(UTC) + timedelta(1),
            product_id=world.product.id,
            **fields,
        )
        return await transaction(database, lambda uow: inbound.receive(uow, b_admin, channel.id, change))

    assert (await send(InboundType.SALE, quantity=Decimal(1))).body["outcome"] == "applied"
    with pytest.raises(Forbidden):
        await send(InboundType.STOCK_COUNT, quantity=Decimal(50))
    assert await _on_hand(database, world) == 4


async def test_concurrent_stale_checked_counts_racing_a_hub_edit_apply_at_most_once(database, world) -> None:
    level = await _set(database, world, 20)
    channel = await _channel(database, world, ConflictPolicy.REJECT_STALE)

    async def channel_count(n):  # type: ignore[no-untyped-def]
        for _ in range(5):
            try:
                return await _send(
                    database,
                    world,
                    channel,
                    InboundType.STOCK_COUNT,
                    quantity=Decimal(n),
                    based_on_version=level.version,
                )
            except CompareFailed:
                continue
        raise AssertionError("kept racing")

    async def hub_sale():  # type: ignore[no-untyped-def]
        await transaction(
            database,
            lambda uow: stock.adjust_stock(
                uow, world.actor_a, location_id=world.loc_a.id, product_id=world.product.id, delta=Decimal(-1)
            ),
        )
        return None

    results = await asyncio.gather(*(channel_count(n) for n in range(1, 11)), hub_sale())
    outcomes = [r.body["outcome"] for r in results if r is not None]
    assert outcomes.count("applied") <= 1 and outcomes.count("rejected") >= 9
    final = await _on_hand(database, world)
    applied = [r for r in results if r is not None and r.body["outcome"] == "applied"]
    if applied:  # the count won the race to the lock: the hub's sale came before or after it
        counted = Decimal(applied[0].body["level"]["on_hand"])
        assert final in (counted, counted - 1)
    else:  # the hub's sale came first and made every count stale
        assert final == 19
    drift = await transaction(database, lambda uow: stock_checks.ledger_drift(uow), readonly=True)
    assert drift == []


async def test_aliases_name_products_hub_wide_and_resolve_inbound_changes(database, world) -> None:
    from productsync.domain.errors import Conflict, NotFound
    from productsync.services import aliases

    await _set(database, world, 6)
    done = await transaction(
        database,
        lambda uow: aliases.set_aliases(
            uow, world.actor_a, world.product.id, [("Supplier-Acme", " AC-1 "), ("marketplace", "B00X")]
        ),
    )
    assert done == [("supplier-acme", "AC-1"), ("marketplace", "B00X")]
    # B reads A's shared catalog and may resolve the alias; C sees nothing.
    found = await transaction(
        database,
        lambda uow: aliases.resolve_alias(uow, world.actor_b, "supplier-acme", "AC-1"),
        readonly=True,
    )
    assert found == world.product.id
    with pytest.raises(NotFound):
        await transaction(
            database,
            lambda uow: aliases.resolve_alias(uow, world.actor_c, "supplier-acme", "AC-1"),
            readonly=True,
        )
    with pytest.raises(Forbidden):  # not B's product
        await transaction(database, lambda uow: aliases.set_aliases(uow, world.actor_b, world.product.id, []))
    with pytest.raises(InvalidInput) as bad:
        await transaction(
            database,
            lambda uow: aliases.set_aliases(
                uow, world.actor_a, world.product.id, [("ok", "1"), ("9bad", "x"), ("ok", "1")]
            ),
        )
    assert [e["index"] for e in bad.value.data["errors"]] == [1, 2]
    other = await transaction(
        database,
        lambda uow: catalog.create_product(
            uow,
            world.actor_a,
            NewProduct(
                sku=f"SE-{uuid.uuid4().hex[:6]}",
                name="Other",
                category_id=world.product.category_id,
                owner_partner_id=world.a.id,
                attributes={"size": "M", "material": "steel"},
            ),
        ),
    )
    with pytest.raises(Conflict):  # one code names one product
        await transaction(
            database, lambda uow: aliases.set_aliases(uow, world.actor_a, other.id, [("marketplace", "B00X")])
        )

    channel = await _channel(database, world)
    by_alias = await _send(
        database,
        world,
        channel,
        InboundType.SALE,
        quantity=Decimal(1),
        external_id=None,
        alias="supplier-acme:AC-1",
    )
    assert by_alias.body["product_id"] == str(world.product.id) and await _on_hand(database, world) == 5
    await transaction(
        database,
        lambda uow: channels.upsert_mappings(
            uow,
            _admin(world),
            channel.id,
            [channels.MappingIn("ext-2", product_id=world.product.id, external_sku="SHOP-RACKET")],
        ),
    )
    by_sku = await _send(
        database,
        world,
        channel,
        InboundType.SALE,
        quantity=Decimal(1),
        external_id=None,
        external_sku="SHOP-RACKET",
    )
    assert by_sku.body["outcome"] == "applied" and await _on_hand(database, world) == 4


async def test_a_stock_change_with_a_non_decimal_value_is_refused_not_written_as_content(
    database, world
) -> None:
    """The old if-chain sent a stock change whose value was not a Decimal on to the content
    edit (``update_product(dict(value))``); the writer table refuses it instead."""
    from productsync.domain.conflicts import ChangeKind
    from productsync.services import inbound_changes

    await _set(database, world, 4)
    channel = await _channel(database, world)
    change = InboundChange(
        event_id=uuid.uuid4().hex, type=InboundType.STOCK_COUNT, changed_at=NOW, external_id="ext-1"
    )

    async def write(uow, kind, value):  # type: ignore[no-untyped-def]
        product = await uow.products.get(world.product.id)
        target = await inbound_changes.read_target(uow, channel, product, change)
        w = inbound_changes.Write(
            inbound_changes.channel_actor(_admin(world), channel), channel, product, change, target, value
        )
        return await inbound_changes.write(uow, kind, w)

    for kind in (ChangeKind.STOCK_DELTA, ChangeKind.STOCK_ABSOLUTE):
        for value in ({"name": "Renamed by a stock change"}, "3", 3, None, Decimal("NaN")):
            with pytest.raises(InvalidInput):
                await transaction(database, lambda uow, k=kind, v=value: write(uow, k, v))
    product = await transaction(database, lambda uow: uow.products.get(world.product.id), readonly=True)
    assert product.name == world.product.name and product.version == world.product.version
    assert await _on_hand(database, world) == 4
    written = await transaction(database, lambda uow: write(uow, ChangeKind.STOCK_ABSOLUTE, Decimal(-1)))
    assert written["delta"] == "-1" and await _on_hand(database, world) == 3


async def test_one_shopify_order_through_both_order_topics_sells_each_line_once(database, world) -> None:
    """orders/create and orders/paid are two webhooks (two webhook ids) for one order: each
    line is taken under its order-line key, so the second brings the first's answer."""
    channel = await _channel(database, world)
    await _set(database, world, 10)
    order = {"id": 450789469, "line_items": [{"id": 1, "variant_id": "ext-1", "quantity": 3}]}
    refund = {
        "id": 509562969,
        "refund_line_items": [{"id": 7, "quantity": 1, "line_item": {"variant_id": "ext-1"}}],
    }

    async def webhook(topic, payload):  # type: ignore[no-untyped-def]
        changes = [
            InboundChange(
                event_id=line.key,
                type=line.type,
                changed_at=datetime.now(UTC),
                external_id=line.variant_id,
                quantity=line.quantity,
                order_ref=str(payload["id"]),
            )
            for line in shopify.stock_lines(topic, payload) or []
        ]
        return await transaction(
            database,
            lambda uow: inbound.receive_batch(uow, _admin(world), channel.id, uuid.uuid4().hex, changes),
        )

    created = await webhook("orders/create", order)
    paid = await webhook("orders/paid", order)
    assert created.body["lines"][0]["outcome"] == "applied" and "replayed" not in created.body["lines"][0]
    assert paid.body["lines"] == [{**created.body["lines"][0], "replayed": True}]
    assert await _on_hand(database, world) == 7
    await webhook("refunds/create", refund)
    await webhook("refunds/create", refund)  # redelivered under another webhook id
    assert await _on_hand(database, world) == 8
