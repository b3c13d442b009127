"""One connector per channel kind, behind one ``send``: the dispatcher does not care how
a channel is reached, only whether the try succeeded (an ``Attempt``).

Every connector that opens a connection to a channel's URL goes through one
``TargetGuard`` (the SSRF rule, with the connection pinned to the judged address), and
every connector drops its cached connection state for a channel when a try fails without
an answer, so the next try (or ``probe``) starts afresh.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp
import httpx

from productsync.config import Settings
from productsync.domain.channels import Channel, ChannelKind, exchange_name
from productsync.services.dispatch import Attempt, Claimed
from productsync.store.database import Database
from productsync.sync import storefronts, webhook
from productsync.sync.guard import Resolve, TargetGuard, TargetRefused, pinned_client, pinned_session
from productsync.sync.pools import OriginPools, host_port, origin
from productsync.sync.rabbitmq import RabbitConnector

PROBE_TIMEOUT = 5.0


class Connector(Protocol):
    async def send(self, claimed: Claimed) -> Attempt: ...

    async def probe(self, channel: Channel) -> bool: ...

    async def reset(self, channel: Channel) -> None: ...

    async def aclose(self) -> None: ...


async def reachable(guard: TargetGuard, url: str, *, timeout: float) -> bool:
    """Whether something accepts a TCP connection at the URL's judged address: the cheap
    half of a probe (the real half is the next delivery, sent early)."""
    host, port = host_port(url)
    try:
        addresses = await guard.addresses(host, port)
    except TargetRefused:
        return False
    for address in addresses:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(address, port), timeout)
        except (OSError, TimeoutError):
            continue
        writer.close()
        return True
    guard.forget(host, port)  # nobody there: look the name up again next time
    return False


async def _close_session(session: aiohttp.ClientSession) -> None:
    await session.close()


async def _close_client(client: httpx.AsyncClient) -> None:
    await client.aclose()


class WebhookConnector:
    """One pinned aiohttp session per receiver origin (a pool kept alive between deliveries)."""

    def __init__(self, settings: Settings, guard: TargetGuard) -> None:
        self._timeout = settings.webhook_timeout_seconds
        self._guard = guard
        self.sessions: OriginPools[aiohttp.ClientSession] = OriginPools(
            lambda: pinned_session(guard), _close_session
        )

    async def send(self, claimed: Claimed) -> Attempt:
        return await webhook.send(self.sessions, self._guard, claimed, timeout=self._timeout)

    async def probe(self, channel: Channel) -> bool:
        return await reachable(self._guard, channel.url or "", timeout=min(self._timeout, PROBE_TIMEOUT))

    async def reset(self, channel: Channel) -> None:
        await self.sessions.forget(origin(channel.url or ""))
        self._guard.forget(*host_port(channel.url or ""))

    async def aclose(self) -> None:
        await self.sessions.aclose()


class StorefrontConnector:
    """Shopify (GraphQL Admin API) and WooCommerce (REST v3) platforms, one pinned httpx
    client per platform origin."""

    def __init__(self, settings: Settings, guard: TargetGuard, *, db: Database | None = None) -> None:
        self._timeout = settings.webhook_timeout_seconds
        self._guard = guard
        self._shopify = storefronts.ShopifyState(db)
        self.clients: OriginPools[httpx.AsyncClient] = OriginPools(
            lambda: pinned_client(guard), _close_client
        )

    async def send(self, claimed: Claimed) -> Attempt:
        return await storefronts.send(
            self.clients, self._guard, claimed, shopify=self._shopify, timeout=self._timeout
        )

    async def probe(self, channel: Channel) -> bool:
        return await reachable(self._guard, channel.url or "", timeout=min(self._timeout, PROBE_TIMEOUT))

    async def reset(self, channel: Channel) -> None:
        await self.clients.forget(origin(channel.url or ""))
        self._guard.forget(*host_port(channel.url or ""))

    async def aclose(self) -> None:
        await self.clients.aclose()


class BrokerConnector:
    """The RabbitMQ connector as a ``Connector``: one broker connection for all channels."""

    def __init__(self, rabbit: RabbitConnector) -> None:
        self.rabbit = rabbit

    async def send(self, claimed: Claimed) -> Attempt:
        return await self.rabbit.send(claimed)

    async def probe(self, channel: Channel) -> bool:
        return await self.rabbit.probe(exchange_name(channel))

    async def reset(self, channel: Channel) -> None:
        await self.rabbit.aclose()

    async def aclose(self) -> None:
        await self.rabbit.aclose()


class Connectors:
    """The connectors of one dispatcher loop (connections live as long as it). ``resolve``
    replaces the system resolver (tests stub it; nothing else should)."""

    def __init__(
        self, settings: Settings, *, resolve: Resolve | None = None, db: Database | None = None
    ) -> None:
        self.guard = TargetGuard(settings.target_policy(), resolve=resolve)
        self.webhooks = WebhookConnector(settings, self.guard)
        # ``db``: where the Shopify connector keeps the quantities it knows shops hold.
        self.storefronts = StorefrontConnector(settings, self.guard, db=db)
        self.rabbit = RabbitConnector(settings.amqp_url, timeout=min(settings.webhook_timeout_seconds, 15.0))
        broker = BrokerConnector(self.rabbit)
        self._by_kind: dict[ChannelKind, Connector] = {
            ChannelKind.WEBHOOK: self.webhooks,
            ChannelKind.RABBITMQ: broker,
            ChannelKind.SHOPIFY: self.storefronts,
            ChannelKind.WOOCOMMERCE: self.storefronts,
        }

    async def send(self, claimed: Claimed) -> Attempt:
        connector = self._by_kind.get(claimed.channel.kind)
        if connector is None:
            return Attempt(False, error=f"no connector for {claimed.channel.kind.value} channels")
        try:
            return await connector.send(claimed)
        except Exception:
            # A connector bug or an exception it did not expect: whatever it cached for
            # this channel is suspect, so the next try connects afresh.
            await connector.reset(claimed.channel)
            raise

    async def probe(self, channel: Channel) -> bool:
        """Whether the channel's backend accepts connections again."""
        connector = self._by_kind.get(channel.kind)
        return connector is not None and await connector.probe(channel)

    async def aclose(self) -> None:
        await self.rabbit.aclose()
        await self.webhooks.aclose()
        await self.storefronts.aclose()
