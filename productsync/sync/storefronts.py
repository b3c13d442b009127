"""Storefront connectors: push the channel's view of a product to a Shopify or a
WooCommerce platform in the request shapes their APIs document.

- Shopify: the GraphQL Admin API (``config.api_version``, default 2026-01;
  ``X-Shopify-Access-Token`` from the channel's credentials ``access_token``), see
  sync/shopify_push.py: stock by ``inventorySetQuantities`` (compare-and-set against the
  quantity the hub last knew, ``@idempotent`` by event), prices by
  ``productVariantsBulkUpdate``, texts by ``productUpdate``. The channel's mappings name
  Shopify *variant* ids, numeric (the REST-era ids) or as GIDs.
- WooCommerce REST v3 (HTTP Basic with ``consumer_key``/``consumer_secret``, as the
  API documents for HTTPS): ``PUT /wp-json/wc/v3/products/{id}`` (or
  ``products/{id}/variations/{vid}`` for mappings written ``id/vid``).

A product the channel has no mapping for is not on that platform: nothing is sent,
and the delivery is done. 429/5xx are retried (``Retry-After`` honoured); 4xx other
than 408/429 are recorded as failures with the platform's answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from productsync.domain.channels import ChannelKind
from productsync.domain.deliveries import parse_retry_after
from productsync.domain.projection import PlatformRequest, woocommerce_requests
from productsync.services.dispatch import Attempt, Claimed
from productsync.sync.guard import TargetGuard, TargetRefused, httpx_target
from productsync.sync.pools import OriginPools, origin
from productsync.sync.shopify_graphql import USER_AGENT, PlatformError
from productsync.sync.shopify_push import ShopifyState, push_shopify

__all__ = ["PlatformError", "ShopifyState", "send"]


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


async def send(
    clients: OriginPools[httpx.AsyncClient],
    guard: TargetGuard,
    claimed: Claimed,
    *,
    shopify: ShopifyState,
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
        attempt = await _send(lease.client, claimed, base, shopify=shopify, timeout=timeout)
        if attempt.unreachable:
            clients.retire(key, lease)
            guard.forget(host, port)
    return attempt


async def _send(
    client: httpx.AsyncClient, claimed: Claimed, base: str, *, shopify: ShopifyState, timeout: float
) -> Attempt:
    channel, view = claimed.channel, claimed.view
    assert view is not None
    if channel.kind is ChannelKind.SHOPIFY:
        return await push_shopify(shopify, client, claimed, base, timeout=timeout)
    event_type = str(claimed.event["type"])
    last = 200
    auth = (view.credentials.get("consumer_key", ""), view.credentials.get("consumer_secret", ""))
    try:
        for external_id in view.external_ids:
            for request in woocommerce_requests(event_type, view, external_id):
                response = await _call(client, base, request, headers={}, auth=auth, timeout=timeout)
                last = response.status_code
    except PlatformError as exc:
        return exc.attempt
    return Attempt(True, status_code=last)
