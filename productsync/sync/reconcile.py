"""Reconcile one channel: read what it holds, compare with what the hub says it should
hold, store the report, repair per the channel's setting.

Steps, so no transaction stays open while a platform answers:

1. ``services.reconciliation.start`` (one transaction): the caller's right, the channel's
   settings, the run stored as ``running``.
2. The channel's reader (``catalog_readers.reader_for``: Shopify, WooCommerce, a pull feed,
   a webhook channel's ``state_url``) streams its items into a scratch ``Spool``.
3. The hub's side is paged (``channel_slices.slice_page``, ``PAGE`` products per short
   read-only transaction); each page is compared with the spooled items it names
   (``domain.reconciliation.reconcile_page``); then whatever the channel holds that no
   page claimed is extra. Memory is a page plus the findings.
4. ``services.reconciliation.finish`` stores the report, and for ``reconcile_repair:
   push`` channels queues the hub's state of every drifted product to that channel (one
   transaction). A channel that cannot be read ends as a ``failed`` run with the reason
   (``services.reconciliation.fail``), never an exception out of a scheduled job.

``reconcile_channel`` is the entry point for the scheduler (system actor, any channel);
``run_started`` is what the API's background task calls after ``start``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from productsync.bootstrap import Hub
from productsync.config import Settings
from productsync.domain.access import Actor, system_actor
from productsync.domain.channel_catalog import ChannelItem
from productsync.domain.errors import DomainError
from productsync.domain.reconciliation import Finding, Tally, extra, reconcile_page, sku_key
from productsync.services import reconciliation as service
from productsync.services.channel_slices import ExpectedItem, slice_page
from productsync.store.database import Database
from productsync.store.repositories.reconciliations import Run
from productsync.store.uow import UnitOfWork, transaction
from productsync.sync.catalog_readers import reader_for
from productsync.sync.guard import TargetGuard, TargetRefused
from productsync.sync.reconcile_spool import Spool
from productsync.sync.woocommerce_catalog import CatalogReadError

log = logging.getLogger("productsync.reconcile")

PAGE = 10_000  # expected items compared at once (slice_page reads one set-based page)
SPOOL_BATCH = 5000  # channel items written to the spool at once
MAX_FINDINGS_KEPT = 200_000  # findings stored per run; counts stay exact beyond it


@dataclass(frozen=True)
class RunSummary:
    run_id: uuid.UUID
    channel_id: uuid.UUID
    status: str
    expected: int
    matched: int
    items_read: int
    consistency_rate: float | None
    counts: dict[str, int]
    repaired: int
    error: str | None
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, run: Run, *, seconds: float = 0.0, timings: dict[str, float] | None = None) -> RunSummary:
        return cls(
            run_id=run.id,
            channel_id=run.channel_id,
            status=run.status,
            expected=run.expected,
            matched=run.matched,
            items_read=run.items_read,
            consistency_rate=run.consistency_rate,
            counts=run.counts,
            repaired=run.repaired,
            error=run.error,
            seconds=seconds,
            timings=timings or {},
        )


async def start(hub: Hub, actor: Actor, channel_id: uuid.UUID, *, trigger: str) -> tuple[Run, service.Plan]:
    """Store the run; a channel the hub has no reader for is refused (422) after the run
    is stored as failed with that reason, so the history says why nothing was compared."""
    run, plan = await transaction(hub.db, lambda uow: service.start(uow, actor, channel_id, trigger=trigger))
    try:
        reader_for(plan.channel)
    except DomainError as exc:
        await _fail(hub, actor, run, exc.detail)
        raise
    return run, plan


async def _spool(hub: Hub, plan: service.Plan, guard: TargetGuard, spool: Spool) -> int:
    reader = reader_for(plan.channel)
    batch: list[ChannelItem] = []
    async for item in reader(
        plan.channel, plan.credentials, guard=guard, timeout=hub.settings.webhook_timeout_seconds
    ):
        batch.append(item)
        if len(batch) >= SPOOL_BATCH:
            await asyncio.to_thread(spool.add, batch)
            batch = []
    if batch:
        await asyncio.to_thread(spool.add, batch)
    await asyncio.to_thread(spool.index)
    return spool.count


def _page(
    plan: service.Plan, after: str | None
) -> Callable[[UnitOfWork], Awaitable[tuple[list[ExpectedItem], str | None]]]:
    return lambda uow: slice_page(uow, plan.channel, after=after, limit=PAGE)


async def _compare(hub: Hub, plan: service.Plan, spool: Spool, tally: Tally) -> list[Finding]:
    findings: list[Finding] = []

    def keep(new: list[Finding]) -> None:
        tally.add(new)
        room = MAX_FINDINGS_KEPT - len(findings)
        findings.extend(new[: max(0, room)])

    # The next page is read while this one is compared (the read waits on the database,
    # the comparison on the spool and the CPU).
    fetch = asyncio.ensure_future(transaction(hub.db, _page(plan, None), readonly=True))
    try:
        while True:
            expected, after_next = await fetch
            if after_next is not None:
                fetch = asyncio.ensure_future(transaction(hub.db, _page(plan, after_next), readonly=True))
            ids = [x for e in expected for x in e.external_ids]
            keys = [k for e in expected if not e.external_ids and (k := sku_key(e.sku))]
            held = await asyncio.to_thread(spool.by_external, ids)
            by_sku = await asyncio.to_thread(spool.by_sku, keys) if keys else {}
            new, claimed, matched = reconcile_page(expected, held, by_sku, plan.tolerances)
            await asyncio.to_thread(spool.claim, claimed)
            tally.expected += len(expected)
            tally.matched += matched
            keep(new)
            if after_next is None:
                break
    finally:
        if not fetch.done():
            fetch.cancel()
    for items in await asyncio.to_thread(lambda: list(spool.unclaimed())):
        keep([extra(i) for i in items])
    return findings


async def run_started(
    hub: Hub, actor: Actor, run: Run, plan: service.Plan, *, guard: TargetGuard | None = None
) -> RunSummary:
    """Read, compare and store a run that ``start`` stored; a failure is stored too."""
    began = time.perf_counter()
    timings: dict[str, float] = {}
    guard = guard or TargetGuard(hub.settings.target_policy())
    spool = Spool()
    tally = Tally()
    try:
        tally.read = await _spool(hub, plan, guard, spool)
        timings["read"] = time.perf_counter() - began
        findings = await _compare(hub, plan, spool, tally)
        timings["compare"] = time.perf_counter() - began - timings["read"]
        done = await transaction(hub.db, lambda uow: service.finish(uow, actor, run.id, tally, findings))
        timings["store"] = time.perf_counter() - began - timings["read"] - timings["compare"]
    except (CatalogReadError, TargetRefused) as exc:
        done = await _fail(hub, actor, run, exc.reason)
    except DomainError as exc:  # the channel cannot be read this way (no reader, bad config)
        done = await _fail(hub, actor, run, exc.detail)
    except asyncio.CancelledError:
        await asyncio.shield(_fail(hub, actor, run, "interrupted: the process stopped during the run"))
        raise
    except Exception as exc:  # noqa: BLE001 - a reader's own failure is the run's reason, logged
        log.exception("reconciling channel %s failed", run.channel_id)
        done = await _fail(hub, actor, run, f"{type(exc).__name__}: {exc}"[:500])
    finally:
        spool.close()
    return RunSummary.of(done, seconds=time.perf_counter() - began, timings=timings)


async def _fail(hub: Hub, actor: Actor, run: Run, reason: str) -> Run:
    return await transaction(hub.db, lambda uow: service.fail(uow, actor, run.id, reason))


async def reconcile(
    hub: Hub,
    actor: Actor,
    channel_id: uuid.UUID,
    *,
    trigger: str = service.ON_DEMAND,
    guard: TargetGuard | None = None,
) -> RunSummary:
    """Start and run one reconciliation now (a channel without a reader: a failed run)."""
    run, plan = await transaction(hub.db, lambda uow: service.start(uow, actor, channel_id, trigger=trigger))
    return await run_started(hub, actor, run, plan, guard=guard)


async def reconcile_channel(
    hub_or_db: Hub | Database, channel_id: uuid.UUID, *, trigger: str = service.SCHEDULED
) -> RunSummary:
    """The scheduler's job: reconcile one channel as the hub itself (``config.
    reconcile_every_minutes`` decides how often). Settings come from the hub when given,
    else from the environment."""
    hub = hub_or_db if isinstance(hub_or_db, Hub) else Hub(Settings(), hub_or_db)
    return await reconcile(hub, system_actor("scheduler"), channel_id, trigger=trigger)


_TASKS: set[asyncio.Task[RunSummary]] = set()


def run_in_background(hub: Hub, actor: Actor, run: Run, plan: service.Plan) -> asyncio.Task[RunSummary]:
    """Run a started reconciliation as a task of this process (the API answers 202)."""
    task = asyncio.create_task(run_started(hub, actor, run, plan))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)
    return task
