"""Wires settings, database and migrations into a running hub for api, cli and workers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from productsync.config import Settings
from productsync.services import lots, reservations
from productsync.services.catalog import ensure_default_categories
from productsync.services.maintenance import purge_idempotency_records
from productsync.store import migrate
from productsync.store.database import Database, create_database, redact
from productsync.store.secrets import load_secret_box
from productsync.store.uow import transaction

log = logging.getLogger("productsync")


@dataclass
class Hub:
    settings: Settings
    db: Database

    async def close(self) -> None:
        await self.db.dispose()


async def housekeeping(hub: Hub, *, every_seconds: float = 900.0) -> None:
    """Runs inside each API process until cancelled. Every step is idempotent, so
    several processes doing it at once only repeat harmless deletes."""
    ttl = timedelta(hours=hub.settings.idempotency_ttl_hours)
    while True:
        try:
            purged = await transaction(hub.db, lambda uow: purge_idempotency_records(uow, ttl))
            if purged:
                log.info("purged %d expired idempotency records", purged)
        except Exception:  # noqa: BLE001 - housekeeping must never take the API down
            log.exception("housekeeping failed; retrying later")
        await asyncio.sleep(every_seconds)


async def expire_reservations(hub: Hub) -> None:
    """The scheduler for holds past their time (and for lots past their date, written
    off; lots near it, announced): released within about
    ``reservation_sweep_seconds``. Runs in every API process and worker; they claim
    different rows, so running it in several places is safe."""
    every = hub.settings.reservation_sweep_seconds
    while True:
        try:
            while True:
                expired = await transaction(hub.db, lambda uow: reservations.expire_due(uow, limit=BATCH))
                if expired:
                    log.info("released %d expired reservation(s)", expired)
                if expired < BATCH:
                    break
            while await transaction(hub.db, lambda uow: lots.expire_lots(uow, limit=BATCH)) >= BATCH:
                pass
        except Exception:  # noqa: BLE001 - the sweep must never take the process down
            log.exception("reservation expiry failed; retrying later")
        await asyncio.sleep(every)


BATCH = 100


async def prepare_schema(settings: Settings) -> None:
    """Migrate to head (in a thread: Alembic drives its own event loop)."""
    await asyncio.to_thread(migrate.upgrade, settings.database_url)


async def start_hub(settings: Settings, *, run_migrations: bool | None = None) -> Hub:
    """Connect, migrate (embedded SQLite always; otherwise per settings), seed built-ins."""
    db = create_database(settings.database_url, pool_size=settings.db_pool_size)
    db.secret_box = load_secret_box(settings.secret_key or None, settings.database_url)
    should_migrate = settings.auto_migrate if run_migrations is None else run_migrations
    if should_migrate or db.is_sqlite:
        await prepare_schema(settings)
        await transaction(db, ensure_default_categories)
    log.info("hub connected to %s", redact(settings.database_url))
    return Hub(settings=settings, db=db)
