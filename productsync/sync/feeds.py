"""Pull feeds: the hub polls a channel's URL (CSV, JSON or JSONL) every N minutes and
takes each row as if the channel had sent it to ``POST /v1/channels/{id}/inbound``.

- Read through the SSRF guard (``pinned_client``), with ``If-None-Match`` /
  ``If-Modified-Since`` from the last read: an unchanged feed (304) costs one request.
- Each row is parsed on its own (``domain/feeds.py``); a bad one is reported in the run
  with its line number and reason, and the rest go on.
- Each good row goes through ``services.inbound.receive`` in its own transaction: the
  channel's conflict policy decides, the change is audited and announced, and the row's
  event id (given, or a hash of the feed URL and the row) makes a re-read row a replay.

``read_pull_feed_items`` reads the same feed as ``ChannelItem``s, for reconciliation and
onboarding (``sync/catalog_readers.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import httpx

from productsync.domain.access import Actor, Scope, system_actor
from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.channels import Channel
from productsync.domain.conflicts import InboundType
from productsync.domain.errors import CompareFailed, DomainError, PreconditionFailed
from productsync.domain.feeds import FeedRow, PullConfig, RowContext, RowError, parse_feed, pull_config
from productsync.services import inbound
from productsync.services.schedules import RunResult
from productsync.store.uow import UnitOfWork, transaction
from productsync.sync.guard import TargetGuard, pinned_client
from productsync.sync.woocommerce_catalog import CatalogReadError

if TYPE_CHECKING:
    from productsync.store.database import Database
    from productsync.sync.scheduler import JobContext

MAX_FEED_BYTES = 512 * 1024 * 1024
RACE_RETRIES = 5  # as the inbound endpoint: a write that finds its row moved runs again
STATE_ROWS = ("stock_count", "price", "content")  # rows that say what the channel holds


def _config(channel: Channel) -> PullConfig:
    return pull_config(channel.config or {}) or PullConfig(every_minutes=15, format="csv")


def _headers(credentials: dict[str, str], state: dict[str, Any] | None) -> dict[str, str]:
    headers = {"Accept": "text/csv, application/json, application/x-ndjson;q=0.9, */*;q=0.5"}
    token = credentials.get("token") or credentials.get("access_token")
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if state:
        if state.get("etag"):
            headers["If-None-Match"] = str(state["etag"])
        if state.get("last_modified"):
            headers["If-Modified-Since"] = str(state["last_modified"])
    return headers


async def fetch_feed(
    url: str, credentials: dict[str, str], *, guard: TargetGuard, timeout: float, state: dict[str, Any] | None
) -> tuple[str | None, dict[str, str]]:
    """The feed's text (None: unchanged since ``state``) and its validators."""
    try:
        async with (
            pinned_client(guard) as client,
            client.stream("GET", url, headers=_headers(credentials, state), timeout=timeout) as resp,
        ):
            if resp.status_code == 304:
                return None, {}
            if resp.status_code != 200:
                raise CatalogReadError(
                    f"the feed answered HTTP {resp.status_code}", status_code=resp.status_code
                )
            body = bytearray()
            async for chunk in resp.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_FEED_BYTES:
                    raise CatalogReadError(f"the feed is larger than {MAX_FEED_BYTES} bytes")
            validators = {
                k: v
                for k, v in (
                    ("etag", resp.headers.get("etag")),
                    ("last_modified", resp.headers.get("last-modified")),
                )
                if v
            }
    except httpx.HTTPError as exc:
        raise CatalogReadError(
            f"the feed could not be read: {type(exc).__name__}: {exc}", unreachable=True
        ) from exc
    try:
        return bytes(body).decode("utf-8-sig"), validators
    except UnicodeDecodeError as exc:
        raise CatalogReadError(f"the feed is not UTF-8 (byte {exc.start})") from exc


def feed_actor(channel: Channel) -> Actor:
    """Rows are taken as the channel's owner would send them: its partner's write rights
    (a partner's feed edits only its own products), or the hub's for a hub channel."""
    if channel.owner_partner_id is None:
        return system_actor(f"feed:{channel.id}")
    return Actor(
        key_id=None,
        partner_id=channel.owner_partner_id,
        scopes=frozenset({Scope.STOCK_WRITE, Scope.PRICES_WRITE, Scope.CATALOG_WRITE}),
        origin=f"feed:{channel.id}",
    )


