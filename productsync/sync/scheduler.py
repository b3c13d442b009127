"""The one scheduler: file feeds, pull feeds and scheduled reconciliations.

Runs inside ``productsync serve`` (embedded, beside the dispatcher) and in every
``productsync worker``. Any number of processes may run it on one PostgreSQL database:
a job runs only in the process whose claim leased its row (``SKIP LOCKED``), and the
claim moves its next run one interval on, so each due job runs exactly once however
many schedulers tick. A job missed while everything was down is simply due: it runs
once on start, and its next run is one interval after that, never N catch-up runs.

A run holds a lease (``lease_seconds``), renewed while it runs; a process that dies
mid-run leaves a lease that runs out, and the job is claimed again after it (its run
row is then closed as abandoned). Every run is a row in ``feed_runs`` with its counts,
the rows it could not take and its error; a failing job never stops the others.

What each kind of job does is a table (``RUNNERS``): ``sync/feed_exports.py`` (file
feeds), ``sync/feeds.py`` (pull feeds), ``sync/reconcile.py`` (reconciliations).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from productsync.bootstrap import Hub
from productsync.domain.access import Actor
from productsync.domain.channels import Channel, ChannelStatus
from productsync.domain.errors import DomainError
from productsync.domain.feeds import FILE_FEED, PULL_FEED, RECONCILE
from productsync.services import schedules as service
from productsync.services.schedules import Claimed, RunResult
from productsync.store.uow import transaction
from productsync.sync.guard import TargetGuard, TargetRefused

log = logging.getLogger("productsync.scheduler")

LEASE_SECONDS = 300.0
SYNC_SECONDS = 10.0  # how often schedule rows are brought in step with channel configs


@dataclass(frozen=True)
class JobContext:
    """What a runner gets besides its job: the hub, the channel it works for (with its
    credentials), the SSRF guard for every outbound connection, and the clock's now."""

    hub: Hub
    claimed: Claimed
    channel: Channel
    credentials: dict[str, str]
    guard: TargetGuard
    now: datetime


Runner = Callable[[JobContext], Awaitable[RunResult]]


async def _file_feed(ctx: JobContext) -> RunResult:
    from productsync.sync.feed_exports import run_file_feed

    return await run_file_feed(ctx)


async def _pull_feed(ctx: JobContext) -> RunResult:
    from productsync.sync.feeds import run_pull_feed

    return await run_pull_feed(ctx)


async def _reconcile(ctx: JobContext) -> RunResult:
    """A scheduled reconciliation (``sync/reconcile.py``, imported when first needed)."""
    from productsync.sync.reconcile import reconcile_channel

    summary = await reconcile_channel(ctx.hub, ctx.channel.id)
    counts = {"expected": summary.expected, "matched": summary.matched, "items_read": summary.items_read}
    counts.update(summary.counts)
    counts["repaired"] = summary.repaired
    ok = summary.status == "succeeded"
    return RunResult(status="succeeded" if ok else "failed", counts=counts, error=summary.error)


