"""One connector per channel kind, behind one ``send``: the dispatcher does not care how
a channel is reached, only whether the try succeeded (an ``Attempt``)."""

from __future__ import annotations

from typing import Protocol

import aiohttp
import httpx

from productsync.config import Settings
from productsync.domain.channels import ChannelKind
from productsync.services.dispatch import Attempt, Claimed
from productsync.sync import storefronts, webhook
from productsync.sync.rabbitmq import RabbitConnector


class Connector(Protocol):
    async def send(self, claimed: Claimed) -> Attempt: ...


class WebhookConnector:
    """Owns one aiohttp session (a connection pool kept alive between deliveries)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._session: aiohttp.ClientSession | None = None

    async def send(self, claimed: Claimed) -> Attempt:
        s = self._settings
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=256, limit_per_host=64, ttl_dns_cache=10)
            self._session = aiohttp.ClientSession(connector=connector)
        return await webhook.send(
            self._session,
            claimed,
            timeout=s.webhook_timeout_seconds,
            allow_loopback=s.webhook_allow_loopback,
            allow_private=s.webhook_allow_private,
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class StorefrontConnector:
    """Shopify- and WooCommerce-style platforms over their documented REST shapes."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings, kind: ChannelKind) -> None:
        self._client = client
        self._settings = settings
        self._kind = kind
        self._variants = storefronts.VariantCache()

    async def send(self, claimed: Claimed) -> Attempt:
        s = self._settings
        return await storefronts.send(
            self._client,
            claimed,
            variants=self._variants,
            timeout=s.webhook_timeout_seconds,
            allow_loopback=s.webhook_allow_loopback,
            allow_private=s.webhook_allow_private,
        )


class Connectors:
    """The connectors of one dispatcher loop (the broker connection lives as long as it)."""

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        self.webhooks = WebhookConnector(settings)
        self.rabbit = RabbitConnector(settings.amqp_url, timeout=min(settings.webhook_timeout_seconds, 15.0))
        self._by_kind: dict[ChannelKind, Connector] = {
            ChannelKind.WEBHOOK: self.webhooks,
            ChannelKind.RABBITMQ: self.rabbit,
            ChannelKind.SHOPIFY: StorefrontConnector(client, settings, ChannelKind.SHOPIFY),
            ChannelKind.WOOCOMMERCE: StorefrontConnector(client, settings, ChannelKind.WOOCOMMERCE),
        }

    async def send(self, claimed: Claimed) -> Attempt:
        connector = self._by_kind.get(claimed.channel.kind)
        if connector is None:
            return Attempt(False, error=f"no connector for {claimed.channel.kind.value} channels")
        return await connector.send(claimed)

    async def aclose(self) -> None:
        await self.rabbit.aclose()
        await self.webhooks.aclose()
