"""The dispatcher on both databases, delivering over real HTTP to a receiver on 127.0.0.1.

Rounds are driven one at a time (``dispatch_once``) so the tests are deterministic;
"time passing" is simulated by making retries due.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import update

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.access import Scope
from productsync.domain.channels import ChannelKind, ChannelStatus, NewChannel
from productsync.domain.deliveries import MAX_ATTEMPTS
from productsync.services import channels, dispatch, pricing, stock
from productsync.store.tables import deliveries
from productsync.store.uow import transaction
from productsync.sync.dispatcher import dispatch_once
from tests.receiver import Receiver


@pytest.fixture
def hub(database) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=2), database)


def _channel_admin(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


async def _channel(hub, world, receiver, settle=True, **over):  # type: ignore[no-untyped-def]
    """A webhook channel to ``receiver``; with ``settle`` its snapshot is delivered and
    forgotten first, so the test sees only what happens next."""
    actor = _channel_admin(world)
    values = dict(
        name="Shop",
        kind=ChannelKind.WEBHOOK,
        owner_partner_id=None,
        url=receiver.url,
        location_ids=(world.loc_a.id,),
    )
    values.update(over)
    channel, secret = await transaction(
        hub.db,
        lambda uow: channels.create_channel(
            uow, actor, NewChannel(**values), targets=hub.settings.target_policy()
        ),
    )
    receiver.secrets.append(secret)
    if settle:
        async with httpx.AsyncClient() as client:
            await _drain(hub, client)
        receiver.accepted.clear()
    return channel


async def _adjust(hub, world, delta, location=None):  # type: ignore[no-untyped-def]
    return await transaction(
        hub.db,
        lambda uow: stock.adjust_stock(
            uow,
            world.actor_a,
            location_id=location or world.loc_a.id,
            product_id=world.product.id,
            delta=Decimal(delta),
        ),
    )


async def _drain(hub, client, rounds=20):  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        if not await dispatch_once(hub, client):
            return


async def _make_due(hub) -> None:  # type: ignore[no-untyped-def]
    """Let time pass: every waiting retry is due now."""

    async def due(uow):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(
            update(deliveries).where(deliveries.c.status == "pending").values(next_attempt_at=uow.now)
        )

    await transaction(hub.db, due)


async def _flush_backlog(hub) -> None:  # type: ignore[no-untyped-def]
    """Deliveries left by earlier tests sharing this database are not this test's business."""
    await transaction(hub.db, dispatch.fan_out)

    async def park(uow):  # type: ignore[no-untyped-def]
        await uow.stock.conn.execute(
            update(deliveries)
            .where(deliveries.c.status.in_(("pending", "in_flight")))
            .values(status="superseded")
        )

    await transaction(hub.db, park)


async def test_changes_reach_the_channel_signed_in_order_and_only_where_they_belong(hub, world) -> None:
    await _flush_backlog(hub)
    with Receiver() as receiver:
        await _channel(hub, world, receiver)
        other = Receiver()
        with other:
            await _channel(hub, world, other, location_ids=(world.loc_hub.id,))  # another location
            await _adjust(hub, world, 5)
            await _adjust(hub, world, 2, location=world.loc_hub.id)
            async with httpx.AsyncClient() as client:
                await _drain(hub, client)
        got = [e["event"]["data"]["level"]["on_hand"] for e in receiver.accepted]
        assert got == ["5"]
        assert [e["event"]["data"]["level"]["on_hand"] for e in other.accepted] == ["2"]
        first = receiver.accepted[0]
        assert first["id"] == first["event"]["id"] and first["event"]["type"] == "productsync.stock.changed"
        assert receiver.refused_signatures == 0


