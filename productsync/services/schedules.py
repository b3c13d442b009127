"""Scheduled jobs: keeping them in step with channels, claiming the due ones, recording
how each run ended, and reading them back for the API.

Each function is one transaction's body. The scheduler (``sync/scheduler.py``) calls
``claim_due`` and ``finish`` around every run, so no transaction stays open while a
feed is read or written; two processes never run one job at once because the claim
leases the row (``store/repositories/schedules.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from productsync.domain.access import Actor, Scope
from productsync.domain.channels import Channel, ChannelStatus
from productsync.domain.errors import Conflict, ErrorCode, NotFound
from productsync.domain.feeds import JOB_KINDS, wanted_schedules
from productsync.services.channels import get_channel
from productsync.services.projection import credentials
from productsync.services.recording import record
from productsync.store.repositories.schedules import FeedRun, Schedule
from productsync.store.uow import UnitOfWork

SCHEDULED = "scheduled"
MANUAL = "manual"


@dataclass(frozen=True)
class Claimed:
    schedule: Schedule
    run_id: uuid.UUID
    trigger: str


@dataclass
class RunResult:
    """How a run ended: ``succeeded``, ``partial`` (some rows not taken) or ``failed``;
    ``state`` replaces the schedule's state when given (cursors, ETag)."""

    status: str = "succeeded"
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    state: dict[str, Any] | None = None


async def sync_with_channels(uow: UnitOfWork, now: datetime) -> int:
    """Make the schedule rows match what channels' configs ask for: add the missing ones
    (due at once), follow interval changes, and switch off the ones no enabled channel
    asks for (kept, with their cursors, in case the channel comes back). Returns rows
    changed; an unchanged hub is two reads."""
    wanted: dict[str, tuple[uuid.UUID, str, int]] = {}
    for channel in await uow.channels.find(None):
        if channel.status is not ChannelStatus.ENABLED:
            continue
        for w in wanted_schedules(str(channel.id), channel.kind.value, channel.config or {}):
            wanted[w.key] = (channel.id, w.kind, w.every_seconds)
    have = {s.key: s for s in await uow.schedules.all()}
    changed = 0
    for key, (channel_id, kind, every) in wanted.items():
        existing = have.get(key)
        if existing is None:
            await uow.schedules.add(key, kind, channel_id, every, now, now)
            changed += 1
        elif existing.every_seconds != every or not existing.enabled:
            # A shorter interval takes effect now, not after the old, longer wait.
            next_at = min(existing.next_run_at, now + timedelta(seconds=every))
            await uow.schedules.set_plan(
                existing.id, every_seconds=every, enabled=True, next_run_at=next_at, now=now
            )
            changed += 1
    for key, existing in have.items():
        if key not in wanted and existing.enabled:
            await uow.schedules.set_plan(
                existing.id,
                every_seconds=existing.every_seconds,
                enabled=False,
                next_run_at=existing.next_run_at,
                now=now,
            )
            changed += 1
    return changed


async def claim_due(
    uow: UnitOfWork,
    owner: str,
    now: datetime,
    lease: timedelta,
    *,
    limit: int,
    channel_ids: Collection[uuid.UUID] | None = None,
) -> list[Claimed]:
    """Lease up to ``limit`` due jobs and open a run for each (a run left ``running`` by a
    process that died is closed as failed first)."""
    claimed = []
    for schedule in await uow.schedules.claim_due(owner, now, lease, limit=limit, channel_ids=channel_ids):
        await uow.schedules.fail_abandoned_runs(schedule.id, now)
        run_id = await uow.schedules.start_run(schedule, trigger=SCHEDULED, runner=owner, now=now)
        claimed.append(Claimed(schedule, run_id, SCHEDULED))
    return claimed


async def claim_now(
    uow: UnitOfWork,
    actor: Actor,
    channel_id: uuid.UUID,
    kind: str | None,
    owner: str,
    now: datetime,
    lease: timedelta,
) -> Claimed:
    """ "Run now" on a channel the caller administers: its (only, or named) job is leased
    at once; a job already running is a 409."""
    channel = await get_channel(uow, actor, channel_id)
    await sync_with_channels(uow, now)
    jobs = [
        s
        for s in await uow.schedules.all(channel_ids=[channel.id])
        if s.enabled and (kind is None or s.kind == kind)
    ]
    if not jobs:
        raise NotFound("scheduled job", f"{kind or 'any'} on channel {channel_id}")
    schedule = sorted(jobs, key=lambda s: JOB_KINDS.index(s.kind))[0]
    taken = await uow.schedules.claim_due(owner, now, lease, limit=1, only=schedule.id)
    if not taken:
        raise Conflict(
            f"the {schedule.kind} job of this channel is running now",
            code=ErrorCode.DUPLICATE,
            running_since=schedule.running_since.isoformat() if schedule.running_since else None,
        )
    await uow.schedules.fail_abandoned_runs(schedule.id, now)
    run_id = await uow.schedules.start_run(taken[0], trigger=MANUAL, runner=owner, now=now)
    await record(
        uow,
        actor,
        action="feed.run_requested",
        entity_type="channel",
        entity_id=channel.id,
        owner=channel.owner_partner_id,
        before=None,
        after={"run_id": str(run_id), "kind": schedule.kind},
    )
    return Claimed(taken[0], run_id, MANUAL)


async def renew(uow: UnitOfWork, schedule_id: uuid.UUID, owner: str, until: datetime) -> bool:
    return await uow.schedules.renew(schedule_id, owner, until)


async def finish(uow: UnitOfWork, claimed: Claimed, owner: str, result: RunResult) -> None:
    """Close the run and free the job; its next run is one interval from now."""
    await uow.schedules.finish_run(
        claimed.run_id,
        now=uow.now,
        status=result.status,
        counts=result.counts,
        errors=result.errors,
        error=result.error,
    )
    await uow.schedules.release(
        claimed.schedule.id,
        owner,
        now=uow.now,
        status=result.status,
        error=result.error,
        state=result.state,
    )


async def job_channel(uow: UnitOfWork, channel_id: uuid.UUID) -> tuple[Channel, dict[str, str]] | None:
    """The channel a job works for, with its platform credentials (None: gone)."""
    channel = await uow.channels.get(channel_id)
    if channel is None:
        return None
    return channel, await credentials(uow, channel.id)


async def list_schedules(uow: UnitOfWork, actor: Actor) -> list[Schedule]:
    """Every job for an admin; a partner's channels administrator sees its channels' jobs."""
    actor.require(Scope.CHANNELS_ADMIN)
    if actor.is_admin:
        return await uow.schedules.all()
    own = await uow.channels.find({actor.partner_id} if actor.partner_id else set())
    return await uow.schedules.all(channel_ids=[c.id for c in own])


async def list_runs(
    uow: UnitOfWork, actor: Actor, channel_id: uuid.UUID, *, limit: int = 50
) -> list[FeedRun]:
    channel = await get_channel(uow, actor, channel_id)
    return await uow.schedules.runs(channel.id, limit=limit)
