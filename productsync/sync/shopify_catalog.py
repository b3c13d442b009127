"""Read a Shopify shop's catalog over the GraphQL Admin API, as ``ChannelItem``s.

Small shops are read in ``productVariants(first: 100, after:)`` pages (``config.page_size``) (``pageInfo``
``hasNextPage``/``endCursor``); a shop with more variants than ``config.bulk_threshold``
(default 2,000, counted by ``productVariantsCount``) is read with one
``bulkOperationRunQuery``: the connector polls ``node(id:)`` until ``COMPLETED`` and
streams the JSONL file at its ``url`` (product lines first, then their variants with
``__parentId``), line by line, so memory does not grow with the shop.

One item per variant: ``external_id`` the variant id as mappings name it — the bare
number (REST-era mappings) unless ``config.external_ids`` is ``"gid"``; ``sku``;
``barcode``; ``title`` and ``description`` (``descriptionHtml``) of its product;
``quantity`` = ``available`` at ``config.location_id`` (None when the item is not stocked
there); ``price`` and ``compare_at_price``; ``product_ref`` the product's GID; the
variant's GID in ``extra["gid"]``.

Calls share the client's cost-based throttle (sync/shopify_graphql.py); a shop that
keeps throttling is waited for (up to ``MAX_WAIT`` a call), since a read has no retry
schedule of its own. Failures raise ``CatalogReadError`` with the platform's answer.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx

from productsync.domain import shopify_graphql as gql
from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.channels import Channel
from productsync.sync.guard import TargetGuard, TargetRefused, httpx_target, pinned_client
from productsync.sync.shopify_graphql import PlatformError, Shop, Throttle
from productsync.sync.woocommerce_catalog import CatalogReadError

MAX_WAIT = 60.0
POLL_SECONDS = 0.2
POLL_LONGEST = 5.0
BULK_TIMEOUT = 3600.0


def _item(row: gql.CatalogRow, *, gids: bool) -> ChannelItem:
    return ChannelItem(
        external_id=row.variant if gids else gql.gid_number(row.variant),
        sku=row.sku,
        barcode=row.barcode,
        title=row.title,
        description=row.description,
        quantity=None if row.quantity is None else Decimal(row.quantity),
        price=row.price,
        compare_at_price=row.compare_at_price,
        product_ref=row.product,
        extra={"gid": row.variant},
    )


def _error(exc: PlatformError) -> CatalogReadError:
    a = exc.attempt
    return CatalogReadError(a.error, unreachable=a.unreachable, status_code=a.status_code)


async def read_shopify_catalog(
    channel: Channel, credentials: dict[str, str], *, guard: TargetGuard, timeout: float
) -> AsyncIterator[ChannelItem]:
    base = channel.url or ""
    try:
        host, port = httpx_target(base)
        await guard.addresses(host, port)
    except TargetRefused as exc:
        raise CatalogReadError(exc.reason, unreachable=exc.unreachable) from exc
    try:
        location = gql.gid("Location", channel.config.get("location_id"))
    except ValueError as exc:
        raise CatalogReadError(f"config.location_id: {exc}") from exc
    gids = channel.config.get("external_ids") == "gid"
    threshold = int(channel.config.get("bulk_threshold") or gql.BULK_THRESHOLD)
    version = str(channel.config.get("api_version") or gql.DEFAULT_API_VERSION)
    async with pinned_client(guard) as client:
        shop = Shop(client, base, credentials.get("access_token", ""), version, Throttle(), timeout, MAX_WAIT)
        try:
            counted = (await shop.run(gql.VARIANTS_COUNT, {})).get("productVariantsCount") or {}
            rows = (
                _bulk(shop, location)
                if int(counted.get("count") or 0) > threshold
                else _pages(
                    shop, location, max(1, min(250, int(channel.config.get("page_size") or gql.PAGE_SIZE)))
                )
            )
            async for row in rows:
                yield _item(row, gids=gids)
        except PlatformError as exc:
            raise _error(exc) from exc


async def _pages(shop: Shop, location: str, size: int) -> AsyncIterator[gql.CatalogRow]:
    after: str | None = None
    while True:
        variables = {"first": size, "after": after, "locationId": location}
        data = await shop.run(gql.VARIANTS_PAGE, variables, cost=gql.page_cost(size))
        page = data.get("productVariants") or {}
        for node in page.get("nodes") or []:
            yield gql.catalog_row(node, node.get("product") or {})
        info = page.get("pageInfo") or {}
        if not info.get("hasNextPage") or not info.get("endCursor"):
            return
        after = str(info["endCursor"])


async def _bulk(shop: Shop, location: str) -> AsyncIterator[gql.CatalogRow]:
    started = await shop.run(gql.BULK_RUN, {"query": gql.bulk_query(location)})
    errors = gql.user_errors(started, "bulkOperationRunQuery")
    if errors:
        raise CatalogReadError(f"bulkOperationRunQuery: {gql.describe(errors)}")
    op = ((started.get("bulkOperationRunQuery") or {}).get("bulkOperation")) or {}
    url = await _completed(shop, str(op.get("id")))
    if url is None:  # a shop with nothing in it has no file
        return
    products: dict[str, dict[str, Any]] = {}
    try:
        async with shop.client.stream("GET", url, timeout=shop.timeout) as response:
            if response.status_code != 200:
                raise CatalogReadError(
                    f"bulk result: HTTP {response.status_code}", status_code=response.status_code
                )
            number = 0
            async for line in response.aiter_lines():
                number += 1
                if not line.strip():
                    continue
                try:
                    parsed = json.loads(line)
                except ValueError as exc:
                    raise CatalogReadError(f"bulk result line {number}: not JSON") from exc
                for row in gql.bulk_rows([parsed], products):
                    yield row
    except TargetRefused as exc:
        raise CatalogReadError(exc.reason, unreachable=exc.unreachable) from exc
    except httpx.HTTPError as exc:
        raise CatalogReadError(f"bulk result: {type(exc).__name__}: {exc}"[:300], unreachable=True) from exc


async def _completed(shop: Shop, op_id: str) -> str | None:
    """Poll the operation until it is done; its result file's URL (None: no objects)."""
    wait, waited = POLL_SECONDS, 0.0
    while waited < BULK_TIMEOUT:
        node = (await shop.run(gql.BULK_STATUS, {"id": op_id})).get("node") or {}
        status = node.get("status")
        if status == "COMPLETED":
            return node.get("url") or None
        if status in ("FAILED", "CANCELED", "EXPIRED", "CANCELING"):
            raise CatalogReadError(f"bulk operation {op_id} {status}: {node.get('errorCode')}")
        await asyncio.sleep(wait)
        waited += wait
        wait = min(wait * 2, POLL_LONGEST)
    raise CatalogReadError(f"bulk operation {op_id} did not complete within {BULK_TIMEOUT:g} s")
