"""Channel reconciliation: the use cases around one run (start, store the report, fail)
and the reads of reports and the consistency history.

The comparison itself is read in ``sync/reconcile.py`` (services never talk to platforms);
here each step is one transaction:

1. ``start`` checks the caller may administer the channel (``channels:admin`` on its owner)
   and that its reconciliation settings are valid, and stores the run as ``running``.
2. ``finish`` stores the whole report in one transaction: the findings (multi-row
   INSERTs), the counts and consistency rate, and — when the channel's
   ``config.reconcile_repair`` is ``push`` — the hub's current state of every drifted
   product as events directed at that channel alone (``snapshots.state_events``, the
   shapes a backfill and a post-conflict correction send), audited with the run.
3. ``fail`` stores a run that could not read the channel, with the reason.

Extra items (the channel holds them, the hub says it should not) are reported, not
repaired: the hub sends state, it does not delete a channel's listings.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from productsync.domain.access import Actor
from productsync.domain.channels import Channel, ChannelKind
from productsync.domain.errors import InvalidInput, NotFound
from productsync.domain.events import DomainEvent
from productsync.domain.reconciliation import (
    Finding,
    FindingKind,
    RepairMode,
    Tally,
    Tolerances,
    repair_mode,
    tolerances,
)
from productsync.services import channel_quantities
from productsync.services.channels import get_channel, signing_secrets
from productsync.services.projection import credentials
from productsync.services.recording import record
from productsync.services.snapshots import read_states, state_events
from productsync.store.repositories.reconciliations import Run, StoredFinding
from productsync.store.uow import UnitOfWork

ORIGIN = "reconciliation"
ON_DEMAND, SCHEDULED = "on_demand", "scheduled"
TRIGGERS = (ON_DEMAND, SCHEDULED)
KINDS = tuple(k.value for k in FindingKind)
STOREFRONTS = frozenset({ChannelKind.SHOPIFY, ChannelKind.WOOCOMMERCE})
MAX_PAGE = 1000
REPAIR_CHUNK = 500  # products whose state is read at once while queueing a repair


@dataclass(frozen=True)
class Plan:
    """What a run needs besides the channel: its credentials, tolerances and repair mode."""

    channel: Channel
    credentials: dict[str, str]
    tolerances: Tolerances
    repair: RepairMode


async def start(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, *, trigger: str = ON_DEMAND
) -> tuple[Run, Plan]:
    """Check the caller and the channel's settings, store the run as ``running``."""
    if trigger not in TRIGGERS:
        raise InvalidInput(f"trigger must be one of {', '.join(TRIGGERS)}", field="trigger")
    channel = await get_channel(uow, actor, channel_id)
    config = channel.config if isinstance(channel.config, dict) else {}
    plan = Plan(
        channel=channel,
        credentials=await _credentials(uow, channel),
        tolerances=tolerances(config, storefront=channel.kind in STOREFRONTS),
        repair=repair_mode(config),
    )
    run_id = uuid.uuid4()
    await uow.reconciliations.start(
        run_id=run_id,
        channel_id=channel.id,
        trigger=trigger,
        repair=plan.repair.value,
        counts=Tally().counts or {},
        created_by=str(actor.key_id) if actor.key_id else actor.origin,
        at=uow.now,
    )
    run = await uow.reconciliations.get(run_id)
    assert run is not None
    return run, plan


async def _credentials(uow: UnitOfWork, channel: Channel) -> dict[str, str]:
    """The channel's platform credentials; for a ``state_url`` channel also its signing
    secrets (``webhook_secrets``, space-separated), so the state request is signed like
    the hub's webhooks to it."""
    out = await credentials(uow, channel.id)
    if channel.kind is ChannelKind.WEBHOOK and channel.config.get("state_url"):
        out = {**out, "webhook_secrets": " ".join(await signing_secrets(uow, channel.id))}
    return out


async def finish(
    uow: UnitOfWork,
    actor: Actor,
    run_id: uuid.UUID,
    tally: Tally,
    findings: Sequence[Finding],
) -> Run:
    """Store the run's report (findings, counts, rate) and, for ``push`` channels, queue
    the hub's state of every product with a finding to that channel: one transaction."""
    run = await _running(uow, run_id)
    channel = await uow.channels.get(run.channel_id)
    if channel is None:
        raise NotFound("channel", run.channel_id)
    await uow.reconciliations.add_findings(run.id, findings)
    events: list[DomainEvent] = []
    repaired = 0
    if run.repair == RepairMode.PUSH.value:
        drifted = list(
            dict.fromkeys(
                f.product_id for f in findings if f.product_id is not None and f.kind != FindingKind.EXTRA
            )
        )
        await _observed_quantities(uow, channel, findings)
        repaired, events = await _repair(uow, channel, drifted)
    await uow.reconciliations.finish(
        run.id,
        status="succeeded",
        at=uow.now,
        expected=tally.expected,
        matched=tally.matched,
        items_read=tally.read,
        rate=tally.rate,
        counts=tally.counts,
        repaired=repaired,
    )
    await record(
        uow,
        actor,
        action="channel.reconciled",
        entity_type="channel",
        entity_id=channel.id,
        owner=channel.owner_partner_id,
        before=None,
        after={
            "run_id": str(run.id),
            "trigger": run.trigger,
            "expected": tally.expected,
            "matched": tally.matched,
            "consistency_rate": tally.rate,
            "counts": tally.counts,
            "repaired": repaired,
        },
        events=events,
    )
    done = await uow.reconciliations.get(run.id)
    assert done is not None
    return done


