"""Read a WooCommerce store's catalog over REST v3, as ``ChannelItem``s.

``GET /wp-json/wc/v3/products?per_page=100&page=N`` until the ``X-WP-TotalPages`` header
says it was the last page (without the header: until a page comes back short), and for
each ``type: variable`` product ``GET products/{id}/variations?per_page=100&page=N``.
A simple product is one item (``external_id`` = its ``id``), a variable product is its
variations (``id/vid``: the form the connector writes to, ``productsync.sync.storefronts``);
the parent of variations and grouped products sell nothing themselves and are skipped.

Fields: ``sku``; the GTIN from ``global_unique_id`` (WooCommerce 9.2+) or, for older
stores and GTIN plugins, the ``_gtin`` meta (``config.gtin_meta_key`` names another);
``name``; ``description``; ``stock_quantity`` only when the item manages stock (an
unmanaged item reports no quantity); ``price`` (what it sells at now) and
``regular_price`` as the compare-at price while a sale runs (prices are strings in the
API; an empty one is no price). Currency is store-wide in WooCommerce, not per product:
``config.currency`` when the channel names it.

Every request goes through the SSRF guard's pinned client (the store's address is judged
once and connected to only as judged). Failures raise ``CatalogReadError`` with the
platform's answer, so the caller can say why the store could not be read.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.channels import Channel
from productsync.sync.guard import TargetGuard, TargetRefused, httpx_target, pinned_client

API = "/wp-json/wc/v3"
PER_PAGE = 100
MAX_PAGES = 10_000  # a store answering pages forever is a broken store, not a big one
USER_AGENT = "productsync-catalog/1"


class CatalogReadError(Exception):
    """The platform could not be read: ``reason`` says why (its answer or the transport
    failure); ``unreachable`` when nothing answered at all (a 503-ish condition)."""

    def __init__(self, reason: str, *, unreachable: bool = False, status_code: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable
        self.status_code = status_code


def _money(raw: object) -> Decimal | None:
    if raw is None or raw == "" or isinstance(raw, bool):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _quantity(record: dict[str, Any]) -> Decimal | None:
    """Only a managed stock is a count (``"parent"``: a variation counted on its parent,
    whose figure the API reports on the variation)."""
    managed = record.get("manage_stock")
    qty = record.get("stock_quantity")
    if managed in (True, "parent") and isinstance(qty, int | float) and not isinstance(qty, bool):
        return Decimal(int(qty))
    return None


def _gtin(record: dict[str, Any], meta_key: str) -> str | None:
    value = record.get("global_unique_id")
    if isinstance(value, str) and value.strip():
        return value.strip()
    for meta in record.get("meta_data") or ():
        if isinstance(meta, dict) and meta.get("key") == meta_key:
            raw = meta.get("value")
            if isinstance(raw, str | int) and str(raw).strip():
                return str(raw).strip()
    return None


def _item(
    record: dict[str, Any], external_id: str, *, parent: dict[str, Any] | None, channel: Channel
) -> ChannelItem:
    price = _money(record.get("price"))
    regular = _money(record.get("regular_price"))
    on_sale = _money(record.get("sale_price")) is not None and regular is not None and price != regular
    name = record.get("name")
    if not name and parent is not None:  # older stores give variations no name
        options = [str(a.get("option")) for a in record.get("attributes") or () if isinstance(a, dict)]
        name = " - ".join([str(parent.get("name") or ""), *options]).strip(" -")
    meta_key = str(channel.config.get("gtin_meta_key") or "_gtin")
    sku = record.get("sku")
    description = record.get("description")
    return ChannelItem(
        external_id=external_id,
        sku=sku.strip() if isinstance(sku, str) and sku.strip() else None,
        barcode=_gtin(record, meta_key),
        title=str(name) if name else None,
        description=description if isinstance(description, str) and description else None,
        quantity=_quantity(record),
        price=price,
        compare_at_price=regular if on_sale else None,
        currency=channel.config.get("currency") or None,
        product_ref=str(parent["id"]) if parent is not None else str(record.get("id")),
        extra={
            "type": record.get("type") or ("variation" if parent else None),
            "status": record.get("status"),
        },
    )


async def _pages(
    client: httpx.AsyncClient, url: str, *, auth: tuple[str, str], timeout: float
) -> AsyncIterator[dict[str, Any]]:
    page, last = 1, None
    while page <= MAX_PAGES:
        try:
            response = await client.get(
                url,
                params={"per_page": PER_PAGE, "page": page},
                auth=auth,
                headers={"user-agent": USER_AGENT, "accept": "application/json"},
                timeout=timeout,
            )
        except TargetRefused as exc:
            raise CatalogReadError(exc.reason, unreachable=exc.unreachable) from exc
        except httpx.TimeoutException as exc:
            raise CatalogReadError(f"no answer within {timeout:g} s", unreachable=True) from exc
        except httpx.HTTPError as exc:
            raise CatalogReadError(f"{type(exc).__name__}: {exc}"[:300], unreachable=True) from exc
        if response.status_code != 200:
            raise CatalogReadError(
                f"GET {httpx.URL(url).path} page {page}: HTTP {response.status_code}: {response.text[:200]}",
                unreachable=response.status_code >= 500 or response.status_code == 429,
                status_code=response.status_code,
            )
        try:
            records = response.json()
        except ValueError as exc:
            raise CatalogReadError(f"GET {httpx.URL(url).path} page {page}: not JSON") from exc
        if not isinstance(records, list):
            raise CatalogReadError(f"GET {httpx.URL(url).path} page {page}: expected a JSON array")
        for record in records:
            if isinstance(record, dict) and record.get("id") is not None:
                yield record
        header = response.headers.get("x-wp-totalpages")
        if header is not None and header.strip().isdigit():
            last = int(header)
        if (last is not None and page >= last) or (last is None and len(records) < PER_PAGE) or not records:
            return
        page += 1


async def read_woocommerce_catalog(
    channel: Channel, credentials: dict[str, str], *, guard: TargetGuard, timeout: float
) -> AsyncIterator[ChannelItem]:
    """Every sellable item of the store: simple products and the variations of variable
    ones (``CatalogReader`` signature)."""
    base = (channel.url or "").rstrip("/")
    try:
        host, port = httpx_target(base)
        await guard.addresses(host, port)
    except TargetRefused as exc:
        raise CatalogReadError(exc.reason, unreachable=exc.unreachable) from exc
    auth = (credentials.get("consumer_key", ""), credentials.get("consumer_secret", ""))
    async with pinned_client(guard) as client:
        async for product in _pages(client, f"{base}{API}/products", auth=auth, timeout=timeout):
            kind = product.get("type")
            if kind == "grouped":
                continue
            if kind != "variable":
                yield _item(product, str(product["id"]), parent=None, channel=channel)
                continue
            url = f"{base}{API}/products/{product['id']}/variations"
            async for variation in _pages(client, url, auth=auth, timeout=timeout):
                external_id = f"{product['id']}/{variation['id']}"
                yield _item(variation, external_id, parent=product, channel=channel)
