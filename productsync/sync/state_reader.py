"""Read what a webhook channel holds from the ``config.state_url`` it exposes.

The contract (small on purpose, so a receiver can implement it in an afternoon):

- The hub sends ``GET <state_url>`` (redirects are not followed; the address goes through
  the SSRF guard like every channel request). It is signed the way the hub's webhooks to
  that channel are (Standard Webhooks: ``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature`` over ``"<id>.<timestamp>."``, i.e. an empty body, with the
  channel's signing secret), and carries ``Authorization: Bearer <token>`` when the
  channel's credentials hold a ``state_token``.
- The answer is either JSON ``{"items": [...], "next": <url or cursor or null>}`` or JSON
  Lines (``application/jsonl`` / ``application/x-ndjson``: one item per line, no paging).
  A ``next`` that is an absolute URL is fetched as it is; anything else is sent back as
  the ``cursor`` query parameter of ``state_url``. Pages end with ``"next": null``.
- An item is ``{"sku": str, "external_id"?: str, "quantity": number|string|null,
  "price": number|string|null, "currency"?: str, "title"?: str, "description"?: str}``.
  ``external_id`` defaults to the SKU. A field left out or null is not compared.

Failures raise ``CatalogReadError`` with the reason (the channel's answer or the transport
failure; ``unreachable`` when nothing answered).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.channels import Channel
from productsync.sync.guard import TargetGuard, TargetRefused, httpx_target, pinned_client
from productsync.sync.webhook import sign
from productsync.sync.woocommerce_catalog import CatalogReadError

MAX_PAGES = 100_000
USER_AGENT = "productsync-state/1"
JSONL_TYPES = ("application/jsonl", "application/x-ndjson", "application/x-jsonlines")


def _number(raw: object, field: str, where: str) -> Decimal | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        raise CatalogReadError(f"{where}: {field} must be a number")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise CatalogReadError(f"{where}: {field} must be a number") from None
    if not value.is_finite():
        raise CatalogReadError(f"{where}: {field} must be a finite number")
    return value


def _text(raw: object) -> str | None:
    return str(raw) if isinstance(raw, str | int) and not isinstance(raw, bool) else None


def parse_item(raw: Any, where: str) -> ChannelItem:
    """One item of the contract as a ``ChannelItem`` (a malformed one is a read error)."""
    if not isinstance(raw, dict):
        raise CatalogReadError(f"{where}: an item must be a JSON object")
    sku = _text(raw.get("sku"))
    external_id = _text(raw.get("external_id")) or sku
    if not external_id:
        raise CatalogReadError(f"{where}: an item needs a sku or an external_id")
    return ChannelItem(
        external_id=external_id,
        sku=sku,
        title=_text(raw.get("title")),
        description=_text(raw.get("description")),
        quantity=_number(raw.get("quantity"), "quantity", where),
        price=_number(raw.get("price"), "price", where),
        currency=_text(raw.get("currency")),
    )


def _headers(credentials: dict[str, str]) -> dict[str, str]:
    headers = {"user-agent": USER_AGENT, "accept": "application/json, application/jsonl"}
    secrets = (credentials.get("webhook_secrets") or "").split()
    if secrets:
        now = datetime.now(UTC)
        msg_id = f"state_{uuid.uuid4().hex}"
        headers |= {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": sign(secrets, msg_id, now, ""),
        }
    if credentials.get("state_token"):
        headers["authorization"] = f"Bearer {credentials['state_token']}"
    return headers


async def read_state_url(
    channel: Channel, credentials: dict[str, str], *, guard: TargetGuard, timeout: float
) -> AsyncIterator[ChannelItem]:
    """Every item the channel's ``state_url`` reports (``CatalogReader`` signature)."""
    base = str(channel.config.get("state_url") or "")
    try:
        host, port = httpx_target(base)
        await guard.addresses(host, port)
    except TargetRefused as exc:
        raise CatalogReadError(exc.reason, unreachable=exc.unreachable) from exc
    url: str | None = base
    params: dict[str, str] = {}
    async with pinned_client(guard) as client:
        for page in range(1, MAX_PAGES + 1):
            assert url is not None
            try:
                async with client.stream(
                    "GET", url, params=params, headers=_headers(credentials), timeout=timeout
                ) as response:
                    if response.status_code != 200:
                        body = (await response.aread())[:200].decode(errors="replace")
                        raise CatalogReadError(
                            f"GET state_url page {page}: HTTP {response.status_code}: {body}",
                            unreachable=response.status_code >= 500 or response.status_code == 429,
                            status_code=response.status_code,
                        )
                    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                    if kind in JSONL_TYPES:
                        number = 0
                        async for line in response.aiter_lines():
                            number += 1
                            if line.strip():
                                try:
                                    raw = json.loads(line)
                                except ValueError:
                                    raise CatalogReadError(f"state_url line {number}: not JSON") from None
                                yield parse_item(raw, f"state_url line {number}")
                        return
                    try:
                        doc = json.loads(await response.aread())
                    except ValueError:
                        raise CatalogReadError(f"GET state_url page {page}: not JSON") from None
            except TargetRefused as exc:
                raise CatalogReadError(exc.reason, unreachable=exc.unreachable) from exc
            except httpx.TimeoutException as exc:
                raise CatalogReadError(f"no answer within {timeout:g} s", unreachable=True) from exc
            except httpx.HTTPError as exc:
                raise CatalogReadError(f"{type(exc).__name__}: {exc}"[:300], unreachable=True) from exc
            if not isinstance(doc, dict) or not isinstance(doc.get("items"), list):
                raise CatalogReadError(f"GET state_url page {page}: expected {{'items': [...], 'next': ...}}")
            for n, raw in enumerate(doc["items"], start=1):
                yield parse_item(raw, f"state_url page {page} item {n}")
            following = doc.get("next")
            if following is None or following == "":
                return
            if not isinstance(following, str):
                raise CatalogReadError(f"GET state_url page {page}: next must be a string or null")
            if following.startswith(("http://", "https://")):
                url, params = following, {}
                try:
                    host, port = httpx_target(url)
                    await guard.addresses(host, port)
                except TargetRefused as exc:
                    raise CatalogReadError(exc.reason, unreachable=exc.unreachable) from exc
            else:
                url, params = base, {"cursor": following}
    raise CatalogReadError(f"state_url gave more than {MAX_PAGES} pages")
