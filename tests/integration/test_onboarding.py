"""Channel onboarding against a local WooCommerce-shaped store (tests/platforms.py), on
SQLite and PostgreSQL: read the catalog, match it, apply, deliver, create the missing."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from stdnum import ean

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.access import Scope
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.domain.errors import Conflict, InvalidInput, NotFound
from productsync.services import aliases, catalog, channels, onboarding, stock
from productsync.store.tables_onboarding import onboarding_proposals
from productsync.store.uow import transaction
from productsync.sync.connectors import Connectors
from productsync.sync.dispatcher import dispatch_once
from productsync.sync.guard import TargetGuard
from productsync.sync.onboarding import ChannelUnreadable, onboard
from productsync.sync.woocommerce_catalog import read_woocommerce_catalog
from tests.conftest import count_rows, ref
from tests.integration.test_dispatch import _flush_backlog
from tests.platforms import FakeWooCommerce

KEY, SECRET = "ck_onboard", "cs_onboard"
ATTRS = {"size": "M", "material": "mixed"}


@pytest.fixture
def hub(database) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=3), database)


def _upc() -> str:
    """A random valid UPC-A (12 digits); "0" + it is the same item's EAN-13."""
    body = "".join(random.choice("0123456789") for _ in range(11))
    return body + ean.calc_check_digit(body)


