"""SKU namespaces per partner on both databases: two partners use one SKU, every request
that names a product by SKU resolves among what the key can see, ambiguity is a 409
listing the candidates, and ``partner`` or ``product_id`` settles it.

The cast: P and Q both sell ``SE-…`` (the shared SKU). Q shares its catalog with P, so P
sees both (and owns one); P and Q both share with R, who owns neither. The admin sees
everything.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from alembic import command
from sqlalchemy import event, text

from productsync.domain.access import Actor, Scope, system_actor
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.conflicts import InboundType
from productsync.domain.errors import Conflict, ErrorCode, Forbidden, NotFound
from productsync.domain.inventory import LocationKind
from productsync.services import catalog, channels, inbound, locations, partners, payments, stock
from productsync.services.reservations import LineRequest, reserve
from productsync.store.database import create_database
from productsync.store.migrate import alembic_config
from productsync.store.uow import transaction
from tests import services
from tests.conftest import ref

D = Decimal
ADMIN = system_actor("test")
SCOPES = frozenset(
    {Scope.CATALOG_READ, Scope.CATALOG_WRITE, Scope.STOCK_WRITE, Scope.PRICES_WRITE, Scope.CHANNELS_ADMIN}
)


@dataclass
class Cast:
    p: Any
    q: Any
    r: Any
    sku: str
    of_p: Any  # P's product with the shared SKU
    of_q: Any  # Q's product with the shared SKU
    hub: Any  # a hub-wide location
    actor_p: Actor
    actor_q: Actor
    actor_r: Actor


def _actor(partner: Any, *readable: Any) -> Actor:
    return Actor(
        key_id=uuid.uuid4(),
        partner_id=partner.id,
        scopes=SCOPES,
        readable_partners=frozenset(x.id for x in readable),
        origin="test",
    )


def _new(sku: str, owner: Any, category: Any) -> NewProduct:
    return NewProduct(
        sku=sku,
        name="Racket",
        category_id=category.id,
        owner_partner_id=owner.id,
        attributes={"size": "L2", "material": "carbon"},
    )


@pytest.fixture
async def cast(database) -> Cast:  # type: ignore[no-untyped-def]
    async def build(uow):  # type: ignore[no-untyped-def]
        p = await partners.create_partner(uow, ADMIN, code=ref("pp-"), name="P")
        q = await partners.create_partner(uow, ADMIN, code=ref("pq-"), name="Q")
        r = await partners.create_partner(uow, ADMIN, code=ref("pr-"), name="R")
        for owner, grantee in ((q, p), (p, r), (q, r)):
            await partners.share_catalog(uow, ADMIN, owner_id=owner.id, grantee_id=grantee.id)
        hub = await locations.create_location(
            uow, ADMIN, code=ref("HUB-"), name="Hub", kind=LocationKind.WAREHOUSE, owner_partner_id=None
        )
        return p, q, r, hub

    p, q, r, hub = await transaction(database, build)
    actor_p, actor_q, actor_r = _actor(p, q), _actor(q), _actor(r, p, q)
    sports = await transaction(database, lambda uow: uow.categories.get_by_code("sports"), readonly=True)
    sku = ref("SE-").upper()
    # Each partner creates the SKU with its own key: the second one must not be refused.
    of_p = await transaction(database, lambda uow: catalog.create_product(uow, actor_p, _new(sku, p, sports)))
    of_q = await transaction(database, lambda uow: catalog.create_product(uow, actor_q, _new(sku, q, sports)))
    return Cast(p, q, r, sku, of_p, of_q, hub, actor_p, actor_q, actor_r)


async def _on_hand(database, product, location) -> Decimal:  # type: ignore[no-untyped-def]
    level = await transaction(
        database, lambda uow: uow.stock.get_level(product.id, location.id), readonly=True
    )
    return D(0) if level is None else level.on_hand


async def _adjust(database, actor, cast, delta, **named):  # type: ignore[no-untyped-def]
    named.setdefault("sku", cast.sku.lower())
    return await transaction(
        database,
        lambda uow: stock.adjust_stock(uow, actor, location_id=cast.hub.id, delta=D(delta), **named),
    )


def _assert_ambiguous(exc: Conflict, *products: Any) -> None:
    assert exc.code is ErrorCode.AMBIGUOUS_SKU
    assert {c["product_id"] for c in exc.data["candidates"]} == {str(p.id) for p in products}
    for c in exc.data["candidates"]:
        assert set(c) == {"product_id", "partner", "partner_id"}


async def test_two_partners_use_one_sku_and_each_key_writes_its_own_stock(database, cast) -> None:
    assert cast.of_p.sku == cast.of_q.sku == cast.sku and cast.of_p.id != cast.of_q.id
    # P sees Q's product too (a share), but a partner writes only its own: P's is meant.
    p_change = await _adjust(database, cast.actor_p, cast, 5)
    q_change = await _adjust(database, cast.actor_q, cast, 3)
    assert (p_change.product.id, q_change.product.id) == (cast.of_p.id, cast.of_q.id)
    counted = await transaction(
        database,
        lambda uow: stock.set_stock(uow, cast.actor_q, location_id=cast.hub.id, sku=cast.sku, quantity=D(7)),
    )
    assert counted.product.id == cast.of_q.id
    assert await _on_hand(database, cast.of_p, cast.hub) == 5
    assert await _on_hand(database, cast.of_q, cast.hub) == 7


async def test_an_admin_gets_409_with_both_candidates_and_nothing_moves_until_it_names_one(
    database, cast
) -> None:
    await _adjust(database, ADMIN, cast, 4, sku=None, product_id=cast.of_p.id)
    with pytest.raises(Conflict) as raised:
        await _adjust(database, ADMIN, cast, -1)
    _assert_ambiguous(raised.value, cast.of_p, cast.of_q)
    assert {c["partner"] for c in raised.value.data["candidates"]} == {cast.p.code, cast.q.code}
    assert await _on_hand(database, cast.of_p, cast.hub) == 4  # the one-statement path changed nothing
    assert await _on_hand(database, cast.of_q, cast.hub) == 0
    with pytest.raises(Conflict):
        await transaction(
            database,
            lambda uow: stock.set_stock(uow, ADMIN, location_id=cast.hub.id, sku=cast.sku, quantity=D(1)),
        )
    by_partner = await _adjust(database, ADMIN, cast, 2, partner=cast.q.code.upper())
    by_id = await _adjust(database, ADMIN, cast, -1, sku=None, product_id=cast.of_p.id)
    assert (by_partner.product.id, by_id.product.id) == (cast.of_q.id, cast.of_p.id)
    assert await _on_hand(database, cast.of_q, cast.hub) == 2
    assert await _on_hand(database, cast.of_p, cast.hub) == 3


async def test_a_partner_owning_neither_but_seeing_both_gets_409_and_naming_one_is_read_only(
    database, cast
) -> None:
    with pytest.raises(Conflict) as raised:
        await _adjust(database, cast.actor_r, cast, 1)
    _assert_ambiguous(raised.value, cast.of_p, cast.of_q)
    with pytest.raises(Forbidden):
        await _adjust(database, cast.actor_r, cast, 1, partner=cast.p.code)
    with pytest.raises(Conflict) as read:
        await transaction(database, lambda uow: catalog.find_product(uow, cast.actor_r, sku=cast.sku))
    _assert_ambiguous(read.value, cast.of_p, cast.of_q)
    found = await transaction(
        database, lambda uow: catalog.find_product(uow, cast.actor_r, sku=cast.sku, partner=cast.q.code)
    )
    assert found.id == cast.of_q.id


async def test_a_key_that_sees_one_of_them_never_hears_of_the_other(database, cast) -> None:
    outsider = _actor(cast.q)  # Q sees only its own
    found = await transaction(database, lambda uow: catalog.find_product(uow, outsider, sku=cast.sku))
    assert found.id == cast.of_q.id
    with pytest.raises(NotFound) as raised:
        await transaction(
            database, lambda uow: catalog.find_product(uow, outsider, sku=cast.sku, partner=cast.p.code)
        )
    assert str(cast.p.id) not in str(raised.value.data)


async def test_reservations_resolve_among_visible_products_and_take_partner_or_product_id(
    database, cast
) -> None:
    await _adjust(database, ADMIN, cast, 5, sku=None, product_id=cast.of_p.id)
    await _adjust(database, ADMIN, cast, 5, sku=None, product_id=cast.of_q.id)
    # Q sees only its own SKU: no ambiguity.
    held = await transaction(database, lambda uow: reserve(uow, cast.actor_q, [LineRequest(1, sku=cast.sku)]))
    assert held.lines[0].product_id == cast.of_q.id
    # P sees both (its own and Q's, shared): a reservation may hold either, so it must say which.
    for actor in (cast.actor_p, cast.actor_r, ADMIN):
        with pytest.raises(Conflict) as raised:
            await transaction(database, lambda uow, a=actor: reserve(uow, a, [LineRequest(1, sku=cast.sku)]))
        _assert_ambiguous(raised.value, cast.of_p, cast.of_q)
    named = await transaction(
        database, lambda uow: reserve(uow, cast.actor_r, [LineRequest(2, sku=cast.sku, partner=cast.p.code)])
    )
    by_id = await transaction(
        database, lambda uow: reserve(uow, cast.actor_p, [LineRequest(1, product_id=cast.of_q.id)])
    )
    assert (named.lines[0].product_id, by_id.lines[0].product_id) == (cast.of_p.id, cast.of_q.id)


async def test_a_second_product_with_an_owners_own_sku_is_409_naming_no_other_partner(database, cast) -> None:
    sports = await transaction(database, lambda uow: uow.categories.get_by_code("sports"), readonly=True)
    with pytest.raises(Conflict) as raised:
        await transaction(
            database, lambda uow: catalog.create_product(uow, cast.actor_p, _new(cast.sku, cast.p, sports))
        )
    assert raised.value.code is ErrorCode.DUPLICATE
    said = f"{raised.value.detail} {raised.value.data}"
    assert cast.q.code not in said and str(cast.q.id) not in said and str(cast.of_q.id) not in said
    # A third partner may use the SKU too.
    third = await transaction(
        database, lambda uow: catalog.create_product(uow, ADMIN, _new(cast.sku, cast.r, sports))
    )
    assert third.owner_partner_id == cast.r.id


async def _channel(database, actor, owner, *, partner_ids=(), locations=()):  # type: ignore[no-untyped-def]
    new = NewChannel(
        name=ref("ch-"),
        kind=ChannelKind.SSE,
        owner_partner_id=owner.id,
        partner_ids=tuple(partner_ids),
        location_ids=tuple(locations),
    )
    channel, _ = await transaction(database, lambda uow: channels.create_channel(uow, actor, new))
    return channel


def _inbound(type_: InboundType, sku: str, quantity: int, **more: Any) -> inbound.InboundChange:
    return inbound.InboundChange(
        event_id=uuid.uuid4().hex,
        type=type_,
        changed_at=datetime.now(UTC),
        sku=sku,
        quantity=D(quantity),
        **more,
    )


async def test_inbound_changes_by_sku_follow_the_channels_slice(database, cast) -> None:
    both = await _channel(
        database, cast.actor_p, cast.p, partner_ids=(cast.p.id, cast.q.id), locations=(cast.hub.id,)
    )
    only_q = await _channel(database, cast.actor_q, cast.q, locations=(cast.hub.id,))

    async def send(channel, change):  # type: ignore[no-untyped-def]
        return await transaction(database, lambda uow: inbound.receive(uow, cast.actor_p, channel.id, change))

    # A sale on a channel selling both partners' SKU: which one was sold?
    with pytest.raises(Conflict) as raised:
        await send(both, _inbound(InboundType.SALE, cast.sku, 1))
    _assert_ambiguous(raised.value, cast.of_p, cast.of_q)
    # A restock is an edit, which only the owner's product may take: P's own is meant.
    restock = await send(both, _inbound(InboundType.RESTOCK, cast.sku, 6))
    assert restock.body["product_id"] == str(cast.of_p.id) and restock.body["outcome"] == "applied"
    sale = await send(both, _inbound(InboundType.SALE, cast.sku, 2, partner=cast.p.code))
    assert sale.body["product_id"] == str(cast.of_p.id)
    assert await _on_hand(database, cast.of_p, cast.hub) == 4
    # A channel of Q's slice alone reads the SKU as Q's.
    q_restock = await transaction(
        database,
        lambda uow: inbound.receive(uow, cast.actor_q, only_q.id, _inbound(InboundType.RESTOCK, cast.sku, 3)),
    )
    assert q_restock.body["product_id"] == str(cast.of_q.id)
    assert await _on_hand(database, cast.of_q, cast.hub) == 3


async def test_channel_mappings_by_sku_are_refused_when_ambiguous_and_take_partner(database, cast) -> None:
    channel = await _channel(database, cast.actor_r, cast.r, partner_ids=(cast.p.id, cast.q.id))
    q_only = await _channel(database, cast.actor_q, cast.q)

    async def put(owner_actor, ch, items):  # type: ignore[no-untyped-def]
        return await transaction(
            database, lambda uow: channels.upsert_mappings(uow, owner_actor, ch.id, items)
        )

    with pytest.raises(Conflict) as raised:
        await put(cast.actor_r, channel, [channels.MappingIn("ext-1", sku=cast.sku)])
    assert raised.value.code is ErrorCode.AMBIGUOUS_SKU
    [row] = raised.value.data["errors"]
    assert row["index"] == 0 and {c["product_id"] for c in row["candidates"]} == {
        str(cast.of_p.id),
        str(cast.of_q.id),
    }
    assert (
        await put(cast.actor_r, channel, [channels.MappingIn("ext-1", sku=cast.sku, partner=cast.q.code)])
        == 1
    )
    assert await put(cast.actor_q, q_only, [channels.MappingIn("ext-9", sku=cast.sku)]) == 1
    mapped = await transaction(
        database,
        lambda uow: asyncio.gather(
            uow.mappings.product_for(channel.id, "ext-1"), uow.mappings.product_for(q_only.id, "ext-9")
        ),
        readonly=True,
    )
    assert list(mapped) == [cast.of_q.id, cast.of_q.id]


async def test_stripe_metadata_names_the_partner_when_several_use_the_sku(database, cast) -> None:
    await _adjust(database, ADMIN, cast, 5, sku=None, product_id=cast.of_q.id)

    def paid(**meta: str) -> dict[str, Any]:
        return {
            "id": ref("evt_"),
            "type": "payment_intent.succeeded",
            "data": {
                "object": {
                    "id": ref("pi_"),
                    "metadata": {"sku": cast.sku, "quantity": "1", "location_id": str(cast.hub.id), **meta},
                }
            },
        }

    with pytest.raises(Conflict) as raised:
        await transaction(database, lambda uow: payments.record_event(uow, paid()))
    _assert_ambiguous(raised.value, cast.of_p, cast.of_q)
    by_partner = await transaction(
        database, lambda uow: payments.record_event(uow, paid(partner=cast.q.code))
    )
    by_id = await transaction(
        database, lambda uow: payments.record_event(uow, paid(product_id=str(cast.of_q.id)))
    )
    assert by_partner.status_code == by_id.status_code == 200
    assert await _on_hand(database, cast.of_q, cast.hub) == 3


async def test_listing_by_sku_shows_every_visible_partners_product_and_pages_through_them(
    database, cast
) -> None:
    async def page(actor, **kw):  # type: ignore[no-untyped-def]
        return await transaction(
            database, lambda uow: catalog.list_products(uow, actor, sku=cast.sku, **kw), readonly=True
        )

    assert {p.id for p in await page(ADMIN)} == {cast.of_p.id, cast.of_q.id}
    assert [p.id for p in await page(ADMIN, partner=cast.p.code)] == [cast.of_p.id]
    assert await page(cast.actor_q, partner=cast.p.code) == []  # not visible to Q
    assert await page(ADMIN, partner="no-such-partner") == []
    # Pages of one (as the API cuts them) with a (SKU, id) cursor: both, once each.
    first = (await page(ADMIN, limit=1))[0]
    second = (await page(ADMIN, limit=1, after_sku=first.sku, after_id=first.id))[0]
    assert {first.id, second.id} == {cast.of_p.id, cast.of_q.id}
    assert await page(ADMIN, limit=1, after_sku=second.sku, after_id=second.id) == []
    # A cursor of SKUs alone (backfill pages) never ends a page inside a SKU's group.
    whole = await transaction(
        database,
        lambda uow: uow.products.find(owners={cast.p.id, cast.q.id}, after_sku=None, limit=1),
        readonly=True,
    )
    assert {p.id for p in whole} == {cast.of_p.id, cast.of_q.id}


async def test_a_stock_write_by_sku_stays_one_statement_on_postgresql(database, cast) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's")
    sports = await transaction(database, lambda uow: uow.categories.get_by_code("sports"), readonly=True)
    unique = await transaction(
        database, lambda uow: catalog.create_product(uow, ADMIN, _new(ref("SE-"), cast.p, sports))
    )
    for product in (unique, cast.of_p):  # the levels exist: the write is a plain change
        await _adjust(database, ADMIN, cast, 10, sku=None, product_id=product.id)
    for actor, sku in ((cast.actor_p, cast.sku), (ADMIN, unique.sku), (cast.actor_p, unique.sku)):
        sent: list[str] = []

        def catch(_c: Any, _cur: Any, statement: str, *_: Any) -> None:
            if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
                sent.append(statement)  # noqa: B023 - read before the next loop turn

        event.listen(database.engine.sync_engine, "before_cursor_execute", catch)
        try:
            await _adjust(database, actor, cast, 1, sku=sku)
        finally:
            event.remove(database.engine.sync_engine, "before_cursor_execute", catch)
        assert len(sent) <= 2, (actor.partner_id, sku, sent)


async def test_the_one_statement_write_changes_no_level_when_a_sku_names_several(database, cast) -> None:
    if database.engine.dialect.name != "postgresql":
        pytest.skip("the one-statement path is PostgreSQL's")
    for product in (cast.of_p, cast.of_q):
        await _adjust(database, ADMIN, cast, 4, sku=None, product_id=product.id)

    async def probe(uow):  # type: ignore[no-untyped-def]
        found = await uow.stock.apply_at_target(
            uow.products,
            cast.hub.id,
            product_id=None,
            sku=cast.sku,
            delta=D(1),
            now=uow.now,
            spare_held=False,
            writer=None,
        )
        return found, [(await uow.stock.get_level(p.id, cast.hub.id)).on_hand for p in (cast.of_p, cast.of_q)]

    found, on_hand = await transaction(database, probe)  # committed: a change would stay
    assert found is None and on_hand == [4, 4]


# Migration: upgrade keeps data working; downgrade refuses while two partners share a SKU.


async def _seed_shared_sku(url: str) -> tuple[str, list[uuid.UUID]]:
    db = create_database(url)
    try:
        await transaction(db, catalog.ensure_default_categories)

        async def build(uow):  # type: ignore[no-untyped-def]
            sports = await uow.categories.get_by_code("sports")
            a = await partners.create_partner(uow, ADMIN, code=ref("ma-"), name="A")
            b = await partners.create_partner(uow, ADMIN, code=ref("mb-"), name="B")
            sku = ref("SE-").upper()
            made = [await catalog.create_product(uow, ADMIN, _new(sku, owner, sports)) for owner in (a, b)]
            return sku, [m.id for m in made]

        return await transaction(db, build)
    finally:
        await db.dispose()


async def _rename(url: str, product_id: uuid.UUID, sku: str) -> None:
    db = create_database(url)
    try:
        async with db.engine.begin() as conn:
            await conn.execute(
                text("UPDATE products SET sku = :sku WHERE id = :id"),
                {"sku": sku, "id": product_id if db.engine.dialect.name == "postgresql" else product_id.hex},
            )
    finally:
        await db.dispose()


def _downgrade_refuses_then_works(url: str) -> None:
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    sku, (first, second) = asyncio.run(_seed_shared_sku(url))
    with pytest.raises(RuntimeError, match=f"used by more than one partner: {sku}"):
        command.downgrade(cfg, "0013")
    asyncio.run(_rename(url, second, f"{sku}-B"))
    command.downgrade(cfg, "0013")
    command.upgrade(cfg, "head")  # and back: the data still fits
    assert asyncio.run(_seed_shared_sku(url))[0]


def test_sqlite_downgrade_below_0014_refuses_shared_skus(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _downgrade_refuses_then_works(f"sqlite:///{tmp_path / 'ns.db'}")


def test_postgres_downgrade_below_0014_refuses_shared_skus() -> None:
    try:
        url = asyncio.run(services.create_postgres_database())
    except Exception as exc:  # noqa: BLE001
        services.unavailable("PostgreSQL", exc)
    try:
        _downgrade_refuses_then_works(url)
    finally:
        asyncio.run(services.drop_postgres_database(url))
