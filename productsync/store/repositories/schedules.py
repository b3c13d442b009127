"""Scheduled jobs and their runs.

The claim is the whole concurrency story: due rows are read ``FOR UPDATE SKIP LOCKED``
on PostgreSQL (a row another process is claiming is skipped, not waited for), and each
claimed row gets a lease and its next run time in the same statement's transaction, so
after commit no other process finds it due. On SQLite the claim runs in a ``BEGIN
IMMEDIATE`` transaction (the unit of work's writes), which already serializes claimers.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Row

from productsync.store.repositories.base import Repository
from productsync.store.tables_schedules import feed_runs, schedules

MAX_RUN_ERRORS = 500  # rows-not-taken kept per run; the count stays exact beyond it


@dataclass(frozen=True)
class Schedule:
    id: uuid.UUID
    key: str
    kind: str
    channel_id: uuid.UUID | None
    every_seconds: int
    enabled: bool
    next_run_at: datetime
    last_run_at: datetime | None
    last_status: str | None
    last_error: str | None
    running_since: datetime | None
    lease_owner: str | None
    lease_expires_at: datetime | None
    runs: int
    state: dict[str, Any]

    @classmethod
    def of(cls, r: Row[Any]) -> Schedule:
        return cls(
            id=r.id,
            key=r.key,
            kind=r.kind,
            channel_id=r.channel_id,
            every_seconds=r.every_seconds,
            enabled=r.enabled,
            next_run_at=r.next_run_at,
            last_run_at=r.last_run_at,
            last_status=r.last_status,
            last_error=r.last_error,
            running_since=r.running_since,
            lease_owner=r.lease_owner,
            lease_expires_at=r.lease_expires_at,
            runs=r.runs,
            state=dict(r.state or {}),
        )


@dataclass(frozen=True)
class FeedRun:
    id: uuid.UUID
    schedule_id: uuid.UUID
    channel_id: uuid.UUID | None
    kind: str
    trigger: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    runner: str
    counts: dict[str, int]
    errors: list[dict[str, Any]]
    error: str | None

    @classmethod
    def of(cls, r: Row[Any]) -> FeedRun:
        return cls(
            id=r.id,
            schedule_id=r.schedule_id,
            channel_id=r.channel_id,
            kind=r.kind,
            trigger=r.trigger,
            status=r.status,
            started_at=r.started_at,
            finished_at=r.finished_at,
            runner=r.runner,
            counts=dict(r.counts or {}),
            errors=list(r.errors or []),
            error=r.error,
        )


class ScheduleRepository(Repository):
    async def all(self, *, channel_ids: Collection[uuid.UUID] | None = None) -> list[Schedule]:
        query = select(schedules).order_by(schedules.c.key)
        if channel_ids is not None:
            query = query.where(schedules.c.channel_id.in_(list(channel_ids)))
        return [Schedule.of(r) for r in (await self.conn.execute(query)).all()]

    async def get(self, schedule_id: uuid.UUID) -> Schedule | None:
        row = (await self.conn.execute(select(schedules).where(schedules.c.id == schedule_id))).first()
        return Schedule.of(row) if row else None

    async def by_key(self, key: str) -> Schedule | None:
        row = (await self.conn.execute(select(schedules).where(schedules.c.key == key))).first()
        return Schedule.of(row) if row else None

    async def add(
        self,
        key: str,
        kind: str,
        channel_id: uuid.UUID | None,
        every_seconds: int,
        next_run_at: datetime,
        now: datetime,
    ) -> None:
        """A new schedule; a twin added at the same moment by another process wins quietly."""
        await self.conn.execute(
            self.insert_ignore(
                schedules,
                {
                    "id": uuid.uuid4(),
                    "key": key,
                    "kind": kind,
                    "channel_id": channel_id,
                    "every_seconds": every_seconds,
                    "enabled": True,
                    "next_run_at": next_run_at,
                    "runs": 0,
                    "state": {},
                    "created_at": now,
                    "updated_at": now,
                },
            )
        )

    async def set_plan(
        self,
        schedule_id: uuid.UUID,
        *,
        every_seconds: int,
        enabled: bool,
        next_run_at: datetime,
        now: datetime,
    ) -> None:
        await self.conn.execute(
            update(schedules)
            .where(schedules.c.id == schedule_id)
            .values(every_seconds=every_seconds, enabled=enabled, next_run_at=next_run_at, updated_at=now)
        )

    async def claim_due(
        self,
        owner: str,
        now: datetime,
        lease: timedelta,
        *,
        limit: int,
        only: uuid.UUID | None = None,
        channel_ids: Collection[uuid.UUID] | None = None,
    ) -> list[Schedule]:
        """Take up to ``limit`` due jobs for ``owner``: lease them and move their next run
        one interval on (a job missed for hours runs once). ``only`` claims that one job
        whether due or not (a "run now"), unless a live lease holds it; ``channel_ids``
        limits the claim to those channels' jobs (a scheduler dedicated to some channels)."""
        free = or_(schedules.c.lease_expires_at.is_(None), schedules.c.lease_expires_at <= now)
        query = select(schedules.c.id, schedules.c.every_seconds).where(free)
        if channel_ids is not None:
            query = query.where(schedules.c.channel_id.in_(list(channel_ids)))
        if only is not None:
            query = query.where(schedules.c.id == only)
        else:
            query = query.where(and_(schedules.c.enabled.is_(True), schedules.c.next_run_at <= now))
        query = query.order_by(schedules.c.next_run_at, schedules.c.id).limit(limit)
        if self.is_postgres:
            query = query.with_for_update(skip_locked=True)
        rows = (await self.conn.execute(query)).all()
        claimed: list[Schedule] = []
        for r in rows:
            result = await self.conn.execute(
                update(schedules)
                .where(schedules.c.id == r.id, free)  # still free (a racing twin on SQLite cannot be)
                .values(
                    lease_owner=owner,
                    lease_expires_at=now + lease,
                    running_since=now,
                    next_run_at=now + timedelta(seconds=r.every_seconds),
                    runs=schedules.c.runs + 1,
                    updated_at=now,
                )
                .returning(*schedules.c)
            )
            row = result.first()
            if row is not None:
                claimed.append(Schedule.of(row))
        return claimed

    async def renew(self, schedule_id: uuid.UUID, owner: str, until: datetime) -> bool:
        """Extend a lease still held by ``owner`` (a long run); False if it was lost."""
        result = await self.conn.execute(
            update(schedules)
            .where(schedules.c.id == schedule_id, schedules.c.lease_owner == owner)
            .values(lease_expires_at=until)
        )
        return bool(result.rowcount)

    async def release(
        self,
        schedule_id: uuid.UUID,
        owner: str,
        *,
        now: datetime,
        status: str,
        error: str | None,
        state: dict[str, Any] | None,
    ) -> bool:
        """Record how a run ended and free the lease; the next run is one interval after this
        one ended. A lease another process took over (ours ran out) is left alone."""
        values: dict[str, Any] = {
            "last_run_at": now,
            "last_status": status,
            "last_error": error,
            "running_since": None,
            "lease_owner": None,
            "lease_expires_at": None,
            "updated_at": now,
        }
        if state is not None:
            values["state"] = state
        result = await self.conn.execute(
            update(schedules)
            .where(schedules.c.id == schedule_id, schedules.c.lease_owner == owner)
            .values(**values)
        )
        if result.rowcount:
            every = (
                await self.conn.execute(
                    select(schedules.c.every_seconds).where(schedules.c.id == schedule_id)
                )
            ).scalar_one()
            await self.conn.execute(
                update(schedules)
                .where(
                    schedules.c.id == schedule_id, schedules.c.next_run_at < now + timedelta(seconds=every)
                )
                .values(next_run_at=now + timedelta(seconds=every))
            )
        return bool(result.rowcount)

    async def make_due(self, schedule_id: uuid.UUID, at: datetime) -> None:
        await self.conn.execute(update(schedules).where(schedules.c.id == schedule_id).values(next_run_at=at))

    # --- runs ---------------------------------------------------------------------------

    async def start_run(self, schedule: Schedule, *, trigger: str, runner: str, now: datetime) -> uuid.UUID:
        run_id = uuid.uuid4()
        await self.conn.execute(
            insert(feed_runs).values(
                id=run_id,
                schedule_id=schedule.id,
                channel_id=schedule.channel_id,
                kind=schedule.kind,
                trigger=trigger,
                status="running",
                started_at=now,
                runner=runner,
                counts={},
                errors=[],
            )
        )
        return run_id

    async def finish_run(
        self,
        run_id: uuid.UUID,
        *,
        now: datetime,
        status: str,
        counts: dict[str, int],
        errors: list[dict[str, Any]],
        error: str | None,
    ) -> None:
        await self.conn.execute(
            update(feed_runs)
            .where(feed_runs.c.id == run_id)
            .values(
                status=status,
                finished_at=now,
                counts=counts,
                errors=errors[:MAX_RUN_ERRORS],
                error=error[:2000] if error else None,
            )
        )

    async def fail_abandoned_runs(self, schedule_id: uuid.UUID, now: datetime) -> int:
        """Runs still marked running when their schedule is claimed again: their process died."""
        result = await self.conn.execute(
            update(feed_runs)
            .where(feed_runs.c.schedule_id == schedule_id, feed_runs.c.status == "running")
            .values(status="failed", finished_at=now, error="abandoned: its process stopped during the run")
        )
        return int(result.rowcount or 0)

    async def runs(self, channel_id: uuid.UUID, *, limit: int) -> list[FeedRun]:
        query = (
            select(feed_runs)
            .where(feed_runs.c.channel_id == channel_id)
            .order_by(feed_runs.c.started_at.desc(), feed_runs.c.id)
            .limit(limit)
        )
        return [FeedRun.of(r) for r in (await self.conn.execute(query)).all()]

    async def get_run(self, run_id: uuid.UUID) -> FeedRun | None:
        row = (await self.conn.execute(select(feed_runs).where(feed_runs.c.id == run_id))).first()
        return FeedRun.of(row) if row else None

    async def count_runs(self, schedule_id: uuid.UUID) -> int:
        query = select(func.count()).select_from(feed_runs).where(feed_runs.c.schedule_id == schedule_id)
        return int((await self.conn.execute(query)).scalar_one())

    async def remove_channel(self, channel_id: uuid.UUID) -> None:
        ids = select(schedules.c.id).where(schedules.c.channel_id == channel_id)
        await self.conn.execute(delete(feed_runs).where(feed_runs.c.schedule_id.in_(ids)))
        await self.conn.execute(delete(schedules).where(schedules.c.channel_id == channel_id))