def _admin(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


async def _product(hub, world, sku, *, barcodes=(), alias=None, partner=None):  # type: ignore[no-untyped-def]
    owner, actor = (world.a, world.actor_a) if partner is None else partner

    async def make(uow):  # type: ignore[no-untyped-def]
        sports = await uow.categories.get_by_code("sports")
        p = await catalog.create_product(
            uow,
            actor,
            NewProduct(
                sku=sku,
                name=f"Hub {sku}",
                category_id=sports.id,
                owner_partner_id=owner.id,
                barcodes=list(barcodes),
                attributes=ATTRS,
            ),
        )
        if alias:
            await aliases.set_aliases(uow, world.actor_a, p.id, [alias])
        return p

    return await transaction(hub.db, make)


async def _channel(hub, world, url, secret=SECRET):  # type: ignore[no-untyped-def]
    channel, _ = await transaction(
        hub.db,
        lambda uow: channels.create_channel(
            uow,
            _admin(world),
            NewChannel(
                name=ref("woo-"),
                kind=ChannelKind.WOOCOMMERCE,
                owner_partner_id=None,
                url=url,
                location_ids=(world.loc_a.id,),
            ),
            credentials={"consumer_key": KEY, "consumer_secret": secret},
            targets=hub.settings.target_policy(),
        ),
    )
    return channel


class Store:
    """The seeded catalog: one item per case, and the hub products they should meet."""

    def __init__(self, woo: FakeWooCommerce) -> None:
        self.woo = woo


async def _seed(hub, world, woo):  # type: ignore[no-untyped-def]
    s = Store(woo)
    s.by_sku = await _product(hub, world, ref("SE-SKU-").upper())
    upc = _upc()
    s.by_gtin = await _product(hub, world, ref("SE-GT-").upper(), barcodes=["0" + upc])  # EAN-13 on the hub
    s.alias_code = ref("acme-")
    s.by_alias = await _product(hub, world, ref("SE-AL-").upper(), alias=("supplier", s.alias_code))
    s.claimed = await _product(hub, world, ref("SE-CL-").upper(), barcodes=["0" + _upc()])
    s.variant = await _product(hub, world, ref("SE-VA-").upper())
    s.hub_only = await _product(hub, world, ref("SE-HO-").upper())
    s.elsewhere = await _product(hub, world, ref("SE-C-").upper(), partner=(world.c, world.actor_c))
    s.new_sku = ref("SE-NEW-").upper()
    s.bad_sku = ref("NOPREFIX-").upper()
    woo.add_product("101", sku=s.by_sku.sku.lower(), name="Woo by SKU", price="9.50", regular_price="9.50")
    woo.add_product("102", sku="", name="Woo by UPC", global_unique_id=upc)  # UPC-A on the store
    woo.add_product("103", sku=s.alias_code, name="Woo by alias")
    woo.add_product("104", sku=s.claimed.sku, name="Woo claims 1")
    woo.add_product(
        "105", name="Woo claims 2", meta_data=[{"id": 1, "key": "_gtin", "value": s.claimed.barcodes[0]}]
    )
    woo.add_product(
        "106", sku=s.new_sku, name="Woo only", description="<p>new</p>", manage_stock=True, stock_quantity=4
    )
    woo.add_product("107", sku=s.bad_sku, name="Woo only, no prefix")
    woo.add_product("108", sku=s.elsewhere.sku, name="Another partner's SKU")
    woo.add_variable("200", name="Woo shirt")
    woo.add_product("200/201", sku=s.variant.sku, name="Woo shirt - M")
    woo.add_product("200/202", sku=ref("SE-X-"), name="Woo shirt - L")
    return s


def _by_id(page):  # type: ignore[no-untyped-def]
    return {r.external_id: r for r in page.rows if r.external_id is not None}


async def _read(hub, world, channel, proposal, **kw):  # type: ignore[no-untyped-def]
    return await transaction(
        hub.db,
        lambda uow: onboarding.read_proposal(uow, _admin(world), channel.id, proposal.id, **kw),
        readonly=True,
    )


async def test_the_woocommerce_reader_pages_products_and_variations(hub, world) -> None:
    with FakeWooCommerce(KEY, SECRET) as woo:
        for n in range(1, 251):  # three pages of products
            woo.add_product(str(n), sku=f"S-{n}", price="1.00")
        woo.add_variable("900", name="Shirt")
        for v in range(901, 1004):  # two pages of variations
            woo.add_product(f"900/{v}", sku=f"V-{v}", manage_stock="parent", stock_quantity=2)
        woo.add_product(
            "1000",
            sku="SALE",
            price="8.00",
            regular_price="10.00",
            sale_price="8.00",
            manage_stock=True,
            stock_quantity=7,
            meta_data=[{"id": 3, "key": "_gtin", "value": "036000291452"}],
        )
        channel = await _channel(hub, world, woo.url)
        guard = TargetGuard(hub.settings.target_policy())
        items = [
            i
            async for i in read_woocommerce_catalog(
                channel, {"consumer_key": KEY, "consumer_secret": SECRET}, guard=guard, timeout=3
            )
        ]
        gets = [r[1] for r in woo.requests if r[0] == "GET"]
    ids = [i.external_id for i in items]
    assert len(ids) == 250 + 103 + 1 and len(set(ids)) == len(ids)
    assert "900" not in ids and "900/901" in ids and "900/1003" in ids
    sale = next(i for i in items if i.external_id == "1000")
    assert (sale.price, sale.compare_at_price, sale.quantity, sale.barcode) == (
        Decimal("8.00"),
        Decimal("10.00"),
        Decimal(7),
        "036000291452",
    )
    variation = next(i for i in items if i.external_id == "900/950")
    assert variation.quantity == 2 and variation.product_ref == "900" and variation.price is None
    unmanaged = next(i for i in items if i.external_id == "1")
    assert unmanaged.quantity is None and unmanaged.price == Decimal("1.00")
    assert sum("/products?" in g for g in gets) == 3 and sum("/900/variations?" in g for g in gets) == 2
    assert all("per_page=100" in g for g in gets)


async def test_onboarding_matches_applies_delivers_and_creates_the_missing(hub, world) -> None:
    await _flush_backlog(hub)
    actor = _admin(world)
    with FakeWooCommerce(KEY, SECRET) as woo:
        s = await _seed(hub, world, woo)
        channel = await _channel(hub, world, woo.url)
        proposal = await onboard(hub, actor, channel.id)
        assert proposal.items_read == 10 and proposal.status == "proposed"
        page = await _read(hub, world, channel, proposal, limit=1000)
        rows = _by_id(page)
        assert (rows["101"].status, rows["101"].product_id, rows["101"].rule) == (
            "matched",
            s.by_sku.id,
            "sku",
        )
        assert (rows["102"].status, rows["102"].product_id, rows["102"].rule) == (
            "matched",
            s.by_gtin.id,
            "gtin",
        )
        assert (rows["103"].status, rows["103"].product_id, rows["103"].rule) == (
            "matched",
            s.by_alias.id,
            "alias",
        )
        assert (rows["200/201"].status, rows["200/201"].product_id) == ("matched", s.variant.id)
        for claim in ("104", "105"):
            assert rows[claim].status == "ambiguous" and rows[claim].candidates == (s.claimed.id,)
        assert {k for k, r in rows.items() if r.status == "unmatched_channel"} == {
            "106",
            "107",
            "108",
            "200/202",
        }
        unmatched_hub = {r.product_id for r in page.rows if r.status == "unmatched_hub"}
        assert unmatched_hub == {s.hub_only.id, world.product.id}
        assert proposal.counts == {
            "matched": 4,
            "ambiguous": 2,
            "unmatched_channel": 4,
            "unmatched_hub": 2,
            "already_mapped": 0,
            "conflict": 0,
        }
        assert page.skus[s.claimed.id] == s.claimed.sku
        only = await _read(hub, world, channel, proposal, status="unmatched_channel", limit=2)
        assert [r.external_id for r in only.rows] == ["106", "107"] and only.next_after is not None
        rest = await _read(hub, world, channel, proposal, status="unmatched_channel", after=only.next_after)
        assert [r.external_id for r in rest.rows] == ["108", "200/202"] and rest.next_after is None

        result = await transaction(
            hub.db,
            lambda uow: onboarding.apply(
                uow,
                actor,
                channel.id,
                proposal.id,
                create_unmatched=True,
                category="sports",
                attributes=ATTRS,
                exclude=["108", "200/202"],
                choose={"104": s.claimed.id},  # a person settles one of the two claims
            ),
        )
        assert result.mapped == 6
        assert [c["external_id"] for c in result.created] == ["106"]
        assert [(f["external_id"], f["code"]) for f in result.failed] == [("107", "invalid-sku")]
        mapped = await transaction(hub.db, lambda uow: uow.onboarding.mappings(channel.id), readonly=True)
        created = await transaction(
            hub.db, lambda uow: uow.products.get(uuid.UUID(result.created[0]["product_id"])), readonly=True
        )
        assert created.owner_partner_id == world.a.id and created.description == "<p>new</p>"
        assert created.sku == s.new_sku and created.category_id == s.by_sku.category_id
        assert mapped == {
            "101": s.by_sku.id,
            "102": s.by_gtin.id,
            "103": s.by_alias.id,
            "200/201": s.variant.id,
            "106": created.id,
            "104": s.claimed.id,
        }
        # The newly mapped products' state goes to the store, to the right Woo product.
        await transaction(
            hub.db,
            lambda uow: stock.adjust_stock(
                uow, world.actor_a, location_id=world.loc_a.id, product_id=s.by_gtin.id, delta=Decimal(6)
            ),
        )
        connectors = Connectors(hub.settings, db=hub.db)
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(30):
                    if not await dispatch_once(hub, client, connectors=connectors):
                        break
        finally:
            await connectors.aclose()
        assert woo.products["102"]["stock_quantity"] == 6 and woo.products["102"]["sku"] == s.by_gtin.sku
        assert woo.products["101"]["name"] == s.by_sku.name
        assert woo.products["200/201"]["sku"] == s.variant.sku
        assert woo.products["106"]["sku"] == s.new_sku
        assert woo.products["104"]["status"] == "publish"  # settled by choice: written to
        assert "status" not in woo.products["105"]  # the other claimant: untouched
        assert "status" not in woo.products["200/202"]

        # Applied once; a second read shows the mappings as already mapped.
        with pytest.raises(Conflict):
            await transaction(hub.db, lambda uow: onboarding.apply(uow, actor, channel.id, proposal.id))
        again = await onboard(hub, actor, channel.id)
        rows = _by_id(await _read(hub, world, channel, again, limit=1000))
        assert {k for k, r in rows.items() if r.status == "already_mapped"} == {
            "101",
            "102",
            "103",
            "104",
            "106",
            "200/201",
        }
        assert rows["105"].status == "ambiguous" and "also claimed by" in (rows["105"].reason or "")
        assert again.counts["matched"] == 0 and again.counts["unmatched_hub"] == 2
    assert await count_rows(hub.db, onboarding_proposals, id=proposal.id, status="applied") == 1


async def test_include_limits_apply_and_a_new_proposal_discards_the_open_one(hub, world) -> None:
    actor = _admin(world)
    with FakeWooCommerce(KEY, SECRET) as woo:
        s = await _seed(hub, world, woo)
        channel = await _channel(hub, world, woo.url)
        first = await onboard(hub, actor, channel.id)
        second = await onboard(hub, actor, channel.id)
        with pytest.raises(Conflict, match="discarded"):
            await transaction(hub.db, lambda uow: onboarding.apply(uow, actor, channel.id, first.id))
        with pytest.raises(InvalidInput) as err:
            await transaction(
                hub.db, lambda uow: onboarding.apply(uow, actor, channel.id, second.id, include=["999"])
            )
        assert err.value.data["external_ids"] == ["999"]
        bad_choices = [
            {"105": s.hub_only.id},  # not a candidate of that item
            {"101": s.by_sku.id},  # not an ambiguous item
            {"104": s.claimed.id, "105": s.claimed.id},  # one product, two items
        ]
        for choose in bad_choices:
            with pytest.raises(InvalidInput):
                await transaction(
                    hub.db,
                    lambda uow, c=choose: onboarding.apply(uow, actor, channel.id, second.id, choose=c),
                )
        with pytest.raises(InvalidInput, match="category"):
            await transaction(
                hub.db, lambda uow: onboarding.apply(uow, actor, channel.id, second.id, create_unmatched=True)
            )
        # A mapping written meanwhile makes the proposal stale: nothing is applied.
        await transaction(
            hub.db,
            lambda uow: channels.upsert_mappings(
                uow, actor, channel.id, [channels.MappingIn("102", product_id=s.hub_only.id)]
            ),
        )
        with pytest.raises(Conflict, match="mapped since"):
            await transaction(hub.db, lambda uow: onboarding.apply(uow, actor, channel.id, second.id))
        result = await transaction(
            hub.db, lambda uow: onboarding.apply(uow, actor, channel.id, second.id, include=["101", "104"])
        )
        assert result.mapped == 1 and result.events >= 1
        assert result.skipped == [{"external_id": "104", "status": "ambiguous"}]
        mapped = await transaction(hub.db, lambda uow: uow.onboarding.mappings(channel.id), readonly=True)
        assert mapped == {"101": s.by_sku.id, "102": s.hub_only.id}
        third = await onboard(hub, actor, channel.id)
        rows = _by_id(await _read(hub, world, channel, third, limit=1000))
        assert rows["102"].status == "conflict" and rows["102"].product_id == s.hub_only.id
        assert rows["102"].candidates == (s.by_gtin.id,)


async def test_another_partner_cannot_see_or_onboard_the_channel(hub, world) -> None:
    with FakeWooCommerce(KEY, SECRET) as woo:
        channel = await _channel(hub, world, woo.url)
        intruder = replace(world.actor_c, scopes=frozenset({*world.actor_c.scopes, Scope.CHANNELS_ADMIN}))
        with pytest.raises(NotFound):
            await onboard(hub, intruder, channel.id)
        assert woo.requests == []  # refused before any request left


async def test_an_unreachable_or_refusing_store_is_a_clear_failure(hub, world) -> None:
    actor = _admin(world)
    with FakeWooCommerce(KEY, SECRET) as woo:
        wrong = await _channel(hub, world, woo.url, secret="wrong")
        with pytest.raises(ChannelUnreadable) as err:
            await onboard(hub, actor, wrong.id)
        assert "401" in err.value.reason and "woocommerce_rest_cannot_edit" in err.value.reason
        assert not err.value.unreachable
        url = woo.url
    gone = await _channel(hub, world, url)  # the server is shut down now
    with pytest.raises(ChannelUnreadable) as err:
        await onboard(hub, actor, gone.id)
    assert err.value.unreachable
