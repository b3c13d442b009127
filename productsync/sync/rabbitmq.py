"""The RabbitMQ connector: CloudEvents JSON published to a durable topic exchange.

Routing key ``<type without prefix>.<sku>`` (``stock.changed.NC-GEL-001``), persistent
messages, ``message_id`` = the event's stable id (consumers de-duplicate on it), and
publisher confirms: a delivery counts as done only when the broker has taken the
message. A message no queue is bound for is dropped by the broker, as topic
exchanges do; bind a durable queue to keep messages while consumers are away.

Any failure drops the cached connection, channel and exchanges, whatever its type: after a
broker restart aiormq raises ``ChannelInvalidStateError`` (a ``RuntimeError``, not an
``AMQPError``) on the dead channel, and keeping that channel would fail every later try
until the process restarts. The next try connects afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import json

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange

from productsync.domain.channels import exchange_name, routing_key
from productsync.services.dispatch import Attempt, Claimed

CONTENT_TYPE = "application/cloudevents+json"


class RabbitConnector:
    """One connection and channel per process, opened on first use and again after a failure."""

    def __init__(self, url: str, *, timeout: float) -> None:
        self._url = url
        self._timeout = timeout
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchanges: dict[str, AbstractExchange] = {}
        self._lock = asyncio.Lock()
        self._generation = 0  # bumped by every new connection
        self.resets = 0  # cached state dropped after a failure (tests and logs read it)

    async def _exchange(self, name: str) -> tuple[AbstractExchange, int]:
        """The declared exchange and the generation of the connection it lives on."""
        async with self._lock:
            try:
                if (
                    self._connection is None
                    or self._connection.is_closed
                    or self._channel is None
                    or self._channel.is_closed
                ):
                    await self._drop()
                    self._generation += 1
                    self._connection = await aio_pika.connect(self._url, timeout=self._timeout)
                    self._channel = await self._connection.channel(publisher_confirms=True)
                if name not in self._exchanges:
                    self._exchanges[name] = await self._channel.declare_exchange(
                        name, aio_pika.ExchangeType.TOPIC, durable=True, timeout=self._timeout
                    )
                return self._exchanges[name], self._generation
            except Exception:
                if self._connection is not None:
                    self.resets += 1
                await self._drop()  # a half-opened connection or a refused channel is of no use
                raise

    async def send(self, claimed: Claimed) -> Attempt:
        event = claimed.event
        message = aio_pika.Message(
            json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode(),
            content_type=CONTENT_TYPE,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=str(claimed.event_id),
            type=str(event["type"]),
            app_id="productsync",
            headers={
                "ce-subject": str(event.get("subject", "")),
                "productversion": event.get("productversion"),
            },
        )
        generation: int | None = None
        try:
            exchange, generation = await self._exchange(exchange_name(claimed.channel))
            await exchange.publish(
                message,
                routing_key=routing_key(str(event["type"]), str(event.get("subject", ""))),
                mandatory=False,
                timeout=self._timeout,
            )
        except Exception as exc:  # noqa: BLE001 - whatever broke, the cached state is suspect
            if generation is not None:
                await self._reset(generation)
            return Attempt(False, error=f"broker: {type(exc).__name__}: {exc}"[:300], unreachable=True)
        return Attempt(True)

    async def probe(self, exchange: str) -> bool:
        """Whether the broker takes work again (connect, open a channel, declare the
        exchange); cheap when the connection is already up."""
        try:
            await self._exchange(exchange)
        except Exception:  # noqa: BLE001 - any failure means not yet (and the state is dropped)
            return False
        return True

    async def _reset(self, generation: int) -> None:
        """Drop the connection a failed publish used, unless a newer one replaced it
        already (hundreds of publishes fail together; only the first must reconnect)."""
        async with self._lock:
            if generation == self._generation and self._connection is not None:
                self.resets += 1
                await self._drop()

    async def _drop(self) -> None:
        connection, self._connection, self._channel, self._exchanges = self._connection, None, None, {}
        if connection is not None and not connection.is_closed:
            # Closing a broken connection may fail or hang; it is gone either way.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), self._timeout)

    async def aclose(self) -> None:
        async with self._lock:
            await self._drop()