def to_change(row: FeedRow) -> inbound.InboundChange:
    """A parsed row as the inbound endpoint's change (a bad location id is a ValueError)."""
    return inbound.InboundChange(
        event_id=row.event_id,
        type=InboundType(row.type),
        changed_at=row.changed_at or datetime.now(UTC),
        external_id=row.external_id,
        sku=row.sku,
        partner=row.partner,
        location_id=uuid.UUID(row.location_id) if row.location_id else None,
        quantity=row.quantity,
        price=str(row.price) if row.price is not None else None,
        fields=row.fields,
        reason=f"pull feed line {row.line}",
    )


async def take_row(db: Database, actor: Actor, channel_id: uuid.UUID, row: FeedRow) -> str:
    """One row through the channel's conflict policy; returns its outcome (applied,
    kept_hub, queued, rejected, replayed); a row the hub refuses raises a DomainError."""
    try:
        change = to_change(row)
    except ValueError as exc:
        raise InvalidRow(f"location_id {row.location_id!r} is not a UUID") from exc

    async def use_case(uow: UnitOfWork) -> inbound.InboundResult:
        return await inbound.receive(uow, actor, channel_id, change)

    for attempt in range(RACE_RETRIES):
        try:
            result = await transaction(db, use_case)
            break
        except (CompareFailed, PreconditionFailed):
            if attempt == RACE_RETRIES - 1:
                raise
    if result.body.get("replayed"):
        return "replayed"
    return str(result.body.get("outcome") or ("rejected" if result.status_code == 409 else "applied"))


class InvalidRow(DomainError):
    pass


async def apply_feed(
    db: Database, channel: Channel, text: str, fmt: str, url: str, *, read_at: datetime
) -> RunResult:
    """Every row of a feed body through the inbound path; counts per outcome, rows not
    taken with their line and reason."""
    actor = feed_actor(channel)
    counts: dict[str, int] = {"rows": 0}
    errors: list[dict[str, Any]] = []
    for parsed in parse_feed(text, fmt, RowContext(url=url, read_at=read_at)):
        counts["rows"] += 1
        if isinstance(parsed, RowError):
            errors.append(parsed.as_dict())
            continue
        try:
            outcome = await take_row(db, actor, channel.id, parsed)
        except DomainError as exc:
            errors.append(RowError(parsed.line, exc.detail).as_dict())
            continue
        counts[outcome] = counts.get(outcome, 0) + 1
    counts["failed"] = len(errors)
    return RunResult(status="partial" if errors else "succeeded", counts=counts, errors=errors)


async def run_pull_feed(ctx: JobContext) -> RunResult:
    """The scheduler's pull: read the channel's URL unless unchanged, take every row."""
    channel, state = ctx.channel, dict(ctx.claimed.schedule.state)
    if not channel.url:
        return RunResult(status="failed", error="the channel has no url to pull from", state=state)
    timeout = ctx.hub.settings.webhook_timeout_seconds
    try:
        text, validators = await fetch_feed(
            channel.url, ctx.credentials, guard=ctx.guard, timeout=timeout, state=state
        )
    except CatalogReadError as exc:
        return RunResult(status="failed", error=exc.reason, state=state)
    if text is None:
        return RunResult(counts={"rows": 0, "unchanged": 1}, state=state)
    result = await apply_feed(
        ctx.hub.db, channel, text, _config(channel).format, channel.url, read_at=ctx.now
    )
    # Validators are kept only once every row was taken: a feed with rows the hub
    # refused is read again next time (taken rows replay; fixed ones go through).
    result.state = {k: v for k, v in state.items() if k not in ("etag", "last_modified")}
    if not result.errors:
        result.state.update(validators)
    return result


async def read_pull_feed_items(
    channel: Channel, credentials: dict[str, str], *, guard: TargetGuard, timeout: float
) -> AsyncIterator[ChannelItem]:
    """What a pull feed says the channel holds: one item per state row (stock counts,
    prices, content), keyed by ``external_id`` or else ``sku``; sales, returns, restocks
    and bad rows say nothing about what it holds and are skipped."""
    if not channel.url:
        raise CatalogReadError("the channel has no url to read")
    text, _ = await fetch_feed(channel.url, credentials, guard=guard, timeout=timeout, state=None)
    if text is None:
        return
    ctx = RowContext(url=channel.url, read_at=datetime.now(UTC))
    for row in parse_feed(text, _config(channel).format, ctx):
        if isinstance(row, RowError) or row.type not in STATE_ROWS:
            continue
        yield ChannelItem(
            external_id=row.key,
            sku=row.sku,
            title=row.title,
            quantity=row.quantity if row.type == "stock_count" else None,
            price=row.price,
        )