async def test_a_receiver_that_is_down_then_failing_then_slow_ends_with_the_latest_state(hub, world) -> None:
    await _flush_backlog(hub)
    with Receiver() as receiver:
        channel = await _channel(hub, world, receiver)
        receiver.script.extend([(500, 0), (503, 0), (200, 3.0)])  # 3 s > the 2 s timeout: counts as a failure
        async with httpx.AsyncClient() as client:
            await _adjust(hub, world, 10)
            await _drain(hub, client)
            for delta in (-1, -2, -3):  # queued behind the failing first delivery
                await _adjust(hub, world, delta)
            for _ in range(6):
                await _make_due(hub)
                await _drain(hub, client)
        # At-least-once: a delivery that timed out on our side may have arrived anyway and
        # come again; receivers de-duplicate by webhook-id, and so does this check.
        unique = list({e["id"]: e["event"] for e in receiver.accepted}.values())
        on_hand = [e["data"]["level"]["on_hand"] for e in unique]
        assert on_hand[-1] == "4"  # the hub's state
        versions = [e["productversion"] for e in unique]
        assert versions == sorted(versions) and len(set(versions)) == len(versions)
        assert len(on_hand) < 4  # stale intermediate states were coalesced, not replayed one by one
        rows = await transaction(
            hub.db, lambda uow: uow.deliveries.find(channel.id, limit=100), readonly=True
        )
        assert {r.status for r in rows} <= {"delivered", "superseded"}
        assert any(r.status == "superseded" for r in rows)
        assert all(r.latency_ms is not None for r in rows if r.status == "delivered")


async def test_after_the_last_try_a_delivery_is_dead_and_can_be_replayed(hub, world) -> None:
    await _flush_backlog(hub)
    with Receiver() as receiver:
        channel = await _channel(hub, world, receiver)
        receiver.script.extend([(500, 0)] * MAX_ATTEMPTS)
        await _adjust(hub, world, 3)
        async with httpx.AsyncClient() as client:
            for _ in range(MAX_ATTEMPTS + 1):
                await _drain(hub, client)
                await _make_due(hub)
            actor = _channel_admin(world)
            dead = await transaction(
                hub.db,
                lambda uow: dispatch.list_deliveries(
                    uow, actor, channel.id, status="dead", after_id=0, limit=10
                ),
                readonly=True,
            )
            assert len(dead) == 1 and dead[0].attempts == MAX_ATTEMPTS and dead[0].last_status_code == 500
            assert receiver.accepted == []
            assert await transaction(hub.db, lambda uow: dispatch.replay_dead(uow, actor, channel.id)) == 1
            await _drain(hub, client)
        assert [e["event"]["data"]["level"]["on_hand"] for e in receiver.accepted] == ["3"]


async def test_gone_disables_the_channel(hub, world) -> None:
    await _flush_backlog(hub)
    with Receiver() as receiver:
        channel = await _channel(hub, world, receiver)
        receiver.script.append((410, 0))
        await _adjust(hub, world, 1)
        async with httpx.AsyncClient() as client:
            await _drain(hub, client)
        after = await transaction(hub.db, lambda uow: uow.channels.get(channel.id), readonly=True)
        assert after is not None and after.status is ChannelStatus.DISABLED


async def test_price_changes_go_only_to_channels_of_that_price_list(hub, world) -> None:
    from productsync.domain.pricing import PriceEntry, PriceListKind

    await _flush_backlog(hub)
    lists = [
        await transaction(
            hub.db,
            lambda uow: pricing.create_price_list(
                uow,
                world.actor_a,
                name="l",
                currency="EUR",
                kind=PriceListKind.RETAIL,
                region=None,
                owner_partner_id=None,
            ),
        )
        for _ in range(2)
    ]
    with Receiver() as receiver:
        await _channel(hub, world, receiver, price_list_id=lists[0].id)
        for pl in lists:
            await transaction(
                hub.db,
                lambda uow, pl=pl: pricing.put_prices(
                    uow, world.actor_a, pl.id, world.product.id, [PriceEntry(Decimal(1), Decimal("9.90"))]
                ),
            )
        async with httpx.AsyncClient() as client:
            await _drain(hub, client)
        prices = [e["event"] for e in receiver.accepted if e["event"]["type"] == "productsync.price.changed"]
        assert [p["data"]["price_list_id"] for p in prices] == [str(lists[0].id)]


async def test_two_dispatchers_never_deliver_one_event_twice(hub, world) -> None:
    await _flush_backlog(hub)
    with Receiver() as receiver:
        await _channel(hub, world, receiver)
        for i in range(30):
            await _adjust(hub, world, 1, location=world.loc_a.id if i % 2 else world.loc_hub.id)
        # the hub location is not in the channel: only loc_a changes (15) are news for it
        async with httpx.AsyncClient() as a, httpx.AsyncClient() as b:
            for _ in range(10):
                await asyncio.gather(dispatch_once(hub, a), dispatch_once(hub, b))
        ids = [e["id"] for e in receiver.accepted]
        assert len(ids) == len(set(ids)) >= 1
        assert receiver.accepted[-1]["event"]["data"]["level"]["on_hand"] == "15"


