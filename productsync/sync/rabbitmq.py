"""The RabbitMQ connector: CloudEvents JSON published to a durable topic exchange.

Routing key ``<type without prefix>.<sku>`` (``stock.changed.NC-GEL-001``), persistent
messages, ``message_id`` = the event's stable id (consumers de-duplicate on it), and
publisher confirms: a delivery counts as done only when the broker has taken the
message. A message no queue is bound for is dropped by the broker, as topic
exchanges do; bind a durable queue to keep messages while consumers are away.
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

    async def _exchange(self, name: str) -> AbstractExchange:
        async with self._lock:
            if self._connection is None or self._connection.is_closed or self._channel is None:
                await self._drop()
                self._connection = await aio_pika.connect(self._url, timeout=self._timeout)
                self._channel = await self._connection.channel(publisher_confirms=True)
            if name not in self._exchanges:
                self._exchanges[name] = await self._channel.declare_exchange(
                    name, aio_pika.ExchangeType.TOPIC, durable=True, timeout=self._timeout
                )
            return self._exchanges[name]

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
        try:
            exchange = await self._exchange(exchange_name(claimed.channel))
            await exchange.publish(
                message,
                routing_key=routing_key(str(event["type"]), str(event.get("subject", ""))),
                mandatory=False,
                timeout=self._timeout,
            )
        except (TimeoutError, aio_pika.exceptions.AMQPError, OSError, ConnectionError) as exc:
            async with self._lock:
                await self._drop()
            return Attempt(False, error=f"broker: {type(exc).__name__}: {exc}"[:300])
        return Attempt(True)

    async def _drop(self) -> None:
        connection, self._connection, self._channel, self._exchanges = self._connection, None, None, {}
        if connection is not None and not connection.is_closed:
            # Closing a broken connection may fail; it is gone either way.
            with contextlib.suppress(Exception):
                await connection.close()

    async def aclose(self) -> None:
        async with self._lock:
            await self._drop()
