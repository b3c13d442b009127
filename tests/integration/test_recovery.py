"""Each connector's backend goes away in the middle of a burst of stock changes and comes
back; the real dispatcher loop runs throughout. Every product's final state must arrive,
and promptly once the backend is back: the burst ends while the backend is away, so the
last deliveries sit in a back-off of 24-36 s (their second failure) and only probing gets
them out sooner than that.

RabbitMQ is the real broker at 127.0.0.1:5672 (``rabbitmqctl stop_app`` / ``start_app``;
the broker is always started again and its port awaited, whatever happens). The webhook
receiver and the WooCommerce-shaped platform are local servers whose port is closed and
later opened again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aio_pika
import pytest

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.access import Scope
from productsync.domain.catalog import NewProduct
from productsync.domain.channels import ChannelKind, NewChannel
from productsync.services import catalog, channels, stock
from productsync.store.uow import transaction
from productsync.sync import dispatcher
from productsync.sync.connectors import Connectors
from productsync.sync.rabbitmq import RabbitConnector
from tests.conftest import ref
from tests.integration.test_dispatch import _flush_backlog
from tests.platforms import FakeWooCommerce
from tests.receiver import Receiver
from tests.services import unavailable

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
PRODUCTS = 4
ROUNDS = 12  # adjustments per product, spread over the burst
AWAY_AFTER_BURST = 7.5  # > the first retry (5 s + 20 %): the last deliveries fail twice
PROMPT = 12.0  # seconds after the backend is back; without probing it would be >= 24 s


@pytest.fixture
def hub(database) -> Hub:  # type: ignore[no-untyped-def]
    return Hub(Settings(webhook_allow_loopback=True, webhook_timeout_seconds=2, amqp_url=AMQP_URL), database)


def _admin(world):  # type: ignore[no-untyped-def]
    return replace(world.actor_a, scopes=frozenset({*world.actor_a.scopes, Scope.CHANNELS_ADMIN}))


async def _products(hub: Hub, world: Any) -> list[Any]:
    async def make(uow):  # type: ignore[no-untyped-def]
        sports = await uow.categories.get_by_code("sports")
        return [
            await catalog.create_product(
                uow,
                world.admin,
                NewProduct(
                    sku=ref("SE-"),
                    name=f"Racket {i}",
                    category_id=sports.id,
                    owner_partner_id=world.a.id,
                    attributes={"size": "L2", "material": "carbon"},
                ),
            )
            for i in range(PRODUCTS)
        ]

    return list(await transaction(hub.db, make))


async def _channel(hub: Hub, world: Any, kind: ChannelKind, **values: Any) -> Any:
    credentials = values.pop("credentials", None)
    new = NewChannel(
        name=kind.value, kind=kind, owner_partner_id=None, location_ids=(world.loc_a.id,), **values
    )
    channel, secret = await transaction(
        hub.db,
        lambda uow: channels.create_channel(
            uow, _admin(world), new, credentials=credentials, targets=hub.settings.target_policy()
        ),
    )
    return channel, secret


async def _burst(
    hub: Hub, world: Any, products: list[Any], *, away: Callable[[], Awaitable[None]]
) -> dict[str, int]:
    """ROUNDS adjustments of every product; the backend goes away a third of the way in.
    Returns each product's final on-hand by SKU."""
    final = {p.sku: 0 for p in products}
    for round_ in range(ROUNDS):
        if round_ == ROUNDS // 3:
            await away()
        for p in products:
            await transaction(
                hub.db,
                lambda uow, p=p: stock.adjust_stock(
                    uow, world.actor_a, location_id=world.loc_a.id, product_id=p.id, delta=Decimal(1)
                ),
            )
            final[p.sku] += 1
        await asyncio.sleep(0.15)
    return final


