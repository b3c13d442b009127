"""Wires settings, database and migrations into a running hub for api, cli and workers,
and runs the hub's background jobs.

Background jobs are named periodic coroutines (``JOBS``), each in its own loop with its
own ``try``: one that fails (a database hiccup, a bug) is logged and tried again on its
next round, and never stops another. Sweeps that work through rows (expired holds,
expired lots) give every row its own transaction; a row that raises is logged, counted
and skipped for a backoff period (``SweepHealth``, in the memory of each process), and
the rest keep going. ``GET /v1/status/sweeps`` shows what is being skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from productsync.config import Settings
from productsync.domain.instants import Clock, SystemClock
from productsync.services import logs, lots, price_windows, reservations
from productsync.services.catalog import ensure_default_categories
from productsync.services.maintenance import purge_idempotency_records
from productsync.store import migrate
from productsync.store.database import Database, create_database, redact
from productsync.store.secrets import load_secret_box
from productsync.store.uow import transaction

log = logging.getLogger("productsync")

BATCH = 100  # rows a sweep looks at per round (each still in its own transaction)
# Rows in backoff a sweep's listing excludes by id (NOT IN, one bind parameter each); past
# this many, the rest are read and dropped again, and /v1/status/sweeps shows them all.
MAX_EXCLUDED = 1000


class SweepHealth:
    """Rows a sweep could not process, per job, in this process's memory: each is
    skipped for a backoff that doubles with every failure (``first_backoff`` up to
    ``max_backoff``), so one bad row neither blocks the sweep nor floods the log, and
    it is tried again later (a fixed row then goes through). Another process keeps its
    own list: on PostgreSQL each API process and worker reports what it saw."""

    def __init__(
        self,
        *,
        first_backoff: float = 30.0,
        max_backoff: float = 3600.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timer = timer
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self._failing: dict[str, dict[str, dict[str, Any]]] = {}
        self._job_errors: dict[str, dict[str, Any]] = {}
        self.processed: dict[str, int] = {}
        self.rounds: dict[str, int] = {}

    def skipping(self, job: str) -> set[str]:
        """Row ids of ``job`` whose backoff has not run out yet."""
        now = self.timer()
        return {rid for rid, f in self._failing.get(job, {}).items() if f["retry_at"] > now}

    def row_failed(self, job: str, row_id: object, exc: BaseException) -> None:
        rows = self._failing.setdefault(job, {})
        entry = rows.get(str(row_id))
        failures = 1 if entry is None else entry["failures"] + 1
        backoff = min(self.max_backoff, self.first_backoff * 2 ** (failures - 1))
        rows[str(row_id)] = {
            "failures": failures,
            "error": f"{type(exc).__name__}: {exc}"[:300],
            "first_failed_at": entry["first_failed_at"] if entry else datetime.now(UTC),
            "last_failed_at": datetime.now(UTC),
            "retry_at": self.timer() + backoff,
            "backoff_seconds": backoff,
        }
        log.error(
            "sweep %s: row %s failed (%d time(s)), skipped for %.0f s: %s",
            job,
            row_id,
            failures,
            backoff,
            rows[str(row_id)]["error"],
            exc_info=exc,
        )

    def row_done(self, job: str, row_id: object) -> None:
        self.processed[job] = self.processed.get(job, 0) + 1
        rows = self._failing.get(job)
        if rows and rows.pop(str(row_id), None) is not None:
            log.info("sweep %s: row %s went through after failing before", job, row_id)

    def job_failed(self, job: str, exc: BaseException) -> None:
        self.rounds[job] = self.rounds.get(job, 0) + 1
        prev = self._job_errors.get(job)
        self._job_errors[job] = {
            "failures": (prev["failures"] + 1) if prev else 1,
            "error": f"{type(exc).__name__}: {exc}"[:300],
            "at": datetime.now(UTC),
        }

    def job_ok(self, job: str) -> None:
        self.rounds[job] = self.rounds.get(job, 0) + 1
        self._job_errors.pop(job, None)

    def report(self) -> dict[str, Any]:
        """What ``GET /v1/status/sweeps`` shows: per job, the rows being skipped."""
        now = self.timer()
        jobs: dict[str, Any] = {}
        names = set(self._failing) | set(self._job_errors) | set(self.processed) | set(self.rounds)
        for job in sorted(names):
            rows = self._failing.get(job, {})
            jobs[job] = {
                "rounds": self.rounds.get(job, 0),
                "processed": self.processed.get(job, 0),
                "failing_rows": len(rows),
                "job_error": self._job_errors.get(job),
                "rows": [
                    {
                        "id": rid,
                        "failures": f["failures"],
                        "error": f["error"],
                        "first_failed_at": f["first_failed_at"],
                        "last_failed_at": f["last_failed_at"],
                        "retry_in_seconds": max(0.0, round(f["retry_at"] - now, 1)),
                    }
                    for rid, f in sorted(rows.items())
                ],
            }
        return jobs


class NewEvents:
    """Wakes SSE streams when events get their place in the stream, instead of each
    stream polling the database. ``published`` is the highest sequence number this
    process knows of; ``poke`` says "something may have been sequenced, look" (the
    dispatcher calls it after sequencing); the watcher job (``watch_events``) reads
    once for every stream and publishes."""

    def __init__(self) -> None:
        self.published = 0
        self._changed = asyncio.Event()
        self._poked = asyncio.Event()
        self.listeners = 0

    def poke(self) -> None:
        self._poked.set()

    def publish(self, seq: int) -> None:
        if seq > self.published:
            self.published = seq
            self._changed.set()
            self._changed = asyncio.Event()

    async def wait_past(self, seq: int, timeout: float) -> bool:
        """Until something past ``seq`` is published (True) or ``timeout`` runs out."""
        if self.published > seq:
            return True
        changed = self._changed
        self.listeners += 1
        try:
            await asyncio.wait_for(changed.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            self.listeners -= 1
        return self.published > seq

    async def poked(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._poked.wait(), timeout)
        self._poked.clear()


@dataclass
class Hub:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    sweeps: SweepHealth = field(default_factory=SweepHealth)
    events: NewEvents = field(default_factory=NewEvents)

    async def close(self) -> None:
        await self.db.dispose()


# --- background jobs ----------------------------------------------------------------


async def purge_idempotency(hub: Hub) -> int:
    """Every step is idempotent, so several processes doing it at once only repeat
    harmless deletes."""
    ttl = timedelta(hours=hub.settings.idempotency_ttl_hours)
    purged = await transaction(hub.db, lambda uow: purge_idempotency_records(uow, ttl))
    if purged:
        log.info("purged %d expired idempotency records", purged)
    return purged


async def sweep_rows(
    hub: Hub,
    job: str,
    list_due: Callable[[datetime, int, frozenset[uuid.UUID]], Awaitable[list[uuid.UUID]]],
    process: Callable[[uuid.UUID, datetime], Awaitable[bool]],
    *,
    limit: int = BATCH,
) -> int:
    """One round of a row sweep: list what is due at the clock's now, then each row in
    a transaction of its own. A row that raises is recorded in ``hub.sweeps`` and
    skipped until its backoff runs out; the others go on. Returns rows processed.

    The listing excludes the rows in backoff by id (up to MAX_EXCLUDED of them), so a
    listing reads at most ``limit`` rows however many are failing."""
    done = 0
    while True:
        now = hub.clock.now()
        skipping = hub.sweeps.skipping(job)
        excluded = frozenset(uuid.UUID(rid) for rid in sorted(skipping)[:MAX_EXCLUDED])
        listed = await list_due(now, limit + len(skipping) - len(excluded), excluded)
        due = [rid for rid in listed if str(rid) not in skipping]
        if not due:
            return done
        for rid in due[:limit]:
            try:
                if await process(rid, now):
                    done += 1
                hub.sweeps.row_done(job, rid)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one bad row must not stop the sweep
                hub.sweeps.row_failed(job, rid, exc)
        if len(due) < limit:
            return done


async def expire_reservations(hub: Hub) -> int:
    """Holds past their time are released within about ``reservation_sweep_seconds``.
    Runs in every API process and worker; two processes on one hold serialize on its
    row lock and the second finds it already expired."""

    async def list_due(now: datetime, limit: int, exclude: frozenset[uuid.UUID]) -> list[uuid.UUID]:
        return await transaction(
            hub.db,
            lambda uow: reservations.due_reservation_ids(uow, now, limit=limit, exclude=exclude),
            readonly=True,
        )

    async def process(rid: uuid.UUID, now: datetime) -> bool:
        return await transaction(hub.db, lambda uow: reservations.expire_reservation(uow, rid, now))

    expired = await sweep_rows(hub, "reservation-expiry", list_due, process)
    if expired:
        log.info("released %d expired reservation(s)", expired)
    return expired


async def expire_lots(hub: Hub) -> int:
    """Expired lots have their unheld stock written off, one lot per transaction."""

    async def list_due(now: datetime, limit: int, exclude: frozenset[uuid.UUID]) -> list[uuid.UUID]:
        return await transaction(
            hub.db, lambda uow: lots.expired_lot_ids(uow, now, limit=limit, exclude=exclude), readonly=True
        )

    async def process(lot_id: uuid.UUID, now: datetime) -> bool:
        return await transaction(hub.db, lambda uow: lots.expire_lot(uow, lot_id, now))

    return await sweep_rows(hub, "lot-expiry", list_due, process)


async def announce_near_expiry(hub: Hub) -> int:
    """Lots coming within NEAR_EXPIRY_DAYS of expiry are announced once."""
    now = hub.clock.now()
    total = 0
    while (n := await transaction(hub.db, lambda uow: lots.announce_near_expiry(uow, now, limit=BATCH))) > 0:
        total += n
        if n < BATCH:
            break
    return total


async def announce_price_windows(hub: Hub) -> int:
    """Price windows that opened or closed are announced once each, whichever process gets
    there first (services/price_windows.py); an idle round is one read."""
    now = hub.clock.now()
    total = 0
    while (due := await transaction(hub.db, price_windows.next_boundary, readonly=True)) and due <= now:
        n = await transaction(
            hub.db, lambda uow: price_windows.announce_due_boundaries(uow, now, limit=BATCH)
        )
        total += n
        if n < BATCH:  # the rest (if any) is held by another process, or a PUT
            break
    if total:
        log.info("announced %d price window boundary(ies)", total)
    return total


async def watch_events(hub: Hub) -> None:
    """Runs in each API process while it serves streams: one reader for all of them.
    A poke (the dispatcher sequenced events) reads the latest sequence number at once;
    otherwise, every ``stream_poll_seconds`` while a stream waits, it looks for events
    sequenced by other processes, and sequences events nobody has sequenced yet (no
    dispatcher running here): the only write it makes, and only when events wait."""
    every = hub.settings.stream_poll_seconds
    signal = hub.events
    while True:
        poked_at = time.monotonic()
        await signal.poked(every)
        if signal.listeners == 0:
            continue
        try:
            if time.monotonic() - poked_at >= every and await transaction(
                hub.db, logs.events_waiting, readonly=True
            ):
                await transaction(hub.db, logs.sequence_events)
            signal.publish(await transaction(hub.db, logs.latest_seq, readonly=True))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - streams fall back to their own timeouts meanwhile
            log.exception("reading the event stream position failed; retrying")
            await asyncio.sleep(every)


@dataclass(frozen=True)
class Job:
    """A named periodic job: ``run(hub)`` every ``every(settings)`` seconds."""

    name: str
    every: Callable[[Settings], float]
    run: Callable[[Hub], Awaitable[Any]]


# The hub's periodic jobs; add one here and every process that runs jobs runs it.
JOBS: list[Job] = [
    Job("idempotency-purge", lambda s: 900.0, purge_idempotency),
    Job("reservation-expiry", lambda s: s.reservation_sweep_seconds, expire_reservations),
    Job("lot-expiry", lambda s: s.lot_sweep_seconds, expire_lots),
    Job("near-expiry", lambda s: s.lot_sweep_seconds, announce_near_expiry),
    Job("price-windows", lambda s: 1.0, announce_price_windows),  # boundaries land within ~1 s
]


async def run_job(hub: Hub, job: Job) -> None:
    """``job`` until cancelled: its own loop and its own ``try``, so its failure is logged,
    reported by ``GET /v1/status/sweeps``, and retried on the next round."""
    every = job.every(hub.settings)
    while True:
        try:
            await job.run(hub)
            hub.sweeps.job_ok(job.name)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a background job must never take the process down
            hub.sweeps.job_failed(job.name, exc)
            log.exception("background job %s failed; retrying in %.0f s", job.name, every)
        await asyncio.sleep(every)


def start_jobs(hub: Hub, jobs: Iterable[Job] | None = None) -> list[asyncio.Task[None]]:
    """One task per job (see ``JOBS``); cancel them to stop."""
    return [
        asyncio.create_task(run_job(hub, job), name=f"productsync-job-{job.name}")
        for job in (JOBS if jobs is None else jobs)
    ]


# --- start-up -----------------------------------------------------------------------


async def prepare_schema(settings: Settings) -> None:
    """Migrate to head (in a thread: Alembic drives its own event loop)."""
    await asyncio.to_thread(migrate.upgrade, settings.database_url)


async def start_hub(
    settings: Settings, *, run_migrations: bool | None = None, clock: Clock | None = None
) -> Hub:
    """Connect, migrate (embedded SQLite always; otherwise per settings), seed built-ins."""
    db = create_database(settings.database_url, pool_size=settings.db_pool_size)
    db.secret_box = load_secret_box(settings.secret_key or None, settings.database_url)
    should_migrate = settings.auto_migrate if run_migrations is None else run_migrations
    if should_migrate or db.is_sqlite:
        await prepare_schema(settings)
        await transaction(db, ensure_default_categories)
    log.info("hub connected to %s", redact(settings.database_url))
    return Hub(settings=settings, db=db, clock=clock or SystemClock())