async def test_channel_status_reports_queue_lag_and_latency(hub, world) -> None:
    await _flush_backlog(hub)
    with Receiver() as receiver:
        channel = await _channel(hub, world, receiver)
        actor = _channel_admin(world)
        settled = await transaction(
            hub.db, lambda uow: dispatch.channel_health(uow, actor, channel.id), readonly=True
        )
        snapshot = settled.delivered  # the new channel's backfill
        assert snapshot > 0 and settled.pending == 0
        await _adjust(hub, world, 4)
        await transaction(hub.db, dispatch.fan_out)
        waiting = await transaction(
            hub.db, lambda uow: dispatch.channel_health(uow, actor, channel.id), readonly=True
        )
        assert waiting.pending == 1 and waiting.delivered == snapshot and waiting.lag_seconds >= 0
        async with httpx.AsyncClient() as client:
            await _drain(hub, client)
        done = await transaction(
            hub.db, lambda uow: dispatch.channel_health(uow, actor, channel.id), readonly=True
        )
        assert (done.pending, done.delivered, done.dead, done.lag_seconds) == (0, snapshot + 1, 0, 0.0)
        assert done.latency_p50_ms is not None and done.latency_p50_ms >= 0
        assert done.deliveries_per_second > 0 and done.channel.last_success_at is not None


async def test_an_idle_dispatcher_sees_no_work_until_something_changes(hub, world) -> None:
    await _flush_backlog(hub)
    with Receiver() as receiver:
        await _channel(hub, world, receiver)
        assert await transaction(hub.db, dispatch.has_work, readonly=True) is False
        await _adjust(hub, world, 1)
        assert await transaction(hub.db, dispatch.has_work, readonly=True) is True
        async with httpx.AsyncClient() as client:
            await _drain(hub, client)
        assert await transaction(hub.db, dispatch.has_work, readonly=True) is False
        assert len(receiver.accepted) == 1


async def test_a_new_channel_gets_a_snapshot_then_live_changes_with_no_gap(hub, world) -> None:
    await _flush_backlog(hub)
    await _adjust(hub, world, 5)  # before the channel exists
    with Receiver() as receiver:
        channel = await _channel(hub, world, receiver, settle=False)
        await _adjust(hub, world, 2)  # after it exists, before any dispatch round
        async with httpx.AsyncClient() as client:
            await _drain(hub, client)
            state = receiver.latest()
            level_key = ("productsync.stock.changed", f"{world.product.sku}@{world.loc_a.id}")
            assert state[level_key]["data"]["level"]["on_hand"] == "7"
            product_key = ("productsync.product.updated", f"{world.product.sku}@")
            assert state[product_key]["data"]["product"]["id"] == str(world.product.id)
            # Only its slice: partner A's products at loc_a (the hub location is not one of its own).
            assert all(k[1].endswith(f"@{world.loc_a.id}") for k in state if "stock" in k[0])
            assert {
                e["event"]["data"]["product"]["owner_partner_id"]
                for e in receiver.accepted
                if e["event"]["type"].endswith("product.updated")
            } == {str(world.a.id)}

            # Paused, it misses changes; re-enabled, a fresh snapshot brings it level.
            actor = _channel_admin(world)
            await transaction(
                hub.db,
                lambda uow: channels.update_channel(
                    uow, actor, channel.id, {"status": "paused"}, expected_version=None
                ),
            )
            await _adjust(hub, world, -3)
            await _drain(hub, client)
            assert receiver.latest()[level_key]["data"]["level"]["on_hand"] == "7"
            await transaction(
                hub.db,
                lambda uow: channels.update_channel(
                    uow, actor, channel.id, {"status": "enabled"}, expected_version=None
                ),
            )
            await _drain(hub, client)
            assert receiver.latest()[level_key]["data"]["level"]["on_hand"] == "4"
    # Directed events stay out of the public feed.
    from productsync.services import logs

    feed = await transaction(
        hub.db, lambda uow: logs.list_events(uow, world.admin, limit=1000), readonly=True
    )
    assert all(e["origin"] != "snapshot" for _, e in feed)