@contextlib.asynccontextmanager
async def _dispatching(hub: Hub) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(dispatcher.run(hub, stop=stop, idle_seconds=0.02))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def _until(check: Callable[[], Awaitable[bool]], seconds: float) -> float | None:
    """Seconds until ``check`` holds, or None if it did not within ``seconds``."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if await check():
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


# --- RabbitMQ: the real broker's application is stopped and started ---


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def _broker_port_open() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", 5672), timeout=1):
        return True
    return False


def _start_broker() -> None:
    """start_app, then wait until the broker accepts AMQP connections again."""
    _rabbitmqctl("start_app")
    deadline = time.monotonic() + 60
    while not _broker_port_open() and time.monotonic() < deadline:
        time.sleep(0.2)


@contextlib.contextmanager
def _broker_always_restarted() -> Iterator[None]:
    try:
        yield
    finally:
        if not _broker_port_open():
            _start_broker()


async def test_a_rabbitmq_channel_recovers_from_a_broker_restart_mid_burst(hub, world) -> None:  # type: ignore[no-untyped-def]
    if shutil.which("rabbitmqctl") is None:
        unavailable("rabbitmqctl (to restart the broker)", FileNotFoundError("rabbitmqctl"))
    try:
        consumer = await aio_pika.connect(AMQP_URL, timeout=5)
    except Exception as exc:  # noqa: BLE001 - any failure to reach the broker is reported the same way
        unavailable("RabbitMQ at 127.0.0.1:5672", exc)
    await _flush_backlog(hub)
    products = await _products(hub, world)
    exchange_name = f"test-recovery-{uuid.uuid4().hex[:8]}"
    queue_name = f"{exchange_name}-q"
    async with consumer:  # a durable queue keeps the messages over the restart
        ch = await consumer.channel()
        exchange = await ch.declare_exchange(exchange_name, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await ch.declare_queue(queue_name, durable=True)
        await queue.bind(exchange, routing_key="stock.changed.#")
    await _channel(hub, world, ChannelKind.RABBITMQ, config={"exchange": exchange_name})
    latest: dict[str, dict[str, Any]] = {}
    with _broker_always_restarted():
        async with _dispatching(hub):
            final = await _burst(
                hub, world, products, away=lambda: asyncio.to_thread(_rabbitmqctl, "stop_app")
            )
            await asyncio.sleep(AWAY_AFTER_BURST)
            await asyncio.to_thread(_start_broker)
            reader = await aio_pika.connect(AMQP_URL, timeout=10)
            async with reader:
                rch = await reader.channel()
                rqueue = await rch.declare_queue(queue_name, durable=True, passive=True)

                async def arrived() -> bool:
                    while (message := await rqueue.get(no_ack=True, fail=False, timeout=5)) is not None:
                        event = json.loads(message.body)
                        sku = event["subject"]
                        if sku not in latest or event["productversion"] >= latest[sku]["productversion"]:
                            latest[sku] = event
                    return all(
                        sku in latest and latest[sku]["data"]["level"]["on_hand"] == str(n)
                        for sku, n in final.items()
                    )

                took = await _until(arrived, PROMPT)
                await rqueue.delete(if_unused=False, if_empty=False)
                await (await rch.get_exchange(exchange_name)).delete()
    assert {sku: e["data"]["level"]["on_hand"] for sku, e in latest.items()} == {
        sku: str(n) for sku, n in final.items()
    }
    assert took is not None, f"final states not all there {PROMPT} s after the broker was back"
    print(f"rabbitmq: every final state arrived {took:.1f} s after the broker took connections again")


# --- A webhook receiver and a WooCommerce-shaped platform whose port closes and reopens ---


def _start(owner: Any) -> None:
    owner.thread.start()
    owner.running = True


async def _stop(owner: Any) -> None:
    """The server goes away: its port is closed (connections are refused)."""
    if getattr(owner, "running", False):
        owner.running = False
        await asyncio.to_thread(owner.server.shutdown)
    owner.server.server_close()


@contextlib.contextmanager
def _running(*owners: Any) -> Iterator[None]:
    try:
        yield
    finally:
        for owner in owners:
            if getattr(owner, "running", False):
                owner.server.shutdown()
            owner.server.server_close()


def _serve_on(owner: Any, port: int) -> None:
    """Move a fresh (not yet started) test server onto ``port`` (the one that went away)."""
    old = owner.server
    owner.server = type(old)(("127.0.0.1", port), old.RequestHandlerClass)
    old.server_close()
    owner.thread = threading.Thread(target=owner.server.serve_forever, daemon=True)


async def test_a_webhook_channel_recovers_when_its_receiver_comes_back_mid_burst(hub, world) -> None:  # type: ignore[no-untyped-def]
    await _flush_backlog(hub)
    products = await _products(hub, world)
    first = Receiver()
    _start(first)
    port = first.server.server_address[1]
    _, secret = await _channel(hub, world, ChannelKind.WEBHOOK, url=f"http://127.0.0.1:{port}/hooks")
    first.secrets.append(secret)
    second = Receiver()
    second.secrets.append(secret)

    with _running(first, second):
        async with _dispatching(hub):
            final = await _burst(hub, world, products, away=lambda: _stop(first))
            await asyncio.sleep(AWAY_AFTER_BURST)
            _serve_on(second, port)  # the same port, open again
            _start(second)

            async def arrived() -> bool:
                seen = _latest_levels([*first.accepted, *second.accepted])
                return all(seen.get(sku) == str(n) for sku, n in final.items())

            took = await _until(arrived, PROMPT)
    assert _latest_levels([*first.accepted, *second.accepted]) == {sku: str(n) for sku, n in final.items()}
    assert took is not None, f"final states not all there {PROMPT} s after the receiver was back"
    assert second.refused_signatures == 0


def _latest_levels(accepted: list[dict[str, Any]]) -> dict[str, str]:
    best: dict[str, dict[str, Any]] = {}
    for item in accepted:
        event = item["event"]
        if event["type"] != "productsync.stock.changed":
            continue
        if (
            event["subject"] not in best
            or event["productversion"] >= best[event["subject"]]["productversion"]
        ):
            best[event["subject"]] = event
    return {sku: e["data"]["level"]["on_hand"] for sku, e in best.items()}


async def test_a_storefront_channel_recovers_when_the_platform_comes_back_mid_burst(hub, world) -> None:  # type: ignore[no-untyped-def]
    await _flush_backlog(hub)
    products = await _products(hub, world)
    first = FakeWooCommerce(key="ck", secret="cs")
    _start(first)
    port = first.server.server_address[1]
    channel, _ = await _channel(
        hub,
        world,
        ChannelKind.WOOCOMMERCE,
        url=f"http://127.0.0.1:{port}",
        credentials={"consumer_key": "ck", "consumer_secret": "cs"},
    )
    ids = {p.sku: str(100 + i) for i, p in enumerate(products)}
    await transaction(
        hub.db,
        lambda uow: channels.upsert_mappings(
            uow,
            _admin(world),
            channel.id,
            [channels.MappingIn(ids[p.sku], product_id=p.id) for p in products],
        ),
    )
    second = FakeWooCommerce(key="ck", secret="cs")
    for external in ids.values():
        first.add_product(external)
        second.add_product(external)

    with _running(first, second):
        async with _dispatching(hub):
            final = await _burst(hub, world, products, away=lambda: _stop(first))
            await asyncio.sleep(AWAY_AFTER_BURST)
            _serve_on(second, port)  # the same port, open again
            _start(second)

            async def arrived() -> bool:
                return all(second.products[ids[sku]].get("stock_quantity") == n for sku, n in final.items())

            took = await _until(arrived, PROMPT)
    assert {sku: second.products[ids[sku]].get("stock_quantity") for sku in final} == final
    assert took is not None, f"final states not all there {PROMPT} s after the platform was back"


# --- Any failure drops the broker connection (the bug: a RuntimeError kept a dead channel) ---


async def test_a_rabbitmq_failure_of_any_type_drops_the_cached_connection(hub, world) -> None:  # type: ignore[no-untyped-def]
    """aiormq's ChannelInvalidStateError is a RuntimeError, not an AMQPError: it used to
    escape the connector and leave the dead channel cached for every later try."""
    from aiormq.exceptions import ChannelInvalidStateError

    from productsync.services.dispatch import Claimed

    rabbit = RabbitConnector(AMQP_URL, timeout=5)
    channel, _ = await _channel(
        hub, world, ChannelKind.RABBITMQ, config={"exchange": f"t-{uuid.uuid4().hex[:8]}"}
    )
    event_id = uuid.uuid4()
    event = {"id": str(event_id), "type": "productsync.stock.changed", "subject": "SE-1", "data": {}}
    claimed = Claimed(1, channel, [], event_id, event, datetime.now(UTC), 1)
    try:
        try:
            assert (await rabbit.send(claimed)).ok
        except Exception as exc:  # noqa: BLE001
            unavailable("RabbitMQ at 127.0.0.1:5672", exc)
        dead = rabbit._channel
        assert dead is not None

        async def broken(*args: Any, **kwargs: Any) -> None:
            raise ChannelInvalidStateError("writer is None")

        for exchange in rabbit._exchanges.values():
            exchange.publish = broken  # type: ignore[method-assign]
        failed = await rabbit.send(claimed)
        assert not failed.ok and failed.unreachable and "ChannelInvalidStateError" in failed.error
        again = await rabbit.send(claimed)
        assert again.ok and rabbit._channel is not dead and rabbit.resets == 1
    finally:
        await rabbit.aclose()
        async with await aio_pika.connect(AMQP_URL, timeout=5) as conn:
            await (await (await conn.channel()).get_exchange(channel.config["exchange"])).delete()


async def test_connectors_probe_each_kind_and_say_no_while_the_backend_is_away(hub, world) -> None:  # type: ignore[no-untyped-def]
    connectors = Connectors(hub.settings)
    away = Hub(hub.settings.model_copy(update={"amqp_url": "amqp://guest:guest@127.0.0.1:1/"}), hub.db)
    away_connectors = Connectors(away.settings)
    try:
        with Receiver() as receiver:
            webhook_channel, _ = await _channel(hub, world, ChannelKind.WEBHOOK, url=receiver.url)
            assert await connectors.probe(webhook_channel)
        assert not await connectors.probe(webhook_channel)  # its port is closed now
        bus, _ = await _channel(
            hub, world, ChannelKind.RABBITMQ, config={"exchange": f"t-{uuid.uuid4().hex[:8]}"}
        )
        assert not await away_connectors.probe(bus)
    finally:
        await connectors.aclose()
        await away_connectors.aclose()
