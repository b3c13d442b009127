"""The sync engine's use cases: fan events out to channels, claim due deliveries,
record what the channel answered, and let people list and replay deliveries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Row

from productsync.domain import deliveries as rules
from productsync.domain.access import Actor, system_actor
from productsync.domain.channels import Channel, ChannelKind, ChannelStatus
from productsync.domain.deliveries import DeliveryStatus, Queued
from productsync.domain.errors import NotFound
from productsync.domain.events import EventType
from productsync.domain.inventory import StockLevel
from productsync.domain.lots import capped_levels
from productsync.domain.projection import (
    ChannelView,
    bundle_available,
    bundle_components,
    channel_available,
    localized_product_data,
)
from productsync.domain.quantities import format_quantity
from productsync.services import snapshots
from productsync.services.channels import get_channel, signing_secrets
from productsync.services.logs import routing, to_cloudevent
from productsync.services.projection import channel_view
from productsync.services.recording import record
from productsync.store.uow import UnitOfWork

FANOUT = "fanout"
_SYSTEM = system_actor("dispatcher")
# Kinds the dispatcher pushes to. SSE channels read the event stream themselves
# (GET /v1/stream); file feeds are not built (they would only pile up deliveries).
DELIVERABLE = frozenset(
    {ChannelKind.WEBHOOK, ChannelKind.RABBITMQ, ChannelKind.SHOPIFY, ChannelKind.WOOCOMMERCE}
)
STOREFRONTS = frozenset({ChannelKind.SHOPIFY, ChannelKind.WOOCOMMERCE})


async def has_work(uow: UnitOfWork) -> bool:
    """Whether a dispatch round would find anything: an idle dispatcher then costs one
    read per round instead of two write transactions (SQLite has a single writer)."""
    return await uow.deliveries.has_work(FANOUT, uow.now)


async def fan_out(uow: UnitOfWork, *, limit: int = 1000) -> int:
    """Turn new outbox events into one delivery per interested channel; returns how many
    events were read. The cursor moves in the same transaction, so a crash repeats a
    batch at worst, and the (event, channel) key makes the repeat harmless. A newly
    queued state supersedes the older ones of the same (channel, thing) still waiting.

    A channel asking for a backfill is subscribed here at the current cursor (one row,
    whatever the catalog's size); its snapshot is built later in pages, outside the
    sequencing and fan-out locks (``snapshots.backfill_step``)."""
    await uow.deliveries.lock_fanout()
    await uow.outbox.sequence_pending()
    cursor = await uow.deliveries.cursor(FANOUT, uow.now)
    for waiting in await uow.channels.awaiting_backfill():
        # Paused, disabled, or a kind that reads the stream itself: nothing to send it.
        wanted = waiting.status is ChannelStatus.ENABLED and waiting.kind in DELIVERABLE
        if wanted and not await snapshots.subscribe(uow, waiting, at_seq=cursor):
            continue  # a page of its previous backfill is being built: subscribe next round
        await uow.channels.backfilled(waiting.id)
    channels = [c for c in await uow.channels.find(None) if c.kind in DELIVERABLE]
    if not channels:  # nobody to deliver to: move past the events without reading them
        latest = await uow.outbox.latest_seq()
        if latest > cursor:
            await uow.deliveries.set_cursor(FANOUT, latest, uow.now)
        return 0
    events = await uow.outbox.after(cursor, partners=None, limit=limit, directed=True)
    if not events:
        return 0
    rows: list[dict[str, Any]] = []
    for e, chosen in await routing(uow, events, channels):
        for channel in chosen:
            rows.append(
                {
                    "event_seq": e.seq,
                    "event_id": e.event_id,
                    "channel_id": channel.id,
                    "aggregate": rules.aggregate_key(e.type, e.data, e.product_id),
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "next_attempt_at": uow.now,
                    "event_time": e.time,
                    "created_at": uow.now,
                    "delivered_at": None,
                }
            )
    # Within the batch, only the newest state of a thing needs to go out.
    stale = rules.stale([Queued(r["event_seq"], r["channel_id"], r["aggregate"]) for r in rows])
    for r in rows:
        if Queued(r["event_seq"], r["channel_id"], r["aggregate"]) in stale:
            r["status"], r["delivered_at"] = DeliveryStatus.SUPERSEDED.value, uow.now
    await uow.deliveries.add(rows, uow.now)
    await uow.deliveries.set_cursor(FANOUT, int(events[-1].seq), uow.now)
    return len(events)


@dataclass(frozen=True)
class Claimed:
    """One delivery taken by a worker, with everything needed to send it."""

    delivery_id: int
    channel: Channel
    secrets: list[str]
    event_id: uuid.UUID
    event: dict[str, Any]
    event_time: datetime
    attempts: int
    view: ChannelView | None = None


async def claim(
    uow: UnitOfWork, *, limit: int = 50, lease: timedelta = timedelta(seconds=60)
) -> list[Claimed]:
    """Take due deliveries for ``lease``; a worker that dies mid-send loses its lease and
    another worker takes the delivery again. Stale states were coalesced when the newer
    one was queued, so the claim reads only each channel's due head (bounded work however
    large a dead channel's backlog)."""
    rows = await uow.deliveries.claim(uow.now, uow.now + lease, limit)
    out: list[Claimed] = []
    channels: dict[uuid.UUID, tuple[Channel, list[str]]] = {}
    views: dict[tuple[uuid.UUID, uuid.UUID], ChannelView | None] = {}
    # Generic channels only need available-to-sell: one read of the round's levels serves all.
    stock_rows = [r for r in rows if r.product_id is not None and r.type == EventType.STOCK_CHANGED]
    bundles = {r.event_id: bundle_components(r.data) for r in stock_rows}
    raw = await uow.stock.levels_for_products(
        {r.product_id for r in stock_rows} | {c.product_id for cs in bundles.values() for c in cs or ()}
    )
    # Lots cap what counts (expired stock never; short shelf life not for channels that
    # require more), so read them once per round and derive each channel's view.
    lot_map = await uow.lots.for_products(set(raw)) if raw else {}
    now = uow.now
    counted: dict[int, dict[uuid.UUID, list[StockLevel]]] = {}

    def levels_for(channel: Channel) -> dict[uuid.UUID, list[StockLevel]]:
        days = channel.min_shelf_life_days
        if not lot_map:
            return raw
        if days not in counted:
            counted[days] = {pid: capped_levels(lvs, lot_map, now, days) for pid, lvs in raw.items()}
        return counted[days]

    for r in rows:
        if r.channel_id not in channels:
            channel = await uow.channels.get(r.channel_id)
            assert channel is not None
            channels[r.channel_id] = (channel, await signing_secrets(uow, r.channel_id))
        channel, secrets = channels[r.channel_id]
        event = to_cloudevent(r)
        if channel.locale and "data" in event:  # texts in the channel's locale, else the default
            event["data"] = localized_product_data(event.get("data"), channel.locale)
        view = None
        if r.product_id is not None and channel.kind in STOREFRONTS:
            key = (channel.id, r.product_id)
            if key not in views:
                views[key] = await channel_view(uow, channel, r.product_id, at=uow.now, with_credentials=True)
            view = views[key]
        elif (
            r.product_id is not None
            and r.type == EventType.STOCK_CHANGED
            and isinstance(event.get("data"), dict)
        ):
            components = bundles.get(r.event_id)
            levels = levels_for(channel)
            available = (
                bundle_available(components, levels, channel)
                if components is not None
                else channel_available(channel, levels.get(r.product_id, []))
            )
            event["data"]["channel"] = {
                "id": str(channel.id),
                "available_to_sell": format_quantity(available),
            }
        out.append(Claimed(r.id, channel, secrets, r.event_id, event, r.event_time, r.attempts, view))
    return out


@dataclass(frozen=True)
class Attempt:
    """What a connector reports about one try."""

    ok: bool
    status_code: int | None = None
    error: str = ""
    retry_after: timedelta | None = None
    gone: bool = False
    # No answer at all (refused, reset, timed out, broker away): the dispatcher probes
    # the channel and retries its waiting deliveries as soon as it is reachable again.
    unreachable: bool = False


async def record_attempts(uow: UnitOfWork, results: list[tuple[Claimed, Attempt]]) -> None:
    """Write down how a round's tries went: successes in one statement, with each channel's
    health updated once; failures one by one (each gets its own next try)."""
    done = [(c, a) for c, a in results if a.ok]
    await uow.deliveries.delivered(
        [
            (
                c.delivery_id,
                a.status_code or 200,
                max(0, int((uow.now - c.event_time).total_seconds() * 1000)),
            )
            for c, a in done
        ],
        uow.now,
    )
    for channel in {c.channel.id: c.channel for c, _ in done}.values():
        if channel.failing_since is not None:  # it was failing and answered: drain its backlog now
            await uow.deliveries.make_due(channel.id, uow.now)
        await uow.channels.set_health(channel.id, success_at=uow.now, clear_failing=True)
    for claimed, attempt in results:
        if not attempt.ok:
            await record_failure(uow, claimed, attempt)


async def channel_answers_again(uow: UnitOfWork, channel_id: uuid.UUID) -> int:
    """A channel found unreachable accepts connections again (a probe): its oldest waiting
    delivery goes now instead of at the end of its back-off. When that one is delivered,
    ``record_attempts`` makes the rest of the backlog due; if it fails, only one try was
    spent on a probe that did not pan out."""
    return await uow.deliveries.make_first_due(channel_id, uow.now)


async def failing_channels(uow: UnitOfWork) -> list[Channel]:
    """Enabled channels the dispatcher pushes to whose last tries failed (worth a probe
    when a dispatcher starts: the failures may have been seen by a process now gone)."""
    return [
        c
        for c in await uow.channels.find(None)
        if c.failing_since is not None and c.kind in DELIVERABLE and c.status is ChannelStatus.ENABLED
    ]


async def record_failure(uow: UnitOfWork, claimed: Claimed, attempt: Attempt) -> DeliveryStatus:
    """Schedule the next try (or give up), and keep the channel's health."""
    failing_since = await uow.channels.failing_since(claimed.channel.id)
    step = rules.after_failure(
        claimed.attempts,
        uow.now,
        retry_after=attempt.retry_after,
        gone=attempt.gone,
        failing_since=failing_since,
    )
    await uow.deliveries.failed(
        claimed.delivery_id, step.status, step.next_attempt_at, attempt.error, attempt.status_code, uow.now
    )
    await uow.channels.set_health(claimed.channel.id, failing_since=uow.now, disable=step.disable_channel)
    if step.disable_channel:
        await record(
            uow,
            _SYSTEM,
            action="channel.disabled",
            entity_type="channel",
            entity_id=claimed.channel.id,
            owner=claimed.channel.owner_partner_id,
            before=None,
            after={
                "reason": "410 Gone" if attempt.gone else "failing for days",
                "last_error": attempt.error[:200],
            },
        )
    return step.status


async def list_deliveries(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, *, status: str | None, after_id: int, limit: int
) -> list[Row[Any]]:
    channel = await get_channel(uow, actor, channel_id)
    return await uow.deliveries.find(channel.id, status=status, after_id=after_id, limit=limit)


async def replay_delivery(uow: UnitOfWork, actor: Actor, delivery_id: int) -> int:
    """Send a dead delivery again (its event carries the full state, so a late copy is safe)."""
    row = await uow.deliveries.get(delivery_id)
    if row is None:
        raise NotFound("delivery", delivery_id)
    await get_channel(uow, actor, row.channel_id)  # visibility: 404 for other partners' deliveries
    return await uow.deliveries.requeue([delivery_id], uow.now)


async def replay_dead(uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID) -> int:
    channel = await get_channel(uow, actor, channel_id)
    return await uow.deliveries.requeue(await uow.deliveries.dead_ids(channel.id), uow.now)


@dataclass(frozen=True)
class ChannelHealth:
    channel: Channel
    pending: int
    retrying: int
    in_flight: int
    delivered: int
    superseded: int
    dead: int
    lag_seconds: float
    deliveries_per_second: float
    latency_p50_ms: int | None
    latency_p99_ms: int | None


HEALTH_WINDOW = timedelta(minutes=5)


async def channel_health(uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID) -> ChannelHealth:
    """How a channel keeps up: queue sizes, lag (age of the oldest undelivered event),
    deliveries per second and catalog-update latency (commit → channel ack) over 5 minutes."""
    channel = await get_channel(uow, actor, channel_id)
    h = await uow.deliveries.health(channel.id, uow.now, HEALTH_WINDOW)
    counts: dict[str, int] = h["counts"]
    latencies = sorted(h["recent_latencies"])

    def pct(p: float) -> int | None:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] if latencies else None

    oldest = h["oldest_waiting"]
    return ChannelHealth(
        channel=channel,
        pending=counts.get(DeliveryStatus.PENDING.value, 0),
        retrying=h["retrying"],
        in_flight=counts.get(DeliveryStatus.IN_FLIGHT.value, 0),
        delivered=counts.get(DeliveryStatus.DELIVERED.value, 0),
        superseded=counts.get(DeliveryStatus.SUPERSEDED.value, 0),
        dead=counts.get(DeliveryStatus.DEAD.value, 0),
        lag_seconds=max(0.0, (uow.now - oldest).total_seconds()) if oldest else 0.0,
        deliveries_per_second=len(latencies) / HEALTH_WINDOW.total_seconds(),
        latency_p50_ms=pct(0.5),
        latency_p99_ms=pct(0.99),
    )