async def _observed_quantities(uow: UnitOfWork, channel: Channel, findings: Sequence[Finding]) -> None:
    """A Shopify push compares against the quantity the hub last knew the shop held and
    sends nothing when that equals the hub's number; the run has just read what the shop
    really holds, so that becomes the known quantity and the repair's push overwrites it
    (the hub is the master: units the shop sold and never reported are not recorded)."""
    if channel.kind is not ChannelKind.SHOPIFY:
        return
    for f in findings:
        if f.kind is FindingKind.WRONG_STOCK and f.external_id and f.channel_value:
            observed = Decimal(f.channel_value)
            if observed == observed.to_integral_value():
                await channel_quantities.remember(uow, channel.id, f.external_id, int(observed), None)


async def _repair(
    uow: UnitOfWork, channel: Channel, product_ids: list[uuid.UUID]
) -> tuple[int, list[DomainEvent]]:
    """The current state of these products as events directed at the channel."""
    events: list[DomainEvent] = []
    repaired = 0
    for start_at in range(0, len(product_ids), REPAIR_CHUNK):
        chunk = product_ids[start_at : start_at + REPAIR_CHUNK]
        products = sorted((await uow.products.get_many(set(chunk))).values(), key=lambda p: p.sku)
        reads = await read_states(uow, channel, products)
        for p in products:
            events += state_events(channel, p, reads, origin=ORIGIN, at=uow.now)
            repaired += 1
    return repaired, events


async def fail(uow: UnitOfWork, actor: Actor, run_id: uuid.UUID, reason: str) -> Run:
    """Store a run that could not complete (the channel could not be read), with why."""
    run = await _running(uow, run_id)
    await uow.reconciliations.finish(run.id, status="failed", at=uow.now, error=reason[:2000])
    channel = await uow.channels.get(run.channel_id)
    await record(
        uow,
        actor,
        action="channel.reconciliation_failed",
        entity_type="channel",
        entity_id=run.channel_id,
        owner=channel.owner_partner_id if channel else None,
        before=None,
        after={"run_id": str(run.id), "trigger": run.trigger, "error": reason[:500]},
    )
    done = await uow.reconciliations.get(run.id)
    assert done is not None
    return done


async def _running(uow: UnitOfWork, run_id: uuid.UUID) -> Run:
    run = await uow.reconciliations.get(run_id)
    if run is None:
        raise NotFound("reconciliation", run_id)
    if run.status != "running":
        raise InvalidInput(f"the run is already {run.status}", field="run")
    return run


@dataclass(frozen=True)
class RunPage:
    run: Run
    findings: list[StoredFinding]
    next_after: int | None


async def read_run(
    uow: UnitOfWork,
    actor: Actor,
    channel_id: uuid.UUID,
    run_id: uuid.UUID,
    *,
    kind: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> RunPage:
    """A run of the caller's channel and one page of its findings (of one kind, if named)."""
    await get_channel(uow, actor, channel_id)
    if kind is not None and kind not in KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(KINDS)}", field="kind")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1-{MAX_PAGE}", field="limit")
    run = await uow.reconciliations.get(run_id)
    if run is None or run.channel_id != channel_id:
        raise NotFound("reconciliation", run_id)
    rows = await uow.reconciliations.findings(run.id, kind=kind, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return RunPage(run, rows, rows[-1].seq if more and rows else None)


async def list_runs(
    uow: UnitOfWork,
    actor: Actor,
    channel_id: uuid.UUID,
    *,
    before: datetime | None = None,
    limit: int = 100,
) -> list[Run]:
    """The channel's runs, newest first: its consistency history."""
    await get_channel(uow, actor, channel_id)
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1-{MAX_PAGE}", field="limit")
    return await uow.reconciliations.runs(channel_id, before=before, limit=limit)


def history_point(run: Run) -> dict[str, Any]:
    """One point of the consistency history (finished, successful runs only carry a rate)."""
    return {
        "run_id": run.id,
        "at": run.finished_at or run.started_at,
        "trigger": run.trigger,
        "consistency_rate": run.consistency_rate,
        "expected": run.expected,
        "matched": run.matched,
        "counts": run.counts,
    }
