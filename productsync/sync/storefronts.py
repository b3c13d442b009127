"""Storefront connectors: push the channel's view of a product to a Shopify- or
WooCommerce-style platform in the request shapes their REST APIs document.

- Shopify Admin REST (``config.api_version``, default 2024-10; ``X-Shopify-Access-Token``
  from the channel's credentials ``access_token``): stock via
  ``POST inventory_levels/set.json`` at ``config.location_id``, prices via
  ``PUT variants/{id}.json``, content via ``PUT products/{id}.json``. The channel's
  mappings name Shopify *variant* ids; each variant's ``inventory_item_id`` and
  ``product_id`` are read once (``GET variants/{id}.json``) and remembered.
- WooCommerce REST v3 (HTTP Basic with ``consumer_key``/``consumer_secret``, as the
  API documents for HTTPS): ``PUT /wp-json/wc/v3/products/{id}`` (or
  ``products/{id}/variations/{vid}`` for mappings written ``id/vid``).

A product the channel has no mapping for is not on that platform: nothing is sent,
and the delivery is done. 429/5xx are retried (``Retry-After`` honoured); 4xx other
than 408/429 are recorded as failures with the platform's answer.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from productsync.domain.channels import ChannelKind
from productsync.domain.deliveries import parse_retry_after
from productsync.domain.projection import PlatformRequest, shopify_requests, woocommerce_requests
from productsync.services.dispatch import Attempt, Claimed
from productsync.sync.guard import TargetGuard, TargetRefused, httpx_target
from productsync.sync.pools import OriginPools, origin

SHOPIFY_API_VERSION = "2024-10"
USER_AGENT = "productsync-connector/1"


class PlatformError(Exception):
    def __init__(self, attempt: Attempt) -> None:
        super().__init__(attempt.error)
        self.attempt = attempt


def _failure(response: httpx.Response) -> Attempt:
    code = response.status_code
    retry_after = parse_retry_after(response.headers.get("retry-after"), datetime.now(UTC))
    return Attempt(
        False,
        status_code=code,
        error=f"HTTP {code}: {response.text[:200]}",
        retry_after=retry_after,
        gone=code == 410,
    )


async def _call(
    client: httpx.AsyncClient,
    base: str,
    request: PlatformRequest,
    *,
    headers: dict[str, str],
    auth: tuple[str, str] | None,
    timeout: float,
) -> httpx.Response:
    try:
        response = await client.request(
            request.method,
            base.rstrip("/") + request.path,
            json=request.body if request.method != "GET" else None,
            headers={"user-agent": USER_AGENT, **headers},
            auth=auth,
            timeout=timeout,
        )
    except TargetRefused as exc:  # the pinned transport refused: the verdict changed since the check
        raise PlatformError(Attempt(False, error=exc.reason, unreachable=exc.unreachable)) from exc
    except httpx.TimeoutException as exc:
        attempt = Attempt(False, error=f"no answer within {timeout:g} s", unreachable=True)
        raise PlatformError(attempt) from exc
    except httpx.HTTPError as exc:  # transport errors: nothing came back
        error = f"{type(exc).__name__}: {exc}"[:300]
        raise PlatformError(Attempt(False, error=error, unreachable=True)) from exc
    if not 200 <= response.status_code < 300:
        raise PlatformError(_failure(response))
    return response


class VariantCache:
    """Shopify variant records (inventory item and product ids) by (shop URL, variant id)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str], dict[str, Any]] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    async def get(
        self,
        client: httpx.AsyncClient,
        base: str,
        variant_id: str,
        *,
        version: str,
        headers: dict[str, str],
        timeout: float,
    ) -> dict[str, Any]:
        key = (base, variant_id)
        async with self._locks.setdefault(key, asyncio.Lock()):  # one lookup, however many ask
            return await self._lookup(
                client, base, variant_id, key, version=version, headers=headers, timeout=timeout
            )

    async def _lookup(
        self,
        client: httpx.AsyncClient,
        base: str,
        variant_id: str,
        key: tuple[str, str],
        *,
        version: str,
        headers: dict[str, str],
        timeout: float,
    ) -> dict[str, Any]:
        if key not in self._known:
            request = PlatformRequest("GET", f"/admin/api/{version}/variants/{variant_id}.json", {})
            response = await _call(client, base, request, headers=headers, auth=None, timeout=timeout)
            variant = response.json().get("variant")
            if not isinstance(variant, dict) or "inventory_item_id" not in variant:
                raise PlatformError(Attempt(False, error=f"variant {variant_id}: unexpected answer"))
            self._known[key] = variant
        return self._known[key]


async def send(
    clients: OriginPools[httpx.AsyncClient],
    guard: TargetGuard,
    claimed: Claimed,
    *,
    variants: VariantCache,
    timeout: float,
) -> Attempt:
    """One delivery's requests through the platform origin's pinned client; a transport
    failure retires that client and forgets the platform's addresses."""
    channel, view = claimed.channel, claimed.view
    if view is None or not view.external_ids:
        return Attempt(True, error="not mapped on this channel: nothing to send")
    base = channel.url or ""
    try:
        host, port = httpx_target(base)  # the host httpx connects to, not urllib's reading
        await guard.addresses(host, port)
    except TargetRefused as exc:
        return Attempt(False, error=exc.reason, unreachable=exc.unreachable)
    key = origin(base)
    async with clients.lease(key) as lease:
        attempt = await _send(lease.client, claimed, base, variants=variants, timeout=timeout)
        if attempt.unreachable:
            clients.retire(key, lease)
            guard.forget(host, port)
    return attempt


async def _send(
    client: httpx.AsyncClient, claimed: Claimed, base: str, *, variants: VariantCache, timeout: float
) -> Attempt:
    channel, view = claimed.channel, claimed.view
    assert view is not None
    event_type = str(claimed.event["type"])
    last = 200
    try:
        for external_id in view.external_ids:
            if channel.kind is ChannelKind.SHOPIFY:
                version = str(channel.config.get("api_version") or SHOPIFY_API_VERSION)
                headers = {"x-shopify-access-token": view.credentials.get("access_token", "")}
                variant = await variants.get(
                    client, base, external_id, version=version, headers=headers, timeout=timeout
                )
                requests = shopify_requests(
                    event_type,
                    view,
                    variant=variant,
                    location_id=channel.config.get("location_id"),
                    api_version=version,
                )
                auth = None
            else:
                headers = {}
                requests = woocommerce_requests(event_type, view, external_id)
                auth = (view.credentials.get("consumer_key", ""), view.credentials.get("consumer_secret", ""))
            for request in requests:
                response = await _call(client, base, request, headers=headers, auth=auth, timeout=timeout)
                last = response.status_code
    except PlatformError as exc:
        return exc.attempt
    return Attempt(True, status_code=last)