RUNNERS: dict[str, Runner] = {FILE_FEED: _file_feed, PULL_FEED: _pull_feed, RECONCILE: _reconcile}


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Scheduler:
    """Claims and runs due jobs. ``tick`` runs one round and waits for its jobs (what tests
    drive); ``run`` loops until cancelled, running jobs as tasks beside the claim loop."""

    def __init__(
        self,
        hub: Hub,
        *,
        owner: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        guard: TargetGuard | None = None,
        max_parallel: int = 4,
        channel_ids: Collection[uuid.UUID] | None = None,
    ) -> None:
        self.hub = hub
        self.owner = owner or process_name()
        self.lease = timedelta(seconds=lease_seconds)
        self.guard = guard or TargetGuard(hub.settings.target_policy())
        self.max_parallel = max_parallel
        self.channel_ids = channel_ids  # None: every channel's jobs
        self._running: set[asyncio.Task[RunResult]] = set()

    async def sync(self, now: datetime | None = None) -> int:
        at = now or self.hub.clock.now()
        return await transaction(self.hub.db, lambda uow: service.sync_with_channels(uow, at))

    async def claim(self, now: datetime | None = None, *, limit: int | None = None) -> list[Claimed]:
        at = now or self.hub.clock.now()
        n = self.max_parallel if limit is None else limit
        if n <= 0:
            return []
        return await transaction(
            self.hub.db,
            lambda uow: service.claim_due(
                uow, self.owner, at, self.lease, limit=n, channel_ids=self.channel_ids
            ),
        )

    async def tick(self, now: datetime | None = None) -> list[RunResult]:
        """Claim what is due at ``now`` and run it; returns the runs' results."""
        claimed = await self.claim(now)
        return list(await asyncio.gather(*(self.execute(c, now=now) for c in claimed)))

    async def run_now(
        self, actor: Actor, channel_id: uuid.UUID, kind: str | None = None
    ) -> tuple[Claimed, asyncio.Task[RunResult]]:
        """Lease a channel's job at once and run it as a task of this process."""
        now = self.hub.clock.now()
        claimed = await transaction(
            self.hub.db,
            lambda uow: service.claim_now(uow, actor, channel_id, kind, self.owner, now, self.lease),
        )
        return claimed, self._spawn(claimed)

    def _spawn(self, claimed: Claimed) -> asyncio.Task[RunResult]:
        task = asyncio.create_task(self.execute(claimed), name=f"productsync-job-{claimed.schedule.key}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    async def execute(self, claimed: Claimed, *, now: datetime | None = None) -> RunResult:
        """Run one claimed job and record how it ended; never raises (but cancellation)."""
        schedule = claimed.schedule
        keeper = asyncio.create_task(self._keep_lease(schedule.id))
        began = time.perf_counter()
        try:
            result = await self._run(claimed, now or self.hub.clock.now())
        except asyncio.CancelledError:
            result = RunResult(status="failed", error="interrupted: the process stopped during the run")
            with contextlib.suppress(Exception):
                await asyncio.shield(self._finish(claimed, result))
            raise
        finally:
            keeper.cancel()
        try:
            await self._finish(claimed, result)
        except Exception:  # noqa: BLE001 - the lease runs out and the job runs again
            log.exception("recording the end of job %s failed", schedule.key)
        log.info(
            "job %s %s in %.2f s %s%s",
            schedule.key,
            result.status,
            time.perf_counter() - began,
            result.counts,
            f": {result.error}" if result.error else "",
        )
        return result

    async def _run(self, claimed: Claimed, now: datetime) -> RunResult:
        schedule = claimed.schedule
        runner = RUNNERS.get(schedule.kind)
        if runner is None or schedule.channel_id is None:
            return RunResult(status="failed", error=f"no runner for {schedule.kind} jobs")
        channel_id = schedule.channel_id
        found = await transaction(
            self.hub.db, lambda uow: service.job_channel(uow, channel_id), readonly=True
        )
        if found is None or found[0].status is not ChannelStatus.ENABLED:
            return RunResult(status="failed", error="the channel is gone or not enabled")
        ctx = JobContext(self.hub, claimed, found[0], found[1], self.guard, now)
        try:
            return await runner(ctx)
        except TargetRefused as exc:
            return RunResult(status="failed", error=f"target refused: {exc.reason}", state=schedule.state)
        except DomainError as exc:
            return RunResult(status="failed", error=exc.detail, state=schedule.state)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a job's failure is its run's error, logged
            log.exception("job %s failed", schedule.key)
            return RunResult(
                status="failed", error=f"{type(exc).__name__}: {exc}"[:500], state=schedule.state
            )

    async def _finish(self, claimed: Claimed, result: RunResult) -> None:
        await transaction(self.hub.db, lambda uow: service.finish(uow, claimed, self.owner, result))

    async def _keep_lease(self, schedule_id: uuid.UUID) -> None:
        """Renew the lease at a third of its length while the job runs."""
        every = self.lease.total_seconds() / 3
        while True:
            await asyncio.sleep(every)
            until = self.hub.clock.now() + self.lease
            try:
                renew = functools.partial(
                    service.renew, schedule_id=schedule_id, owner=self.owner, until=until
                )
                if not await transaction(self.hub.db, renew):
                    log.warning("the lease of job %s was lost", schedule_id)
                    return
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - tried again next time; the lease is long
                log.exception("renewing the lease of job %s failed", schedule_id)

    async def run(self, *, every: float = 1.0, sync_every: float = SYNC_SECONDS) -> None:
        """Until cancelled: keep schedules in step with channels, claim due jobs (up to
        ``max_parallel`` running at once) and start each as a task."""
        synced_at = -sync_every
        try:
            while True:
                try:
                    if time.monotonic() - synced_at >= sync_every:
                        await self.sync()
                        synced_at = time.monotonic()
                    for claimed in await self.claim(limit=self.max_parallel - len(self._running)):
                        self._spawn(claimed)
                    self.hub.sweeps.job_ok("scheduler")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - the scheduler must never take the process down
                    self.hub.sweeps.job_failed("scheduler", exc)
                    log.exception("scheduler round failed; retrying")
                await asyncio.sleep(every)
        finally:
            for task in list(self._running):
                task.cancel()
            for task in list(self._running):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task


async def run(hub: Hub) -> None:
    """The scheduler of this process (``serve`` and ``worker`` start it)."""
    await Scheduler(hub).run()
